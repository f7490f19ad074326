"""The `forward` plugin's families, as CoreDNS's plugin/forward and plugin/pkg/proxy name
them: `proxy_name` is always "forward", `to` the upstream as host:port."""

from __future__ import annotations

from clusterdns.metrics.registry import METRICS, TIME_BUCKETS

PROXY_NAME = "forward"
_PROXY = ("proxy_name", "to")

REQUEST_DURATION = METRICS.histogram(
    "coredns_proxy_request_duration_seconds",
    "Histogram of the time each request took.",
    [*_PROXY, "rcode"],
    TIME_BUCKETS,
)
HEALTHCHECK_FAILURES = METRICS.counter(
    "coredns_proxy_healthcheck_failures_total",
    "Counter of the number of failed healthchecks.",
    _PROXY,
)
CONN_CACHE_HITS = METRICS.counter(
    "coredns_proxy_conn_cache_hits_total",
    "Counter of connection cache hits per upstream and protocol.",
    [*_PROXY, "proto"],
)
CONN_CACHE_MISSES = METRICS.counter(
    "coredns_proxy_conn_cache_misses_total",
    "Counter of connection cache misses per upstream and protocol.",
    [*_PROXY, "proto"],
)
HEALTHCHECK_BROKEN = METRICS.counter(
    "coredns_forward_healthcheck_broken_total",
    "Counter of the number of complete failures of the healthchecks.",
)
MAX_CONCURRENT_REJECTS = METRICS.counter(
    "coredns_forward_max_concurrent_rejects_total",
    "Counter of the number of queries rejected because the concurrent queries were at maximum.",
)
