"""Assemble a running server from configuration: source → state → index → resolver → transports."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kubernetes.client import ApiClient

from clusterdns import compiled
from clusterdns.config.addresses import parse_listen
from clusterdns.config.blocks import ServerConfig
from clusterdns.config.resolvconf import RESOLV_CONF, read_resolv_conf
from clusterdns.errors import ClusterDNSError, ServeError
from clusterdns.metrics.requests import PLUGIN_ENABLED
from clusterdns.plugins import reload
from clusterdns.plugins.kubernetes.client import IN_CLUSTER_ENV, cluster_api_client
from clusterdns.plugins.kubernetes.informer import STALL_TIMEOUT, Informer
from clusterdns.plugins.kubernetes.metrics import on_slice_change
from clusterdns.plugins.kubernetes.objects import EndpointSlice, Pod
from clusterdns.plugins.kubernetes.resolver import Resolver, build_resolver
from clusterdns.plugins.kubernetes.setup import KUBERNETES, KubernetesConfig
from clusterdns.plugins.kubernetes.snapshot import DEMO_CLUSTER, load_snapshot, populate
from clusterdns.plugins.kubernetes.state import ClusterState
from clusterdns.plugins.ready import Ready
from clusterdns.plugins.reload import CorefileWatcher, ReloadConfig, corefile_digest
from clusterdns.server.directives import kubernetes_server, load_servers
from clusterdns.server.handler import QueryHandler
from clusterdns.server.plan import ANY_ADDRESS, Plan, build_plan, listeners
from clusterdns.server.transfers import ScreenedTransfer
from clusterdns.server.workerstats import MetricsGatherer, MetricsReporter
from clusterdns.transport.http import HttpServer, Route
from clusterdns.transport.listener import DnsServer

log = logging.getLogger("clusterdns")

DEMO_LISTEN = "127.0.0.1:5353"


@dataclass(frozen=True)
class ServeOptions:
    conf: Path | None = None
    snapshot: Path | None = None
    listen: str | None = None
    kubeconfig: str | None = None
    context: str | None = None
    resolv_conf: str = RESOLV_CONF  # read where the Corefile forwards to /etc/resolv.conf
    worker: int | None = None  # which of `--workers` processes (runner.py); None: the only one
    udp_buffer: int | None = None  # receive buffer of the UDP sockets; None: the kernel's
    watch_stall: float = STALL_TIMEOUT  # a silent watch is dead after this long
    # with workers: how the first gathers the others' metrics, or how they report theirs
    peers: MetricsGatherer | MetricsReporter | None = None


def settle_garbage_collector() -> None:
    """Move everything loaded so far out of the collector's sight. The cluster state and its
    index are long-lived and hold no cycles worth finding, but a full collection walks all of
    them: with a large cluster that is a pause of milliseconds in the middle of answering."""
    gc.collect()
    gc.freeze()


def wants_live_cluster(options: ServeOptions, k8s: KubernetesConfig) -> bool:
    """A live cluster unless a snapshot is given: with a kubeconfig (flag or Corefile), an
    `endpoint`, or inside a pod. Otherwise the bundled demo cluster."""
    if options.snapshot is not None:
        return False
    return bool(
        options.kubeconfig or k8s.kubeconfig or k8s.endpoint or os.environ.get(IN_CLUSTER_ENV)
    )


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


class ClusterDNS:
    """One server process: its state and source, its listeners, and their reconfiguration."""

    def __init__(self, options: ServeOptions) -> None:
        self.options = options
        # hashed before it is read: a change in between is then seen by the watcher
        self.digest = _digest(options.conf)
        self.servers = load_servers(options.conf)
        if options.listen:
            self.override: tuple[str, int] | None = parse_listen(options.listen)
        else:
            self.override = parse_listen(DEMO_LISTEN) if options.conf is None else None
        kube = kubernetes_server(self.servers)
        self.k8s = kube.get(KUBERNETES) if kube is not None else None
        self.state = ClusterState()
        self.ready = Ready({"kubernetes": self.state})
        self.resolver: Resolver | None = None
        self.resolver = self._resolver_for(self.servers)
        self.plan = Plan()
        self.dns: dict[tuple[str, int], DnsServer[QueryHandler]] = {}
        self.http: dict[str, HttpServer] = {}
        self.informer: Informer | None = None
        self.watcher: CorefileWatcher | None = None
        self.exit_code = 0
        self._stop = asyncio.Event()
        self._hurry = asyncio.Event()  # a second signal: skip the rest of the lameduck
        self._probing: set[asyncio.Task[None]] = set()

    def load_source(self, k8s: KubernetesConfig) -> None:
        path = self.options.snapshot or DEMO_CLUSTER
        populate(self.state, load_snapshot(path, k8s.labels, k8s.namespace_labels))
        names = len(self.resolver.index.nodes) if self.resolver is not None else 0
        log.info("loaded %s: %d services, %d names", path, len(self.state.services), names)

    def start_informer(self, k8s: KubernetesConfig, api: ApiClient | None = None) -> Informer:
        """Watch the cluster (through `api`, else a client made from the configuration);
        changes are applied on the event loop, the state's one thread."""
        if api is None:
            api = cluster_api_client(k8s, self.options.kubeconfig, self.options.context)
        loop = asyncio.get_running_loop()

        def submit(change: Callable[[], None]) -> None:
            loop.call_soon_threadsafe(change)

        stall = self.options.watch_stall
        informer = Informer.watching(
            api, self.state, submit, k8s, self._slice_changed, stall_timeout=stall
        )
        log.info("watching the cluster at %s", api.configuration.host)
        informer.start()
        return informer

    async def _restart_informer(self, k8s: KubernetesConfig, api: ApiClient) -> None:
        """Watch from the Corefile's new source (API server, namespaces, labels, pods). What is
        served stays until the new informer's first lists replace it, kind by kind."""
        assert self.informer is not None
        await asyncio.to_thread(self.informer.stop)
        if k8s.pods != "verified":
            self.state.replace(Pod, [])  # no longer watched: no longer known
        log.info("plugin/reload: kubernetes API options changed: listing the cluster again")
        self.informer = self.start_informer(k8s, api)

    async def wait_for_sync(self, informer: Informer, k8s: KubernetesConfig) -> None:
        """Like CoreDNS's startup_timeout: serve once synced, or anyway after the timeout
        (names not yet known are then SERVFAIL, never a false NXDOMAIN)."""
        timeout = k8s.startup_timeout
        synced = await asyncio.to_thread(informer.synced.wait, timeout)
        if not synced:
            log.warning("not synced with the API within %.0f s: serving what is known", timeout)

    async def start(self) -> None:
        if compiled.STATUS.startswith("compiled"):
            log.info("hot path: %s", compiled.STATUS)
        else:  # about half the queries a second: worth an operator's look
            log.warning("hot path: %s", compiled.STATUS)
        if isinstance(self.options.peers, MetricsReporter):
            self.options.peers.ready = lambda: self.ready.probe()[0] == 200
            self.options.peers.start()
        plan = self._build(self.servers, self.resolver)
        # probes first: /ready is 503 until synced
        await self._switch(Plan(http=plan.http, debug=plan.debug))
        if self.k8s is None:
            self.state.mark_synced()  # no kubernetes block: nothing to wait for
        elif wants_live_cluster(self.options, self.k8s):
            self.informer = self.start_informer(self.k8s)
            await self.wait_for_sync(self.informer, self.k8s)
        else:
            self.load_source(self.k8s)
        settle_garbage_collector()
        await self._switch(plan)
        if self.informer is None and self.options.snapshot is None and self.dns:
            (host, _), server = next(iter(self.dns.items()))
            log.info(
                "serving the bundled demo cluster; try: dig @%s -p %d "
                "web-0.web.demo.svc.cluster.local",
                {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host),
                server.port,
            )
        conf = self.options.conf
        if conf is not None and plan.reload is not None:
            running = self.digest or corefile_digest(conf)
            self.watcher = CorefileWatcher(conf, plan.reload, running, self._reload)
            self.watcher.start()
            reload.show_version(self.watcher.digest)

    async def stop(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()
        for task in self._probing:
            task.cancel()
        for server in self.dns.values():
            await server.stop()
        for http in self.http.values():
            await http.stop()
        self.plan.close()
        if self.informer is not None:
            await asyncio.to_thread(self.informer.stop)

    async def run_forever(self) -> int:
        """Serve until SIGTERM/SIGINT (then lameduck: /ready 503, still answering) or a
        forwarding loop; the exit status."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal)
        await self.start()
        await self._stop.wait()
        self.ready.shutting_down = True
        lameduck = self.plan.lameduck
        if lameduck > 0 and not self._hurry.is_set():
            log.info("plugin/health: Going into lameduck mode for %gs", lameduck)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._hurry.wait(), lameduck)
        log.info("shutting down")
        await self.stop()
        return self.exit_code

    def _on_signal(self) -> None:
        if self._stop.is_set():
            self._hurry.set()
        self._stop.set()

    def _loop_detected(self) -> None:
        self.exit_code = 1  # as CoreDNS's log.Fatal: no lameduck
        self._hurry.set()
        self._stop.set()

    def _slice_changed(self, endpoint_slice: EndpointSlice) -> None:
        on_slice_change(endpoint_slice, self.state.services.get(endpoint_slice.service_key))

    def _resolver_for(self, servers: list[ServerConfig]) -> Resolver | None:
        """The resolver for `servers`: the running one if its kubernetes options are the same."""
        kube = kubernetes_server(servers)
        k8s = kube.get(KUBERNETES) if kube is not None else None
        if kube is None or k8s is None:
            return None
        if self.resolver is not None and k8s == self.k8s:
            return self.resolver
        served = listeners(servers, self.override)
        host = next((lst.host for lst, blocks in served.items() if kube in blocks), ANY_ADDRESS)
        return build_resolver(self.state, k8s, own_addresses(host), self._host_search())

    def _host_search(self) -> tuple[str, ...]:
        """The host's search domains (for autopath), from --resolv-conf: none when it
        cannot be read, as CoreDNS reads its own resolv.conf."""
        try:
            return read_resolv_conf(self.options.resolv_conf).search
        except OSError:
            return ()

    def _build(self, servers: list[ServerConfig], resolver: Resolver | None) -> Plan:
        resolv_conf, on_loop = self.options.resolv_conf, self._loop_detected
        return build_plan(servers, self.override, resolver, self.ready, resolv_conf, on_loop)

    def _routes(self, routes: dict[str, Route]) -> dict[str, Route]:
        """The plan's HTTP routes; with workers, /metrics sums every worker's counts and
        /ready waits for every worker."""
        gatherer = self.options.peers
        if not isinstance(gatherer, MetricsGatherer):
            return routes
        routes = dict(routes)
        if "/metrics" in routes:
            routes["/metrics"] = gatherer.exposition
        if "/ready" in routes:
            routes["/ready"] = gatherer.ready(routes["/ready"])
        return routes

    async def _switch(self, plan: Plan) -> None:
        """Serve `plan` instead of the running one. New listeners start first: if one cannot,
        the ones just started stop again and the running plan stays (ServeError)."""
        wanted = {(listener.host, listener.port): listener for listener in plan.dns}
        opened_http: dict[str, HttpServer] = {}
        opened_dns: dict[tuple[str, int], DnsServer] = {}
        try:
            for address, routes in plan.http.items():
                # one worker serves health, readiness and metrics (every worker's counts)
                if address not in self.http and self.options.worker in (None, 0):
                    opened_http[address] = HttpServer(address, self._routes(routes))
                    await opened_http[address].start()
            for key, listener in wanted.items():
                if key not in self.dns:
                    handler = QueryHandler(plan.dns[listener], listener.label)
                    opened_dns[key] = DnsServer(
                        handler,
                        *key,
                        transfer=ScreenedTransfer.of(handler, plan.transfers.get(listener)),
                        reuse_port=self.options.worker is not None,
                        udp_buffer=self.options.udp_buffer,
                    )
                    await opened_dns[key].start()
        except ServeError:
            for server in opened_dns.values():
                await server.stop()
            for http in opened_http.values():
                await http.stop()
            raise
        for address, http in list(self.http.items()):
            if address in plan.http:
                http.routes = self._routes(plan.http[address])
            else:
                await http.stop()
                del self.http[address]
        for key, server in list(self.dns.items()):
            if key in wanted:
                listener = wanted[key]
                server.handler.server = listener.label
                server.handler.set_blocks(plan.dns[listener])
                server.transfer = ScreenedTransfer.of(
                    server.handler, plan.transfers.get(listener)
                )
            else:
                await server.stop()
                del self.dns[key]
        self.http.update(opened_http)
        self.dns.update(opened_dns)
        self.plan, previous = plan, self.plan
        plan.start()
        previous.close()
        PLUGIN_ENABLED.values = dict.fromkeys(plan.plugins, 1)
        self._probe_loops()

    def _probe_loops(self) -> None:
        """Send each `loop` block's probe to its listener, at start and after every reload
        (as CoreDNS's OnStartup runs again): a probe stands down once answered, and until
        then the handler shows it every query, wire answers included."""
        for (host, _), server in self.dns.items():
            for block in server.handler.blocks:
                if block.loop is not None:
                    target = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
                    task = asyncio.ensure_future(block.loop.run(target, server.port))
                    self._probing.add(task)
                    task.add_done_callback(self._probing.discard)

    async def _reload(self, digest: str) -> ReloadConfig | None:
        """Apply the changed Corefile, or log why not and keep the running one (no lameduck)."""
        assert self.options.conf is not None
        resolver = self.resolver
        try:
            servers = load_servers(self.options.conf)
            kube = kubernetes_server(servers)
            k8s = kube.get(KUBERNETES) if kube is not None else None
            api = None  # a client for the informer's new source, made before anything changes
            snapshot = None  # the snapshot as new label selectors select it, read first too
            if self.informer and k8s and self.k8s and _source(k8s) != _source(self.k8s):
                api = cluster_api_client(k8s, self.options.kubeconfig, self.options.context)
            elif (
                self.informer is None and k8s and self.k8s and _selected(k8s) != _selected(self.k8s)
            ):
                path = self.options.snapshot or DEMO_CLUSTER
                snapshot = load_snapshot(path, k8s.labels, k8s.namespace_labels)
            resolver = self._resolver_for(servers)
            plan = self._build(servers, resolver)
            try:
                await self._switch(plan)
            except ServeError:
                plan.close()
                raise
        except (ClusterDNSError, OSError) as exc:
            if resolver is not None and resolver is not self.resolver:
                self.state.unsubscribe(resolver.index)
            reload.FAILED.inc()
            log.error("plugin/reload: Corefile changed but reload failed: %s", exc)
            return self.plan.reload
        if self.resolver is not None and resolver is not self.resolver:
            self.state.unsubscribe(self.resolver.index)
        if api is not None and k8s is not None:
            await self._restart_informer(k8s, api)
        if snapshot is not None:
            populate(self.state, snapshot)
            log.info("plugin/reload: label selectors changed: the snapshot selected again")
        self.servers, self.k8s, self.resolver = servers, k8s, resolver
        reload.show_version(digest if plan.reload is not None else None)
        log.info("plugin/reload: Running configuration SHA512 = %s", digest)
        return plan.reload


def _digest(conf: Path | None) -> str | None:
    """The Corefile's reload digest; None when there is none (or it cannot be read: loading
    it says why)."""
    try:
        return corefile_digest(conf) if conf is not None else None
    except OSError:
        return None


def _selected(k8s: KubernetesConfig) -> tuple[object, ...]:
    return (k8s.labels, k8s.namespace_labels)


def _source(k8s: KubernetesConfig) -> tuple[object, ...]:
    """What the informer was started with: changing these starts a new one."""
    return (k8s.kubeconfig, k8s.endpoint, k8s.namespaces, k8s.pods == "verified", *_selected(k8s))
