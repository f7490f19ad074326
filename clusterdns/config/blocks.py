"""Server blocks as a server runs them: their zones, port and each plugin's configuration.

A block's keys give its zones and port; each directive goes to its plugin's setup (from the
registry the caller passes), and what the setups return is kept in plugin order. Every
failure names the file and line: a DNS server that silently ignores part of its
configuration answers differently from what its operator wrote.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from clusterdns.config.checks import IPNetwork, Origins, fail, zone_origins
from clusterdns.config.corefile import ServerBlock, parse_corefile, read_file
from clusterdns.config.registry import PLUGIN_ORDER, Plugin, Registry

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerConfig:
    zones: tuple[str, ...]
    port: int
    plugins: dict[str, Any]  # directive name → what its setup made, in plugin order
    file: str
    line: int

    def get(self, plugin: Plugin[T]) -> T | None:
        """The plugin's configuration in this block; None when the block does not use it."""
        value: T | None = self.plugins.get(plugin.name)
        return value

    def uses(self, plugin: Plugin[Any]) -> bool:
        return plugin.name in self.plugins


def load_config(text: str, filename: str, registry: Registry) -> list[ServerConfig]:
    """Parse and check Corefile text; one ServerConfig per server block, in order."""
    return [_server(block, registry) for block in parse_corefile(text, filename)]


def load_config_file(path: str, registry: Registry) -> list[ServerConfig]:
    return load_config(read_file(path), path, registry)


def _key(block: ServerBlock, key: str) -> tuple[Origins, int]:
    """A server block key `[dns://]ZONE[:PORT]` as its zones and port."""
    scheme, sep, rest = key.partition("://")
    if sep and scheme.lower() != "dns":
        raise fail(block, f"transport {scheme}:// is not supported, only dns://")
    host = rest if sep else key
    port = 53
    # As CoreDNS: a trailing ":digits" is the port (a CIDR's mask comes before it).
    zone, colon, digits = host.rpartition(":")
    if colon and digits.isdigit():
        host, port = zone, int(digits)
        if port > 65535:
            raise fail(block, f"port {port} in '{key}' is out of range")
    elif colon and not digits:
        raise fail(block, f"'{key}' has no port after ':'")
    if not host:
        raise fail(block, f"'{key}' has no zone")
    return zone_origins(block, [host]), port


def _block_origins(block: ServerBlock) -> tuple[Origins, int]:
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
        raise fail(block, f"keys of one block use different ports: {listed}")
    return Origins(tuple(dict.fromkeys(zones)), tuple(networks)), ports.pop()


def _server(block: ServerBlock, registry: Registry) -> ServerConfig:
    origins, port = _block_origins(block)
    found: dict[str, Any] = {}
    for directive in block.directives:
        plugin = registry.get(directive.name)
        if plugin is None:
            known = directive.name in PLUGIN_ORDER
            why = ": a CoreDNS plugin clusterdns does not run (see README)" if known else ""
            raise fail(directive, f"unknown directive '{directive.name}'{why}")
        value = plugin.setup(directive, origins)
        if directive.name in found:
            if plugin.merge is None:
                raise fail(directive, f"'{directive.name}' can only be used once per server block")
            value = plugin.merge(found[directive.name], value)
        found[directive.name] = value
    plugins = {name: found[name] for name in sorted(found, key=registry.rank)}
    return ServerConfig(
        zones=origins.zones, port=port, plugins=plugins, file=block.file, line=block.line
    )
