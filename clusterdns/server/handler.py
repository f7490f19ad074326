"""From query bytes to reply bytes: route to a server block, answer, count and log.

A query goes to the server block with the longest zone holding its name (stub domains). There
the `kubernetes` resolver answers its zones (from the wire answers when it can: records kept
per name, denials from templates); names it does not own or lets fall through go to the
block's relay (cache in front of forward); an ExternalName target outside our zones is
asked of the server itself, as CoreDNS's kubernetes plugin asks its upstream.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from dnslib import CLASS, RCODE, DNSLabelError

from clusterdns.dns.lookup import Lookup, records_of
from clusterdns.dns.message import (
    CLASS_ANY,
    HEADER,
    TCP_MAX_SIZE,
    UDP_DEFAULT_SIZE,
    Answer,
    Reject,
    encode,
    error_reply,
)
from clusterdns.dns.names import in_zone, presentation
from clusterdns.dns.packet import TYPE_A, TYPE_AAAA, PacketError, failure, opt_record, question_end
from clusterdns.dns.request import HEADER_SIZE, Key, Peer, Request, dotted, question_key
from clusterdns.metrics import requests as query_metrics
from clusterdns.metrics.panics import PanicLog
from clusterdns.metrics.requests import QueryCounts
from clusterdns.plugins.acl import Action, refusal
from clusterdns.plugins.autopath import SUCCESS as AUTOPATH_SUCCESS
from clusterdns.plugins.autopath import AutopathConfig, answered_for, candidates, rename_question
from clusterdns.plugins.kubernetes.answers import Kept, WireAnswers, denial_template_fits, scope_of
from clusterdns.plugins.kubernetes.resolver import PODS_VERIFIED, Kind, Resolver
from clusterdns.plugins.loadbalance import shuffle_addresses
from clusterdns.plugins.log import log_query
from clusterdns.plugins.rewrite.cname import retarget
from clusterdns.plugins.rewrite.reverter import revert
from clusterdns.plugins.rewrite.rules import Rewritten
from clusterdns.server.block import Block
from clusterdns.server.relay import Relay
from clusterdns.server.upstream import ask, lookup_for
from clusterdns.transport.protocols import Reply

Answered = tuple[bytes, str]  # the reply and the plugin that wrote it (a metrics label)
log = logging.getLogger("clusterdns.server")
PANIC_LOG = PanicLog(log)
DROPPED = "dropped"  # CoreDNS's zone label for queries no server block takes
_INTERNET_CLASSES = (CLASS.IN, CLASS_ANY)  # the classes a cluster zone has
_CLASS_IN = b"\x00\x01"
_NOERROR, _NXDOMAIN = int(RCODE.NOERROR), int(RCODE.NXDOMAIN)  # (RCODE's are lookups)
_DENIALS = {Kind.NODATA: _NOERROR, Kind.DENIED: _NXDOMAIN}
_DENIED, _NODE, _NODATA = Kind.DENIED, Kind.NODE, Kind.NODATA  # (Enum members are lookups)
# The types whose NODATA for a name the index holds is kept under the name (a service's
# AAAA, in an IPv4 cluster: a quarter of all queries), saving the resolver's decision.
_NODATA_KEPT_TYPES = frozenset((1, 2, 5, 12, 15, 16, 28, 33, 64, 65))  # A ... SRV, SVCB, HTTPS
# A name in a block's zones that no plugin of the block answers: CoreDNS's chain ends in
# plugin.NextOrFailure, SERVFAIL (REFUSED is for names no server block serves; musl clients
# ignore it and wait out their timeout).
_NO_PLUGIN = Answer(rcode=RCODE.SERVFAIL, authoritative=False)
# The replies header and minimal never see: of the plugins before them (local, any, chaos,
# acl), and the errors CoreDNS's server writes itself ("")
_BEFORE_SHAPING = frozenset(("local", "any", "chaos", "acl", ""))


def _fit(request: Request, block: Block) -> None:
    """The block's `bufsize` on the query, as CoreDNS's plugin does: an EDNS buffer above it
    lowered to it (the log then shows it); the reply is kept within the block's UDP cap and
    our OPT echoes the buffer within it."""
    size = request.edns_size
    if size is None:
        return
    if block.bufsize is not None and size > block.bufsize:
        size = request.edns_size = block.bufsize
    request.advertise = min(size, block.udp_cap)
    if not request.over_tcp:
        request.limit = request.advertise


@dataclass(frozen=True, slots=True)
class Hit:
    """What the wire answers keep beside a reply: the block that answered, and the zone its
    metrics carry; for an exact reply (one way of asking) also the metrics it counts in."""

    block: Block
    zone: str
    counts: QueryCounts | None = None


class DenyingZone(NamedTuple):
    """A cluster zone whose names the wire answers deny when its resolver decides so."""

    suffix: str  # what its names end with ("." and the zone; "" for the root)
    zone: str
    reverse: bool
    block_zone: str  # the zone of the block every name of it is routed to
    block: Block
    resolver: Resolver


class Routed(Request):
    """A Request with the server block routing chose for it (set with its `zone`; None for
    a query no block takes). The dns layer knows no blocks: they are the server's."""

    __slots__ = ("block", "rewritten")
    block: Block | None
    rewritten: Rewritten | None  # what rewrite did to it: its reply is reverted in `_done`


class QueryHandler:
    def __init__(
        self,
        blocks: Sequence[Block],
        server: str = "dns://:53",
        answers: WireAnswers[Hit] | None = None,
    ) -> None:
        self.server = server  # the `server` metrics label: this listener's address
        self.answers = answers
        self.set_blocks(blocks)

    def set_blocks(self, blocks: Sequence[Block]) -> None:
        """Serve these blocks from now on (at start and on reload)."""
        self.blocks = list(blocks)
        routes = [(zone, block) for block in self.blocks for zone in block.zones]
        self._routes = sorted(routes, key=lambda route: -len(route[0]))
        resolver = next((b.resolver for b in self.blocks if b.resolver is not None), None)
        if self.answers is not None and (
            resolver is None or self.answers.index is not resolver.index
        ):
            self.answers.close()
            self.answers = None
        if self.answers is not None:
            self.answers.clear()  # its notes name the blocks they were answered by
        elif resolver is not None:
            self.answers = WireAnswers(resolver.index)
        for block in self.blocks:
            for plugin in block.before:
                plugin.subscribe(self._chain_changed)
        self._denying = self._denying_zones()

    def _denying_zones(self) -> list[DenyingZone]:
        """The cluster zones whose names the wire answers may deny without routing each:
        every name in them goes to the block of the wire answers' resolver. Longest first,
        as the resolver's `zone_of` finds them."""
        if self.answers is None:
            return []
        found = []
        block_zones = [zone for zone, _block in self._routes]
        for zone, block in self._routes:
            resolver = block.resolver
            if resolver is None or resolver.index is not self.answers.index:
                continue
            for cluster_zone, reverse in resolver.zones:
                if self.route(cluster_zone) != (zone, block) or any(
                    other != cluster_zone and in_zone(other, cluster_zone) for other in block_zones
                ):
                    continue  # another block takes (some of) its names
                suffix = "" if cluster_zone == "." else "." + cluster_zone
                found.append(DenyingZone(suffix, cluster_zone, reverse, zone, block, resolver))
        return sorted(found, key=lambda denying: -len(denying.zone))

    def _denying_zone(self, name: str) -> DenyingZone | None:
        """The zone of `_denying` that holds `name` (lower case), the longest first."""
        for denying in self._denying:
            if name.endswith(denying.suffix) or name == denying.zone:
                return denying
        return None

    def _chain_changed(self) -> None:
        """A plugin before the resolver changed what it answers: a kept cluster reply may
        now be that plugin's to give."""
        if self.answers is not None:
            self.answers.clear()

    def route(self, name: str) -> tuple[str, Block] | None:
        """The zone and block that serve `name` (absolute, lower case): longest zone wins."""
        for zone, block in self._routes:
            if in_zone(name, zone):
                return zone, block
        return None

    def handle(self, data: bytes, over_tcp: bool, peer: Peer | None = None) -> Reply:
        """The reply to one message: bytes now, None to drop, or an awaitable when it
        needs the network (forwarding). Whatever goes wrong inside is SERVFAIL, counted and
        logged (rate-limited), never silence."""
        try:
            start = time.perf_counter()
            answers = self.answers
            if not over_tcp and answers is not None:
                hit = answers.exact(data)
                if hit is not None:
                    return self._exact(data, hit, start, peer)
            key = question_key(data, over_tcp)
            if key is not None and answers is not None and answers.capacity:
                reply = self._from_index(answers, key, data, over_tcp, peer, start)
                if reply is not None:
                    return reply
            try:  # (a Request parses any query but a plain one; a plain one's parse waits for
                # a stage that needs it, which the relay's fast path does not)
                request = Routed(data, key, over_tcp, peer, start)
                request.rewritten = None
                if key is not None:
                    relayed = self._relayed(request)
                    if relayed is not None:
                        return relayed
                name = request.name
                if key is None or "\\" in name:  # a plain name: parsed when a stage needs it
                    request.query  # noqa: B018 - what dnslib cannot read is answered here
            except Reject as reject:
                return reject.reply  # not counted: CoreDNS never sees these either
            found = self.route(name)
            if found is None:
                return self._unrouted(request)
            request.zone, request.block = found
            _fit(request, found[1])
            block = found[1]
            if block.loop is not None and block.loop.active:
                block.loop.observe(name, request.qtype, peer)
            answered = self._answer(request, block)
            if isinstance(answered, tuple):
                return self._done(request, answered)
            return self._done_later(request, answered)
        except Exception:
            return self._failed(data, peer)

    def _unrouted(self, request: Routed) -> bytes | None:
        """REFUSED for a query no server block takes (counted in CoreDNS's "dropped" zone)."""
        request.zone, request.block = DROPPED, None
        refused = Answer(rcode=RCODE.REFUSED, authoritative=False)
        return self._done(request, (encode(request.query, refused, request.limit), ""))

    def screened_transfer(
        self, data: bytes, peer: Peer | None
    ) -> tuple[Routed, bytes] | bytes | None:
        """A zone transfer (AXFR, IXFR over TCP) through what CoreDNS runs before its
        transfer plugin: routed to its block, then rewrite, acl and header's query flags.
        The query as asked (routed) and as the transfer gets it; or the reply in its stead,
        counted and logged (None: no reply, as for a dropped query)."""
        try:
            request = Routed(data, None, True, peer, time.perf_counter())
            request.rewritten = None
            found = self.route(request.name)
        except Reject as reject:
            return reject.reply
        if found is None:
            return self._unrouted(request)
        request.zone, request.block = found
        block = found[1]
        _fit(request, block)
        screened = self._rewritten(request, block) if block.rewrite is not None else request
        if screened is None:  # a name no message can carry
            return self._done(request, (encode(request.query, _NO_PLUGIN, request.limit), ""))
        verdict = self._screened(screened, block)
        if isinstance(verdict, tuple):
            return self._done(request, verdict)
        return request, verdict.data

    def _failed(self, data: bytes, peer: Peer | None) -> bytes | None:
        """SERVFAIL for a query whose answer failed inside (CoreDNS's recover does the same)."""
        PANIC_LOG.record("query from %s failed inside: answered SERVFAIL", peer)
        if len(data) < HEADER.size or data[2] & 0x80:
            return None  # no header, or a response: never answered (reflection loops)
        try:
            return failure(data, RCODE.SERVFAIL, b"")
        except PacketError:  # not even a question to echo
            return error_reply(data[0] << 8 | data[1], data[2] << 8 | data[3], RCODE.SERVFAIL)

    def _relayed(self, request: Routed) -> Reply:
        """A plain query for a name a relay forwards: from its cache without parsing the
        query, else forwarded. None for every other query (the full path decides)."""
        name = request.name
        found = self.route(name)
        if found is None:
            return None
        block = found[1]
        relay, resolver = block.relay, block.resolver
        if relay is None or block.plain_before or block.autopath is not None:
            return None  # nothing forwarded here, or other plugins answer first (the chain)
        if resolver is not None and resolver.zone_of(name) is not None:
            return None  # the resolver decides first (fallthrough)
        if request.qclass not in _INTERNET_CLASSES or not relay.matches(name):
            return None
        if block.screens and block.steps_aside(
            name, request.qtype, request.qclass, request.peer, self.server
        ):
            return None
        request.zone, request.block = found
        _fit(request, block)
        if block.loop is not None and block.loop.active:
            block.loop.observe(name, request.qtype, request.peer)
        reply = relay.cached(request)
        if reply is not None:
            return self._done(request, (reply, "cache"))
        return self._relayed_later(relay, request)

    async def _relayed_later(self, relay: Relay, request: Routed) -> bytes | None:
        try:
            reply = await relay.fetch(request)
            return self._done(request, (reply, "forward"))
        except Exception:
            return self._failed(request.data, request.peer)

    def _answer(self, request: Routed, block: Block) -> Answered | Coroutine[Any, Any, Answered]:
        """The block's answer, its plugins asked in order (rewrite, autopath, acl and
        header's query flags among them)."""
        autopath = block.autopath
        if autopath is None and not block.screens:
            return self._chain(request, block, 0)
        for plugin in block.before[: block.autopath_at]:  # local, any, chaos
            answered = plugin.answer(request)
            if answered is not None:
                return encode(request.query, answered, request.limit, block.udp_cap), plugin.name
        if block.rewrite is not None:
            rewritten = self._rewritten(request, block)
            if rewritten is None:  # a name no message can carry
                return encode(request.query, _NO_PLUGIN, request.limit, block.udp_cap), ""
            if request.rewritten is not None and request.rewritten.targets:
                return self._retargeted(rewritten, request.rewritten, block)
            request = rewritten
        return self._searched(request, block)

    def _searched(self, request: Routed, block: Block) -> Answered | Coroutine[Any, Any, Answered]:
        """The answer of the chain from autopath on: its walk, or the chain's answer."""
        autopath = block.autopath
        names = None if autopath is None else self._search(request, block, autopath)
        if names is None:
            return self._chain(request, block, block.autopath_at)
        return self._walk(request, block, names, 0, None)

    async def _retargeted(self, request: Routed, rewritten: Rewritten, block: Block) -> Answered:
        """The chain's answer to a rewritten `request` with its CNAMEs retargeted (rewrite's
        `cname` rules), the new targets asked of the server itself."""
        answered = self._searched(request, block)
        reply, plugin = answered if isinstance(answered, tuple) else await answered
        if reply:  # (not dropped)
            lookup = lookup_for(self, request)
            reply = await retarget(reply, rewritten.targets, request.qtype, lookup)
        return reply, plugin

    def _rewritten(self, request: Routed, block: Block) -> Routed | None:
        """`request` as the block's rewrite rules leave it (what they did is marked on it,
        for `_done`); None when they made a name no message can carry (SERVFAIL)."""
        assert block.rewrite is not None
        rewritten = request.rewritten = block.rewrite.rewrite(request)
        if rewritten is None or rewritten.data is None:
            return None if rewritten is not None and rewritten.invalid else request
        return self._reissued(request, block, rewritten.data)

    def _screened(self, request: Routed, block: Block) -> Routed | Answered:
        """acl's verdict on a query (a reply when it is not allowed; b"" to drop it), then
        the query as header's query rules leave it."""
        acl = block.acl
        if acl is not None:
            action, zone = acl.judge(request.name, request.qtype, request.peer)
            acl.count(action, self.server, zone)
            if action is Action.DROP:
                return b"", "acl"
            if action is not Action.ALLOW:
                return refusal(action, request), "acl"
        header = block.header
        if header is not None and header.query:
            return self._reissued(request, block, header.query.applied(request.data))
        return request

    def _chain(
        self, request: Routed, block: Block, start: int
    ) -> Answered | Coroutine[Any, Any, Answered]:
        """The answer of the block's plugins from its `start`th before the resolver on
        (with acl and header's query flags: from autopath on, after them)."""
        if block.screens:
            screened = self._screened(request, block)
            if isinstance(screened, tuple):
                return screened
            request = screened
        query, limit = request.query, request.limit
        # local, any, chaos, template, hosts, in plugin order: the first to answer does
        for plugin in block.before[start:] if start else block.before:
            answered = plugin.answer(request)
            if answered is not None:
                if answered.follow is not None:
                    return self._followed(request, block, answered.follow, plugin.name)
                return encode(query, answered, limit, block.udp_cap), plugin.name
        if request.qclass not in _INTERNET_CLASSES:  # no other plugin serves another class
            refused = Answer(rcode=RCODE.REFUSED, authoritative=False)
            return encode(query, refused, limit, block.udp_cap), ""
        name = request.name
        resolver = block.resolver
        if resolver is not None:
            answer = resolver.resolve(query.question.qname, query.question.qtype)
            if not answer.forward:
                if answer.chase is not None:
                    return self._chase(request, block, resolver, answer)
                reply = encode(query, answer, limit, block.udp_cap)
                if request.key is not None:
                    self._keep(request, block, resolver, answer, reply)
                return reply, "kubernetes"
        relay = block.relay
        if relay is None or not relay.matches(name):
            for plugin in block.after:  # whoami: what no plugin before it answered
                answered = plugin.answer(request)
                if answered is not None:
                    return encode(query, answered, limit, block.udp_cap), plugin.name
            return encode(query, _NO_PLUGIN, limit, block.udp_cap), ""
        cached = relay.cached(request)
        if cached is not None:
            return cached, "cache"
        return _forwarded(relay.fetch(request))

    async def _followed(
        self,
        request: Routed,
        block: Block,
        follow: Callable[[Lookup], Awaitable[Answer]],
        plugin: str,
    ) -> Answered:
        """A plugin's answer completed by asking the server itself (template's CNAMEs)."""
        answer = await follow(lookup_for(self, request))
        return encode(request.query, answer, request.limit, block.udp_cap), plugin

    # -- autopath ------------------------------------------------------------------------

    def _search(self, request: Routed, block: Block, autopath: AutopathConfig) -> list[str] | None:
        """The names autopath asks in order for this query, or None when it does not."""
        name = request.name
        search = _search_path(name, request.peer, block, autopath)
        if search is None:
            return None
        data = request.data
        if request.key is not None:  # the name as asked, read without parsing the query
            asked = dotted(data[HEADER_SIZE : question_end(data) - 5])
        else:
            asked = presentation(request.query.question.qname.label)
        return candidates(name, asked, search)

    def _walk(
        self, request: Routed, block: Block, names: list[str], at: int, first: bytes | None
    ) -> Answered | Coroutine[Any, Any, Answered]:
        """Ask `names` from the `at`th on through the chain after autopath; the first reply
        that is not NXDOMAIN answers (`first`: the first name's reply, for when none is)."""
        for index in range(at, len(names)):
            candidate = request if index == 0 else self._candidate(request, block, names[index])
            if candidate is None:
                continue  # no such question (a name too long)
            answered = self._walked_to(candidate, block)
            if not isinstance(answered, tuple):
                return self._walk_later(request, block, names, index, first, answered)
            found, first = self._walked(request, answered[0], first)
            if found is not None:
                return found
        assert first is not None
        return first, "autopath"

    def _walked_to(
        self, candidate: Routed, block: Block
    ) -> Answered | Coroutine[Any, Any, Answered]:
        """The chain after autopath's answer to one name of the walk: from the wire answers
        when they have it in this block (and no acl or header's query flags come first),
        else from the plugins."""
        answers, key, data = self.answers, candidate.key, candidate.data
        if key is not None and answers is not None and answers.capacity and not block.screens:
            question_end = HEADER_SIZE + len(key[0]) + 5
            qtype = data[question_end - 4] << 8 | data[question_end - 3]
            found = self._indexed(answers, key, data, qtype)
            if found is not None and found[1] is block:
                opt, limit, _do = _edns_of(block, key)
                reply = answers.reply(found[0], data, question_end, opt, limit)
                if reply is not None:
                    return reply, "kubernetes"
        return self._chain(candidate, block, block.autopath_at)

    async def _walk_later(
        self,
        request: Routed,
        block: Block,
        names: list[str],
        index: int,
        first: bytes | None,
        pending: Awaitable[Answered],
    ) -> Answered:
        found, first = self._walked(request, (await pending)[0], first)
        if found is not None:
            return found
        rest = self._walk(request, block, names, index + 1, first)
        return rest if isinstance(rest, tuple) else await rest

    def _walked(
        self, request: Routed, reply: bytes, first: bytes | None
    ) -> tuple[Answered | None, bytes]:
        """The answer when `reply` (to a candidate) ends the walk, and the first reply."""
        if not reply:  # dropped (acl): no reply at all
            return (reply, "acl"), first or reply
        if first is None:
            first = reply  # the asked name's own: its question is the asked one
        rcode = reply[3] & 0xF
        if rcode in (RCODE.NXDOMAIN, RCODE.REFUSED):
            return None, first
        if rcode != RCODE.SERVFAIL:  # (CoreDNS's chain returns an error for it)
            AUTOPATH_SUCCESS.inc((self.server,))
        # as CoreDNS's cnamer, the asked name's own reply too (an ExternalName's then
        # gets a CNAME in front to its target's owner)
        data = request.data
        question = data[HEADER_SIZE : question_end(data)]
        answer = self._nodata_as_asked(request, reply) if reply[6:8] == b"\x00\x00" else None
        if answer is None:
            answer = answered_for(reply, question)
        return (answer, "autopath"), first

    def _nodata_as_asked(self, request: Routed, reply: bytes) -> bytes | None:
        """A candidate's NODATA as the asked name's (no record to point a CNAME to: the
        same SOA under the asked question), from the denial template when the candidate's
        is that zone's template too; None for any other reply."""
        answers, key, block = self.answers, request.key, request.block
        if answers is None or key is None or block is None:
            return None
        name = request.name
        denying = self._denying_zone(name)
        if denying is None:
            return None
        candidate_end = question_end(reply)
        candidate = reply[HEADER_SIZE : candidate_end - 5]
        zone = denying.zone
        theirs = answers.denial(zone, len(candidate), RCODE.NOERROR)
        if theirs is None or not denial_template_fits(name, zone):
            return None
        tail = reply[candidate_end:]
        if tail[: len(theirs.tail)] != theirs.tail or not in_zone(
            dotted(candidate).lower(), zone
        ):
            return None  # not that zone's NODATA (a plugin's, or the upstream's)
        ours = answers.denial(zone, len(key[0]), RCODE.NOERROR)
        if ours is None:  # the asked name's length has had no NODATA yet: made once
            nodata = Answer(authority=[denying.resolver.soa(zone)])
            whole = encode(request.query, nodata, TCP_MAX_SIZE, block.udp_cap)
            answers.keep_denial(zone, key, whole, request.edns_size is not None)
            ours = answers.denial(zone, len(key[0]), RCODE.NOERROR)
            if ours is None:
                return None
        opt, limit, _do = _edns_of(block, key)
        return answers.reply(ours, request.data, question_end(request.data), opt, limit)

    def _candidate(self, request: Routed, block: Block, name: str) -> Routed | None:
        """`request` asking for `name` instead, routed to the same block."""
        try:
            data = rename_question(request.data, question_end(request.data), name)
            return self._reissued(request, block, data)
        except (Reject, DNSLabelError):
            return None

    def _reissued(self, request: Routed, block: Block, data: bytes) -> Routed:
        """`request` as the query `data` (another question or flags) in the same block."""
        reissued = Routed(data, question_key(data, request.over_tcp), request.over_tcp,
                          request.peer, request.start)  # fmt: skip
        reissued.zone, reissued.block, reissued.rewritten = request.zone, block, None
        _fit(reissued, block)
        return reissued

    def _chase(
        self, request: Routed, block: Block, resolver: Resolver, answer: Answer
    ) -> Answered | Coroutine[Any, Any, Answered]:
        """Complete an ExternalName's CNAME to a name outside our zones as CoreDNS's
        kubernetes plugin does (k.Upstream.Lookup): the target asked of the server itself
        with the query's type (routed to its block: hosts, template, the cache, forward...);
        at once when the server answers it at once."""
        assert answer.chase is not None
        reply = ask(self, request, answer.chase, request.qtype)
        if reply is None or isinstance(reply, bytes):
            return self._chased(request, block, resolver, answer, reply)
        return self._chased_later(request, block, resolver, answer, reply)

    async def _chased_later(
        self,
        request: Routed,
        block: Block,
        resolver: Resolver,
        answer: Answer,
        reply: Awaitable[bytes | None],
    ) -> Answered:
        return self._chased(request, block, resolver, answer, await reply)

    def _chased(
        self, request: Routed, block: Block, resolver: Resolver, answer: Answer, reply: bytes | None
    ) -> Answered:
        """The ExternalName's answer with the target's reply: its answer records after the
        CNAME whatever its rcode (NXDOMAIN, SERVFAIL: the CNAME alone), TC with it. No reply
        at all (dropped, or lookups too deep) drops the CNAME: NODATA."""
        found = records_of(reply)
        if found is None:
            zone = resolver.zone_of(request.name)
            assert zone is not None
            answer = Answer(authority=[resolver.soa(zone[0])])
        else:
            records, answer.truncated = found
            answer.answer += records
        return encode(request.query, answer, request.limit, block.udp_cap), "kubernetes"

    def _from_index(
        self,
        answers: WireAnswers[Hit],
        key: Key,
        data: bytes,
        over_tcp: bool,
        peer: Peer | None,
        start: float,
    ) -> bytes | None:
        """A plain query for a cluster name answered from the wire answers: its records
        kept, or a denial the resolver decides on from the name alone. None when the slow
        path must answer (it keeps what it can for the next query). The hot path: every
        cluster query comes here first."""
        question_end = HEADER_SIZE + len(key[0]) + 5
        qtype = data[question_end - 4] << 8 | data[question_end - 3]
        found = self._indexed(answers, key, data, qtype)
        if found is None:
            return None
        kept, block, zone, records = found
        if block.autopath is not None and _autopaths(key[3], peer, block):
            return None  # the walk answers it
        if block.loop is not None and block.loop.active:
            return None  # the probe watches every query
        opt, limit, do_bit = _edns_of(block, key)
        reply = answers.reply(kept, data, question_end, opt, limit)
        if reply is None:
            return None
        if block.screens and block.steps_aside(
            key[3], qtype, key[1][3] << 8 | key[1][4], peer, self.server
        ):
            return None  # (asked last: a query let by is counted as allowed by acl)
        if block.shapes:
            reply = block.shaped(reply)
        counts = query_metrics.counts(
            self.server, zone, "tcp" if over_tcp else "udp", qtype, reply[3] & 0xF,
            "kubernetes", do_bit,
        )  # fmt: skip
        if records is not None and not over_tcp and block.autopath is None and not block.screens:
            answers.keep_exact(data, question_end, reply, records, Hit(block, zone, counts))
        return _sent(block, counts, data, reply, over_tcp, peer, start)

    def _indexed(
        self, answers: WireAnswers[Hit], key: Key, data: bytes, qtype: int
    ) -> tuple[Kept[Hit] | Kept[None], Block, str, Kept[Hit] | None] | None:
        """What the wire answers have for a plain query (before autopath, which the caller
        minds): the entry, the block and zone it is answered in, and the entry again when
        it is one of the records (kept under the question). None: the slow path's."""
        records = answers.records(key)
        if records is not None:
            return records, records.note.block, records.note.zone, records
        name = key[3]
        if key[1][3:] != _CLASS_IN or "\\" in name:
            return None  # (an escaped byte: the slow path says what dnslib makes of it)
        denying = self._denying_zone(name)
        if denying is None:
            return None
        for plugin in denying.block.plain_before:
            if not plugin.passes(name, qtype):
                return None  # (hosts, template...: their answer is the slow path's)
        decided = self._decided(key, data, name, qtype, denying)
        if decided is None:
            return None
        return decided, denying.block, denying.block_zone, None

    def _decided(
        self, key: Key, data: bytes, name: str, qtype: int, denying: DenyingZone
    ) -> Kept[Hit] | Kept[None] | None:
        """The wire answer to a name of a zone the wire answers deny in, as the resolver
        decides on it: a denial from its template, or a name's addresses written directly
        (both then kept under the name when the index holds it). None: the slow path."""
        answers, resolver, cluster_zone = self.answers, denying.resolver, denying.zone
        assert answers is not None  # (_from_index is called with them)
        kind, node = resolver.decide(name, cluster_zone, denying.reverse, qtype)
        if kind is _DENIED:  # (most queries: search-path expansions)
            if not resolver.denies(name) or not denial_template_fits(name, cluster_zone):
                return None
            return answers.denial(cluster_zone, len(key[0]), _NXDOMAIN)
        note = Hit(denying.block, denying.block_zone)
        if kind is _NODE and node.cname is None and qtype in (TYPE_A, TYPE_AAAA):
            scope = scope_of(name, cluster_zone, False, False)
            ips = node.a if qtype == TYPE_A else node.aaaa
            return answers.keep_addresses(key, data, qtype, resolver.ttl, ips, note, scope)
        if kind is not _NODATA or not denial_template_fits(name, cluster_zone):
            return None
        kept = answers.denial(cluster_zone, len(key[0]), _NOERROR)
        if kept is not None and name in resolver.index.nodes and qtype in _NODATA_KEPT_TYPES:
            return answers.keep_as(key, kept, note, scope_of(name, cluster_zone, False, False))
        return kept

    def _exact(
        self, data: bytes, hit: tuple[bytes, Hit], start: float, peer: Peer | None
    ) -> bytes:
        """A reply the wire answers kept for these very bytes: counted and logged like any
        other, with the labels worked out when it was kept. No Request is made for it
        unless it is logged."""
        reply, note = hit
        assert note.counts is not None  # (an exact reply is kept with its counts)
        return _sent(note.block, note.counts, data, reply, False, peer, start)

    def _keep(
        self, request: Routed, block: Block, resolver: Resolver, answer: Answer, reply: bytes
    ) -> None:
        """Keep the resolver's reply to a plain query in the wire answers when it is whole
        (not cut to fit): a denial as the template for its name length (and a NODATA of a
        name the index holds, for the common types, under the name too); any other reply
        under the name (bounded by the cluster: not pod names, but with `pods verified`)."""
        answers, key = self.answers, request.key
        if answers is None or key is None or answers.index is not resolver.index:
            return
        opt = request.edns_size is not None
        counts = (len(answer.answer), len(answer.authority), len(answer.additional) + opt)
        if counts != (reply[7], reply[9], reply[11]) or reply[6] | reply[8] | reply[10]:
            return  # cut to fit (or 256 records and more: never mind)
        name = request.name
        cluster_zone, reverse = resolver.zone_of(name) or (request.zone, True)
        kind, node = resolver.decide(name, cluster_zone, reverse, request.qtype)
        if kind in _DENIALS:
            if answer.rcode == _DENIALS[kind] and denial_template_fits(name, cluster_zone):
                answers.keep_denial(cluster_zone, key, reply, opt)
            if not (name in resolver.index.nodes and request.qtype in _NODATA_KEPT_TYPES):
                return
        if kind is not Kind.POD or resolver.settings.pods == PODS_VERIFIED:
            crossed = kind is Kind.NODE and node.cname is not None  # it follows the target
            scope = scope_of(name, cluster_zone, reverse, crossed)
            answers.keep(key, reply, opt, Hit(block, request.zone), scope)

    def _done(self, request: Routed, answered: Answered) -> bytes | None:
        """Count and log a reply (`request.block` None: no block took the query), as the
        block's response plugins leave it: header and minimal (not on the replies of the
        plugins before them), then rewrite's reverter."""
        reply, plugin = answered
        block = request.block
        if not reply:  # dropped (acl): counted and logged as CoreDNS does, nothing written
            query_metrics.record_query(
                self.server, request.zone, request.proto, request.family, request.qtype,
                request.do, len(request.data), 0, RCODE.NOERROR, plugin, 0.0,
            )  # fmt: skip
            if block is not None and block.log is not None:
                log_query(block.log, request, reply, time.perf_counter() - request.start)
            return None
        if block is not None and block.shapes and plugin not in _BEFORE_SHAPING:
            reply = block.shaped(reply)
        rewritten = request.rewritten
        if rewritten is not None:
            reply = revert(reply, request.query.question, rewritten, plugin)
        if block is not None and block.loadbalance:
            reply = shuffle_addresses(reply)
        seconds = time.perf_counter() - request.start
        query_metrics.record_query(
            self.server, request.zone, request.proto, request.family, request.qtype,
            request.do, len(request.data), len(reply), reply[3] & 0xF, plugin, seconds,
        )  # fmt: skip
        if block is not None and block.clients is not None:
            block.clients.record(request.peer, reply)
        if block is not None and block.log is not None:
            log_query(block.log, request, reply, seconds)
        return reply

    async def _done_later(self, request: Routed, answered: Awaitable[Answered]) -> bytes | None:
        try:
            return self._done(request, await answered)
        except Exception:
            return self._failed(request.data, request.peer)


async def _forwarded(reply: Awaitable[bytes]) -> Answered:
    return await reply, "forward"


def _edns_of(block: Block, key: Key) -> tuple[bytes, int, bool]:
    """Our OPT, the size limit and the DO bit of a plain query's reply in `block`, by its
    transport and the OPT it sent (its key's variant without RD), worked out once."""
    variant = key[2] >> 1
    edns = block.edns.get(variant)
    if edns is None:
        edns = block.edns[variant] = _edns_reply(variant, block)
    return edns


def _edns_reply(variant: int, block: Block) -> tuple[bytes, int, bool]:
    """For a plain query of this variant (without RD) in `block`: our OPT (none without
    the client's), the most its reply may take, and the DO bit, as the slow path has them
    (`_fit`, `encode`): the client's buffer (at least 512) within the block's UDP cap and
    lowered to its `bufsize`."""
    over_tcp, edns = variant & 1, variant >> 1
    if not edns:
        return b"", TCP_MAX_SIZE if over_tcp else UDP_DEFAULT_SIZE, False
    size, do_bit = edns >> 1, bool(edns & 1)  # (question_key capped the size at 4096)
    limit = TCP_MAX_SIZE if over_tcp else min(size, block.bufsize or size, block.udp_cap)
    return opt_record(min(size, block.udp_cap), do_bit), limit, do_bit


def _sent(
    block: Block,
    counts: QueryCounts,
    data: bytes,
    reply: bytes,
    over_tcp: bool,
    peer: Peer | None,
    start: float,
) -> bytes:
    """A wire answer on its way out: balanced, counted and logged like any other reply. No
    Request is made for it unless it is logged."""
    if block.loadbalance:
        reply = shuffle_addresses(reply)
    seconds = time.perf_counter() - start
    counts.record(peer is not None and ":" in peer[0], len(data), len(reply), seconds)  # family 2
    if block.clients is not None:
        block.clients.record(peer, reply)
    if block.log is not None:
        request = Request.read(data, over_tcp, peer)
        _fit(request, block)  # as the slow path saw it
        log_query(block.log, request, reply, seconds)
    return reply


def _search_path(
    name: str, peer: Peer | None, block: Block, autopath: AutopathConfig
) -> Sequence[str] | None:
    """The search path autopath walks for `name` from `peer`, if it walks one: the file's,
    or (@kubernetes) that of the pod at the peer's address."""
    if peer is None or not autopath.serves(name):
        return None
    if autopath.search is not None:
        return autopath.search
    assert block.resolver is not None  # (the configuration checked it has one)
    return block.resolver.autopath_search(name, peer[0])


def _autopaths(name: str, peer: Peer | None, block: Block) -> bool:
    """Whether autopath walks a search path for this query (so no wire answer is its)."""
    autopath = block.autopath
    if autopath is None:
        return False
    search = _search_path(name, peer, block, autopath)
    return search is not None and candidates(name, name, search) is not None
