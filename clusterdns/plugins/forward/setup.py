"""The `forward` directive: the zone it forwards, its upstreams, and its options.

An upstream is `[dns://]IP[:PORT]` (port 53), `tls://IP[:PORT]` (DNS over TLS, port 853;
`tls://IP%NAME[:PORT]` names the server its certificate must be for), or a resolv.conf-style
file. `tls [CERT KEY] [CA]` and `tls_servername NAME` set up the TLS of the tls:// ones, and
are an error in a forward without any; `force_tcp` and `prefer_udp` choose the transport of
the plain ones, and are an error in a forward with only tls:// upstreams (TLS is always over
TCP): an option we accept always does something.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Any

from clusterdns.config.addresses import ip_address_or_none, split_ip_port, valid_port
from clusterdns.config.checks import (
    OptionParser,
    Origins,
    apply_options,
    arguments,
    choice_option,
    duration_option,
    fail,
    flag,
    integer_option,
    zone_origins,
)
from clusterdns.config.corefile import Directive
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
    expire: float = 10.0
    force_tcp: bool = False
    prefer_udp: bool = False
    max_fails: int = 2
    # the `tls` option's context (None: the system's CAs, no client certificate)
    tls: ssl.SSLContext | None = field(default=None, compare=False)
    tls_servername: str | None = None


@dataclass(frozen=True, slots=True)
class Destination:
    """One upstream a TO names."""

    host: str
    port: int
    tls: bool = False
    server_name: str | None = None  # tls://IP%NAME: the name its certificate must hold


_MAX_UPSTREAMS = 15  # CoreDNS's limit
_PORTS = {"dns": 53, "tls": 853}


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
        raise ValueError(f"'{to}' is not an IP address[:port] or a file")
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


_FORWARD_OPTIONS: dict[str, OptionParser] = {
    "except": _except,
    "max_concurrent": integer_option("max_concurrent", 0, None),
    "policy": choice_option("policy", ("random", "round_robin", "sequential")),
    "health_check": duration_option("health_check"),
    "expire": duration_option("expire"),
    "force_tcp": flag("force_tcp"),
    "prefer_udp": flag("prefer_udp"),
    "max_fails": integer_option("max_fails", 0, 2**32 - 1),
    "tls": _tls,
    "tls_servername": _tls_servername,
}


def setup(node: Directive, block: Origins) -> ForwardConfig:
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
    return ForwardConfig(zone=zones[0], to=tuple(to), **options)


def _option(node: Directive, name: str) -> Directive:
    """The option line `name` of the directive's block (for an error naming its line)."""
    return next(option for option in node.block if option.name == name)


FORWARD = Plugin("forward", setup)
