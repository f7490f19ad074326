"""The `forward` directive: the zone it forwards, its upstreams, and its options."""

from __future__ import annotations

from dataclasses import dataclass
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


_MAX_UPSTREAMS = 15  # CoreDNS's limit


def _check_upstream(node: Directive, to: str) -> None:
    scheme, sep, rest = to.partition("://")
    if sep and scheme != "dns":
        raise fail(node, f"forward: {scheme}:// upstreams are not supported, only dns://")
    host, port = split_ip_port(rest if sep else to)
    if ip_address_or_none(host) is not None and valid_port(port):
        return
    if not sep and "/" in to:
        return  # a resolv.conf-style file, read when the forwarder starts
    raise fail(node, f"forward: '{to}' is not an IP address[:port] or a file")


def _except(option: Directive) -> dict[str, Any]:
    return {"except_zones": zone_origins(option, arguments(option, 1, None)).zones}


_FORWARD_OPTIONS: dict[str, OptionParser] = {
    "except": _except,
    "max_concurrent": integer_option("max_concurrent", 0, None),
    "policy": choice_option("policy", ("random", "round_robin", "sequential")),
    "health_check": duration_option("health_check"),
    "expire": duration_option("expire"),
    "force_tcp": flag("force_tcp"),
    "prefer_udp": flag("prefer_udp"),
    "max_fails": integer_option("max_fails", 0, 2**32 - 1),
}


def setup(node: Directive, block: Origins) -> ForwardConfig:
    source, *to = arguments(node, 2, 1 + _MAX_UPSTREAMS)
    zones = zone_origins(node, [source]).zones
    if len(zones) != 1:
        raise fail(node, f"forward: '{source}' spans {len(zones)} reverse zones; give one zone")
    for upstream in to:
        _check_upstream(node, upstream)
    return ForwardConfig(zone=zones[0], to=tuple(to), **apply_options(node, _FORWARD_OPTIONS))


FORWARD = Plugin("forward", setup)
