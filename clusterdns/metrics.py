"""Prometheus metrics under CoreDNS's names and labels (SPEC §11), so its dashboards work unchanged.

The query path only adds to plain ints: a counter's cell and a histogram's bucket slots, per
label tuple, found once per kind of query (`QueryCounts`) and kept by the wire cache; the
families are built when /metrics is scraped. Counts live as long as the
process, across reloads, as in CoreDNS. `METRICS` is the one store; components write to it.
"""

from __future__ import annotations

import sys
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from dnslib import QTYPE, RCODE
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, ProcessCollector
from prometheus_client import generate_latest as _generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.utils import floatToGoString

from clusterdns import __version__
from clusterdns.plugins.kubernetes.objects import EndpointSlice, Service, ServiceKind

# CoreDNS's buckets: plugin.TimeBuckets, the size buckets of plugin/metrics/vars, and the
# kubernetes plugin's programming-latency buckets (1 ms to ~17 minutes).
TIME_BUCKETS = tuple(0.00025 * 2**i for i in range(16))
SIZE_BUCKETS = (0, 100, 200, 300, 400, 511, 1023, 2047, 4095, 8291, 16e3, 32e3, 48e3, 64e3)
PROGRAMMING_BUCKETS = tuple(0.001 * 2**i for i in range(20))

# Query types with their own `type` label; the rest count as "other" (CoreDNS's monitorType).
_MONITORED = "A AAAA CNAME DNSKEY DS MX NSEC3 NSEC NS PTR RRSIG SOA SRV TXT HTTPS IXFR AXFR ANY"
TYPE_LABELS = {getattr(QTYPE, name): name for name in _MONITORED.split()}
RCODE_LABELS = {code: RCODE.get(code) for code in range(11)}
VIEW = ""  # no `view` plugin: CoreDNS labels its absence with the empty string
PROXY_NAME = "forward"

Labels = tuple[str, ...]
Cell = list[int]  # one counter's value, added to in place


class Histogram:
    """Bucket counts per label tuple; `observe` is a bisect and two additions."""

    __slots__ = ("bounds", "series")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.series: dict[Labels, list[float]] = {}  # per bucket (and +Inf), then the sum

    def observe(self, labels: Labels, value: float) -> None:
        series = self.series_of(labels)
        series[bisect_left(self.bounds, value)] += 1
        series[-1] += value

    def series_of(self, labels: Labels) -> list[float]:
        """The counts behind `labels`, to add to directly (see QueryCounts)."""
        series = self.series.get(labels)
        if series is None:
            series = self.series[labels] = [0] * (len(self.bounds) + 2)
        return series

    def family(self, name: str, documentation: str, label_names: list[str]) -> Metric:
        family = HistogramMetricFamily(name, documentation, labels=label_names)
        for labels, series in self.series.items():
            total, buckets = 0, []
            for bound, count in zip((*self.bounds, float("inf")), series, strict=False):
                total += count
                buckets.append((floatToGoString(bound), total))
            family.add_metric(list(labels), buckets, series[-1])
        return family


@dataclass(frozen=True, slots=True)
class QueryLabels:
    """The label values one kind of answered query is counted under."""

    base: Labels  # server, zone, view
    sized: Labels  # …, proto (request and response sizes)
    requests: tuple[Labels, Labels]  # …, proto, family, type: for IPv4 and IPv6 clients
    responses: Labels  # …, rcode, plugin


def query_labels(
    server: str, zone: str, proto: str, qtype: int, rcode: int, plugin: str
) -> QueryLabels:
    base = (server, zone, VIEW)
    qtype_label = TYPE_LABELS.get(qtype, "other")
    return QueryLabels(
        base,
        (*base, proto),
        ((*base, proto, "1", qtype_label), (*base, proto, "2", qtype_label)),
        (*base, RCODE_LABELS.get(rcode) or f"RCODE{rcode}", plugin),
    )


@dataclass(frozen=True, slots=True)
class QueryCounts:
    """Where one kind of answered query is counted: the counter cells and histogram series
    of its labels, so counting a query is list arithmetic, no label lookups."""

    requests: tuple[Cell, Cell]  # for IPv4 and IPv6 clients
    do_requests: Cell | None  # None: the DO bit is not set
    responses: Cell
    duration: list[float]
    request_size: list[float]
    response_size: list[float]

    def record(self, ipv6: bool, request_size: int, response_size: int, seconds: float) -> None:
        """One answered query, as CoreDNS's vars.Report counts it."""
        self.requests[ipv6][0] += 1
        if self.do_requests is not None:
            self.do_requests[0] += 1
        self.responses[0] += 1
        series = self.duration
        series[bisect_left(TIME_BUCKETS, seconds)] += 1
        series[-1] += seconds
        series = self.request_size
        series[bisect_left(SIZE_BUCKETS, request_size)] += 1
        series[-1] += request_size
        series = self.response_size
        series[bisect_left(SIZE_BUCKETS, response_size)] += 1
        series[-1] += response_size


class CacheSizes(Protocol):
    """What a response cache reports for `coredns_cache_entries`."""

    def sizes(self) -> Iterable[tuple[Labels, int]]:
        """(server, type, zones, view) label values and the entry count, per cache kind."""
        ...


_CELL_COUNTERS = ("requests", "do_requests", "responses")  # Metrics' counters held as cells


class FixedSizes:
    """Cache sizes read from another worker's snapshot."""

    def __init__(self, sizes: dict[Labels, int]) -> None:
        self._sizes = sizes

    def sizes(self) -> Iterable[tuple[Labels, int]]:
        return self._sizes.items()


class Metrics:
    def __init__(self) -> None:
        # (server, zone, view, proto, family, type)
        self.requests: dict[Labels, Cell] = {}
        self.do_requests: dict[Labels, Cell] = {}  # (server, zone, view)
        # (server, zone, view, rcode, plugin)
        self.responses: dict[Labels, Cell] = {}
        self.duration = Histogram(TIME_BUCKETS)  # (server, zone, view)
        self.request_size = Histogram(SIZE_BUCKETS)  # (server, zone, view, proto)
        self.response_size = Histogram(SIZE_BUCKETS)
        self.panics = 0
        self.plugins: set[Labels] = set()  # (server, zone, view, name)
        # cache: (server, zones, view), with the kind after server where CoreDNS has `type`
        self.cache_requests: defaultdict[Labels, int] = defaultdict(int)
        self.cache_hits: defaultdict[Labels, int] = defaultdict(int)
        self.cache_misses: defaultdict[Labels, int] = defaultdict(int)
        self.cache_prefetches: defaultdict[Labels, int] = defaultdict(int)
        self.cache_drops: defaultdict[Labels, int] = defaultdict(int)
        self.cache_served_stale: defaultdict[Labels, int] = defaultdict(int)
        self.cache_evictions: defaultdict[Labels, int] = defaultdict(int)
        self.caches: set[CacheSizes] = set()
        # forward: (proxy_name, to, rcode) and (proxy_name, to[, proto])
        self.proxy_duration = Histogram(TIME_BUCKETS)
        self.healthcheck_failures: defaultdict[Labels, int] = defaultdict(int)
        self.conn_cache_hits: defaultdict[Labels, int] = defaultdict(int)
        self.conn_cache_misses: defaultdict[Labels, int] = defaultdict(int)
        self.healthcheck_broken = 0
        self.max_concurrent_rejects = 0
        self.programming = Histogram(PROGRAMMING_BUCKETS)  # (service_kind,)
        self.reload_failed = 0
        self.reload_version: str | None = None  # SHA-512 of the running Corefile
        self._kinds: dict[tuple[object, ...], QueryCounts] = {}  # `counts`, found once

    def record_query(
        self,
        server: str,
        zone: str,
        proto: str,
        family: str,
        qtype: int,
        do_bit: bool,
        request_size: int,
        response_size: int,
        rcode: int,
        plugin: str,
        seconds: float,
    ) -> None:
        """One answered query, as CoreDNS's vars.Report counts it."""
        counts = self.counts(server, zone, proto, qtype, rcode, plugin, do_bit)
        counts.record(family == "2", request_size, response_size, seconds)

    def snapshot(self) -> dict[str, Any]:
        """Every count as plain data (dicts, lists, numbers, sets), for `add` in another
        process: how the workers' counts reach the one that serves /metrics."""
        values: dict[str, Any] = {}
        for name, value in vars(self).items():
            if name.startswith("_"):  # bookkeeping, not counts
                continue
            if isinstance(value, Histogram):
                values[name] = dict(value.series)
            elif name == "caches":
                values[name] = {labels: size for c in value for labels, size in c.sizes()}
            elif isinstance(value, dict):  # counters: ints, or cells of one int
                values[name] = {k: v[0] if isinstance(v, list) else v for k, v in value.items()}
            else:
                values[name] = value
        return values

    def add(self, snapshot: dict[str, Any]) -> None:
        """Add another worker's `snapshot` to these counts (sums; label sets joined)."""
        for name, theirs in snapshot.items():
            mine = getattr(self, name)
            if isinstance(mine, Histogram):
                for labels, series in theirs.items():
                    own = mine.series_of(labels)
                    own[:] = [a + b for a, b in zip(own, series, strict=True)]
            elif name == "caches":
                mine.add(FixedSizes(theirs))
            elif name in _CELL_COUNTERS:
                for labels, count in theirs.items():
                    _cell(mine, labels)[0] += count
            elif isinstance(mine, dict):
                for labels, count in theirs.items():
                    mine[labels] += count
            elif isinstance(mine, set):
                mine |= theirs
            elif isinstance(mine, int):
                setattr(self, name, mine + theirs)
            elif mine is None:  # reload_version: the same Corefile in every worker
                setattr(self, name, theirs)

    def counts(
        self, server: str, zone: str, proto: str, qtype: int, rcode: int, plugin: str, do_bit: bool
    ) -> QueryCounts:
        """The cells a query of this kind adds to, found once per kind (wire cache hits keep
        them). Bounded: types and rcodes have few labels."""
        kind = (server, zone, proto, TYPE_LABELS.get(qtype, "other"), rcode, plugin, do_bit)
        counts = self._kinds.get(kind)
        if counts is None:
            labels = query_labels(server, zone, proto, qtype, rcode, plugin)
            counts = self._kinds[kind] = QueryCounts(
                tuple(_cell(self.requests, each) for each in labels.requests),
                _cell(self.do_requests, labels.base) if do_bit else None,
                _cell(self.responses, labels.responses),
                self.duration.series_of(labels.base),
                self.request_size.series_of(labels.sized),
                self.response_size.series_of(labels.sized),
            )
        return counts

    def collect(self) -> Iterator[Metric]:
        """Every family, built from the counts as they are now (the registry calls this)."""
        server_zone = ["server", "zone", "view"]
        cache = ["server", "zones", "view"]
        cache_typed = ["server", "type", "zones", "view"]
        proxy = ["proxy_name", "to"]
        yield _gauge(
            "coredns_build_info",
            "A metric with a constant '1' value labeled by version, revision, and goversion "
            "from which CoreDNS was built.",
            ["version", "revision", "goversion"],
            {(__version__, "", f"python{sys.version.split()[0]}"): 1},
        )
        yield _counter(
            "coredns_panics_total",
            "A metrics that counts the number of panics.",
            [],
            {(): self.panics},
        )
        yield _gauge(
            "coredns_plugin_enabled",
            "A metric that indicates whether a plugin is enabled on per server and zone basis.",
            [*server_zone, "name"],
            dict.fromkeys(self.plugins, 1),
        )
        yield _counter(
            "coredns_dns_requests_total",
            "Counter of DNS requests made per zone, protocol and family.",
            [*server_zone, "proto", "family", "type"],
            _values(self.requests),
        )
        yield _counter(
            "coredns_dns_do_requests_total",
            "Counter of DNS requests with DO bit set per zone.",
            server_zone,
            _values(self.do_requests),
        )
        yield _counter(
            "coredns_dns_responses_total",
            "Counter of response status codes.",
            [*server_zone, "rcode", "plugin"],
            _values(self.responses),
        )
        yield self.duration.family(
            "coredns_dns_request_duration_seconds",
            "Histogram of the time (in seconds) each request took per zone.",
            server_zone,
        )
        yield self.request_size.family(
            "coredns_dns_request_size_bytes",
            "Size of the EDNS0 UDP buffer in bytes (64K for TCP) per zone and protocol.",
            [*server_zone, "proto"],
        )
        yield self.response_size.family(
            "coredns_dns_response_size_bytes",
            "Size of the returned response in bytes.",
            [*server_zone, "proto"],
        )
        entries = {labels: size for c in self.caches for labels, size in c.sizes()}
        yield _gauge(
            "coredns_cache_entries", "The number of elements in the cache.", cache_typed, entries
        )
        yield _counter(
            "coredns_cache_requests_total",
            "The count of cache requests.",
            cache,
            self.cache_requests,
        )
        yield _counter(
            "coredns_cache_hits_total", "The count of cache hits.", cache_typed, self.cache_hits
        )
        yield _counter(
            "coredns_cache_misses_total",
            "The count of cache misses. "
            "Deprecated, derive misses from cache hits/requests counters.",
            cache,
            self.cache_misses,
        )
        yield _counter(
            "coredns_cache_prefetch_total",
            "The number of times the cache has prefetched a cached item.",
            cache,
            self.cache_prefetches,
        )
        yield _counter(
            "coredns_cache_drops_total",
            "The number responses that are not cached, because the reply is malformed.",
            cache,
            self.cache_drops,
        )
        yield _counter(
            "coredns_cache_served_stale_total",
            "The number of requests served from stale cache entries.",
            cache,
            self.cache_served_stale,
        )
        yield _counter(
            "coredns_cache_evictions_total",
            "The count of cache evictions.",
            cache_typed,
            self.cache_evictions,
        )
        yield self.proxy_duration.family(
            "coredns_proxy_request_duration_seconds",
            "Histogram of the time each request took.",
            [*proxy, "rcode"],
        )
        yield _counter(
            "coredns_proxy_healthcheck_failures_total",
            "Counter of the number of failed healthchecks.",
            proxy,
            self.healthcheck_failures,
        )
        yield _counter(
            "coredns_proxy_conn_cache_hits_total",
            "Counter of connection cache hits per upstream and protocol.",
            [*proxy, "proto"],
            self.conn_cache_hits,
        )
        yield _counter(
            "coredns_proxy_conn_cache_misses_total",
            "Counter of connection cache misses per upstream and protocol.",
            [*proxy, "proto"],
            self.conn_cache_misses,
        )
        yield _counter(
            "coredns_forward_healthcheck_broken_total",
            "Counter of the number of complete failures of the healthchecks.",
            [],
            {(): self.healthcheck_broken},
        )
        yield _counter(
            "coredns_forward_max_concurrent_rejects_total",
            "Counter of the number of queries rejected because the concurrent queries "
            "were at maximum.",
            [],
            {(): self.max_concurrent_rejects},
        )
        yield self.programming.family(
            "coredns_kubernetes_dns_programming_duration_seconds",
            "Histogram of the time (in seconds) it took to program a dns instance.",
            ["service_kind"],
        )
        yield _counter(
            "coredns_reload_failed_total",
            "Counter of the number of failed reload attempts.",
            [],
            {(): self.reload_failed},
        )
        versions = {("sha512", self.reload_version): 1} if self.reload_version else {}
        yield _gauge(
            "coredns_reload_version_info",
            "A metric with a constant '1' value labeled by hash, "
            "and value which type of hash generated.",
            ["hash", "value"],
            versions,
        )


def _counter(name: str, documentation: str, labels: list[str], values: dict[Labels, int]) -> Metric:
    family = CounterMetricFamily(name, documentation, labels=labels)
    for key, value in values.items():
        family.add_metric(list(key), value)
    return family


def _cell(cells: dict[Labels, Cell], labels: Labels) -> Cell:
    cell = cells.get(labels)
    if cell is None:
        cell = cells[labels] = [0]
    return cell


def _values(cells: dict[Labels, Cell]) -> dict[Labels, int]:
    return {labels: cell[0] for labels, cell in cells.items()}


def _gauge(name: str, documentation: str, labels: list[str], values: dict[Labels, int]) -> Metric:
    family = GaugeMetricFamily(name, documentation, labels=labels)
    for key, value in values.items():
        family.add_metric(list(key), value)
    return family


METRICS = Metrics()
REGISTRY = CollectorRegistry(auto_describe=False)
REGISTRY.register(METRICS)
# process_cpu_seconds_total, process_resident_memory_bytes…, of this process
PROCESS = ProcessCollector(registry=REGISTRY)


def exposition() -> tuple[int, str, bytes]:
    """The /metrics response: status, content type, body."""
    return 200, CONTENT_TYPE_LATEST, _generate_latest(REGISTRY)


def process_values() -> dict[str, float]:
    """This process's CPU, memory and file descriptors, by sample name."""
    return {sample.name: sample.value for family in PROCESS.collect() for sample in family.samples}


def exposition_of(
    snapshots: Iterable[dict[str, Any]], processes: Iterable[dict[str, float]]
) -> tuple[int, str, bytes]:
    """The /metrics response with other workers' counts (`Metrics.snapshot`) and process
    figures (`process_values`) added to this process's."""
    total = Metrics()
    total.add(METRICS.snapshot())
    for snapshot in snapshots:
        total.add(snapshot)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(total)
    registry.register(_SummedProcesses([*processes]))
    return 200, CONTENT_TYPE_LATEST, _generate_latest(registry)


class _SummedProcesses:
    """The process families for all workers: CPU, memory and descriptors summed, the
    earliest start time; the descriptor limit is this process's."""

    def __init__(self, others: list[dict[str, float]]) -> None:
        self.others = others

    def collect(self) -> Iterator[Metric]:
        for family in PROCESS.collect():
            summed = Metric(family.name, family.documentation, family.type)
            for sample in family.samples:
                values = [sample.value, *(o[sample.name] for o in self.others if sample.name in o)]
                if sample.name == "process_start_time_seconds":
                    value = min(values)
                elif sample.name == "process_max_fds":
                    value = sample.value
                else:
                    value = sum(values)
                summed.add_sample(sample.name, sample.labels, value)
            yield summed


def on_slice_change(endpoint_slice: EndpointSlice, service: Service | None) -> None:
    """Observe the DNS programming latency of a slice the informer has just applied.

    As CoreDNS: only slices the EndpointSlice controller stamped with a trigger time, of a
    service we know (ClusterIP or headless), measured from that time to now.
    """
    if endpoint_slice.trigger_time is None or service is None:
        return
    if service.kind is ServiceKind.EXTERNAL_NAME:
        return
    try:
        triggered = datetime.fromisoformat(endpoint_slice.trigger_time)
    except ValueError:
        return
    if triggered.tzinfo is None:
        return
    kind = "headless_with_selector" if service.kind is ServiceKind.HEADLESS else "cluster_ip"
    METRICS.programming.observe((kind,), (datetime.now(UTC) - triggered).total_seconds())
