"""The `forward` directive: the zone it forwards, its upstreams, and its options.

An upstream is `[dns://]IP[:PORT]` (port 53), `tls://IP[:PORT]` (DNS over TLS, port 853;
`tls://IP%NAME[:PORT]` names the server its certificate must be for), or a resolv.conf-style
file (CoreDNS 1.14's host names, with their `resolver` option, and https:// upstreams, with
`doh_method`, are errors). `tls [CERT KEY] [CA]` and `tls_servername NAME` set up the TLS of
the tls:// ones, and are an error in a forward without any; `force_tcp` and `prefer_udp`
choose the transport of the plain ones, and are an error in a forward with only tls://
upstreams (TLS is always over TCP); `next` and `next_on_nodata` are an error in the last
forward of a block (there is no forward to hand the query to): an option we accept always
does something.

A block may hold several forwards (CoreDNS chains them in the Corefile's order): the
plugin's value is the tuple of their configs.
"""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass, field
from operator import add
from typing import Any

from dnslib import RCODE

from clusterdns.config.addresses import ip_address_or_none, split_ip_port, valid_port
from clusterdns.config.checks import (
    RCODE_NAMES,
    OptionParser,
    Origins,
    apply_options,
    arguments,
    choice_option,
    duration,
    duration_option,
    fail,
    flag,
    integer_option,
    refused,
    zone_name,
    zone_origins,
)
from clusterdns.config.corefile import CorefileError, Directive
from clusterdns.config.registry import Plugin
from clusterdns.plugins.forward.tls import TlsFilesError, client_context


@dataclass(frozen=True, slots=True)
class ForwardConfig:
    zone: str
    to: tuple[str, ...]  # as written: "8.8.8.8", "127.0.0.1:5300", "dns://1.1.1.1", a resolv.conf
    except_zones: tuple[str, ...] = ()
    max_concurrent: int | None = None
    policy: str = "random"  # random | round_robin | sequential
    health_check: float = 0.5
    health_check_rd: bool = True  # `no_rec`: the probe's RD bit clear
    health_check_domain: str = "."  # `domain FQDN`: the name the probe asks (NS)
    expire: float = 10.0
    max_age: float = 0.0  # a connection's lifetime however busy (0: unlimited)
    max_idle_conns: int = 0  # idle connections kept per upstream and protocol (0: unlimited)
    read_timeout: float = 2.0  # per upstream exchange
    max_connect_attempts: int | None = None  # failed exchanges per query (None: 2 × upstreams)
    force_tcp: bool = False
    prefer_udp: bool = False
    max_fails: int = 2
    failfast_all_unhealthy_upstreams: bool = False
    failover: frozenset[int] = frozenset()  # rcodes to ask the next upstream on
    next: frozenset[int] = frozenset()  # rcodes to hand the query to the next forward on
    next_on_nodata: bool = False  # ... and NOERROR without answer records
    source_address: str | None = None  # what upstream sockets bind to
    # the `tls` option's context (None: the system's CAs, no client certificate)
    tls: ssl.SSLContext | None = field(default=None, compare=False)
    tls_servername: str | None = None
    # where `next` / `next_on_nodata` is written (a last forward with it is an error)
    next_at: tuple[str, int] | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Destination:
    """One upstream a TO names."""

    host: str
    port: int
    tls: bool = False
    server_name: str | None = None  # tls://IP%NAME: the name its certificate must hold


_MAX_UPSTREAMS = 15  # CoreDNS's limit
_PORTS = {"dns": 53, "tls": 853}
# miekg/dns's StringToRcode for the header's rcodes (and its NOTIMPL spelling)
def destination(to: str) -> Destination | None:
    """The upstream a TO names; None for a resolv.conf-style file (read when the forwarder
    starts). Raises ValueError saying what is wrong."""
    scheme, sep, rest = to.partition("://")
    if not sep:
        if "/" in to:
            return None
        scheme, rest = "dns", to
    if scheme not in _PORTS:
        raise ValueError(f"{scheme}:// upstreams are not supported, only dns:// and tls://")
    server_name = None
    if scheme == "tls" and "%" in rest:  # CoreDNS's splitZone: IP%NAME:PORT, [IPv6%NAME]:PORT
        address, _, name = rest.rpartition("%")
        suffix = ""
        if ":" in name:
            name, written_port = name.rsplit(":", 1)
            suffix = ":" + written_port
        server_name = name.removesuffix("]")
        rest = (address + "]" if address.startswith("[") else address) + suffix
        if not server_name:
            raise ValueError(f"'{to}' has no server name after '%'")
    host, port_text = split_ip_port(rest)
    if ip_address_or_none(host) is None or not valid_port(port_text):
        raise ValueError(f"'{to}' is not an IP address[:port] or a file (upstreams given by "
                         "host name are not supported)")
    port = int(port_text) if port_text else _PORTS[scheme]
    return Destination(host, port, scheme == "tls", server_name)


def _except(option: Directive) -> dict[str, Any]:
    return {"except_zones": zone_origins(option, arguments(option, 1, None)).zones}


def _tls(option: Directive) -> dict[str, Any]:
    try:
        return {"tls": client_context(arguments(option, 0, 3))}
    except TlsFilesError as exc:
        raise fail(option, f"forward: tls: {exc}") from None


def _tls_servername(option: Directive) -> dict[str, Any]:
    (name,) = arguments(option, 1, 1)
    return {"tls_servername": name}


def _health_check(option: Directive) -> dict[str, Any]:
    """`health_check DURATION [no_rec] [domain FQDN]`."""
    interval, *rest = arguments(option, 1, None)
    fields: dict[str, Any] = {"health_check": duration(option, interval)}
    words = iter(rest)
    for word in words:
        if word == "no_rec":
            fields["health_check_rd"] = False
        elif word == "domain":
            name = next(words, None)
            if name is None:
                raise fail(option, "forward: health_check: 'domain' needs a name after it")
            fields["health_check_domain"] = zone_name(option, name)
        else:
            raise fail(option, f"forward: health_check: unknown option {word}")
    return fields


def _read_timeout(option: Directive) -> dict[str, Any]:
    (text,) = arguments(option, 1, 1)
    seconds = duration(option, text)
    if seconds <= 0:
        raise fail(option, f"forward: read_timeout must be positive: {text}")
    return {"read_timeout": seconds}


def _rcodes(option: Directive, noerror: bool) -> frozenset[int]:
    codes = set()
    for text in arguments(option, 1, None):
        code = RCODE_NAMES.get(text.upper())
        if code is None:
            raise fail(option, f"forward: {option.name}: {text} is not a valid rcode")
        if code == RCODE.NOERROR and not noerror:
            raise fail(option, "forward: failover: NOERROR cannot be used in failover")
        codes.add(code)
    return frozenset(codes)


def _next(option: Directive) -> dict[str, Any]:
    return {"next": _rcodes(option, noerror=True)}


def _failover(option: Directive) -> dict[str, Any]:
    return {"failover": _rcodes(option, noerror=False)}


def _source_address(option: Directive) -> dict[str, Any]:
    (text,) = arguments(option, 1, 1)
    address = ip_address_or_none(text)
    if address is None:
        raise fail(option, f"forward: source_address: invalid IP address: {text}")
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # as Go's net.ParseIP reads ::ffff:192.0.2.1
    return {"source_address": str(address)}


_FORWARD_OPTIONS: dict[str, OptionParser] = {
    "except": _except,
    "max_concurrent": integer_option("max_concurrent", 0, None),
    "policy": choice_option("policy", ("random", "round_robin", "sequential")),
    "health_check": _health_check,
    "expire": duration_option("expire"),
    "max_age": duration_option("max_age"),
    "max_idle_conns": integer_option("max_idle_conns", 0, None),
    "read_timeout": _read_timeout,
    "max_connect_attempts": integer_option("max_connect_attempts", 0, 2**32 - 1),
    "force_tcp": flag("force_tcp"),
    "prefer_udp": flag("prefer_udp"),
    "max_fails": integer_option("max_fails", 0, 2**32 - 1),
    "failfast_all_unhealthy_upstreams": flag("failfast_all_unhealthy_upstreams"),
    "failover": _failover,
    "next": _next,
    "next_on_nodata": flag("next_on_nodata"),
    "source_address": _source_address,
    "resolver": refused("forward", "is for upstreams given by host name, which are not supported"),
    "doh_method": refused("forward", "is for https:// upstreams, which are not supported"),
    "tls": _tls,
    "tls_servername": _tls_servername,
}


def setup(node: Directive, block: Origins) -> tuple[ForwardConfig, ...]:
    source, *to = arguments(node, 2, 1 + _MAX_UPSTREAMS)
    zones = zone_origins(node, [source]).zones
    if len(zones) != 1:
        raise fail(node, f"forward: '{source}' spans {len(zones)} reverse zones; give one zone")
    destinations = []
    for upstream in to:
        try:
            destinations.append(destination(upstream))
        except ValueError as exc:
            raise fail(node, f"forward: {exc}") from None
    options = apply_options(node, _FORWARD_OPTIONS)
    passing = [o for o in node.block if o.name in ("next", "next_on_nodata")]
    if passing:
        options["next_at"] = (passing[0].file, passing[0].line)
    secure = [d for d in destinations if d is not None and d.tls]
    if secure:
        named = next((d for d in secure if d.server_name), None)
        if named is not None and "tls_servername" in options:
            raise fail(_option(node, "tls_servername"), (
                f"forward: both forward ('{options['tls_servername']}') and upstream "
                f"('{named.server_name}') TLS server names are set for tls://{named.host}"))
    for name in ("tls", "tls_servername") if not secure else ():
        if name in options:
            raise fail(_option(node, name), f"forward: {name} is for tls:// upstreams: none here")
    for name in ("force_tcp", "prefer_udp") if len(secure) == len(to) else ():
        if name in options:
            message = f"forward: {name} is for plain DNS upstreams: all are tls:// (TCP always)"
            raise fail(_option(node, name), message)
    max_age, expire = options.get("max_age", 0.0), options.get("expire", 10.0)
    if 0 < max_age < expire:
        message = f"forward: max_age ({max_age:g}s) must not be less than expire ({expire:g}s)"
        raise fail(_option(node, "max_age"), message)
    return (ForwardConfig(zone=zones[0], to=tuple(to), **options),)


def check_chain(forwards: tuple[ForwardConfig, ...]) -> None:
    """`next` hands a query to the next forward of the block: the last one has none (CoreDNS
    then ignores it; we do not accept an option that does nothing)."""
    last = forwards[-1]
    if last.next_at is not None:
        file, line = last.next_at
        raise CorefileError(file, line, "forward: next and next_on_nodata hand the query to "
                            "the next forward of the block: none follows this one")


def _option(node: Directive, name: str) -> Directive:
    """The option line `name` of the directive's block (for an error naming its line)."""
    return next(option for option in node.block if option.name == name)


FORWARD = Plugin("forward", setup, merge=add)
