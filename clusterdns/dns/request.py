"""One query as every stage of the server reads it: a `Request`, parsed once.

A plain query's question is read straight from its bytes (`question_key`): that is all the
wire answers and the relay need of most queries, so they are answered without dnslib. The
dnslib parse is made once, when a stage first needs it (the resolver, `encode`).

Only plain queries have a key: opcode QUERY, CD clear (a reply copies it, and the wire
answers' replies vary by RD alone; stub resolvers never set it), one question with an
uncompressed name, no
answer or authority records, at most one OPT record (options well formed, ignored, as the
slow path ignores them) and nothing after it; not a zone transfer. Anything else takes the
slow path every time.
"""

from __future__ import annotations

from typing import Self

from clusterdns.dns.message import (
    MAX_NAME,
    TCP_MAX_SIZE,
    UDP_DEFAULT_SIZE,
    UDP_MAX_SIZE,
    Query,
    parse_query,
    size_limit,
)
from clusterdns.dns.names import presentation

Peer = tuple[str, int] | tuple[str, int, int, int]  # a client's address (IPv6: and flow, scope)

# The question of a plain query: its name's bytes as asked (without the root label), the
# bytes after it (root label, type, class), what else shapes the reply (`variant`: RD,
# transport, EDNS buffer and DO bit), and the name as lower-case text (as `dotted` writes
# it). The wire answers key by the first two: a reply depends on the case of the question
# (names in it that end like the question are pointers into it only where spelled alike).
Key = tuple[bytes, bytes, int, str]

HEADER_SIZE = 12
ONE_QUESTION = b"\x00\x01\x00\x00\x00\x00"  # QDCOUNT 1, ANCOUNT 0, NSCOUNT 0
NO_ADDITIONAL, ONE_ADDITIONAL = b"\x00\x00", b"\x00\x01"
OPT_HEAD = b"\x00\x00\x29"  # root owner, TYPE OPT
OPT_FIXED = 11  # owner, type, class (buffer size), TTL (extended rcode, version, flags), rdlen
ZONE_TRANSFERS = (251, 252)  # IXFR, AXFR: they depend on who asks
NOT_QUERY = 0xF8  # in the second header byte: QR and the opcode
RD = 0x01
CD = 0x10  # in the fourth header byte
OVER_TCP = 0x02  # in a key's variant


MAX_BUFSIZE = 4096  # the largest UDP cap a server block may set (`bufsize`)
# `question_key` writes a name as text with one translate of its bytes after the first
# length byte: letters lowered, the bytes a name shows as they are (`_KEPT`) kept, every
# other byte (each length byte among them) turned into a dot. That is the name's text when
# the dots are exactly its length bytes: a label byte turned into a dot shows in the dots'
# count, a length byte that is kept (a label of 45 or 48-57 bytes: "-" and digits) is seen
# in the walk; for those names `dotted` writes the text.
_KEPT = b"-0123456789@[]^_`abcdefghijklmnopqrstuvwxyz{|}~"
_PLAIN_TEXT = bytes(
    byte if byte in _KEPT else byte + 32 if 65 <= byte <= 90 else 46 for byte in range(256)
)


def question_key(data: bytes, over_tcp: bool) -> Key | None:
    """The key of a plain query, or None (see the module's docstring). Every query is read
    here first: it is written for speed (no calls but the slices it returns)."""
    size = len(data)
    if size < HEADER_SIZE + 5 or data[2] & NOT_QUERY or data[3] & CD or data[4:10] != ONE_QUESTION:
        return None
    end = HEADER_SIZE
    labels, plain = 0, True
    try:
        while length := data[end]:
            if length > 44:  # (one test for most labels)
                if length > 63:  # a compression pointer, or not a label at all
                    return None
                plain = plain and length != 45 and not 48 <= length <= 57
            end += length + 1
            labels += 1
    except IndexError:  # the name runs past the end
        return None
    if end - HEADER_SIZE >= MAX_NAME:  # over 255 bytes with its root: the slow path refuses
        return None
    question_end = end + 5
    if question_end > size:
        return None
    qtype = data[end + 1] << 8 | data[end + 2]
    if qtype in ZONE_TRANSFERS or data[10]:
        return None
    if not data[11]:
        if question_end != size:
            return None
        edns = 0
    elif data[11] == 1:  # one additional record: a well-formed OPT that ends the message
        edns = _edns_variant(data, question_end, size)
        if not edns:
            return None
    else:
        return None
    variant = (data[2] & RD) | over_tcp * OVER_TCP | edns << 2
    name = data[HEADER_SIZE:end]
    text = data[HEADER_SIZE + 1 : end + 1].translate(_PLAIN_TEXT).decode("ascii")
    if not plain or text.count(".") != labels or not labels:
        text = dotted(name).lower()  # escapes, the root, long labels: as dnslib spells them
    return name, data[end:question_end], variant, text


def _edns_variant(data: bytes, at: int, size: int) -> int:
    """What of the OPT record at `at` (in `size` bytes) shapes the reply (buffer size as the
    slow path caps it, DO bit), as a positive number; 0 when it is not a well-formed OPT
    ending the message."""
    options = at + OPT_FIXED
    if size < options or data[at : at + 3] != OPT_HEAD or data[at + 6]:
        return 0  # (data[at + 6]: an EDNS version other than 0 gets BADVERS, never cached)
    if options + (data[at + 9] << 8 | data[at + 10]) != size:
        return 0
    while options < size:  # code, length, data: each must fit exactly
        if options + 4 > size:
            return 0
        options += 4 + (data[options + 2] << 8 | data[options + 3])
    if options != size:
        return 0
    # sizes that differ only above the largest UDP cap a block may have (bufsize 4096) get
    # the same reply; below it a block's cap may tell them apart
    buffer = data[at + 3] << 8 | data[at + 4]
    buffer = UDP_DEFAULT_SIZE if buffer < UDP_DEFAULT_SIZE else min(buffer, MAX_BUFSIZE)
    return buffer << 1 | data[at + 7] >> 7


class Request:
    """One query: its bytes, how and from whom they came, and what every stage asks of
    them, read once (CoreDNS's request.Request).

    A plain query's type, class, EDNS buffer and DO bit are read from its bytes when the
    Request is made, its name when first asked for; the dnslib `Query` is parsed only for
    a stage that needs its objects (the resolver, `encode`). Any other query is parsed
    when its Request is made (which raises Reject, as `parse_query`). `zone` is the zone
    of the server block the query was routed to ("" until then).
    """

    __slots__ = (
        "_name",
        "_query",
        "advertise",
        "data",
        "do",
        "edns_size",
        "family",
        "key",
        "limit",
        "over_tcp",
        "peer",
        "proto",
        "qclass",
        "qtype",
        "start",
        "zone",
    )

    def __init__(
        self,
        data: bytes,
        key: Key | None,
        over_tcp: bool = False,
        peer: Peer | None = None,
        start: float = 0.0,
        limit: int = 0,
    ) -> None:
        """`key` is `question_key(data, over_tcp)` (`read` works it out); `limit`, when
        given, is the most the reply may take instead of what transport and EDNS allow."""
        self.data = data  # the query as it came
        self.key = key
        self.over_tcp = over_tcp
        self.proto = "tcp" if over_tcp else "udp"  # the metrics' and the log's label
        self.peer = peer  # the client's address and port; None when we ask ourselves
        self.family = "2" if peer is not None and ":" in peer[0] else "1"  # as `family`
        self.start = start  # time.perf_counter() when it came
        self.zone = ""
        self._name: str | None = None
        self._query: Query | None = None
        self.edns_size: int | None  # the client's UDP buffer (at least 512) if it sent OPT
        self.do: bool  # the DO bit of its OPT
        if key is None:
            query = self._query = parse_query(data)
            question = query.question
            self.qtype, self.qclass = question.qtype, question.qclass
            self.edns_size, self.do = query.edns_size, query.do_bit
        else:
            rest = key[1]  # root label, type, class; then the OPT, if any (question_key)
            self.qtype, self.qclass = rest[1] << 8 | rest[2], rest[3] << 8 | rest[4]
            at = HEADER_SIZE + len(key[0]) + 5
            if len(data) > at:
                self.edns_size = max(UDP_DEFAULT_SIZE, data[at + 3] << 8 | data[at + 4])
                self.do = data[at + 7] >= 0x80
            else:
                self.edns_size, self.do = None, False
        self.limit = limit or size_limit(self.edns_size, over_tcp)  # the most the reply takes
        # the buffer our OPT echoes: the client's, within the UDP cap (a block's bufsize may
        # lower both; see the server's handler)
        self.advertise = None if self.edns_size is None else min(self.edns_size, UDP_MAX_SIZE)

    @classmethod
    def read(
        cls, data: bytes, over_tcp: bool = False, peer: Peer | None = None, limit: int = 0
    ) -> Self:
        """The Request of `data` (raises Reject for a query that cannot be parsed)."""
        return cls(data, question_key(data, over_tcp), over_tcp, peer, limit=limit)

    @property
    def query(self) -> Query:
        """The parsed query (a plain query's is parsed on first use)."""
        query = self._query
        if query is None:
            query = self._query = parse_query(self.data)
        return query

    @property
    def name(self) -> str:
        """The question's name, lower case, absolute, spelled as dnslib spells it."""
        name = self._name
        if name is None:
            key = self.key
            if key is not None:
                name = key[3]
            else:
                name = presentation(self.query.question.qname.label).lower()
            self._name = name
        return name

    @property
    def id(self) -> int:
        return self.data[0] << 8 | self.data[1]

    @property
    def size(self) -> int:
        """CoreDNS's Size(): 64K over TCP, else the client's EDNS buffer or 512 (uncapped,
        as the log shows it; `limit` caps it)."""
        return TCP_MAX_SIZE if self.over_tcp else self.edns_size or UDP_DEFAULT_SIZE


def family(peer: Peer | None) -> str:
    """CoreDNS's `family` label of a client: "1" for IPv4 (or none), "2" for IPv6."""
    return "2" if peer is not None and ":" in peer[0] else "1"


def dotted(wire_name: bytes) -> str:
    """b'\\x03www\\x07example\\x03com' → 'www.example.com.' (uncompressed, no root label),
    as `names.presentation` writes it: a `.` or `\\` inside a label escaped, bytes outside
    '!' to '~' as \\ddd."""
    name = bytearray(wire_name)
    at = labels = 0
    while at < len(name):  # each length byte becomes a dot
        length = name[at]
        name[at] = 0x2E
        at += 1 + length
        labels += 1
    text = name[1:].decode("latin-1") + "."
    plain = text.isascii() and text.isprintable() and " " not in text and "\\" not in text
    if plain and text.count(".") == labels:  # and no dot inside a label
        return text
    parts, at = [], 0
    while at < len(wire_name):
        length = wire_name[at]
        parts.append(wire_name[at + 1 : at + 1 + length])
        at += 1 + length
    return presentation(parts)
