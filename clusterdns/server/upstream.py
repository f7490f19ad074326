"""CoreDNS's plugin/pkg/upstream: a query asked again of the whole server with another
question (Lookup), for the plugins that complete a CNAME with its target's records
(template, rewrite's `cname` rule).

As CoreDNS's `server.ServeDNS(ctx, nonwriter, state.NewWithQuestion(name, type))`: the
query keeps its ID, flags, EDNS (with what rewrite put in it) and transport and its client;
the question is NAME, TYPE, class IN; it is routed, answered, counted and logged like any
other query, and the reply a client would get is returned. Lookups made while answering a
lookup nest; past `MAX_DEPTH` the answer is None (a CNAME loop through our own rules would
otherwise never end).
"""

from __future__ import annotations

from collections.abc import Awaitable
from contextvars import ContextVar
from functools import partial

from dnslib import CLASS

from clusterdns.dns.lookup import Lookup
from clusterdns.dns.packet import asking
from clusterdns.dns.request import Request
from clusterdns.transport.protocols import Handler, Reply

MAX_DEPTH = 8  # lookups inside lookups (as CoreDNS's file plugin bails out of the 9th: LoopKey)
_DEPTH: ContextVar[int] = ContextVar("lookup_depth", default=0)


def lookup_for(server: Handler, request: Request) -> Lookup:
    """The Lookup of a plugin answering `request`: the server's handler asked again."""
    return partial(_lookup, server, request)


def ask(server: Handler, request: Request, name: str, qtype: int) -> Reply:
    """The server's reply to `name` `qtype` asked for `request`: at once when the server
    has it at once (a cluster name, hosts, a cache hit), else an awaitable of it (forward).
    None past MAX_DEPTH."""
    depth = _DEPTH.get()
    if depth >= MAX_DEPTH:
        return None
    token = _DEPTH.set(depth + 1)  # (what the server asks while answering sees it)
    try:
        query = asking(request.data, name, qtype, CLASS.IN)
        reply = server.handle(query, request.over_tcp, request.peer)
    finally:
        _DEPTH.reset(token)
    if reply is None or isinstance(reply, bytes):
        return reply
    return _awaited(reply, depth + 1)


async def _lookup(server: Handler, request: Request, name: str, qtype: int) -> bytes | None:
    reply = ask(server, request, name, qtype)
    return reply if reply is None or isinstance(reply, bytes) else await reply


async def _awaited(reply: Awaitable[bytes | None], depth: int) -> bytes | None:
    token = _DEPTH.set(depth)  # (the lookups it makes while awaited are nested in it)
    try:
        return await reply
    finally:
        _DEPTH.reset(token)
