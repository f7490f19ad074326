"""A server block as the query handler runs it: its zones and the plugins that answer in it.

Built from a ServerConfig for one listener: the `kubernetes` resolver (shared by every listener
of the block), and per listener the cache and forwarder, which carry that listener's `server`
metrics label.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

from clusterdns.config.servers import ServerConfig
from clusterdns.plugins.cache.cache import ResponseCache
from clusterdns.plugins.forward.forward import Forward
from clusterdns.plugins.kubernetes.resolver import Resolver
from clusterdns.plugins.loop import LoopProbe
from clusterdns.server.relay import Relay

# The directives that are plugins in CoreDNS's query chain (and so in coredns_plugin_enabled);
# health, ready and reload are not.
_CHAIN_PLUGINS = (
    "errors", "log", "loadbalance", "cache", "transfer", "kubernetes", "loop", "forward",
    "prometheus",
)  # fmt: skip


@dataclass(eq=False)
class Block:
    zones: tuple[str, ...]
    resolver: Resolver | None = None  # `kubernetes`
    relay: Relay | None = None  # `cache` in front of `forward`
    loadbalance: bool = False
    log: bool = False
    loop: LoopProbe | None = None

    def close(self) -> None:
        """Release the upstream sockets and cache of a block that is being replaced."""
        if self.relay is not None:
            self.relay.close()
        if self.loop is not None:
            self.loop.active = False


def build_block(
    server: ServerConfig,
    label: str,
    resolver: Resolver | None,
    resolv_conf: str,
    on_loop: Callable[[], None],
) -> Block:
    """`resolver` is the kubernetes resolver when this block has the directive."""
    relay = None
    if server.forward is not None:
        cache = ResponseCache(server.cache, label) if server.cache is not None else None
        relay = Relay(Forward(server.forward, resolv_conf), cache, log_errors=server.errors)
    return Block(
        zones=server.zones,
        resolver=resolver if server.kubernetes is not None else None,
        relay=relay,
        loadbalance=server.loadbalance,
        log=server.log,
        loop=LoopProbe(server.zones[0], on_loop) if server.loop and relay is not None else None,
    )


def enabled_plugins(server: ServerConfig) -> list[str]:
    """The chain plugins a server block uses, for coredns_plugin_enabled."""
    present = {f.name for f in fields(server) if getattr(server, f.name) not in (None, False)}
    return [name for name in _CHAIN_PLUGINS if name in present]
