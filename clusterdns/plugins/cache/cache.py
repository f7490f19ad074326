"""CoreDNS's `cache`, for the answers we relay: positive and negative entries with their own
capacity and TTL bounds, SERVFAIL for a few seconds, prefetch and serve_stale.

Only upstream answers are stored. Cluster answers are built from the index on every query, so
they are never served stale, whatever the Corefile says. An entry keeps the reply's bytes
(without OPT) and its layout; a hit is a copy with the ID, question case and TTL patched.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from cachetools import TLRUCache
from dnslib import RCODE

from clusterdns.dns.names import in_zone
from clusterdns.dns.packet import (
    TYPE_SOA,
    Layout,
    question_end,
    rcode,
    soa_minimum,
    truncated,
    ttl_of,
)
from clusterdns.metrics.registry import Labels
from clusterdns.metrics.requests import VIEW
from clusterdns.plugins.cache import metrics
from clusterdns.plugins.cache.setup import CacheConfig

SUCCESS, DENIAL = "success", "denial"
MAXIMUM_TTL = 3600  # CoreDNS's dnsutil defaults: a message's TTL is read as at most this…
MINIMUM_TTL = 5  # …and a message with no records to read it from lives this long
_TYPE_NS = 2

Key = tuple[bytes, bytes, bool]


def cache_key(query: bytes, do_bit: bool) -> Key:
    """The question's name in lower case (without the root label), the bytes after it (root,
    type, class) and the DO bit: as `request.question_key` splits a plain query."""
    end = question_end(query)
    return (query[12 : end - 5].lower(), query[end - 5 : end], do_bit)


@dataclass(slots=True, eq=False)
class Entry:
    template: bytes  # the reply without OPT, TTLs as first relayed
    layout: Layout
    ttl: int  # seconds the entry is fresh, the TTL its records carried when stored
    stored: float
    kind: str
    hits: int = 0  # prefetch frequency: hits since `window`…
    window: float = -math.inf  # …started


class _Store(TLRUCache):
    """A TLRU cache that tells when it drops a live entry for room (an eviction)."""

    def __init__(
        self, capacity: int, ttu: Callable, timer: Callable[[], float], evicted: Callable[[], None]
    ) -> None:
        super().__init__(capacity, ttu, timer)
        self._evicted = evicted

    def popitem(self):  # type: ignore[no-untyped-def]
        self._evicted()
        return super().popitem()


class ResponseCache:
    def __init__(
        self, config: CacheConfig, server: str, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.config = config
        self.clock = clock
        self.labels = (server, ",".join(config.zones), VIEW)
        self._everything = "." in config.zones
        stale = config.serve_stale or 0.0

        def ttu(key: Key, entry: Entry, now: float) -> float:
            return entry.stored + entry.ttl + stale

        # a key is in one store at most (`put` sees to it): the likelier hit is looked up first
        self._stores = {
            kind: _Store(capacity, ttu, clock, self._eviction_counter(kind))
            for kind, capacity in (
                (SUCCESS, config.success_capacity),
                (DENIAL, config.denial_capacity),
            )
            if capacity > 0
        }
        metrics.ENTRIES.sources.add(self)

    def close(self) -> None:
        """Stop reporting entries (the cache is being replaced on reload)."""
        metrics.ENTRIES.sources.discard(self)

    def covers(self, name: str) -> bool:
        return self._everything or any(in_zone(name, zone) for zone in self.config.zones)

    def get(self, key: Key) -> tuple[Entry, int] | None:
        """The entry for `key` and its TTL left (≤ 0: stale but servable), counting the lookup."""
        metrics.REQUESTS.inc(self.labels)
        for kind, store in self._stores.items():
            entry = store.get(key)
            if entry is not None:
                metrics.HITS.inc((self.labels[0], kind, *self.labels[1:]))
                return entry, self.remaining(entry)
        metrics.MISSES.inc(self.labels)
        return None

    def stale(self, key: Key) -> Entry | None:
        """An entry still within its serve_stale window, without counting a lookup."""
        for store in self._stores.values():
            entry = store.get(key)
            if entry is not None:
                return entry
        return None

    def remaining(self, entry: Entry) -> int:
        if self.config.keepttl:
            return entry.ttl
        return entry.ttl - int(self.clock() - entry.stored)

    def should_prefetch(self, entry: Entry, remaining: int) -> bool:
        """Count a hit; True when the entry is popular and close enough to expiry to refresh."""
        config = self.config
        if not config.prefetch:
            return False
        now = self.clock()
        if entry.window < now - config.prefetch_duration:
            entry.window, entry.hits = now, 1
        else:
            entry.hits += 1
        threshold = math.ceil(config.prefetch_percentage / 100 * entry.ttl)
        return entry.hits >= config.prefetch and remaining <= threshold

    def put(self, key: Key, name: str, reply: bytes, layout: Layout) -> int | None:
        """Store an upstream reply (without OPT) for `name`. Returns the TTL its records carry
        from now on, or None when it is not cached (and keeps its own TTLs)."""
        kind, ttl = self._classify(reply, layout)
        if kind is None or ttl <= 0:
            return None
        disabled = self.config.disable_success if kind == SUCCESS else self.config.disable_denial
        if any(in_zone(name, zone) for zone in disabled) or kind not in self._stores:
            return None
        for other, store in self._stores.items():
            if other != kind:
                store.pop(key, None)  # a fresh answer replaces one of the other kind
        self._stores[kind][key] = Entry(reply, layout, ttl, self.clock(), kind)
        return ttl

    def sizes(self) -> Iterator[tuple[Labels, int]]:
        server, zones, view = self.labels
        for kind, store in self._stores.items():
            store.expire()
            yield (server, kind, zones, view), len(store)

    def _classify(self, reply: bytes, layout: Layout) -> tuple[str | None, int]:
        """Which cache takes the reply, and for how long (CoreDNS's response.Typify and
        dnsutil.MinimalTTL, bounded by the configured TTLs)."""
        config = self.config
        code = rcode(reply)
        if truncated(reply):
            return None, 0
        if code in (RCODE.SERVFAIL, RCODE.NOTIMP):
            return DENIAL, int(config.servfail_ttl)
        records = layout.records
        if code == RCODE.NOERROR and any(r.section == 0 for r in records):
            kind = SUCCESS
        elif code == RCODE.NOERROR and _is_delegation(records):
            return SUCCESS, _bounded(MINIMUM_TTL, config.success_min_ttl, config.success_ttl)
        elif code in (RCODE.NOERROR, RCODE.NXDOMAIN):
            kind = DENIAL
        else:
            return None, 0
        ttl = MAXIMUM_TTL if records else MINIMUM_TTL
        for record in records:
            ttl = min(ttl, ttl_of(reply, record))
            if kind == DENIAL and record.rtype == TYPE_SOA and record.section == 1:
                ttl = min(ttl, soa_minimum(reply, record))  # RFC 2308's negative TTL
        if kind == SUCCESS:
            return kind, _bounded(ttl, config.success_min_ttl, config.success_ttl)
        return kind, _bounded(ttl, config.denial_min_ttl, config.denial_ttl)

    def _eviction_counter(self, kind: str) -> Callable[[], None]:
        labels = (self.labels[0], kind, *self.labels[1:])

        cell = metrics.EVICTIONS.cell(labels)

        def count() -> None:
            cell[0] += 1

        return count


def _is_delegation(records: tuple) -> bool:
    authority = [r.rtype for r in records if r.section == 1]
    return _TYPE_NS in authority and TYPE_SOA not in authority


def _bounded(ttl: int, least: int, most: int) -> int:
    return min(max(ttl, least), most)
