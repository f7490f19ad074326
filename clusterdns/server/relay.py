"""Answers for names that are not ours: CoreDNS's `cache` in front of the block's forwards.

A hit is rendered from the cached bytes. A miss asks the forwarder, stores what is cacheable and
relays the upstream's reply as it came (rcode, flags, sections) with our client's ID, question
case and an OPT of its own. A failure is SERVFAIL (REFUSED beyond max_concurrent), unless
serve_stale lets an expired entry stand in.
"""

from __future__ import annotations

import asyncio

from dnslib import QTYPE, RCODE

from clusterdns.dns.packet import Layout, failure, opt_record, rcode, render, without_opt
from clusterdns.dns.request import Request
from clusterdns.plugins.cache import metrics as cache_metrics
from clusterdns.plugins.cache.cache import Key, ResponseCache, cache_key
from clusterdns.plugins.errors import ErrorLog
from clusterdns.plugins.forward.chain import ForwardChain
from clusterdns.plugins.forward.forward import ForwardError


class Relay:
    def __init__(
        self, forwards: ForwardChain, cache: ResponseCache | None, errors: ErrorLog | None
    ) -> None:
        self.forwards = forwards
        self.cache = cache
        self.errors = errors  # the block's `errors`, None without one
        self._refreshing: set[asyncio.Task] = set()

    def matches(self, name: str) -> bool:
        return self.forwards.matches(name)

    def cached(self, request: Request) -> bytes | None:
        """The reply from the cache, or None on a miss (then `fetch`). Counts the lookup;
        schedules a prefetch or a stale entry's refresh."""
        cache = self.cache
        if cache is None or not cache.covers(request.name):
            return None
        found = cache.get(_cache_key(request))
        if found is None:
            return None
        entry, remaining = found
        if remaining <= 0:
            if cache.config.serve_stale_mode == "verify":
                return None  # ask upstream first; `fetch` falls back to the stale entry
            cache_metrics.SERVED_STALE.inc(cache.labels)
            self._refresh(request)
        elif cache.should_prefetch(entry, remaining):
            cache_metrics.PREFETCHES.inc(cache.labels)
            self._refresh(request)
        return _render(entry.template, entry.layout, request, max(remaining, 0), hit=True)

    async def fetch(self, request: Request) -> bytes:
        """Ask upstream, store, relay; on failure an error reply or a stale entry."""
        try:
            template, layout, ttl = await self._fetch_and_store(request, request.over_tcp)
        except ForwardError as exc:
            if self.errors is not None:
                self.errors.report(exc.rcode, request.name, QTYPE.get(request.qtype), str(exc))
            return self._stale(request) or failure(request.data, exc.rcode, _opt(request))
        if rcode(template) not in (RCODE.NOERROR, RCODE.NXDOMAIN):
            stale = self._stale(request)  # RFC 8767: better stale than failed
            if stale is not None:
                return stale
        return _render(template, layout, request, ttl, hit=False)

    def close(self) -> None:
        self.forwards.close()
        if self.errors is not None:
            self.errors.close()
        if self.cache is not None:
            self.cache.close()
        for task in self._refreshing:
            task.cancel()

    async def _fetch_and_store(
        self, request: Request, over_tcp: bool
    ) -> tuple[bytes, Layout, int | None]:
        """The upstream reply without OPT, its layout, and the TTL the cache gave it."""
        reply, layout = await self.forwards.exchange(request.data, over_tcp, request.name)
        template, layout = without_opt(reply, layout)
        ttl = None
        if self.cache is not None and self.cache.covers(request.name):
            ttl = self.cache.put(_cache_key(request), request.name, template, layout)
        return template, layout, ttl

    def _stale(self, request: Request) -> bytes | None:
        cache = self.cache
        if cache is None or not cache.config.serve_stale:
            return None
        entry = cache.stale(_cache_key(request))
        if entry is None:
            return None
        cache_metrics.SERVED_STALE.inc(cache.labels)
        remaining = max(cache.remaining(entry), 0)
        return _render(entry.template, entry.layout, request, remaining, hit=True)

    def _refresh(self, request: Request) -> None:
        """Fetch and store in the background (prefetch, stale refresh); nobody waits for it."""
        task = asyncio.ensure_future(self._fetch_and_store(request, over_tcp=False))
        self._refreshing.add(task)
        task.add_done_callback(self._refreshed)

    def _refreshed(self, task: asyncio.Task) -> None:
        self._refreshing.discard(task)
        if not task.cancelled():
            task.exception()  # a failed refresh changes nothing: the entry expires as it would


def _cache_key(request: Request) -> Key:
    """The cache's key of a request: a plain one's from the parts its key was read into (the
    name lower-cased here too, as SRV keys keep the question's case)."""
    key = request.key
    if key is None:
        return cache_key(request.data, request.do)
    return key[0].lower(), key[1], request.do


def _opt(request: Request) -> bytes:
    """Our reply's OPT: the client's buffer mirrored and its DO bit, if it sent one."""
    return opt_record(request.advertise, request.do)


def _render(template: bytes, layout: Layout, request: Request, ttl: int | None, hit: bool) -> bytes:
    opt, limit = _opt(request), request.limit
    return render(template, layout, request.data, ttl, clear_aa=hit, opt=opt, limit=limit)
