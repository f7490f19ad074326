"""A server block as the query handler runs it: its zones and the plugins that answer in it.

Built from a ServerConfig for one listener: the `kubernetes` resolver (shared by every listener
of the block), and per listener the cache and forwarder, which carry that listener's `server`
metrics label.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from clusterdns.config.blocks import ServerConfig
from clusterdns.plugins.cache.cache import ResponseCache
from clusterdns.plugins.cache.setup import CACHE
from clusterdns.plugins.errors import ERRORS
from clusterdns.plugins.forward.forward import Forward
from clusterdns.plugins.forward.setup import FORWARD
from clusterdns.plugins.kubernetes.resolver import Resolver
from clusterdns.plugins.kubernetes.setup import KUBERNETES
from clusterdns.plugins.loadbalance import LOADBALANCE
from clusterdns.plugins.log import LOG
from clusterdns.plugins.loop import LOOP, LoopProbe
from clusterdns.server.directives import PLUGINS
from clusterdns.server.relay import Relay


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
    forward, cache_config = server.get(FORWARD), server.get(CACHE)
    if forward is not None:
        cache = ResponseCache(cache_config, label) if cache_config is not None else None
        relay = Relay(Forward(forward, resolv_conf), cache, log_errors=server.uses(ERRORS))
    return Block(
        zones=server.zones,
        resolver=resolver if server.uses(KUBERNETES) else None,
        relay=relay,
        loadbalance=server.uses(LOADBALANCE),
        log=server.uses(LOG),
        loop=LoopProbe(server.zones[0], on_loop) if server.uses(LOOP) and relay else None,
    )


def enabled_plugins(server: ServerConfig) -> list[str]:
    """The chain plugins a server block uses, for coredns_plugin_enabled (health, ready,
    reload and bind are set-up only)."""
    chain = (name for name, plugin in PLUGINS.plugins.items() if plugin.chain)
    return [name for name in chain if name in server.plugins]
