"""The `cache` directive: TTL bounds, capacities, prefetch, serve_stale and the zones left out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from clusterdns.config.checks import (
    INTEGER,
    OptionParser,
    Origins,
    apply_options,
    arguments,
    choice,
    duration,
    fail,
    flag,
    integer,
    zone_name,
    zone_origins_or,
)
from clusterdns.config.corefile import Directive
from clusterdns.config.registry import Plugin


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


def _cache_kind(kind: str) -> OptionParser:
    """`success|denial CAPACITY [TTL] [MINTTL]`."""

    def parse(option: Directive) -> dict[str, Any]:
        args = arguments(option, 1, 3)
        fields: dict[str, Any] = {f"{kind}_capacity": integer(option, args[0], 0, None)}
        if len(args) > 1:
            fields[f"{kind}_ttl"] = integer(option, args[1], 1, None)
        if len(args) > 2:
            fields[f"{kind}_min_ttl"] = integer(option, args[2], 0, None)
        return fields

    return parse


def _prefetch(option: Directive) -> dict[str, Any]:
    args = arguments(option, 1, 3)
    fields: dict[str, Any] = {"prefetch": integer(option, args[0], 0, None)}
    if len(args) > 1:
        fields["prefetch_duration"] = duration(option, args[1])
    if len(args) > 2:
        if not args[2].endswith("%"):
            raise fail(option, f"prefetch: percentage '{args[2]}' must end with '%'")
        fields["prefetch_percentage"] = integer(option, args[2][:-1], 10, 90)
    return fields


def _serve_stale(option: Directive) -> dict[str, Any]:
    args = arguments(option, 0, 2)
    fields: dict[str, Any] = {"serve_stale": duration(option, args[0]) if args else 3600.0}
    if len(args) > 1:
        fields["serve_stale_mode"] = choice(option, args[1].lower(), ("immediate", "verify"))
    return fields


def _servfail(option: Directive) -> dict[str, Any]:
    (text,) = arguments(option, 1, 1)
    seconds = duration(option, text)
    if seconds > 300:
        raise fail(option, "servfail: caching SERVFAIL over 5 minutes is not permitted (RFC 2308)")
    return {"servfail_ttl": seconds}


def _disable(option: Directive) -> dict[str, Any]:
    kind, *zones = arguments(option, 1, None)
    choice(option, kind, ("success", "denial"))
    return {f"disable_{kind}": tuple(zone_name(option, zone) for zone in zones) or (".",)}


_CACHE_OPTIONS: dict[str, OptionParser] = {
    "success": _cache_kind("success"),
    "denial": _cache_kind("denial"),
    "prefetch": _prefetch,
    "serve_stale": _serve_stale,
    "servfail": _servfail,
    "disable": _disable,
    "keepttl": flag("keepttl"),
}


def setup(node: Directive, block: Origins) -> CacheConfig:
    args = node.args
    ttls: dict[str, int] = {}
    if args and INTEGER.fullmatch(args[0]):  # a leading number is the TTL, the rest zones
        ttl = integer(node, args[0], 1, None)
        ttls = {"success_ttl": ttl, "denial_ttl": ttl}
        args = args[1:]
    zones = zone_origins_or(node, args, block).zones
    return CacheConfig(zones=zones, **(ttls | apply_options(node, _CACHE_OPTIONS)))


CACHE = Plugin("cache", setup)
