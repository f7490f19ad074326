"""From query bytes to reply bytes: route to a server block, answer, count and log.

A query goes to the server block with the longest zone holding its name (stub domains). There
the `kubernetes` resolver answers its zones (through the wire cache); names it does not own
or lets fall through go to the block's relay (cache in front of forward); an ExternalName
target outside our zones is completed through the relay of the block that holds it.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Coroutine, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dnslib import QTYPE, RCODE

from clusterdns.dns.message import (
    Answer,
    Query,
    Reject,
    encode,
    is_internet_class,
    parse_query,
    reply_size_limit,
)
from clusterdns.dns.names import in_zone
from clusterdns.dns.request import Key, question_key
from clusterdns.metrics import requests as query_metrics
from clusterdns.metrics.requests import QueryCounts
from clusterdns.plugins.kubernetes.resolver import Resolver
from clusterdns.plugins.kubernetes.wirecache import WireCache, scope_of
from clusterdns.plugins.loadbalance import shuffle_addresses
from clusterdns.plugins.log import log_query
from clusterdns.server.asked import Asked, asked_by, asked_plain
from clusterdns.transport.protocols import Reply

if TYPE_CHECKING:
    from clusterdns.server.block import Block
    from clusterdns.server.relay import Relay

Answered = tuple[bytes, str]  # the reply and the plugin that wrote it (a metrics label)
DROPPED = "dropped"  # CoreDNS's zone label for queries no server block takes
_INTERNET_CLASSES = (b"\x00\x01", b"\x00\xff")  # IN and ANY, as is_internet_class


@dataclass(frozen=True, slots=True)
class Hit:
    """What the wire cache keeps beside a reply: the block that answered, where it is counted."""

    block: Block
    counts: QueryCounts  # the metrics it is counted in


class QueryHandler:
    def __init__(
        self,
        blocks: Sequence[Block],
        server: str = "dns://:53",
        wire_cache: WireCache[Hit] | None = None,
    ) -> None:
        self.server = server  # the `server` metrics label: this listener's address
        self.wire_cache = wire_cache
        self.set_blocks(blocks)

    def set_blocks(self, blocks: Sequence[Block]) -> None:
        """Serve these blocks from now on (at start and on reload)."""
        self.blocks = list(blocks)
        routes = [(zone, block) for block in self.blocks for zone in block.zones]
        self._routes = sorted(routes, key=lambda route: -len(route[0]))
        resolver = next((b.resolver for b in self.blocks if b.resolver is not None), None)
        if self.wire_cache is not None and (
            resolver is None or self.wire_cache.index is not resolver.index
        ):
            self.wire_cache.close()
            self.wire_cache = None
        if self.wire_cache is not None:
            self.wire_cache.clear()  # its notes name the blocks they were answered by
        elif resolver is not None:
            self.wire_cache = WireCache(resolver.index)

    def route(self, name: str) -> tuple[str, Block] | None:
        """The zone and block that serve `name` (absolute, lower case): longest zone wins."""
        for zone, block in self._routes:
            if in_zone(name, zone):
                return zone, block
        return None

    def handle(self, data: bytes, over_tcp: bool, peer: tuple[str, int] | None = None) -> Reply:
        """The reply to one message: bytes now, None to drop, or an awaitable when it
        needs the network (forwarding)."""
        start = time.perf_counter()
        if not over_tcp and self.wire_cache is not None:
            hit = self.wire_cache.exact(data)
            if hit is not None:
                return self._cached(data, hit, start, over_tcp, peer)
        key = question_key(data, over_tcp)
        if key is not None:
            if self.wire_cache is not None:
                hit = self.wire_cache.get(key, data)
                if hit is not None:
                    return self._cached(data, hit, start, over_tcp, peer)
            relayed = self._relayed(key, data, start, over_tcp, peer)
            if relayed is not None:
                return relayed
        try:
            query = parse_query(data)
        except Reject as reject:
            return reject.reply  # not counted: CoreDNS never sees these either
        name = str(query.question.qname).lower()
        limit = reply_size_limit(query, over_tcp)
        found = self.route(name)
        if found is None:
            reply = encode(query, Answer(rcode=RCODE.REFUSED, authoritative=False), limit)
            return self._done(None, DROPPED, query, name, data, (reply, ""), start, over_tcp, peer)
        zone, block = found
        if block.loop is not None and block.loop.active:
            block.loop.observe(name, query.question.qtype, peer)
        answered = self._answer(block, zone, query, data, name, key, over_tcp, limit)
        if isinstance(answered, tuple):
            return self._done(block, zone, query, name, data, answered, start, over_tcp, peer)
        return self._done_later(block, zone, query, name, data, answered, start, over_tcp, peer)

    def _relayed(
        self, key: Key, data: bytes, start: float, over_tcp: bool, peer: tuple[str, int] | None
    ) -> Reply:
        """A plain query for a name a relay forwards: from its cache without parsing the
        query, else forwarded. None for every other query (the full path decides)."""
        name = _dotted(key[0]).lower()  # SRV keys keep the question's case
        found = self.route(name)
        if found is None:
            return None
        zone, block = found
        relay, resolver = block.relay, block.resolver
        if relay is None or (resolver is not None and resolver.zone_of(name) is not None):
            return None  # nothing forwarded here, or the resolver decides first (fallthrough)
        if key[1][3:5] not in _INTERNET_CLASSES or not relay.matches(name):
            return None
        asked = asked_plain(data, key, name, over_tcp)
        if block.loop is not None and block.loop.active:
            block.loop.observe(name, asked.qtype, peer)
        reply = relay.cached(asked)
        if reply is not None:
            return self._relayed_done(block, zone, asked, reply, "cache", start, peer)
        return self._relayed_later(relay, block, zone, asked, start, peer)

    def _relayed_done(
        self,
        block: Block,
        zone: str,
        asked: Asked,
        reply: bytes,
        plugin: str,
        start: float,
        peer: tuple[str, int] | None,
    ) -> bytes:
        """Count and log a reply of the fast path (as `_done` does with a parsed query)."""
        if block.loadbalance:
            reply = shuffle_addresses(reply)
        seconds = time.perf_counter() - start
        proto = "tcp" if asked.over_tcp else "udp"
        size = len(asked.data)
        query_metrics.record_query(
            self.server, zone, proto, _family(peer), asked.qtype, asked.do_bit, size,
            len(reply), reply[3] & 0xF, plugin, seconds,
        )  # fmt: skip
        if block.log:
            log_query(peer, parse_query(asked.data), asked.name, proto, size, reply, seconds)
        return reply

    async def _relayed_later(
        self,
        relay: Relay,
        block: Block,
        zone: str,
        asked: Asked,
        start: float,
        peer: tuple[str, int] | None,
    ) -> bytes:
        reply = await relay.fetch(asked)
        return self._relayed_done(block, zone, asked, reply, "forward", start, peer)

    def _answer(
        self,
        block: Block,
        zone: str,
        query: Query,
        data: bytes,
        name: str,
        key: Key | None,
        over_tcp: bool,
        limit: int,
    ) -> Answered | Coroutine[Any, Any, Answered]:
        if not is_internet_class(query):
            return encode(query, Answer(rcode=RCODE.REFUSED, authoritative=False), limit), ""
        resolver = block.resolver
        if resolver is not None:
            answer = resolver.resolve(query.question.qname, query.question.qtype)
            if not answer.forward:
                if answer.chase is not None:
                    relay = self._relay_for(answer.chase)
                    if relay is not None:
                        return self._chase(resolver, relay, query, name, answer, limit)
                reply = encode(query, answer, limit)
                if key is not None and answer.chase is None:  # a pure function of the index
                    assert self.wire_cache is not None
                    counts = query_metrics.counts(
                        self.server, zone, "tcp" if over_tcp else "udp",
                        query.question.qtype, answer.rcode, "kubernetes", query.do_bit,
                    )  # fmt: skip
                    crossed = any(rr.rtype == QTYPE.CNAME for rr in answer.answer)
                    cluster_zone, reverse = resolver.zone_of(name) or (zone, True)
                    scope = scope_of(name, cluster_zone, reverse, crossed)
                    note = Hit(block, counts)
                    self.wire_cache.put(key, data, reply, note, scope)
                return reply, "kubernetes"
        relay = block.relay
        if relay is None or not relay.matches(name):
            return encode(query, _unforwardable(resolver, name), limit), ""
        asked = asked_by(query, data, name, over_tcp, limit)
        reply = relay.cached(asked)
        if reply is not None:
            return reply, "cache"
        return _forwarded(relay.fetch(asked))

    def _relay_for(self, name: str) -> Relay | None:
        """The relay that forwards `name` (an ExternalName target), as a query for it would
        be routed; None when no block forwards it."""
        found = self.route(name)
        relay = found[1].relay if found is not None else None
        return relay if relay is not None and relay.matches(name) else None

    async def _chase(
        self, resolver: Resolver, relay: Relay, query: Query, name: str, answer: Answer, limit: int
    ) -> Answered:
        """Complete an ExternalName CNAME with the target's records from upstream (SPEC §3):
        the upstream's NXDOMAIN is not passed on, and a failed lookup drops the CNAME."""
        assert answer.chase is not None
        found = await relay.lookup(answer.chase, query.question.qtype)
        if found is None:
            zone = resolver.zone_of(name)
            assert zone is not None
            answer = Answer(authority=[resolver.soa(zone[0])])
        else:
            answer.answer += [rr for rr in found if rr.rtype != QTYPE.SOA]
        return encode(query, answer, limit), "kubernetes"

    def _cached(
        self,
        data: bytes,
        hit: tuple[bytes, Hit],
        start: float,
        over_tcp: bool,
        peer: tuple[str, int] | None,
    ) -> bytes:
        """A wire cache hit: a cluster reply, counted and logged like any other, with the
        labels worked out when it was stored."""
        reply, note = hit
        block = note.block
        if block.loadbalance:
            reply = shuffle_addresses(reply)
        seconds = time.perf_counter() - start
        note.counts.record(_family(peer) == "2", len(data), len(reply), seconds)
        if block.log:
            proto = "tcp" if over_tcp else "udp"
            query = parse_query(data)
            name = str(query.question.qname).lower()  # as the slow path logs it
            log_query(peer, query, name, proto, len(data), reply, seconds)
        return reply

    def _done(
        self,
        block: Block | None,
        zone: str,
        query: Query,
        name: str,
        data: bytes,
        answered: Answered,
        start: float,
        over_tcp: bool,
        peer: tuple[str, int] | None,
    ) -> bytes:
        reply, plugin = answered
        if block is not None and block.loadbalance:
            reply = shuffle_addresses(reply)
        proto = "tcp" if over_tcp else "udp"
        seconds = time.perf_counter() - start
        query_metrics.record_query(
            self.server, zone, proto, _family(peer), query.question.qtype, query.do_bit,
            len(data), len(reply), reply[3] & 0xF, plugin, seconds,
        )  # fmt: skip
        if block is not None and block.log:
            log_query(peer, query, name, proto, len(data), reply, seconds)
        return reply

    async def _done_later(
        self,
        block: Block,
        zone: str,
        query: Query,
        name: str,
        data: bytes,
        answered: Awaitable[Answered],
        start: float,
        over_tcp: bool,
        peer: tuple[str, int] | None,
    ) -> bytes:
        result = await answered
        return self._done(block, zone, query, name, data, result, start, over_tcp, peer)


async def _forwarded(reply: Awaitable[bytes]) -> Answered:
    return await reply, "forward"


def _unforwardable(resolver: Resolver | None, name: str) -> Answer:
    # Inside our zones (fallthrough with nothing behind it) CoreDNS fails the query;
    # outside them no plugin serves the name at all.
    inside = resolver is not None and resolver.zone_of(name) is not None
    return Answer(rcode=RCODE.SERVFAIL if inside else RCODE.REFUSED, authoritative=False)


def _family(peer: tuple[str, int] | None) -> str:
    """CoreDNS's `family` label: 1 for IPv4 clients, 2 for IPv6."""
    return "2" if peer is not None and ":" in peer[0] else "1"


def _dotted(wire_name: bytes) -> str:
    """b'\\x03www\\x07example\\x03com' → 'www.example.com.' (labels as bytes, no pointers)."""
    labels, pos = [], 0
    while pos < len(wire_name):
        length = wire_name[pos]
        labels.append(wire_name[pos + 1 : pos + 1 + length].decode("latin-1"))
        pos += 1 + length
    return ".".join(labels) + "." if labels else "."
