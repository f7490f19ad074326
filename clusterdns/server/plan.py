"""What one Corefile asks to run: the DNS listeners and the server blocks each serves, the
HTTP endpoints (health, ready, metrics), the lameduck and reload settings.

Everything is built before anything starts or stops, so a reload whose configuration cannot
be built (a resolv.conf gone, say) changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from clusterdns.config.addresses import address_label
from clusterdns.config.blocks import ServerConfig
from clusterdns.errors import ClusterDNSError
from clusterdns.metrics import panics
from clusterdns.metrics.registry import Labels, exposition
from clusterdns.metrics.requests import VIEW
from clusterdns.plugins.bind import BIND
from clusterdns.plugins.debug import DEBUG, set_debug_mode
from clusterdns.plugins.errors import ERRORS
from clusterdns.plugins.health import HEALTH, health
from clusterdns.plugins.kubernetes.resolver import Resolver
from clusterdns.plugins.kubernetes.setup import KUBERNETES
from clusterdns.plugins.kubernetes.xfr import ClusterZones
from clusterdns.plugins.prometheus import PROMETHEUS
from clusterdns.plugins.ready import READY, Ready
from clusterdns.plugins.reload import RELOAD, ReloadConfig
from clusterdns.plugins.transfer import TRANSFER, ZoneTransfer
from clusterdns.server.block import Block, build_block, enabled_plugins
from clusterdns.server.directives import kubernetes_server
from clusterdns.transport.http import Route

ANY_ADDRESS = "0.0.0.0"


@dataclass(frozen=True)
class Listener:
    host: str
    port: int
    label: str  # the `server` metrics label, as CoreDNS writes it: dns://[bind]:port


@dataclass
class Plan:
    dns: dict[Listener, list[Block]] = field(default_factory=dict)
    transfers: dict[Listener, ZoneTransfer] = field(default_factory=dict)
    http: dict[str, dict[str, Route]] = field(default_factory=dict)  # address → path → route
    plugins: set[Labels] = field(default_factory=set)  # coredns_plugin_enabled
    lameduck: float = 0.0
    reload: ReloadConfig | None = None
    debug: bool = False  # `debug` in a block: for the whole process, as in CoreDNS
    stacktrace: bool = False  # `errors { stacktrace }` in a block: for the whole process

    def start(self) -> None:
        """Start what the blocks run beside the queries, once this plan serves, and turn
        debug mode and errors' stack traces on or off as it says."""
        set_debug_mode(self.debug)
        panics.stacktrace(self.stacktrace)
        for blocks in self.dns.values():
            for block in blocks:
                block.start()

    def close(self) -> None:
        for blocks in self.dns.values():
            for block in blocks:
                block.close()


def listeners(
    servers: list[ServerConfig], override: tuple[str, int] | None
) -> dict[Listener, list[ServerConfig]]:
    """The server blocks each DNS listener serves. `override` (--listen) takes the place of
    the address of the blocks on the main port: the kubernetes block's, else the first's."""
    main = kubernetes_server(servers) or servers[0]
    plan: dict[Listener, list[ServerConfig]] = {}
    for server in servers:
        if override is not None and server.port == main.port:
            addresses = [(override, True)]
        elif server.uses(BIND):
            addresses = [((host, server.port), True) for host in server.get(BIND) or ()]
        else:
            addresses = [((ANY_ADDRESS, server.port), False)]
        for (host, port), bound in addresses:
            label = "dns://" + (address_label(host, port) if bound else f":{port}")
            plan.setdefault(Listener(host, port, label), []).append(server)
    return plan


def build_plan(
    servers: list[ServerConfig],
    override: tuple[str, int] | None,
    resolver: Resolver | None,
    ready: Ready,
    resolv_conf: str,
    on_loop: Callable[[], None],
) -> Plan:
    """Raises ConfigError (UpstreamConfigError) when an upstream list cannot be read."""
    plan = Plan()
    try:
        for listener, served in listeners(servers, override).items():
            blocks = plan.dns[listener] = []
            for server in served:
                block = build_block(server, listener.label, resolver, resolv_conf, on_loop)
                blocks.append(block)
                rules = server.get(TRANSFER)
                if server.uses(KUBERNETES) and rules and resolver is not None:
                    sources = (ClusterZones(resolver), *block.transferers)
                    plan.transfers[listener] = ZoneTransfer(sources, rules)
                plan.plugins |= {
                    (listener.label, zone, VIEW, name)
                    for zone in server.zones
                    for name in enabled_plugins(server)
                }
    except ClusterDNSError:
        plan.close()
        raise
    for server in servers:
        health_config = server.get(HEALTH)
        if health_config is not None:
            plan.http.setdefault(health_config.address, {})["/health"] = health
            plan.lameduck = max(plan.lameduck, health_config.lameduck)
        ready_address = server.get(READY)
        if ready_address is not None:
            plan.http.setdefault(ready_address, {})["/ready"] = ready.probe
        metrics_address = server.get(PROMETHEUS)
        if metrics_address is not None:
            plan.http.setdefault(metrics_address, {})["/metrics"] = exposition
        plan.reload = plan.reload or server.get(RELOAD)
        plan.debug = plan.debug or server.uses(DEBUG)
        errors = server.get(ERRORS)
        plan.stacktrace = plan.stacktrace or (errors is not None and errors.stacktrace)
    return plan
