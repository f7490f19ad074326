"""A question as the relay (cache and forward) needs it, read from the query's bytes.

The cache key, the asker's EDNS buffer and DO bit, and the size limit of the reply are all
in the raw query, so a plain query can be answered from the cache without dnslib; a parsed
query gives the same (`asked_by`).
"""

from __future__ import annotations

from dataclasses import dataclass

from clusterdns.dns.message import UDP_DEFAULT_SIZE, Query, size_limit
from clusterdns.dns.packet import opt_record
from clusterdns.dns.request import HEADER_SIZE
from clusterdns.dns.request import Key as WireKey
from clusterdns.plugins.cache.cache import Key, cache_key


@dataclass(frozen=True, slots=True)
class Asked:
    """A question for the relay as its query's bytes give it: no parsed message is needed,
    so plain queries reach the cache without dnslib."""

    data: bytes  # the query as it came
    key: Key  # its cache key (cache.cache_key: the same parts as wirecache.question_key's)
    name: str  # lower case, absolute
    qtype: int
    edns_size: int | None  # the client's buffer; None: it sent no OPT
    do_bit: bool
    over_tcp: bool  # how it came, and so how it goes upstream (unless forced)
    limit: int  # the most the reply may take

    @property
    def opt(self) -> bytes:
        return opt_record(self.edns_size, self.do_bit)


def asked_by(query: Query, data: bytes, name: str, over_tcp: bool, limit: int) -> Asked:
    """The relay's view of a parsed query."""
    key = cache_key(data, query.do_bit)
    qtype, edns, do_bit = query.question.qtype, query.edns_size, query.do_bit
    return Asked(data, key, name, qtype, edns, do_bit, over_tcp, limit)


def asked_plain(data: bytes, key: WireKey, name: str, over_tcp: bool) -> Asked:
    """The relay's view of a plain query from the parts `question_key` split it into: the
    name, the bytes after it (root, type, class), and an OPT, if any, right after them."""
    at = HEADER_SIZE + len(key[0]) + len(key[1])
    edns_size, do_bit = None, False
    if len(data) > at:
        edns_size = max(UDP_DEFAULT_SIZE, data[at + 3] << 8 | data[at + 4])  # as parse_query
        do_bit = bool(data[at + 7] & 0x80)
    qtype = key[1][1] << 8 | key[1][2]
    limit = size_limit(edns_size, over_tcp)
    return Asked(data, (key[0], key[1], do_bit), name, qtype, edns_size, do_bit, over_tcp, limit)
