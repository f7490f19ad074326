"""CoreDNS's `metadata`: the plugins of a server block that provide metadata describe each
query under `plugin/NAME` labels, for the plugins that read them (here `log`, whose formats
write them as `{/plugin/NAME}`).

    metadata [ZONES...]

ZONES (default: the server block's) are the names described; for others no provider is
asked. As in CoreDNS, without this directive in the block no metadata is collected; the
server refuses a `{/...}` placeholder then (CoreDNS would write `-`), and this directive when
nothing in the block reads metadata.

A provider is asked only when a reader needs the values (a log line is written), so a block
whose log writes no metadata pays nothing per query.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from clusterdns.config.checks import Origins, arguments, no_block, zone_origins_or
from clusterdns.config.corefile import Directive
from clusterdns.config.registry import Plugin
from clusterdns.dns.names import in_zone
from clusterdns.dns.request import Request


class Provider(Protocol):
    """What a plugin that describes queries offers (CoreDNS's metadata.Provider)."""

    def metadata(self, request: Request) -> dict[str, str]:
        """Its labels' values for `request` (a label left out: no value, written `-`)."""
        ...


@dataclass(frozen=True, slots=True)
class Metadata:
    zones: tuple[str, ...]
    file: str  # where the directive is, for the server's checks
    line: int
    providers: tuple[Provider, ...] = ()  # the block's, set by the server

    def collect(self, request: Request) -> dict[str, str]:
        """Every provider's values for a query in our zones (CoreDNS's Collect)."""
        values: dict[str, str] = {}
        name = request.name
        if any(in_zone(name, zone) for zone in self.zones):
            for provider in self.providers:
                values.update(provider.metadata(request))
        return values


def setup(node: Directive, block: Origins) -> Metadata:
    no_block(node)
    zones = zone_origins_or(node, arguments(node, 0, None), block).zones
    return Metadata(zones, node.file, node.line)


METADATA = Plugin("metadata", setup)
