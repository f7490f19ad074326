"""The wire cache: encoded replies to cluster questions, found from the query's raw bytes.

A cluster reply depends only on the question (name in lower case, type, class), the RD bit,
whether EDNS was sent with which buffer size and DO bit, the transport (its size limit), and
the served data, whose every change moves `RecordIndex.generation`. So the first reply to a
question is kept, and later queries get a copy with their own ID and question bytes (their
case) written in: no dnslib parse, no objects. `wire.encode` compresses names
case-insensitively, which makes the rest of a reply the same bytes whatever case the
question had, so a hit is exactly what the slow path would have sent.

Only plain queries have a key: opcode QUERY, one question with an uncompressed name, no
answer or authority records, at most one OPT record (options well formed, ignored, as the
slow path ignores them) and nothing after it; not a zone transfer. Anything else takes the
slow path every time.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from clusterdns.index import RecordIndex
from clusterdns.wire import UDP_DEFAULT_SIZE, UDP_MAX_SIZE

# the name (lower-cased but for SRV), the bytes after it (root label, type, class), variant
Key = tuple[bytes, bytes, int]

HEADER_SIZE = 12
ONE_QUESTION = b"\x00\x01\x00\x00\x00\x00"  # QDCOUNT 1, ANCOUNT 0, NSCOUNT 0
NO_ADDITIONAL, ONE_ADDITIONAL = b"\x00\x00", b"\x00\x01"
OPT_HEAD = b"\x00\x00\x29"  # root owner, TYPE OPT
OPT_FIXED = 11  # owner, type, class (buffer size), TTL (extended rcode, version, flags), rdlen
# SRV targets spell the zone as asked and are never compressed (RFC 2782), so an SRV reply
# depends on the question's case: SRV questions are kept by their exact name.
SRV = b"\x00\x21"
ZONE_TRANSFERS = (b"\x00\xfb", b"\x00\xfc")  # IXFR, AXFR: they depend on who asks
NOT_QUERY = 0xF8  # in the second header byte: QR and the opcode
RD = 0x01
DEFAULT_CAPACITY = 50_000
Note = TypeVar("Note")  # what the server keeps beside a reply (how to count a hit)


def question_key(data: bytes, over_tcp: bool) -> Key | None:
    """The cache key of a plain query, or None (see the module's docstring)."""
    size = len(data)
    if size < HEADER_SIZE + 5 or data[2] & NOT_QUERY or data[4:10] != ONE_QUESTION:
        return None
    end = HEADER_SIZE
    while length := data[end]:
        if length > 63:  # a compression pointer, or not a label at all
            return None
        end += length + 1
        if end >= size:
            return None
    question_end = end + 5
    if data[end + 1 : end + 3] in ZONE_TRANSFERS:
        return None
    additional = data[10:12]
    if additional == NO_ADDITIONAL and question_end == size:
        edns = 0
    elif additional == ONE_ADDITIONAL:
        edns = _edns_variant(data, question_end)
        if not edns:
            return None
    else:
        return None
    variant = (data[2] & RD) | over_tcp << 1 | edns << 2
    name = data[HEADER_SIZE:end]
    if data[end + 1 : end + 3] != SRV:
        name = name.lower()
    return name, data[end:question_end], variant


def _edns_variant(data: bytes, at: int) -> int:
    """What of the OPT record at `at` shapes the reply (buffer size as the slow path caps it,
    DO bit), as a positive number; 0 when it is not a well-formed OPT ending the message."""
    if data[at : at + 3] != OPT_HEAD or len(data) < at + OPT_FIXED:
        return 0
    options = at + OPT_FIXED
    if options + int.from_bytes(data[at + 9 : options]) != len(data):
        return 0
    while options < len(data):  # code, length, data: each must fit exactly
        if options + 4 > len(data):
            return 0
        options += 4 + int.from_bytes(data[options + 2 : options + 4])
    if options != len(data):
        return 0
    size = min(max(UDP_DEFAULT_SIZE, int.from_bytes(data[at + 3 : at + 5])), UDP_MAX_SIZE)
    do_bit = data[at + 7] >> 7
    return size << 1 | do_bit


class WireCache(Generic[Note]):
    """Replies by question key, dropped whole when the index generation moves.

    Bounded by two generations of at most `capacity` entries: when the recent table fills
    up it becomes the old one, and an old entry that is asked for again moves back. Popular
    questions stay, one-off names (random subdomains) age out, and no query pays for
    bookkeeping beyond a dict lookup.
    """

    def __init__(self, index: RecordIndex, capacity: int = DEFAULT_CAPACITY) -> None:
        self.index = index
        self.capacity = capacity
        self.generation = index.generation
        self.hits = 0
        self.misses = 0
        # key → (the reply's header after the ID, the reply after the question, note)
        self._recent: dict[Key, tuple[bytes, bytes, Note]] = {}
        self._old: dict[Key, tuple[bytes, bytes, Note]] = {}

    def __len__(self) -> int:
        return len(self._recent) + len(self._old)

    def get(self, key: Key, data: bytes) -> tuple[bytes, Note] | None:
        """The stored reply to `key` with `data`'s ID and question, and its note; or None."""
        if self.index.generation != self.generation:
            self.clear()
        parts = self._recent.get(key)
        if parts is None:
            parts = self._old.pop(key, None)
            if parts is None:
                self.misses += 1
                return None
            self._keep(key, parts)
        self.hits += 1
        head, tail, note = parts
        return b"".join((data[:2], head, data[HEADER_SIZE : _question_end(key)], tail)), note

    def put(self, key: Key, reply: bytes, note: Note) -> None:
        """Keep `reply`, the slow path's answer to a query with this key and the current data.
        Nothing is kept before the first sync: those answers change without a new generation
        (SERVFAIL for names we cannot yet deny)."""
        if self.capacity <= 0 or not self.index.state.synced:
            return
        if self.index.generation != self.generation:
            self.clear()
        end = _question_end(key)
        self._keep(key, (reply[2:HEADER_SIZE], reply[end:], note))

    def clear(self) -> None:
        self._recent, self._old = {}, {}
        self.generation = self.index.generation

    def _keep(self, key: Key, parts: tuple[bytes, bytes, Note]) -> None:
        if len(self._recent) >= self.capacity:
            self._old, self._recent = self._recent, {}
        self._recent[key] = parts


def _question_end(key: Key) -> int:
    return HEADER_SIZE + len(key[0]) + len(key[1])
