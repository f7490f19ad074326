"""A server block as the query handler runs it: its zones and the plugins that answer in it.

Built from a ServerConfig for one listener: the plugins that may answer before the
`kubernetes` resolver (hosts), in CoreDNS's plugin order; the resolver (shared by every
listener of the block); and per listener the cache and forwarder, which carry that listener's
`server` metrics label.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from clusterdns.config.blocks import ServerConfig
from clusterdns.dns.message import UDP_MAX_SIZE
from clusterdns.dns.request import Peer
from clusterdns.plugins.acl import ACL, Acl, Action
from clusterdns.plugins.any import ANY, Any
from clusterdns.plugins.autopath import AUTOPATH, AutopathConfig
from clusterdns.plugins.bufsize import BUFSIZE
from clusterdns.plugins.cache.cache import ResponseCache
from clusterdns.plugins.cache.setup import CACHE
from clusterdns.plugins.chaos import CHAOS, Chaos
from clusterdns.plugins.errors import ERRORS, ErrorLog
from clusterdns.plugins.forward.chain import ForwardChain
from clusterdns.plugins.forward.forward import Forward
from clusterdns.plugins.forward.setup import FORWARD
from clusterdns.plugins.header import HEADER, HeaderConfig
from clusterdns.plugins.hosts.hosts import Hosts
from clusterdns.plugins.hosts.setup import HOSTS
from clusterdns.plugins.k8s_external.external import K8sExternal
from clusterdns.plugins.k8s_external.setup import K8S_EXTERNAL
from clusterdns.plugins.k8s_external.transfer import ExternalZones
from clusterdns.plugins.kubernetes.clients import ClientCounts, client_counts
from clusterdns.plugins.kubernetes.external import External
from clusterdns.plugins.kubernetes.resolver import Resolver
from clusterdns.plugins.kubernetes.setup import KUBERNETES
from clusterdns.plugins.loadbalance import LOADBALANCE
from clusterdns.plugins.local import LOCAL, Local
from clusterdns.plugins.log import LogConfig
from clusterdns.plugins.loop import LOOP, LoopProbe
from clusterdns.plugins.minimal import MINIMAL, minimal
from clusterdns.plugins.rewrite.rules import Rewrite
from clusterdns.plugins.rewrite.setup import REWRITE
from clusterdns.plugins.template import TEMPLATE, Template
from clusterdns.plugins.transfer import TRANSFER, Transferer, UdpTransfers
from clusterdns.plugins.whoami import WHOAMI, Whoami
from clusterdns.server.chain import Answerer
from clusterdns.server.directives import PLUGINS
from clusterdns.server.metadata import with_metadata
from clusterdns.server.relay import Relay


@dataclass(eq=False)
class Block:
    zones: tuple[str, ...]
    resolver: Resolver | None = None  # `kubernetes`
    relay: Relay | None = None  # `cache` in front of `forward`
    loadbalance: bool = False
    log: LogConfig | None = None  # `log`: which queries, how written
    loop: LoopProbe | None = None
    before: tuple[Answerer, ...] = ()  # answer first, in plugin order (hosts)
    after: tuple[Answerer, ...] = ()  # answer what nothing else did (whoami)
    bufsize: int | None = None  # `bufsize`: the EDNS buffer queries are lowered to
    clients: ClientCounts | None = None  # replies counted per client namespace
    autopath: AutopathConfig | None = None
    autopath_at: int = 0  # the plugins of `before` that come before autopath
    rewrite: Rewrite | None = None  # the question changed before autopath (and back)
    acl: Acl | None = None  # after autopath
    header: HeaderConfig | None = None  # flags of the queries after acl, and of the replies
    minimal: bool = False
    transferers: tuple[Transferer, ...] = ()  # zones of its own plugins but kubernetes' (transfer)
    # the wire answers' OPT, size limit and DO bit by a query's transport and EDNS (handler)
    edns: dict[int, tuple[bytes, int, bool]] = field(default_factory=dict)

    # a plugin before the resolver may act on a query (rewrite, acl, header's query
    # flags): `steps_aside` decides for the server's fast paths
    screens: bool = field(init=False)
    shapes: bool = field(init=False)  # `shaped` changes replies (header's response flags, minimal)
    # the plugins of `before` a plain query can meet, all the fast paths look at: not
    # transfer's, which answers zone transfers only (never plain: question_key's None)
    plain_before: tuple[Answerer, ...] = field(init=False)

    def __post_init__(self) -> None:
        self.plain_before = tuple(p for p in self.before if not isinstance(p, UdpTransfers))
        header = self.header
        self.screens = bool(self.rewrite or self.acl or (header and header.query))
        self.shapes = bool(self.minimal or (header and header.response))

    def steps_aside(
        self, name: str, qtype: int, qclass: int, peer: Peer | None, server: str
    ) -> bool:
        """Whether the query (its name lower case) is left to the chain because rewrite,
        acl or header acts on it; a query let by is counted as acl's allowed, so the fast
        path asks when nothing else can send it to the chain."""
        if self.header is not None and self.header.query:
            return True
        if self.rewrite is not None and self.rewrite.matches(name, qtype, qclass):
            return True
        if self.acl is not None:
            action, _zone = self.acl.judge(name, qtype, peer)
            if action is not Action.ALLOW:
                return True
            self.acl.count(action, server, "")
        return False

    def shaped(self, reply: bytes) -> bytes:
        """A reply of the plugins after header and minimal as they leave it (CoreDNS: the
        inner writer first, minimal's, then header's)."""
        if self.minimal:
            reply = minimal(reply)
        if self.header is not None and self.header.response:
            reply = self.header.response.applied(reply)
        return reply

    @property
    def udp_cap(self) -> int:
        """The most a UDP reply takes: bufsize's, else the default 1232."""
        return self.bufsize or UDP_MAX_SIZE

    def start(self) -> None:
        """Start what runs beside the queries (re-reading a hosts file)."""
        for plugin in (*self.before, *self.after):
            plugin.start()

    def close(self) -> None:
        """Release the upstream sockets and cache of a block that is being replaced."""
        if self.relay is not None:
            self.relay.close()
        if self.loop is not None:
            self.loop.active = False
        for plugin in (*self.before, *self.after):
            plugin.close()


def build_block(
    server: ServerConfig,
    label: str,
    resolver: Resolver | None,
    resolv_conf: str,
    on_loop: Callable[[], None],
) -> Block:
    """`resolver` is the kubernetes resolver when this block has the directive."""
    relay = None
    forwards, cache_config = server.get(FORWARD), server.get(CACHE)
    if forwards is not None:
        cache = ResponseCache(cache_config, label) if cache_config is not None else None
        errors = server.get(ERRORS)
        chain = ForwardChain(Forward(forward, resolv_conf) for forward in forwards)
        relay = Relay(chain, cache, ErrorLog(errors) if errors is not None else None)
    hosts, chaos = server.get(HOSTS), server.get(CHAOS)
    # in CoreDNS's plugin order: local, any, chaos, (autopath,) template, transfer, hosts,
    # k8s_external
    before: list[Answerer] = []
    localhost_prefix = server.get(LOCAL)
    if localhost_prefix is not None:
        before.append(Local(localhost_prefix))
    if server.uses(ANY):
        before.append(Any())
    if chaos is not None:
        before.append(Chaos(chaos))
    autopath_at = len(before)  # (local, any, chaos answer first; the rest is its chain)
    templates = server.get(TEMPLATE)
    if templates is not None:
        before.append(Template(templates))
    if server.uses(TRANSFER):
        before.append(UdpTransfers())
    if hosts is not None:
        before.append(Hosts(hosts))
    external, transferers = server.get(K8S_EXTERNAL), []
    if external is not None and resolver is not None:  # (the Corefile's check: kubernetes too)
        answering = K8sExternal(external, External(resolver, external.headless))
        before.append(answering)
        transferers.append(ExternalZones(answering))
    return Block(
        before=tuple(before),
        after=(Whoami(),) if server.uses(WHOAMI) else (),
        bufsize=server.get(BUFSIZE),
        autopath=server.get(AUTOPATH),
        autopath_at=autopath_at,
        rewrite=server.get(REWRITE),
        acl=server.get(ACL),
        header=server.get(HEADER),
        minimal=server.uses(MINIMAL),
        transferers=tuple(transferers),
        zones=server.zones,
        resolver=resolver if server.uses(KUBERNETES) else None,
        relay=relay,
        loadbalance=server.uses(LOADBALANCE),
        log=with_metadata(server, resolver),
        clients=client_counts(resolver),
        loop=LoopProbe(server.zones[0], on_loop) if server.uses(LOOP) and relay else None,
    )


def enabled_plugins(server: ServerConfig) -> list[str]:
    """The chain plugins a server block uses, for coredns_plugin_enabled (health, ready,
    reload and bind are set-up only)."""
    chain = (name for name, plugin in PLUGINS.plugins.items() if plugin.chain)
    return [name for name in chain if name in server.plugins]
