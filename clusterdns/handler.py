"""From query bytes to reply bytes: parse, route to the resolver or the forwarder, encode."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Protocol

from dnslib import QTYPE, RCODE

from clusterdns.resolver import Answer, Resolver
from clusterdns.wire import Query, Reject, encode, is_internet_class, parse_query, reply_size_limit
from clusterdns.wirecache import WireCache, question_key

log = logging.getLogger("clusterdns.handler")


class Forwarder(Protocol):
    """Resolves names outside our zones (issue: forward/cache)."""

    async def resolve(self, query: Query, over_tcp: bool) -> bytes | None:
        """The upstream's reply to `query`, re-encoded for our client; None to drop."""
        ...

    async def lookup(self, name: str, qtype: int) -> Answer | None:
        """The records of `name` (ExternalName targets), or None when it cannot be found."""
        ...


Reply = bytes | None | Awaitable[bytes | None]


class QueryHandler:
    def __init__(
        self,
        resolver: Resolver,
        forwarder: Forwarder | None = None,
        wire_cache: WireCache | None = None,
    ) -> None:
        self.resolver = resolver
        self.forwarder = forwarder
        self.wire_cache = WireCache(resolver.index) if wire_cache is None else wire_cache

    def handle(self, data: bytes, over_tcp: bool) -> Reply:
        """The reply to one message: bytes now, None to drop, or an awaitable when it
        needs the network (forwarding)."""
        key = question_key(data, over_tcp)
        if key is not None:
            cached = self.wire_cache.get(key, data)
            if cached is not None:
                return cached
        try:
            query = parse_query(data)
        except Reject as reject:
            return reject.reply
        limit = reply_size_limit(query, over_tcp)
        if not is_internet_class(query):
            return encode(query, Answer(rcode=RCODE.REFUSED, authoritative=False), limit)
        answer = self.resolver.resolve(query.question.qname, query.question.qtype)
        if answer.forward:
            if self.forwarder is None:
                return encode(query, self._unforwardable(query), limit)
            return self.forwarder.resolve(query, over_tcp)
        if answer.chase is not None and self.forwarder is not None:
            return self._chase(query, answer, limit)
        reply = encode(query, answer, limit)
        if key is not None and answer.chase is None:  # a pure function of the index
            self.wire_cache.put(key, reply)
        return reply

    def _unforwardable(self, query: Query) -> Answer:
        # Inside our zones (fallthrough with nothing behind it) CoreDNS fails the query;
        # outside them no plugin serves the name at all.
        inside = self.resolver.zone_of(str(query.question.qname).lower()) is not None
        return Answer(rcode=RCODE.SERVFAIL if inside else RCODE.REFUSED, authoritative=False)

    async def _chase(self, query: Query, answer: Answer, limit: int) -> bytes:
        """Complete an ExternalName CNAME with the target's records from upstream (SPEC §3):
        the upstream's NXDOMAIN is not passed on, and a failed lookup drops the CNAME."""
        assert self.forwarder is not None and answer.chase is not None
        found = await self.forwarder.lookup(answer.chase, query.question.qtype)
        if found is None:
            zone = self.resolver.zone_of(str(query.question.qname).lower())
            assert zone is not None
            answer = Answer(authority=[self.resolver.soa(zone[0])])
        else:
            answer.answer += [rr for rr in found.answer if rr.rtype != QTYPE.SOA]
        return encode(query, answer, limit)
