"""DNS messages in and out: parse a query, encode an Answer, honour sizes (SPEC §8).

Malformed input never raises: a query whose header can be read gets FORMERR, anything
shorter is dropped (None).
"""

from __future__ import annotations

import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from dnslib import (
    EDNS0,
    OPCODE,
    QTYPE,
    RCODE,
    RR,
    DNSError,
    DNSHeader,
    DNSQuestion,
    DNSRecord,
    EDNSOption,
)

from clusterdns.dns.lookup import Lookup
from clusterdns.errors import ProtocolError

HEADER = struct.Struct("!HHHHHH")
UDP_DEFAULT_SIZE = 512
# The most a UDP reply takes, whatever the client advertises (and what our OPT advertises): DNS
# Flag Day 2020's 1232, as Knot and BIND default to, so a small query cannot draw a large
# reply at a spoofed address; past it TC, and the client asks again over TCP.
UDP_MAX_SIZE = 1232
TCP_MAX_SIZE = 65535
QR_BIT = 0x8000
EDNS_VERSION = 0
BADVERS = 16
AA_BIT, TC_BIT, RD_BIT, CD_BIT = 0x0400, 0x0200, 0x0100, 0x0010
RA_BIT, AD_BIT, OPCODE_BITS = 0x0080, 0x0020, 0x7800
DO_FLAG = 0x8000  # in the OPT record's TTL
_TYPE_CLASS = struct.Struct("!HH")
_TYPE_CLASS_TTL = struct.Struct("!HHI")
_RDLENGTH = struct.Struct("!H")
_SOA_TIMES = struct.Struct("!IIIII")
CLASS_ANY = 255  # dnslib names it "*", which attribute access cannot reach


EdnsOption = tuple[int, bytes]  # an EDNS option: its code and data


@dataclass
class Answer:
    """What a plugin answers: the reply's rcode and sections, before encoding."""

    rcode: int = RCODE.NOERROR
    answer: list[RR] = field(default_factory=list)
    authority: list[RR] = field(default_factory=list)
    additional: list[RR] = field(default_factory=list)
    authoritative: bool = True
    truncated: bool = False  # TC: a target's records it has were truncated (their lookup's)
    forward: bool = False  # not ours: the forwarder answers the whole question
    chase: str | None = None  # ExternalName target outside our zones: resolve, append
    options: tuple[EdnsOption, ...] = ()  # in our OPT (template's extended DNS error)
    # the answer completed by asking the server itself (template's CNAME targets)
    follow: Callable[[Lookup], Awaitable[Answer]] | None = None


class FixedAnswers:
    """The lifecycle of an answering plugin whose answers are fixed at setup (any, chaos,
    local, template, whoami): nothing to watch, start or close."""

    def subscribe(self, changed: Callable[[], None]) -> None:
        pass

    def start(self) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass(frozen=True, slots=True)
class Query:
    record: DNSRecord
    question: DNSQuestion
    edns_size: int | None  # the client's UDP buffer size when it sent OPT
    do_bit: bool

    @property
    def id(self) -> int:
        return self.record.header.id


class Reject(ProtocolError):
    """A query we answer with an error code (or drop, when `reply` is None)."""

    def __init__(self, reply: bytes | None) -> None:
        super().__init__("rejected query")
        self.reply = reply


def parse_query(data: bytes) -> Query:
    """Parse a query; raise Reject with the reply to send (FORMERR/NOTIMP) or None to drop."""
    if len(data) < HEADER.size:
        raise Reject(None)
    ident, flags, questions, answers, authorities, additionals = HEADER.unpack_from(data)
    if flags & QR_BIT:
        raise Reject(None)  # a response sent to us: never answer it (reflection loops)
    opcode = (flags >> 11) & 0xF
    if opcode != OPCODE.QUERY:
        raise Reject(rejection(ident, flags, RCODE.NOTIMP))
    # miekg's DefaultMsgAcceptFunc, before anything is read past the header
    if questions != 1 or answers > 1 or authorities > 1 or additionals > 2:
        raise Reject(rejection(ident, flags, RCODE.FORMERR))
    if len(data) == HEADER.size:  # miekg reads no question and no error: CoreDNS's server
        raise Reject(error_reply(ident, flags, RCODE.SERVFAIL))  # SERVFAILs what has none
    try:
        check_names(data)  # bounded, before dnslib follows any pointer
        record = DNSRecord.parse(data)
    except (DNSError, ValueError, IndexError, struct.error, UnicodeError):
        question = _question_read(data)  # (miekg keeps what it read before the error)
        raise Reject(rejection(ident, flags, RCODE.FORMERR, question)) from None
    opts = [rr for rr in record.ar if rr.rtype == QTYPE.OPT]
    if len(opts) > 1:
        raise Reject(rejection(ident, flags, RCODE.FORMERR))  # RFC 6891 §6.1.1
    edns_size, do_bit = None, False
    if opts:
        edns_size = max(UDP_DEFAULT_SIZE, opts[0].rclass)
        do_bit = bool(opts[0].ttl & 0x8000)
        if (opts[0].ttl >> 16) & 0xFF != EDNS_VERSION:
            raise Reject(badvers_reply(record, edns_size))
    return Query(record, record.questions[0], edns_size, do_bit)


MAX_NAME = 255  # bytes on the wire, length bytes and root included (RFC 1035 §2.3.4)
MAX_POINTERS = 127  # more than a name of 255 bytes can have labels
# Where each type that dnslib decodes holds names in its data: (bytes before the first name,
# how many names follow one another there); NAPTR's name comes after three strings.
_NAMES_IN_DATA = {
    2: (0, 1), 5: (0, 1), 12: (0, 1), 39: (0, 1),  # NS, CNAME, PTR, DNAME
    15: (2, 1), 33: (6, 1), 6: (0, 2), 17: (0, 2),  # MX, SRV, SOA, RP
    46: (18, 1), 47: (0, 1), 64: (2, 1), 65: (2, 1),  # RRSIG, NSEC, SVCB, HTTPS
}
_NAPTR = 35


def check_names(data: bytes) -> None:
    """Walk every name of a message as dnslib would decode it, within bounds, before it
    does: a name longer than 255 bytes, a pointer that does not point backwards, or more
    pointers than a name can hold raises ValueError, so no packet costs more than a walk
    over its own bytes (dnslib follows pointer chains recursively, without a bound).

    No name comes before the first question's, so a pointer in it is never compression: it
    reads the header (which is not the same in the reply, where the question is copied as
    it came) or the name's own bytes again. ValueError too."""
    _, _, questions, answers, authorities, additionals = HEADER.unpack_from(data)
    pos = HEADER.size
    for i in range(questions):
        end = _name_end(data, pos)
        if i == 0 and _has_pointer(data, pos, end):
            raise ValueError("a compression pointer in the first name of the message")
        pos = end + 4
    for _ in range(answers + authorities + additionals):
        pos = _name_end(data, pos)
        if pos + 10 > len(data):
            raise ValueError("a record runs past the end of the message")
        rtype = data[pos] << 8 | data[pos + 1]
        start, end = pos + 10, pos + 10 + (data[pos + 8] << 8 | data[pos + 9])
        if rtype in _NAMES_IN_DATA:
            skip, names = _NAMES_IN_DATA[rtype]
            at = start + skip
            for _ in range(names):
                at = _name_end(data, at)
        elif rtype == _NAPTR:
            at = start + 4
            for _ in range(3):  # flags, services, regexp: length-prefixed strings
                at += 1 + data[at] if at < len(data) else 0
            _name_end(data, at)
        pos = end


def _has_pointer(data: bytes, pos: int, end: int) -> bool:
    """Whether the name at `pos`, which ends at `end` (as `_name_end` found), holds a pointer."""
    while pos < end:
        if data[pos] & 0xC0:
            return True
        pos += 1 + data[pos]
    return False


def _name_end(data: bytes, pos: int) -> int:
    """Where the name at `pos` ends in the message (after its root or first pointer),
    having followed it whole. Raises ValueError."""
    end, size, pointers = -1, 0, 0
    while True:
        if pos >= len(data):
            raise ValueError("a name runs past the end of the message")
        length = data[pos]
        if length & 0xC0 == 0xC0:
            if pos + 1 >= len(data):
                raise ValueError("a pointer runs past the end of the message")
            target = (length & 0x3F) << 8 | data[pos + 1]
            pointers += 1
            if target >= pos or pointers > MAX_POINTERS:
                raise ValueError("a compression pointer that does not point back, or a chain")
            if end < 0:
                end = pos + 2
            pos = target
            continue
        if length & 0xC0:
            raise ValueError("unknown label type")
        size += 1 + length
        if size > MAX_NAME:
            raise ValueError("a name longer than 255 bytes")
        if length == 0:
            return end if end >= 0 else pos + 1
        pos += 1 + length


def badvers_reply(record: DNSRecord, edns_size: int) -> bytes:
    """RFC 6891 §6.1.3: an EDNS version we do not speak gets BADVERS (16: extended rcode 1
    in our OPT, 0 in the header) with the version we do speak, as CoreDNS answers."""
    header = DNSHeader(id=record.header.id, qr=1, rd=record.header.rd, rcode=0)
    opt = EDNS0(udp_len=min(edns_size, UDP_MAX_SIZE), ext_rcode=BADVERS >> 4)
    return bytes(DNSRecord(header, q=record.questions[0], ar=[opt]).pack())


def error_reply(ident: int, query_flags: int, rcode: int) -> bytes:
    """A bare reply with no sections, as miekg's SetRcode writes it: QR set, the query's
    opcode, RD and CD, the given rcode."""
    flags = QR_BIT | (query_flags & (OPCODE_BITS | RD_BIT | CD_BIT)) | rcode
    return HEADER.pack(ident, flags, 0, 0, 0, 0)


def rejection(ident: int, query_flags: int, rcode: int, question: bytes = b"") -> bytes:
    """FORMERR or NOTIMP for a message no plugin may see, as miekg's server writes it (its
    MsgReject: the query's own header, SetRcodeFormatError on it): TC, RD, RA, AD and CD as
    the query had them, AA and Z cleared, the opcode QUERY for FORMERR (NOTIMP keeps the
    query's); the question when one was read (its bytes), no other section."""
    kept = query_flags & (TC_BIT | RD_BIT | RA_BIT | AD_BIT | CD_BIT)
    opcode = query_flags & OPCODE_BITS if rcode == RCODE.NOTIMP else 0
    flags = QR_BIT | opcode | kept | rcode
    return HEADER.pack(ident, flags, 1 if question else 0, 0, 0, 0) + question


def _question_read(data: bytes) -> bytes:
    """The bytes of a message's one question when they read whole (a name of labels, its
    type and class) though something after them does not: miekg's reply to such a message
    keeps the question it read. Empty when the question itself does not read."""
    try:
        end = _name_end(data, HEADER.size)
    except ValueError:
        return b""
    if _has_pointer(data, HEADER.size, end) or end + 4 > len(data):
        return b""
    return data[HEADER.size : end + 4]


def encode(query: Query, answer: Answer, max_size: int, udp_cap: int = UDP_MAX_SIZE) -> bytes:
    """The reply for `answer`, shrunk to `max_size`: additional records go first, then
    answer records, and TC is set when answers had to go."""
    negative = _negative(query, answer, max_size, udp_cap)
    if negative is not None:
        return negative
    header = DNSHeader(
        id=query.id,
        qr=1,
        aa=int(answer.authoritative),
        tc=int(answer.truncated),
        rd=query.record.header.rd,
        cd=query.record.header.cd,
        ra=0,
        rcode=answer.rcode,
    )
    reply = DNSRecord(
        header,
        q=query.question,
        rr=list(answer.answer),
        auth=list(answer.authority),
        ar=list(answer.additional),
    )
    opt = _opt(query, udp_cap, answer.options)
    if opt is not None:
        reply.add_ar(opt)
    data = pack(reply)
    if len(data) <= max_size:
        return data
    reply.ar = [opt] if opt is not None else []
    data = pack(reply)
    if len(data) <= max_size:
        return data
    reply.header.tc = 1
    fits, too_many = 0, len(reply.rr)  # binary search for the most answers that fit
    while too_many - fits > 1:
        middle = (fits + too_many) // 2
        reply.rr = answer.answer[:middle]
        if len(pack(reply)) <= max_size:
            fits = middle
        else:
            too_many = middle
    reply.rr = answer.answer[:fits]
    return pack(reply)


def _negative(query: Query, answer: Answer, max_size: int, udp_cap: int) -> bytes | None:
    """NXDOMAIN and NODATA (a lone SOA in the authority section: most cluster replies, as
    search-path expansions are) written without dnslib's objects, byte for byte what `pack`
    writes; None for any other reply, or one `pack` would refuse or cut."""
    if answer.answer or answer.additional or answer.options or len(answer.authority) != 1:
        return None
    soa = answer.authority[0]
    question = query.question
    names = (question.qname.label, soa.rname.label, soa.rdata.mname.label, soa.rdata.rname.label)
    if soa.rtype != QTYPE.SOA or not all(map(_packable, names)):
        return None
    flags = QR_BIT | answer.rcode
    flags |= (AA_BIT if answer.authoritative else 0) | (RD_BIT if query.record.header.rd else 0)
    flags |= (CD_BIT if query.record.header.cd else 0) | (TC_BIT if answer.truncated else 0)
    opt = query.edns_size is not None
    out = bytearray(HEADER.pack(query.id, flags, 1, 0, 1, int(opt)))
    written: dict[tuple[bytes, ...], int] = {}
    _put_name(out, written, names[0])
    out += _TYPE_CLASS.pack(question.qtype, question.qclass)
    _put_name(out, written, names[1])
    out += _TYPE_CLASS_TTL.pack(QTYPE.SOA, soa.rclass, soa.ttl)
    rdata_at = len(out)
    out += b"\0\0"
    _put_name(out, written, names[2])
    _put_name(out, written, names[3])
    out += _SOA_TIMES.pack(*soa.rdata.times)
    _RDLENGTH.pack_into(out, rdata_at, len(out) - rdata_at - 2)
    if query.edns_size is not None:
        size = min(query.edns_size, udp_cap)  # as _opt mirrors it
        out += b"\0" + _TYPE_CLASS_TTL.pack(QTYPE.OPT, size, DO_FLAG if query.do_bit else 0)
        out += b"\0\0"
    return bytes(out) if len(out) <= max_size else None


def _packable(labels: tuple[bytes, ...]) -> bool:
    """What dnslib's encode_name accepts (it raises otherwise)."""
    return all(len(label) <= 63 for label in labels) and len(b".".join(labels)) <= 253


def _put_name(
    out: bytearray, written: dict[tuple[bytes, ...], int], labels: tuple[bytes, ...]
) -> None:
    """dnslib's encode_name: a pointer to the longest suffix already written (spelled
    alike), else the label, remembered for the names after it."""
    for i in range(len(labels)):
        suffix = labels[i:]
        offset = written.get(suffix)
        if offset is not None:
            out += _RDLENGTH.pack(0xC000 | offset)
            return
        written[suffix] = len(out)
        out.append(len(labels[i]))
        out += labels[i]
    out.append(0)


def pack(record: DNSRecord) -> bytes:
    """`record.pack()`: names compress to earlier ones spelled exactly alike, as miekg/dns
    (CoreDNS's) compression map matches them, so a name keeps its own case: an SRV target's
    A record owner `svc.ns.svc.cluster.local` is not written as a pointer into a question
    asked `SVC.NS.svc.cluster.local`. (The wire answers key a reply by the question's bytes
    as asked for that reason.)"""
    record.set_header_qa()
    return bytes(record.pack())


def size_limit(edns_size: int | None, over_tcp: bool) -> int:
    """The most a reply may take: 64K over TCP, else the EDNS buffer (capped) or 512."""
    if over_tcp:
        return TCP_MAX_SIZE
    if edns_size is None:
        return UDP_DEFAULT_SIZE
    return min(edns_size, UDP_MAX_SIZE)


def _opt(query: Query, udp_cap: int, options: tuple[EdnsOption, ...]) -> EDNS0 | None:
    if query.edns_size is None:
        return None
    # like CoreDNS, mirror the client's buffer size (capped to what we send at most)
    size = min(query.edns_size, udp_cap)
    opts = [EDNSOption(code, data) for code, data in options]
    return EDNS0(udp_len=size, flags="do" if query.do_bit else "", opts=opts)
