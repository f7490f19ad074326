"""Typed configuration from a Corefile: what each directive and option we support means.

Every directive, option and argument is checked here, with CoreDNS's defaults and ranges, so
the rest of the server never sees a string from the Corefile it has to interpret. Anything we
do not support is an error naming its file and line: a DNS server that silently ignores part
of its configuration answers differently from what its operator wrote.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from clusterdns.config.addresses import ip_address_or_none, split_ip_port, valid_port
from clusterdns.config.corefile import CorefileError, Directive, ServerBlock, parse_corefile

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# kubeadm's Corefile (SPEC §11), as kubeadm writes it: one option per line.
DEFAULT_COREFILE = """\
.:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf {
       max_concurrent 1000
    }
    cache 30 {
       disable success cluster.local
       disable denial cluster.local
    }
    loop
    reload
    loadbalance
}
"""


@dataclass(frozen=True, slots=True)
class KubernetesConfig:
    zones: tuple[str, ...]  # forward zones; the first one names PTR targets
    reverse_zones: tuple[str, ...]  # under in-addr.arpa. or ip6.arpa.
    reverse_networks: tuple[IPNetwork, ...]  # the CIDRs written as zones, if any
    pods: str = "disabled"  # disabled | insecure | verified
    ttl: int = 5
    endpoint_pod_names: bool = False
    namespaces: frozenset[str] = frozenset()  # empty: every namespace is exposed
    fallthrough: tuple[str, ...] | None = None  # None: never; (): for every zone
    noendpoints: bool = False
    ignore_empty_service: bool = False
    kubeconfig: tuple[str, str | None] | None = None  # (path, context)
    endpoint: str | None = None  # API server URL
    startup_timeout: float = 5.0
    resyncperiod: float = 0.0  # 0: no periodic resync
    labels: str | None = None  # label selector for services and endpoints
    namespace_labels: str | None = None  # label selector for exposed namespaces


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


@dataclass(frozen=True, slots=True)
class CacheConfig:
    zones: tuple[str, ...]
    success_capacity: int = 9984
    success_ttl: int = 3600  # maximum TTL of a cached positive answer
    success_min_ttl: int = 5
    denial_capacity: int = 9984
    denial_ttl: int = 1800  # maximum TTL of a cached NXDOMAIN/NODATA
    denial_min_ttl: int = 5
    prefetch: int = 0  # queries within prefetch_duration that trigger a prefetch; 0: never
    prefetch_duration: float = 60.0
    prefetch_percentage: int = 10  # of the TTL left when prefetching
    serve_stale: float | None = None  # how long past expiry to serve stale; None: never
    serve_stale_mode: str = "immediate"  # immediate | verify
    servfail_ttl: float = 5.0
    disable_success: tuple[str, ...] = ()  # zones whose positive answers are not cached
    disable_denial: tuple[str, ...] = ()
    keepttl: bool = False


@dataclass(frozen=True, slots=True)
class HealthConfig:
    address: str = ":8080"
    lameduck: float = 0.0


@dataclass(frozen=True, slots=True)
class ReloadConfig:
    interval: float = 30.0
    jitter: float = 15.0


@dataclass(frozen=True, slots=True)
class TransferConfig:
    zones: tuple[str, ...]
    to: tuple[str, ...]  # "*" or networks in CIDR form ("192.0.2.1/32")


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerConfig:
    zones: tuple[str, ...]
    port: int
    bind: tuple[str, ...] = ()
    kubernetes: KubernetesConfig | None = None
    forward: ForwardConfig | None = None
    cache: CacheConfig | None = None
    health: HealthConfig | None = None
    ready: str | None = None
    prometheus: str | None = None
    errors: bool = False
    log: bool = False
    loop: bool = False
    loadbalance: bool = False
    reload: ReloadConfig | None = None
    transfer: tuple[TransferConfig, ...] | None = None
    file: str
    line: int


def load_config(text: str, filename: str = "Corefile") -> list[ServerConfig]:
    """Parse and check Corefile text; one ServerConfig per server block, in order."""
    servers = [_server(block) for block in parse_corefile(text, filename)]
    _check_no_overlap(servers)
    return servers


def load_config_file(path: str) -> list[ServerConfig]:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise CorefileError(path, 0, f"cannot read Corefile: {e.strerror or e}") from e
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise CorefileError(path, line, "not UTF-8 text") from e
    return load_config(text, path)


# Go's time.ParseDuration: a sequence of decimal numbers, each with a unit; "0" needs none.
_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1,
    "m": 60,
    "h": 3600,
}
_DURATION_PART = r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)"
_DURATION = re.compile(f"(?:{_DURATION_PART})+")
_INTEGER = re.compile(r"[+-]?\d+")
_BAD_ZONE_CHAR = re.compile(r"[\s/]")


def parse_duration(text: str, file: str, line: int) -> float:
    """Seconds in a Go duration such as 5s, 1m30s, 500ms or 2h."""
    if text == "0":
        return 0.0
    if not _DURATION.fullmatch(text):
        raise CorefileError(file, line, f"invalid duration '{text}' (write e.g. 5s, 1m30s, 500ms)")
    return sum(float(n) * _DURATION_UNITS[unit] for n, unit in re.findall(_DURATION_PART, text))


# --- helpers shared by the directives --------------------------------------------------------


_Node = Directive | ServerBlock  # anything with a file and line to blame


class _Origins(NamedTuple):
    zones: tuple[str, ...]
    networks: tuple[IPNetwork, ...]


def _fail(node: _Node, message: str) -> CorefileError:
    return CorefileError(node.file, node.line, message)


def _args(node: Directive, least: int, most: int | None) -> tuple[str, ...]:
    """node's arguments, whose count must lie in least..most (most None: no limit)."""
    count = len(node.args)
    if least <= count and (most is None or count <= most):
        return node.args
    if least == most:
        expected = f"{least} argument{'s' if least != 1 else ''}" if least else "no arguments"
    elif most is None:
        expected = f"at least {least} argument{'s' if least != 1 else ''}"
    else:
        expected = f"{least} to {most} arguments"
    raise _fail(node, f"'{node.name}' takes {expected}, got {count}")


def _no_block(node: Directive) -> None:
    if node.block:
        option = node.block[0]
        raise _fail(option, f"unknown {node.name} option '{option.name}'")


def _integer(node: Directive, text: str, least: int, most: int | None) -> int:
    if not _INTEGER.fullmatch(text):
        raise _fail(node, f"{node.name}: '{text}' is not an integer")
    value = int(text)
    if value < least or (most is not None and value > most):
        allowed = f"in range {least}..{most}" if most is not None else f"at least {least}"
        raise _fail(node, f"{node.name} must be {allowed}, got {value}")
    return value


def _duration(node: Directive, text: str) -> float:
    return parse_duration(text, node.file, node.line)


def _choice(node: Directive, text: str, allowed: tuple[str, ...]) -> str:
    if text not in allowed:
        raise _fail(node, f"{node.name}: '{text}' is not one of {', '.join(allowed)}")
    return text


def _zone(node: _Node, text: str) -> str:
    """text as a lower-case, fully qualified domain name."""
    if text == ".":
        return "."
    name = text.lower().removesuffix(".")
    labels = name.split(".")
    if (
        "" in labels
        or any(len(label) > 63 for label in labels)
        or len(name) > 253
        or _BAD_ZONE_CHAR.search(name)
    ):
        raise _fail(node, f"'{text}' is not a valid domain name")
    return name + "."


def _reverse_zones(network: IPNetwork) -> list[str]:
    """The reverse zones covering network, as CoreDNS computes them.

    Reverse names can only delegate on label boundaries (8 bits of IPv4, 4 of IPv6), so a
    prefix in between is split into the longer boundary prefixes it covers: a /20 is 16 /24s.
    """
    step = 8 if network.version == 4 else 4
    boundary = -(-network.prefixlen // step) * step
    subnets = network.subnets(new_prefix=boundary) if boundary != network.prefixlen else [network]
    zones = []
    for subnet in subnets:
        labels = subnet.network_address.reverse_pointer.split(".")
        host_labels = (subnet.max_prefixlen - subnet.prefixlen) // step
        zones.append(".".join(labels[host_labels:]) + ".")
    return zones


def _origins(node: _Node, args: Iterable[str]) -> _Origins:
    """Zones written as arguments, each a domain name or a CIDR (which becomes reverse zones)."""
    zones: list[str] = []
    networks: list[IPNetwork] = []
    for arg in args:
        if "/" in arg:
            try:
                network = ipaddress.ip_network(arg, strict=False)
            except ValueError:
                raise _fail(node, f"'{arg}' is neither a domain name nor a CIDR") from None
            networks.append(network)
            zones.extend(_reverse_zones(network))
        else:
            zones.append(_zone(node, arg))
    return _Origins(tuple(dict.fromkeys(zones)), tuple(networks))


def _origins_or(node: Directive, args: tuple[str, ...], default: _Origins) -> _Origins:
    """The zones in args, or the server block's when there are none."""
    return _origins(node, args) if args else default


def _is_reverse(zone: str) -> bool:
    return any(zone == apex or zone.endswith("." + apex) for apex in ("in-addr.arpa.", "ip6.arpa."))


def _listen_address(node: Directive, default: str) -> str:
    """The optional [HOST]:PORT argument of health, ready and prometheus."""
    (address,) = _args(node, 0, 1) or (default,)
    _, colon, port = address.rpartition(":")
    if not colon or not port.isdigit() or int(port) > 65535:
        raise _fail(node, f"{node.name}: '{address}' is not a [HOST]:PORT address")
    return address


# Option parsers: each turns one option line into the ServerConfig fields it sets.
_OptionParser = Callable[[Directive], dict[str, Any]]


def _apply_options(node: Directive, parsers: dict[str, _OptionParser]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for option in node.block:
        parser = parsers.get(option.name)
        if parser is None:
            raise _fail(option, f"unknown {node.name} option '{option.name}'")
        _no_block(option)
        values = parser(option)
        if fields.keys() & values.keys():
            raise _fail(option, f"{node.name} option '{option.name}' is given twice")
        fields.update(values)
    return fields


def _flag(field: str) -> _OptionParser:
    def parse(option: Directive) -> dict[str, Any]:
        _args(option, 0, 0)
        return {field: True}

    return parse


def _duration_option(field: str) -> _OptionParser:
    def parse(option: Directive) -> dict[str, Any]:
        (text,) = _args(option, 1, 1)
        return {field: _duration(option, text)}

    return parse


def _choice_option(field: str, allowed: tuple[str, ...]) -> _OptionParser:
    def parse(option: Directive) -> dict[str, Any]:
        (text,) = _args(option, 1, 1)
        return {field: _choice(option, text, allowed)}

    return parse


def _integer_option(field: str, least: int, most: int | None) -> _OptionParser:
    def parse(option: Directive) -> dict[str, Any]:
        (text,) = _args(option, 1, 1)
        return {field: _integer(option, text, least, most)}

    return parse


# --- kubernetes ------------------------------------------------------------------------------


def _selector(field: str) -> _OptionParser:
    # CoreDNS joins the arguments: `labels app in (a, b)` is one selector.
    return lambda option: {field: " ".join(_args(option, 1, None))}


def _fallthrough(option: Directive) -> dict[str, Any]:
    return {"fallthrough": _origins(option, option.args).zones}


def _ignore(option: Directive) -> dict[str, Any]:
    (what,) = _args(option, 1, 1)
    _choice(option, what, ("empty_service",))
    return {"ignore_empty_service": True}


def _kubeconfig(option: Directive) -> dict[str, Any]:
    path, *context = _args(option, 1, 2)
    return {"kubeconfig": (path, context[0] if context else None)}


def _endpoint(option: Directive) -> dict[str, Any]:
    (url,) = _args(option, 1, 1)
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise _fail(option, f"endpoint: '{url}' is not an http:// or https:// URL")
    return {"endpoint": url}


_KUBERNETES_OPTIONS: dict[str, _OptionParser] = {
    "pods": _choice_option("pods", ("disabled", "insecure", "verified")),
    "ttl": _integer_option("ttl", 0, 3600),
    "endpoint_pod_names": _flag("endpoint_pod_names"),
    "namespaces": lambda option: {"namespaces": frozenset(_args(option, 1, None))},
    "fallthrough": _fallthrough,
    "noendpoints": _flag("noendpoints"),
    "ignore": _ignore,
    "kubeconfig": _kubeconfig,
    "endpoint": _endpoint,
    "startup_timeout": _duration_option("startup_timeout"),
    "resyncperiod": _duration_option("resyncperiod"),
    "labels": _selector("labels"),
    "namespace_labels": _selector("namespace_labels"),
}


def _kubernetes(node: Directive, block: _Origins) -> KubernetesConfig:
    origins = _origins_or(node, node.args, block)
    zones = tuple(zone for zone in origins.zones if not _is_reverse(zone))
    if not zones:
        raise _fail(node, "kubernetes needs at least one zone that is not a reverse zone")
    options = _apply_options(node, _KUBERNETES_OPTIONS)
    if "namespaces" in options and "namespace_labels" in options:
        raise _fail(node, "kubernetes: namespaces and namespace_labels cannot both be set")
    return KubernetesConfig(
        zones=zones,
        reverse_zones=tuple(zone for zone in origins.zones if _is_reverse(zone)),
        reverse_networks=origins.networks,
        **options,
    )


# --- forward ---------------------------------------------------------------------------------

_MAX_UPSTREAMS = 15  # CoreDNS's limit


def _check_upstream(node: Directive, to: str) -> None:
    scheme, sep, rest = to.partition("://")
    if sep and scheme != "dns":
        raise _fail(node, f"forward: {scheme}:// upstreams are not supported, only dns://")
    host, port = split_ip_port(rest if sep else to)
    if ip_address_or_none(host) is not None and valid_port(port):
        return
    if not sep and "/" in to:
        return  # a resolv.conf-style file, read when the forwarder starts
    raise _fail(node, f"forward: '{to}' is not an IP address[:port] or a file")


def _except(option: Directive) -> dict[str, Any]:
    return {"except_zones": _origins(option, _args(option, 1, None)).zones}


_FORWARD_OPTIONS: dict[str, _OptionParser] = {
    "except": _except,
    "max_concurrent": _integer_option("max_concurrent", 0, None),
    "policy": _choice_option("policy", ("random", "round_robin", "sequential")),
    "health_check": _duration_option("health_check"),
    "expire": _duration_option("expire"),
    "force_tcp": _flag("force_tcp"),
    "prefer_udp": _flag("prefer_udp"),
    "max_fails": _integer_option("max_fails", 0, 2**32 - 1),
}


def _forward(node: Directive, block: _Origins) -> ForwardConfig:
    source, *to = _args(node, 2, 1 + _MAX_UPSTREAMS)
    zones = _origins(node, [source]).zones
    if len(zones) != 1:
        raise _fail(node, f"forward: '{source}' spans {len(zones)} reverse zones; give one zone")
    for upstream in to:
        _check_upstream(node, upstream)
    return ForwardConfig(zone=zones[0], to=tuple(to), **_apply_options(node, _FORWARD_OPTIONS))


# --- cache -----------------------------------------------------------------------------------


def _cache_kind(kind: str) -> _OptionParser:
    """`success|denial CAPACITY [TTL] [MINTTL]`."""

    def parse(option: Directive) -> dict[str, Any]:
        args = _args(option, 1, 3)
        fields: dict[str, Any] = {f"{kind}_capacity": _integer(option, args[0], 0, None)}
        if len(args) > 1:
            fields[f"{kind}_ttl"] = _integer(option, args[1], 1, None)
        if len(args) > 2:
            fields[f"{kind}_min_ttl"] = _integer(option, args[2], 0, None)
        return fields

    return parse


def _prefetch(option: Directive) -> dict[str, Any]:
    args = _args(option, 1, 3)
    fields: dict[str, Any] = {"prefetch": _integer(option, args[0], 0, None)}
    if len(args) > 1:
        fields["prefetch_duration"] = _duration(option, args[1])
    if len(args) > 2:
        if not args[2].endswith("%"):
            raise _fail(option, f"prefetch: percentage '{args[2]}' must end with '%'")
        fields["prefetch_percentage"] = _integer(option, args[2][:-1], 10, 90)
    return fields


def _serve_stale(option: Directive) -> dict[str, Any]:
    args = _args(option, 0, 2)
    fields: dict[str, Any] = {"serve_stale": _duration(option, args[0]) if args else 3600.0}
    if len(args) > 1:
        fields["serve_stale_mode"] = _choice(option, args[1].lower(), ("immediate", "verify"))
    return fields


def _servfail(option: Directive) -> dict[str, Any]:
    (text,) = _args(option, 1, 1)
    seconds = _duration(option, text)
    if seconds > 300:
        raise _fail(option, "servfail: caching SERVFAIL over 5 minutes is not permitted (RFC 2308)")
    return {"servfail_ttl": seconds}


def _disable(option: Directive) -> dict[str, Any]:
    kind, *zones = _args(option, 1, None)
    _choice(option, kind, ("success", "denial"))
    return {f"disable_{kind}": tuple(_zone(option, zone) for zone in zones) or (".",)}


_CACHE_OPTIONS: dict[str, _OptionParser] = {
    "success": _cache_kind("success"),
    "denial": _cache_kind("denial"),
    "prefetch": _prefetch,
    "serve_stale": _serve_stale,
    "servfail": _servfail,
    "disable": _disable,
    "keepttl": _flag("keepttl"),
}


def _cache(node: Directive, block: _Origins) -> CacheConfig:
    args = node.args
    ttls: dict[str, int] = {}
    if args and _INTEGER.fullmatch(args[0]):  # a leading number is the TTL, the rest zones
        ttl = _integer(node, args[0], 1, None)
        ttls = {"success_ttl": ttl, "denial_ttl": ttl}
        args = args[1:]
    zones = _origins_or(node, args, block).zones
    return CacheConfig(zones=zones, **(ttls | _apply_options(node, _CACHE_OPTIONS)))


# --- the small directives --------------------------------------------------------------------


def _health(node: Directive, block: _Origins) -> HealthConfig:
    address = _listen_address(node, ":8080")
    options = _apply_options(node, {"lameduck": _duration_option("lameduck")})
    return HealthConfig(address, **options)


def _ready(node: Directive, block: _Origins) -> str:
    _no_block(node)
    return _listen_address(node, ":8181")


def _prometheus(node: Directive, block: _Origins) -> str:
    _no_block(node)
    return _listen_address(node, ":9153")


def _errors(node: Directive, block: _Origins) -> bool:
    _no_block(node)
    for arg in _args(node, 0, 1):
        _choice(node, arg, ("stdout",))
    return True


def _bare(node: Directive, block: _Origins) -> bool:
    """log and loop: no arguments, no options."""
    _no_block(node)
    _args(node, 0, 0)
    return True


def _loadbalance(node: Directive, block: _Origins) -> bool:
    _no_block(node)
    for arg in _args(node, 0, 1):
        _choice(node, arg, ("round_robin",))
    return True


_MIN_RELOAD_INTERVAL = 2.0
_MIN_RELOAD_JITTER = 1.0


def _reload(node: Directive, block: _Origins) -> ReloadConfig:
    _no_block(node)
    args = _args(node, 0, 2)
    interval = _duration(node, args[0]) if args else 30.0
    jitter = _duration(node, args[1]) if len(args) > 1 else 15.0
    if interval < _MIN_RELOAD_INTERVAL:
        raise _fail(node, f"reload: interval must be at least {_MIN_RELOAD_INTERVAL:g}s")
    if jitter < _MIN_RELOAD_JITTER:
        raise _fail(node, f"reload: jitter must be at least {_MIN_RELOAD_JITTER:g}s")
    # As CoreDNS: the jitter is capped at half the interval.
    return ReloadConfig(interval, min(jitter, interval / 2))


def _bind(node: Directive, block: _Origins) -> tuple[str, ...]:
    _no_block(node)
    addresses = _args(node, 1, None)
    for address in addresses:
        if ip_address_or_none(address) is None:
            raise _fail(node, f"bind: '{address}' is not an IP address (interfaces unsupported)")
    return addresses


def _transfer_peer(node: Directive, peer: str) -> str:
    """A `to` entry as "*" or a network; a port, if given, does not matter for access."""
    if peer == "*":
        return peer
    host, port = split_ip_port(peer)
    try:
        network = ipaddress.ip_network(host, strict=False)
    except ValueError:
        network = None
    if network is None or not valid_port(port):
        raise _fail(node, f"transfer: '{peer}' is not '*', an IP address or a CIDR")
    return str(network)


def _transfer(node: Directive, block: _Origins) -> tuple[TransferConfig, ...]:
    zones = _origins_or(node, node.args, block).zones
    peers: list[str] = []
    for option in node.block:
        if option.name != "to":
            raise _fail(option, f"unknown transfer option '{option.name}'")
        _no_block(option)
        peers.extend(_transfer_peer(option, peer) for peer in _args(option, 1, None))
    if not peers:
        raise _fail(node, "transfer needs a 'to' option naming who may transfer")
    return (TransferConfig(zones, tuple(peers)),)


# Directive name → its parser; the ServerConfig field has the directive's name.
_DIRECTIVES: dict[str, Callable[[Directive, _Origins], Any]] = {
    "errors": _errors,
    "health": _health,
    "ready": _ready,
    "kubernetes": _kubernetes,
    "prometheus": _prometheus,
    "forward": _forward,
    "cache": _cache,
    "loop": _bare,
    "reload": _reload,
    "loadbalance": _loadbalance,
    "log": _bare,
    "transfer": _transfer,
    "bind": _bind,
}
_REPEATABLE = frozenset({"bind", "transfer"})  # their tuples add up


# --- server blocks ---------------------------------------------------------------------------


def _key(block: ServerBlock, key: str) -> tuple[_Origins, int]:
    """A server block key `[dns://]ZONE[:PORT]` as its zones and port."""
    scheme, sep, rest = key.partition("://")
    if sep and scheme.lower() != "dns":
        raise _fail(block, f"transport {scheme}:// is not supported, only dns://")
    host = rest if sep else key
    port = 53
    # As CoreDNS: a trailing ":digits" is the port (a CIDR's mask comes before it).
    zone, colon, digits = host.rpartition(":")
    if colon and digits.isdigit():
        host, port = zone, int(digits)
        if port > 65535:
            raise _fail(block, f"port {port} in '{key}' is out of range")
    elif colon and not digits:
        raise _fail(block, f"'{key}' has no port after ':'")
    if not host:
        raise _fail(block, f"'{key}' has no zone")
    return _origins(block, [host]), port


def _block_origins(block: ServerBlock) -> tuple[_Origins, int]:
    zones: list[str] = []
    networks: list[IPNetwork] = []
    ports = set()
    for key in block.keys:
        origins, port = _key(block, key)
        zones.extend(origins.zones)
        networks.extend(origins.networks)
        ports.add(port)
    if len(ports) > 1:
        listed = ", ".join(str(port) for port in sorted(ports))
        raise _fail(block, f"keys of one block use different ports: {listed}")
    return _Origins(tuple(dict.fromkeys(zones)), tuple(networks)), ports.pop()


def _server(block: ServerBlock) -> ServerConfig:
    origins, port = _block_origins(block)
    fields: dict[str, Any] = {}
    for directive in block.directives:
        parse = _DIRECTIVES.get(directive.name)
        if parse is None:
            raise _fail(directive, f"unknown directive '{directive.name}'")
        value = parse(directive, origins)
        if directive.name in fields:
            if directive.name not in _REPEATABLE:
                raise _fail(directive, f"'{directive.name}' can only be used once per server block")
            value = fields[directive.name] + value
        fields[directive.name] = value
    return ServerConfig(zones=origins.zones, port=port, file=block.file, line=block.line, **fields)


def _check_no_overlap(servers: list[ServerConfig]) -> None:
    """Two blocks may not serve one zone on one port and address (an empty bind is all)."""
    seen: dict[tuple[str, int], list[ServerConfig]] = {}
    for server in servers:
        for zone in server.zones:
            for other in seen.setdefault((zone, server.port), []):
                if not server.bind or not other.bind or set(server.bind) & set(other.bind):
                    raise CorefileError(
                        server.file,
                        server.line,
                        f"zone '{zone}' on port {server.port} is already served by the block "
                        f"at line {other.line}",
                    )
            seen[(zone, server.port)].append(server)
