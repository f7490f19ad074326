"""The `k8s_external` directive, as CoreDNS 1.14 reads it:

    k8s_external [ZONE...] {
        apex APEX
        ttl TTL
        headless
        fallthrough [ZONE...]
    }

The zones default to the server block's. A block with it needs a `kubernetes` directive (the
Corefile check says so; CoreDNS fails at start, "kubernetes plugin not loaded").
"""

from __future__ import annotations

from dataclasses import dataclass

from clusterdns.config.checks import (
    Origins,
    arguments,
    fail,
    integer,
    no_block,
    zone_name,
    zone_origins,
    zone_origins_or,
)
from clusterdns.config.corefile import Directive
from clusterdns.config.registry import Plugin

DEFAULT_APEX = "dns"
DEFAULT_TTL = 5


@dataclass(frozen=True, slots=True)
class ExternalConfig:
    zones: tuple[str, ...]
    file: str  # where the directive is written, for the Corefile's checks
    line: int
    apex: str = DEFAULT_APEX  # the label under each zone where its nameserver lives
    ttl: int = DEFAULT_TTL
    headless: bool = False
    fallthrough: tuple[str, ...] | None = None  # None: never; the zones that fall through


def setup(node: Directive, block: Origins) -> ExternalConfig:
    zones = zone_origins_or(node, node.args, block).zones
    apex, ttl, headless = DEFAULT_APEX, DEFAULT_TTL, False
    fallthrough: tuple[str, ...] | None = None
    for option in node.block:
        no_block(option)
        name = option.name
        if name == "ttl":
            (text,) = arguments(option, 1, 1)
            ttl = integer(option, text, 0, 3600)
        elif name == "apex":
            (text,) = arguments(option, 1, 1)
            apex = zone_name(option, text).removesuffix(".")
            if "." in apex or apex == "":
                raise fail(option, f"apex: '{text}' is not one DNS label")
        elif name == "headless":
            arguments(option, 0, 0)
            headless = True
        elif name == "fallthrough":
            fallthrough = zone_origins(option, option.args).zones if option.args else (".",)
        else:
            raise fail(option, f"unknown k8s_external option '{name}'")
    return ExternalConfig(zones, node.file, node.line, apex, ttl, headless, fallthrough)


K8S_EXTERNAL = Plugin("k8s_external", setup)
