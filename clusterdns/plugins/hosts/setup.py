"""The `hosts` directive: `hosts [FILE [ZONES...]] { [INLINE]; ttl; no_reverse; reload;
fallthrough [ZONES...]; fallthrough_unsupported }`, as CoreDNS 1.14 reads it.

A line of the block that is no option is an inline hosts-file entry, but only until a
`fallthrough` has been read: after it, an unknown line is an error (CoreDNS's rule).
"""

from __future__ import annotations

from dataclasses import dataclass

from clusterdns.config.checks import (
    Origins,
    arguments,
    duration,
    fail,
    integer,
    zone_origins,
    zone_origins_or,
)
from clusterdns.config.corefile import Directive
from clusterdns.config.registry import Plugin

DEFAULT_FILE = "/etc/hosts"
DEFAULT_TTL = 3600
DEFAULT_RELOAD = 5.0


@dataclass(frozen=True, slots=True)
class HostsConfig:
    path: str
    zones: tuple[str, ...]
    inline: tuple[str, ...] = ()  # hosts-file lines written in the Corefile
    ttl: int = DEFAULT_TTL
    reload: float = DEFAULT_RELOAD  # 0: never re-read the file
    reverse: bool = True  # PTR records for the addresses (no_reverse turns them off)
    fallthrough: tuple[str, ...] | None = None  # None: never; the zones that fall through
    fallthrough_unsupported: bool = False


def setup(node: Directive, block: Origins) -> HostsConfig:
    args = node.args
    path = args[0] if args else DEFAULT_FILE
    zones = zone_origins_or(node, args[1:], block).zones
    fallthrough: tuple[str, ...] | None = None
    unsupported, reverse, ttl, reload = False, True, DEFAULT_TTL, DEFAULT_RELOAD
    inline: list[str] = []
    for option in node.block:
        name = option.name
        if name == "fallthrough":
            fallthrough = zone_origins(option, option.args).zones if option.args else (".",)
        elif name == "fallthrough_unsupported":
            arguments(option, 0, 0)
            unsupported = True
        elif name == "no_reverse":
            arguments(option, 0, 0)
            reverse = False
        elif name == "ttl":
            (text,) = arguments(option, 1, 1)
            ttl = integer(option, text, 1, 65535)
        elif name == "reload":
            (text,) = arguments(option, 1, 1)
            reload = duration(option, text)
        elif fallthrough is not None:
            raise fail(option, f"unknown hosts option '{name}' (after fallthrough, no entries)")
        elif option.block:
            raise fail(option, f"unknown hosts option '{name}'")
        else:
            inline.append(" ".join((name, *option.args)))
    if unsupported and fallthrough is None:
        raise fail(node, "hosts: fallthrough_unsupported requires fallthrough")
    return HostsConfig(path, zones, tuple(inline), ttl, reload, reverse, fallthrough, unsupported)


HOSTS = Plugin("hosts", setup)
