"""One query as the server reads it, parsed once.

A plain query's question is read straight from its bytes (`question_key`): that is all the
wire cache and the relay need of most queries, so they are answered without dnslib.

Only plain queries have a key: opcode QUERY, one question with an uncompressed name, no
answer or authority records, at most one OPT record (options well formed, ignored, as the
slow path ignores them) and nothing after it; not a zone transfer. Anything else takes the
slow path every time.
"""

from __future__ import annotations

from clusterdns.dns.message import UDP_DEFAULT_SIZE, UDP_MAX_SIZE

# The question of a plain query: its name (lower-cased but for SRV, without the root
# label), the bytes after it (root label, type, class), and what else shapes the reply
# (`variant`: RD, transport, EDNS buffer and DO bit). The wire cache's key.
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
OVER_TCP = 0x02  # in a key's variant


def question_key(data: bytes, over_tcp: bool) -> Key | None:
    """The key of a plain query, or None (see the module's docstring)."""
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
    variant = (data[2] & RD) | over_tcp * OVER_TCP | edns << 2
    name = data[HEADER_SIZE:end]
    if data[end + 1 : end + 3] != SRV:
        name = name.lower()
    return name, data[end:question_end], variant


def _edns_variant(data: bytes, at: int) -> int:
    """What of the OPT record at `at` shapes the reply (buffer size as the slow path caps it,
    DO bit), as a positive number; 0 when it is not a well-formed OPT ending the message."""
    if data[at : at + 3] != OPT_HEAD or len(data) < at + OPT_FIXED or data[at + 6]:
        return 0  # (data[at + 6]: an EDNS version other than 0 gets BADVERS, never cached)
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
