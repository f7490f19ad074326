"""The `cache` plugin's families, as CoreDNS's plugin/cache/metrics.go names them.

Labels are (server, zones, view), with the cache kind (success, denial) after server where
CoreDNS has `type`.
"""

from __future__ import annotations

from clusterdns.metrics.registry import METRICS

_LABELS = ("server", "zones", "view")
_TYPED = ("server", "type", "zones", "view")

ENTRIES = METRICS.gauge("coredns_cache_entries", "The number of elements in the cache.", _TYPED)
REQUESTS = METRICS.counter("coredns_cache_requests_total", "The count of cache requests.", _LABELS)
HITS = METRICS.counter("coredns_cache_hits_total", "The count of cache hits.", _TYPED)
MISSES = METRICS.counter(
    "coredns_cache_misses_total",
    "The count of cache misses. Deprecated, derive misses from cache hits/requests counters.",
    _LABELS,
)
PREFETCHES = METRICS.counter(
    "coredns_cache_prefetch_total",
    "The number of times the cache has prefetched a cached item.",
    _LABELS,
)
DROPS = METRICS.counter(
    "coredns_cache_drops_total",
    "The number responses that are not cached, because the reply is malformed.",
    _LABELS,
)
SERVED_STALE = METRICS.counter(
    "coredns_cache_served_stale_total",
    "The number of requests served from stale cache entries.",
    _LABELS,
)
EVICTIONS = METRICS.counter(
    "coredns_cache_evictions_total", "The count of cache evictions.", _TYPED
)
