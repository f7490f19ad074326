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
from clusterdns.records import BuildOptions
from clusterdns.resolver import Resolver, ResolverSettings
from clusterdns.snapshot import DEMO_CLUSTER, load_snapshot, populate
from clusterdns.state import ClusterState
from clusterdns.transport import DnsServer, parse_listen

log = logging.getLogger("clusterdns")

DEMO_LISTEN = "127.0.0.1:5353"


@dataclass(frozen=True)
class ServeOptions:
    conf: Path | None = None
    snapshot: Path | None = None
    listen: str | None = None


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
        self.dns = DnsServer(self.handler, self.host, self.port)

    def load_source(self) -> None:
        path = self.options.snapshot or DEMO_CLUSTER
        populate(self.state, load_snapshot(path))
        index = self.resolver.index
        log.info(
            "loaded %s: %d services, %d names", path, len(self.state.services), len(index.nodes)
        )

    async def start(self) -> None:
        self.load_source()
        await self.dns.start()

    async def stop(self) -> None:
        await self.dns.stop()

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
