"""Every directive this server runs, each plugin's setup registered in CoreDNS's plugin order
(CoreDNS generates the same list from plugin.cfg), and the Corefile read with them.

A server block's directives are checked by their plugins' setups; across blocks, no two may
serve one zone on one port and address.
"""

from __future__ import annotations

from pathlib import Path

from clusterdns.config import blocks
from clusterdns.config.blocks import ServerConfig
from clusterdns.config.corefile import CorefileError
from clusterdns.config.registry import Registry
from clusterdns.errors import ConfigError
from clusterdns.plugins.acl import ACL
from clusterdns.plugins.any import ANY
from clusterdns.plugins.autopath import AUTOPATH
from clusterdns.plugins.bind import BIND
from clusterdns.plugins.bufsize import BUFSIZE
from clusterdns.plugins.cache.setup import CACHE
from clusterdns.plugins.chaos import CHAOS
from clusterdns.plugins.debug import DEBUG
from clusterdns.plugins.errors import ERRORS
from clusterdns.plugins.forward.setup import FORWARD, check_chain
from clusterdns.plugins.header import HEADER
from clusterdns.plugins.health import HEALTH
from clusterdns.plugins.hosts.setup import HOSTS
from clusterdns.plugins.k8s_external.setup import K8S_EXTERNAL
from clusterdns.plugins.kubernetes.resolver import PODS_VERIFIED
from clusterdns.plugins.kubernetes.setup import KUBERNETES, KubernetesConfig
from clusterdns.plugins.loadbalance import LOADBALANCE
from clusterdns.plugins.local import LOCAL
from clusterdns.plugins.log import LOG
from clusterdns.plugins.loop import LOOP
from clusterdns.plugins.metadata import METADATA
from clusterdns.plugins.minimal import MINIMAL
from clusterdns.plugins.prometheus import PROMETHEUS
from clusterdns.plugins.ready import READY
from clusterdns.plugins.reload import RELOAD
from clusterdns.plugins.rewrite.setup import REWRITE
from clusterdns.plugins.template import TEMPLATE
from clusterdns.plugins.transfer import TRANSFER
from clusterdns.plugins.whoami import WHOAMI
from clusterdns.server.metadata import check_metadata

PLUGINS = Registry(
    [
        ACL, ANY, AUTOPATH, BIND, BUFSIZE, CACHE, CHAOS, DEBUG, ERRORS, FORWARD, HEADER, HEALTH,
        HOSTS, K8S_EXTERNAL, KUBERNETES, LOADBALANCE, LOCAL, LOG, LOOP, METADATA, MINIMAL,
        PROMETHEUS, READY, RELOAD, REWRITE, TEMPLATE, TRANSFER, WHOAMI,
    ]
)  # fmt: skip

# kubeadm's Corefile (SPEC §11), as kubeadm writes it: one option per line.
DEFAULT_COREFILE = """\
.:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf {
       max_concurrent 1000
    }
    cache 30 {
       disable success cluster.local
       disable denial cluster.local
    }
    loop
    reload
    loadbalance
}
"""


def load_config(text: str, filename: str = "Corefile") -> list[ServerConfig]:
    """Parse and check Corefile text; one ServerConfig per server block, in order."""
    servers = blocks.load_config(text, filename, PLUGINS)
    _check(servers)
    return servers


def load_config_file(path: str) -> list[ServerConfig]:
    servers = blocks.load_config_file(path, PLUGINS)
    _check(servers)
    return servers


def _check(servers: list[ServerConfig]) -> None:
    _check_no_overlap(servers)
    for server in servers:
        _check_autopath(server)
        _check_k8s_external(server)
        forwards = server.get(FORWARD)
        if forwards is not None:
            check_chain(forwards)
        check_metadata(server)


def _check_autopath(server: ServerConfig) -> None:
    """`autopath @kubernetes` needs the block's kubernetes to know pods by their IPs (CoreDNS
    then silently does nothing; an option we accept always works)."""
    autopath = server.get(AUTOPATH)
    if autopath is None or autopath.search is not None:
        return
    k8s = server.get(KUBERNETES)
    if k8s is None:
        message = "autopath @kubernetes needs a kubernetes directive in the same server block"
        raise CorefileError(autopath.file, autopath.line, message)
    if k8s.pods != PODS_VERIFIED:
        message = (
            f"autopath @kubernetes needs 'pods verified' in the kubernetes directive (it is "
            f"'pods {k8s.pods}'): the client's namespace is found from its pod's IP"
        )
        raise CorefileError(autopath.file, autopath.line, message)


def _check_k8s_external(server: ServerConfig) -> None:
    """k8s_external answers from the data of the block's kubernetes (CoreDNS refuses to
    start without it: "kubernetes plugin not loaded")."""
    external = server.get(K8S_EXTERNAL)
    if external is not None and not server.uses(KUBERNETES):
        message = "k8s_external needs a kubernetes directive in the same server block"
        raise CorefileError(external.file, external.line, message)


def _check_no_overlap(servers: list[ServerConfig]) -> None:
    """Two blocks may not serve one zone on one port and address (an empty bind is all)."""
    seen: dict[tuple[str, int], list[tuple[ServerConfig, set[str]]]] = {}
    for server in servers:
        bound = set(server.get(BIND) or ())
        for zone in server.zones:
            for other, other_bound in seen.setdefault((zone, server.port), []):
                if not bound or not other_bound or bound & other_bound:
                    raise CorefileError(
                        server.file,
                        server.line,
                        f"zone '{zone}' on port {server.port} is already served by the block "
                        f"at line {other.line}",
                    )
            seen[(zone, server.port)].append((server, bound))


def load_servers(conf: Path | None) -> list[ServerConfig]:
    if conf is None:
        return load_config(DEFAULT_COREFILE, "<built-in kubeadm Corefile>")
    return load_config_file(str(conf))


def kubernetes_block(servers: list[ServerConfig]) -> tuple[ServerConfig, KubernetesConfig]:
    server = kubernetes_server(servers)
    k8s = server.get(KUBERNETES) if server is not None else None
    if server is None or k8s is None:
        raise ConfigError("the Corefile has no server block with a kubernetes directive")
    return server, k8s


def kubernetes_server(servers: list[ServerConfig]) -> ServerConfig | None:
    """The one server block with a `kubernetes` directive, if any."""
    found = [server for server in servers if server.uses(KUBERNETES)]
    if len(found) > 1:
        second = found[1]
        message = "only one server block may use the kubernetes directive"
        raise CorefileError(second.file, second.line, message)
    return found[0] if found else None
