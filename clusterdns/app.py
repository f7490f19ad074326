"""Assemble a running server from configuration: source → state → index → resolver → transports."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from dataclasses import dataclass
from pathlib import Path

from clusterdns.config import (
    DEFAULT_COREFILE,
    KubernetesConfig,
    ServerConfig,
    load_config,
    load_config_file,
)
from clusterdns.handler import QueryHandler
from clusterdns.index import RecordIndex
from clusterdns.informer import Informer
from clusterdns.kubeclient import IN_CLUSTER_ENV, make_api_client
from clusterdns.records import BuildOptions
from clusterdns.resolver import Resolver, ResolverSettings
from clusterdns.snapshot import DEMO_CLUSTER, load_snapshot, populate
from clusterdns.state import ClusterState
from clusterdns.transport import DnsServer, parse_listen
from clusterdns.xfr import ZoneTransfer

log = logging.getLogger("clusterdns")

DEMO_LISTEN = "127.0.0.1:5353"


@dataclass(frozen=True)
class ServeOptions:
    conf: Path | None = None
    snapshot: Path | None = None
    listen: str | None = None
    kubeconfig: str | None = None
    context: str | None = None


def wants_live_cluster(options: ServeOptions, k8s: KubernetesConfig) -> bool:
    """A live cluster unless a snapshot is given: with a kubeconfig (flag or Corefile), an
    `endpoint`, or inside a pod. Otherwise the bundled demo cluster."""
    if options.snapshot is not None:
        return False
    return bool(
        options.kubeconfig or k8s.kubeconfig or k8s.endpoint or os.environ.get(IN_CLUSTER_ENV)
    )


def load_servers(conf: Path | None) -> list[ServerConfig]:
    if conf is None:
        return load_config(DEFAULT_COREFILE, "<built-in kubeadm Corefile>")
    return load_config_file(str(conf))


def kubernetes_block(servers: list[ServerConfig]) -> tuple[ServerConfig, KubernetesConfig]:
    for server in servers:
        if server.kubernetes is not None:
            return server, server.kubernetes
    raise ValueError("the Corefile has no server block with a kubernetes directive")


def own_addresses(host: str) -> tuple[str, ...]:
    """Our own addresses for NS answers: POD_IP (downward API), else the bound address."""
    pod_ip = os.environ.get("POD_IP", "")
    if pod_ip:
        return tuple(ip.strip() for ip in pod_ip.split(",") if ip.strip())
    if host not in ("0.0.0.0", "::"):
        return (host,)
    try:
        return (socket.gethostbyname(socket.gethostname()),)
    except OSError:
        return ("127.0.0.1",)


def build_resolver(
    state: ClusterState, k8s: KubernetesConfig, own_ips: tuple[str, ...]
) -> Resolver:
    options = BuildOptions(
        endpoint_pod_names=k8s.endpoint_pod_names,
        noendpoints=k8s.noendpoints,
        ignore_empty_service=k8s.ignore_empty_service,
    )
    index = RecordIndex(state, k8s.zones, options, k8s.namespaces)
    settings = ResolverSettings(
        zones=k8s.zones,
        reverse_zones=k8s.reverse_zones,
        ttl=k8s.ttl,
        pods=k8s.pods,
        fallthrough=k8s.fallthrough,
        own_ips=own_ips,
    )
    return Resolver(index, settings)


class ClusterDNS:
    """One server process: its state, source, resolver and listeners."""

    def __init__(self, options: ServeOptions) -> None:
        self.options = options
        self.servers = load_servers(options.conf)
        self.server_config, self.k8s = kubernetes_block(self.servers)
        if options.listen:
            self.host, self.port = parse_listen(options.listen)
        elif options.conf is None:
            self.host, self.port = parse_listen(DEMO_LISTEN)
        else:
            bind = self.server_config.bind
            self.host, self.port = (bind[0] if bind else "0.0.0.0"), self.server_config.port
        self.state = ClusterState()
        self.resolver = build_resolver(self.state, self.k8s, own_addresses(self.host))
        self.handler = QueryHandler(self.resolver)
        transfer = self.server_config.transfer
        self.dns = DnsServer(
            self.handler,
            self.host,
            self.port,
            transfer=ZoneTransfer(self.resolver, transfer) if transfer else None,
        )
        self.informer: Informer | None = None

    def load_source(self) -> None:
        path = self.options.snapshot or DEMO_CLUSTER
        populate(self.state, load_snapshot(path))
        names = len(self.resolver.index.nodes)
        log.info("loaded %s: %d services, %d names", path, len(self.state.services), names)

    def start_informer(self) -> Informer:
        """Watch the cluster; changes are applied on the event loop, the state's one thread."""
        kubeconfig, context = self.options.kubeconfig, self.options.context
        if kubeconfig is None and self.k8s.kubeconfig is not None:
            kubeconfig, context = self.k8s.kubeconfig[0], context or self.k8s.kubeconfig[1]
        api = make_api_client(kubeconfig, context, self.k8s.endpoint)
        informer = Informer(
            api,
            self.state,
            asyncio.get_running_loop().call_soon_threadsafe,
            watch_pods=self.k8s.pods == "verified",
            namespaces=self.k8s.namespaces or None,
        )
        log.info("watching the cluster at %s", api.configuration.host)
        informer.start()
        return informer

    async def wait_for_sync(self, informer: Informer) -> None:
        """Like CoreDNS's startup_timeout: serve once synced, or anyway after the timeout
        (names not yet known are then SERVFAIL, never a false NXDOMAIN)."""
        timeout = self.k8s.startup_timeout
        synced = await asyncio.to_thread(informer.synced.wait, timeout)
        if not synced:
            log.warning("not synced with the API within %.0f s: serving what is known", timeout)

    async def start(self) -> None:
        if wants_live_cluster(self.options, self.k8s):
            self.informer = self.start_informer()
            await self.wait_for_sync(self.informer)
        else:
            self.load_source()
        await self.dns.start()

    async def stop(self) -> None:
        await self.dns.stop()
        if self.informer is not None:
            await asyncio.to_thread(self.informer.stop)

    async def run_forever(self) -> None:
        await self.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            log.info("shutting down")
            await self.stop()
