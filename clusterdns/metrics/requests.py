"""The server-wide families: every query's count, rcode, duration and sizes (CoreDNS's
plugin/metrics/vars), panics, the plugins enabled, the build.

A query is counted by list arithmetic: the cells and histogram series of its labels are found
once per kind of query (`counts`), so the wire answers count a query with one lookup.
"""

from __future__ import annotations

import sys
from bisect import bisect_left
from dataclasses import dataclass

from dnslib import QTYPE, RCODE

from clusterdns import __version__
from clusterdns.metrics.registry import METRICS, TIME_BUCKETS, Cell, Labels

SIZE_BUCKETS = (0, 100, 200, 300, 400, 511, 1023, 2047, 4095, 8291, 16e3, 32e3, 48e3, 64e3)
# The SIZE_BUCKETS series index of every message size (bisect_left's, one byte each): a
# lookup per query instead of a search
_SIZE_INDEX = bytes(bisect_left(SIZE_BUCKETS, size) for size in range(65536))
_FIRST_TIME_BUCKET = TIME_BUCKETS[0]
# Query types with their own `type` label; the rest count as "other" (CoreDNS's monitorType).
_MONITORED = "A AAAA CNAME DNSKEY DS MX NSEC3 NSEC NS PTR RRSIG SOA SRV TXT HTTPS IXFR AXFR ANY"
TYPE_LABELS = {getattr(QTYPE, name): name for name in _MONITORED.split()}
RCODE_LABELS = {code: RCODE.get(code) for code in range(11)}
VIEW = ""  # no `view` plugin: CoreDNS labels its absence with the empty string
_SERVER_ZONE = ("server", "zone", "view")

BUILD_INFO = METRICS.gauge(
    "coredns_build_info",
    "A metric with a constant '1' value labeled by version, revision, and goversion "
    "from which CoreDNS was built.",
    ["version", "revision", "goversion"],
    summed=False,
)
BUILD_INFO.set((__version__, "", f"python{sys.version.split()[0]}"), 1)
PANICS = METRICS.counter("coredns_panics_total", "A metrics that counts the number of panics.")
PLUGIN_ENABLED = METRICS.gauge(
    "coredns_plugin_enabled",
    "A metric that indicates whether a plugin is enabled on per server and zone basis.",
    [*_SERVER_ZONE, "name"],
    summed=False,
)
REQUESTS = METRICS.counter(
    "coredns_dns_requests_total",
    "Counter of DNS requests made per zone, protocol and family.",
    [*_SERVER_ZONE, "proto", "family", "type"],
)
DO_REQUESTS = METRICS.counter(
    "coredns_dns_do_requests_total",
    "Counter of DNS requests with DO bit set per zone.",
    _SERVER_ZONE,
)
RESPONSES = METRICS.counter(
    "coredns_dns_responses_total",
    "Counter of response status codes.",
    [*_SERVER_ZONE, "rcode", "plugin"],
)
DURATION = METRICS.histogram(
    "coredns_dns_request_duration_seconds",
    "Histogram of the time (in seconds) each request took per zone.",
    _SERVER_ZONE,
    TIME_BUCKETS,
)
REQUEST_SIZE = METRICS.histogram(
    "coredns_dns_request_size_bytes",
    "Size of the EDNS0 UDP buffer in bytes (64K for TCP) per zone and protocol.",
    [*_SERVER_ZONE, "proto"],
    SIZE_BUCKETS,
)
RESPONSE_SIZE = METRICS.histogram(
    "coredns_dns_response_size_bytes",
    "Size of the returned response in bytes.",
    [*_SERVER_ZONE, "proto"],
    SIZE_BUCKETS,
)


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
        series[0 if seconds <= _FIRST_TIME_BUCKET else bisect_left(TIME_BUCKETS, seconds)] += 1
        series[-1] += seconds
        series = self.request_size
        series[_SIZE_INDEX[request_size]] += 1
        series[-1] += request_size
        series = self.response_size
        series[_SIZE_INDEX[response_size]] += 1
        series[-1] += response_size


_KINDS: dict[tuple[object, ...], QueryCounts] = {}  # `counts`, found once per kind


def counts(
    server: str, zone: str, proto: str, qtype: int, rcode: int, plugin: str, do_bit: bool
) -> QueryCounts:
    """The cells a query of this kind adds to, found once per kind (the wire answers
    look them up per reply). Bounded: types and rcodes have few labels."""
    kind = (server, zone, proto, TYPE_LABELS.get(qtype, "other"), rcode, plugin, do_bit)
    found = _KINDS.get(kind)
    if found is None:
        labels = query_labels(server, zone, proto, qtype, rcode, plugin)
        found = _KINDS[kind] = QueryCounts(
            (REQUESTS.cell(labels.requests[0]), REQUESTS.cell(labels.requests[1])),
            DO_REQUESTS.cell(labels.base) if do_bit else None,
            RESPONSES.cell(labels.responses),
            DURATION.series_of(labels.base),
            REQUEST_SIZE.series_of(labels.sized),
            RESPONSE_SIZE.series_of(labels.sized),
        )
    return found


def record_query(
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
    found = counts(server, zone, proto, qtype, rcode, plugin, do_bit)
    found.record(family == "2", request_size, response_size, seconds)
