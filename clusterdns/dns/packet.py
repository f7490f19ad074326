"""DNS messages as bytes: where the records are, and the few edits a relay makes to them.

Upstream replies and cached answers are relayed without decoding them into objects: `scan` finds
each record's offsets once, then `render` patches the ID, flags, question case and TTLs and cuts
whole records to fit the client. Compression pointers only point backwards, so cutting trailing
records never breaks the ones kept.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from dnslib import DNSLabel

from clusterdns.dns.message import (
    AA_BIT,
    CD_BIT,
    HEADER,
    OPCODE_BITS,
    QR_BIT,
    RD_BIT,
    TC_BIT,
    EdnsOption,
)
from clusterdns.errors import ProtocolError

TYPE_A, TYPE_SOA, TYPE_AAAA, TYPE_OPT = 1, 6, 28, 41
_TTL = struct.Struct("!I")
_COUNTS = struct.Struct("!HHH")  # answer, authority and additional counts, at offset 6


class PacketError(ProtocolError):
    """The bytes are not a DNS message we can relay."""


@dataclass(frozen=True, slots=True)
class Record:
    start: int
    ttl_at: int  # offset of the TTL field (the type is 4 bytes before it)
    end: int
    section: int  # 0 answer, 1 authority, 2 additional
    rtype: int
    pointer_owner: bool  # the owner name is one compression pointer: nothing can point into it


@dataclass(frozen=True, slots=True)
class Layout:
    question_end: int
    records: tuple[Record, ...]


def _skip_name(data: bytes, pos: int) -> int:
    """The offset just past the (possibly compressed) name at `pos`."""
    while True:
        if pos >= len(data):
            raise PacketError("a name runs past the end of the message")
        length = data[pos]
        if length == 0:
            return pos + 1
        if length & 0xC0 == 0xC0:
            return pos + 2
        if length & 0xC0:
            raise PacketError("unknown label type")
        pos += 1 + length


def question_end(data: bytes) -> int:
    """The offset just past the first question (name, type, class) of a parsed query."""
    return _skip_name(data, HEADER.size) + 4


def scan(data: bytes) -> Layout:
    """Where the question ends and every record starts and ends. Raises PacketError."""
    if len(data) < HEADER.size:
        raise PacketError("shorter than a DNS header")
    _, _, questions, *counts = HEADER.unpack_from(data)
    pos = HEADER.size
    for _ in range(questions):
        pos = _skip_name(data, pos) + 4
    if pos > len(data):
        raise PacketError("the question runs past the end of the message")
    end_of_question = pos
    records = []
    for section, count in enumerate(counts):
        for _ in range(count):
            start = pos
            pos = _skip_name(data, pos)
            if pos + 10 > len(data):
                raise PacketError("a record runs past the end of the message")
            rtype = (data[pos] << 8) | data[pos + 1]
            end = pos + 10 + ((data[pos + 8] << 8) | data[pos + 9])
            if end > len(data):
                raise PacketError("a record's data runs past the end of the message")
            pointer = pos - start == 2
            records.append(Record(start, pos + 4, end, section, rtype, pointer))
            pos = end
    return Layout(end_of_question, tuple(records))


def rcode(data: bytes) -> int:
    return data[3] & 0xF


def truncated(data: bytes) -> bool:
    return bool(data[2] << 8 & TC_BIT)


def ttl_of(data: bytes, record: Record) -> int:
    return _TTL.unpack_from(data, record.ttl_at)[0]


def soa_minimum(data: bytes, record: Record) -> int:
    return _TTL.unpack_from(data, record.end - 4)[0]  # MINIMUM is the SOA's last field


def without_opt(data: bytes, layout: Layout) -> tuple[bytes, Layout]:
    """The message without its OPT record (hop-by-hop: each reply gets the client's own).

    Whatever follows OPT goes too (TSIG/SIG(0) are meaningless to our client), so the cut is a
    suffix and every kept record stays where it was.
    """
    for i, record in enumerate(layout.records):
        if record.rtype == TYPE_OPT:
            kept = layout.records[:i]
            return _cut(data, layout, kept, record.start), Layout(layout.question_end, kept)
    return data, layout


OPT_SIZE = 11  # our OPT (`opt_record`): root owner, type, class, TTL, no options


def opt_record(edns_size: int | None, do_bit: bool, options: Sequence[EdnsOption] = ()) -> bytes:
    """Our OPT for a client that sent one, mirroring its buffer size (as the server block
    fitted it to its UDP cap) as `encode` does, with `options` (none by default)."""
    if edns_size is None:
        return b""
    flags = 0x8000 if do_bit else 0
    rdata = b"".join(struct.pack("!HH", code, len(data)) + data for code, data in options)
    return b"\x00" + struct.pack("!HHBBHH", TYPE_OPT, edns_size, 0, 0, flags, len(rdata)) + rdata


def extended_error(info: int, text: str = "") -> EdnsOption:
    """An extended DNS error (RFC 8914, option 15): its info code and extra text."""
    return 15, info.to_bytes(2) + text.encode()


def options_of(data: bytes) -> tuple[EdnsOption, ...] | None:
    """The options of the message's OPT record; None when it has none. Raises PacketError."""
    opt = next((r for r in scan(data).records if r.rtype == TYPE_OPT), None)
    if opt is None:
        return None
    options, at = [], opt.ttl_at + 6
    while at + 4 <= opt.end:
        code, size = struct.unpack_from("!HH", data, at)
        options.append((code, data[at + 4 : at + 4 + size]))
        at += 4 + size
    return tuple(options)


NEW_OPT_SIZE = 4096  # the buffer of an OPT given to a query that had none (miekg's SetEdns0)


def with_options(data: bytes, options: Sequence[EdnsOption]) -> bytes:
    """The message with `options` in its OPT record instead of its own; one with no OPT
    gets one (buffer 4096, no flags: as CoreDNS's rewrite adds it). Raises PacketError."""
    rdata = b"".join(struct.pack("!HH", code, len(value)) + value for code, value in options)
    opt = next((r for r in scan(data).records if r.rtype == TYPE_OPT), None)
    if opt is None:
        additional = (int.from_bytes(data[10:12]) + 1).to_bytes(2)
        record = b"\x00" + struct.pack("!HHIH", TYPE_OPT, NEW_OPT_SIZE, 0, len(rdata)) + rdata
        return data[:10] + additional + data[12:] + record
    head = data[opt.start : opt.ttl_at + 4]  # owner, type, class (the buffer) and TTL
    return data[: opt.start] + head + struct.pack("!H", len(rdata)) + rdata + data[opt.end :]


def name_wire(name: str) -> bytes:
    """An absolute name in presentation form as its uncompressed wire labels."""
    return b"".join(bytes((len(label),)) + label for label in DNSLabel(name).label) + b"\x00"


def asking(query: bytes, name: str, qtype: int, qclass: int) -> bytes:
    """`query` (one question) asking another: the same ID, flags and additional records."""
    question = name_wire(name) + struct.pack("!HH", qtype, qclass)
    return query[: HEADER.size] + question + query[question_end(query) :]


def failure(query: bytes, rcode: int, opt: bytes) -> bytes:
    """An error reply to `query` with its question (and `opt`): QR, the opcode, RD and CD of
    the query, no records, as CoreDNS answers a query no plugin could (miekg's SetRcode)."""
    end = question_end(query)
    flags = QR_BIT | (int.from_bytes(query[2:4], "big") & (OPCODE_BITS | RD_BIT | CD_BIT)) | rcode
    header = HEADER.pack(int.from_bytes(query[0:2], "big"), flags, 1, 0, 0, 1 if opt else 0)
    return header + query[HEADER.size : end] + opt


def render(
    template: bytes,
    layout: Layout,
    query: bytes,
    ttl: int | None,
    *,
    clear_aa: bool,
    opt: bytes,
    limit: int,
) -> bytes:
    """`template` (a reply without OPT) as the reply to `query`: its ID, RD and CD bits and
    question bytes (so the asked case), every TTL set to `ttl` unless None, AA cleared when
    asked, cut to `limit` with `opt` appended. The question must match case-insensitively."""
    buf = bytearray(template)
    buf[0:2] = query[0:2]
    keep = ~(RD_BIT | CD_BIT | (AA_BIT if clear_aa else 0))
    flags = ((buf[2] << 8 | buf[3]) & keep) | ((query[2] << 8 | query[3]) & (RD_BIT | CD_BIT))
    buf[2:4] = flags.to_bytes(2, "big")
    buf[HEADER.size : layout.question_end] = query[HEADER.size : layout.question_end]
    if ttl is not None:
        for record in layout.records:
            _TTL.pack_into(buf, record.ttl_at, ttl)
    if len(buf) + len(opt) > limit:
        buf = _fit(buf, layout, limit - len(opt))
    if opt:
        buf += opt
        buf[10:12] = (int.from_bytes(buf[10:12], "big") + 1).to_bytes(2, "big")
    return bytes(buf)


def _fit(buf: bytearray, layout: Layout, limit: int) -> bytearray:
    """Drop the additional section; if still too big, set TC and keep the answers that fit
    (the same order of sacrifice as `wire.encode`)."""
    kept = tuple(r for r in layout.records if r.section < 2)
    end = kept[-1].end if kept else layout.question_end
    if end <= limit:
        return bytearray(_cut(buf, layout, kept, end))
    answers = tuple(r for r in layout.records if r.section == 0 and r.end <= limit)
    out = bytearray(_cut(buf, layout, answers, answers[-1].end if answers else 0))
    out[2] |= TC_BIT >> 8
    return out


def _cut(data: bytes | bytearray, layout: Layout, kept: tuple[Record, ...], end: int) -> bytes:
    """The header and question, then the records in `kept` (a prefix ending at `end`)."""
    end = max(end, layout.question_end)
    counts = [0, 0, 0]
    for record in kept:
        counts[record.section] += 1
    return bytes(data[:6]) + _COUNTS.pack(*counts) + bytes(data[HEADER.size : end])
