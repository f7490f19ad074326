"""The plugin registry: each directive's name and setup, run in CoreDNS's plugin order.

A plugin is known by a `Plugin` handle: its directive name, the setup that turns the
directive (and the server block's zones) into its typed configuration, and, for a directive
that may be written more than once in a block, how two of them combine. A server block's
configuration is read back through the same handle (`ServerConfig.get(KUBERNETES)`), so
each plugin's configuration keeps its own type.

The order is data, as CoreDNS's plugin.cfg is: a query meets the plugins in this order
whatever order the Corefile lists them in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from clusterdns.config.checks import Origins
from clusterdns.config.corefile import Directive

T = TypeVar("T")

# CoreDNS 1.14's plugin.cfg, names only.
PLUGIN_ORDER = (
    "root", "metadata", "geoip", "cancel", "proxyproto", "quic", "grpc_server", "https",
    "https3", "timeouts", "multisocket", "reload", "nsid", "bufsize", "bind", "debug", "trace",
    "ready", "health", "pprof", "shed", "prometheus", "errors", "log", "dnstap", "local",
    "dns64", "any", "chaos", "loadbalance", "tsig", "rewrite", "autopath", "acl", "cache",
    "header", "dnssec", "tls", "minimal", "template", "transfer", "hosts", "route53", "azure",
    "clouddns", "k8s_external", "kubernetes", "file", "auto", "secondary", "etcd", "loop",
    "forward", "grpc", "erratic", "whoami", "on", "sign", "view", "nomad",
)  # fmt: skip


@dataclass(frozen=True, eq=False)
class Plugin(Generic[T]):
    name: str  # the directive, as in plugin.cfg
    setup: Callable[[Directive, Origins], T]  # raises CorefileError naming the line
    merge: Callable[[T, T], T] | None = None  # repeatable: how a second one adds to the first
    chain: bool = True  # answers queries (coredns_plugin_enabled); False: setup only


class Registry:
    """The plugins a server runs, by directive name, in plugin order."""

    def __init__(self, plugins: Iterable[Plugin[Any]]) -> None:
        unknown = [plugin.name for plugin in plugins if plugin.name not in PLUGIN_ORDER]
        if unknown:
            raise ValueError(f"not in CoreDNS's plugin order: {', '.join(unknown)}")
        ordered = sorted(plugins, key=lambda plugin: PLUGIN_ORDER.index(plugin.name))
        self.plugins: dict[str, Plugin[Any]] = {plugin.name: plugin for plugin in ordered}

    def get(self, name: str) -> Plugin[Any] | None:
        return self.plugins.get(name)

    def rank(self, name: str) -> int:
        return PLUGIN_ORDER.index(name)
