"""Structure-aware mutation of DNS queries, for the fuzz harness (bench/fuzz.py and
tests/server/test_fuzz.py).

A real query (bytes, as `harness.wire.wire_query` builds it) is read into a `Message`:
header fields, questions whose names are lists of labels, and records whose data is a list
of pieces (bytes, names, EDNS options, pointer chains). A `Mutator` copies a seed, applies
one or more mutations to that structure and writes it back to bytes, working out every
compression pointer's target as it writes; now and then it then cuts, extends or flips
bytes of the result. What it mutates:

- the header: flag bits (QR among them), opcode, rcode, counts that lie;
- questions: type, class, a second question or none;
- names: case, labels added, dropped, repeated or emptied, a `.` or `\\` (and other bytes
  a presentation format must escape) inside a label, label lengths at and past 63 (and
  length bytes that lie or carry the reserved label types 0x40/0x80), names at and past 255
  bytes, the root name;
- compression pointers: to the name itself (a loop through its labels), to the pointer
  itself, forwards, past the end, into the header, into the middle of an earlier name,
  to an earlier pointer, and chains of 2 to 1000 pointers each pointing to the one before;
- records in a query: answers or authority records, name-bearing types (CNAME, MX, SRV,
  SOA, NAPTR...) whose data holds such names, data lengths that lie;
- OPT: added, removed, doubled, moved to the answer or authority section, not last, with
  an owner other than the root, buffer sizes 0 to 65535, EDNS versions, the DO and other
  flag bits, an extended rcode, options (cookies of every length, client subnet right and
  wrong, padding, unknown codes) and option lengths that lie.

Everything is drawn from the `random.Random` given, so a seed replays the same packets.
"""

from __future__ import annotations

import copy
import random
import struct
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

HEADER = struct.Struct("!HHHHHH")
QR, AA, TC, RD, RA, Z, AD, CD = 0x8000, 0x0400, 0x0200, 0x0100, 0x0080, 0x0040, 0x0020, 0x0010
TYPE_OPT = 41
TYPE_PRIVATE = 65280  # data dnslib keeps as bytes (RFC 6895 private use)
# Types whose data holds names (as clusterdns.dns.message walks them): bytes before the
# first name, how many names.
NAME_TYPES = {2: (0, 1), 5: (0, 1), 12: (0, 1), 39: (0, 1), 15: (2, 1), 33: (6, 1),
              6: (0, 2), 17: (0, 2), 46: (18, 1), 47: (0, 1), 64: (2, 1), 65: (2, 1)}  # fmt: skip
NAPTR = 35
QTYPES = [1, 28, 33, 12, 16, 6, 2, 5, 255, 15, 252, 251, 41, 0, 65535, 250, 249, 64, 65, 99]
QCLASSES = [1, 1, 1, 3, 4, 254, 255, 0, 65535]
POINTER_KINDS = ("start", "here", "forward", "beyond", "header", "name", "label", "pointer", "raw")
CHAIN_LENGTHS = (2, 10, 126, 127, 128, 200, 1000)
LABELS = [b"nope", b"*", b"_tcp", b"_udp", b"demo", b"svc", b"pod", b"cluster", b"local",
          b"xn--bcher-kva", b"10-244-2-10", b"nginx", b"web-0", b"in-addr", b"arpa", b"-",
          b"NGINX", b"a" * 63, b"b" * 62]  # fmt: skip
ODD_BYTES = b".\\ \x00\xff\"'();@$\t\n\x7f\x80"
EDNS_SIZES = [0, 1, 511, 512, 513, 1231, 1232, 1233, 1400, 4096, 65535]


@dataclass
class Pointer:
    """A compression pointer ending a name; its target is worked out when written: `kind`
    is one of POINTER_KINDS, `choice` (0 to 1) picks among the candidates of that kind."""

    kind: str
    choice: float


@dataclass
class Name:
    """A name as written: raw labels (length byte and bytes, which may disagree), then the
    root label, a pointer, or nothing at all (`end` None: the next bytes go on the name)."""

    labels: list[bytes] = field(default_factory=list)
    end: Pointer | bytes | None = b"\x00"

    @classmethod
    def of(cls, text: str) -> Name:
        parts = [p.encode() for p in text.rstrip(".").split(".") if p]
        return cls([bytes([len(p)]) + p for p in parts])


@dataclass
class Chain:
    """Record data: a name (`a.`), then `length` pointers each to the one before it; a name
    ending in a pointer of kind "pointer" with choice 1.0 points at the last."""

    length: int


@dataclass
class Options:
    """OPT data: (code, data, length written or None for the true one)."""

    items: list[tuple[int, bytes, int | None]] = field(default_factory=list)


Piece = bytes | Name | Chain | Options


@dataclass
class Question:
    name: Name
    qtype: int
    qclass: int


@dataclass
class Record:
    owner: Name
    rtype: int
    rclass: int
    ttl: int
    data: list[Piece]
    rdlength: int | None = None  # written instead of the true length


@dataclass
class Message:
    ident: int
    flags: int
    questions: list[Question]
    sections: list[list[Record]]  # answer, authority, additional
    counts: list[int | None] = field(default_factory=lambda: [None] * 4)  # written instead
    trailing: bytes = b""


# Reading a seed


def parse(data: bytes) -> Message:
    """A query as `wire_query` or dnspython writes it (no compression) as a Message."""
    ident, flags, qd, an, ns, ar = HEADER.unpack_from(data)
    pos = HEADER.size
    questions = []
    for _ in range(qd):
        name, pos = _read_name(data, pos)
        qtype, qclass = struct.unpack_from("!HH", data, pos)
        questions.append(Question(name, qtype, qclass))
        pos += 4
    sections: list[list[Record]] = []
    for count in (an, ns, ar):
        records = []
        for _ in range(count):
            owner, pos = _read_name(data, pos)
            rtype, rclass, ttl, length = struct.unpack_from("!HHIH", data, pos)
            pos += 10
            rdata = data[pos : pos + length]
            pos += length
            piece: Piece = _read_options(rdata) if rtype == TYPE_OPT else rdata
            records.append(Record(owner, rtype, rclass, ttl, [piece]))
        sections.append(records)
    return Message(ident, flags, questions, sections, trailing=data[pos:])


def _read_name(data: bytes, pos: int) -> tuple[Name, int]:
    labels = []
    while data[pos]:
        if data[pos] & 0xC0:
            raise ValueError("seeds are uncompressed")
        labels.append(data[pos : pos + 1 + data[pos]])
        pos += 1 + data[pos]
    return Name(labels), pos + 1


def _read_options(rdata: bytes) -> Options:
    items: list[tuple[int, bytes, int | None]] = []
    pos = 0
    while pos + 4 <= len(rdata):
        code, length = struct.unpack_from("!HH", rdata, pos)
        items.append((code, rdata[pos + 4 : pos + 4 + length], None))
        pos += 4 + length
    return Options(items)


# Writing a Message


class _Writer:
    def __init__(self) -> None:
        self.out = bytearray()
        self.names: list[int] = []  # where each name written so far starts
        self.labels: list[int] = []  # where each label starts
        self.pointers: list[int] = []  # where each pointer is

    def name(self, name: Name) -> None:
        start = len(self.out)
        self.names.append(start)
        for label in name.labels:
            self.labels.append(len(self.out))
            self.out += label
        end = name.end
        if isinstance(end, Pointer):
            here = len(self.out)
            self.pointers.append(here)
            self.out += struct.pack("!H", 0xC000 | self._target(end, start, here) & 0x3FFF)
        elif end is not None:
            self.out += end

    def _target(self, pointer: Pointer, start: int, here: int) -> int:
        kind, choice = pointer.kind, pointer.choice
        candidates: Sequence[int]
        if kind == "start":
            return start
        if kind == "here":
            return here
        if kind == "forward":
            return here + 2 + int(choice * 64)
        if kind == "beyond":
            return 0x3FFF - int(choice * 16)
        if kind == "raw":
            return int(choice * 0x3FFF)
        if kind == "name":
            candidates = self.names[:-1]
        elif kind == "label":
            candidates = self.labels
        elif kind == "pointer":
            candidates = self.pointers[:-1]
        else:
            candidates = []
        if not candidates:
            return int(choice * HEADER.size)  # "header", or nothing earlier to point at
        return candidates[min(int(choice * len(candidates)), len(candidates) - 1)]

    def piece(self, piece: Piece) -> None:
        if isinstance(piece, bytes):
            self.out += piece
        elif isinstance(piece, Name):
            self.name(piece)
        elif isinstance(piece, Chain):
            previous = len(self.out)
            self.out += b"\x01a\x00"
            for _ in range(piece.length):
                self.pointers.append(len(self.out))
                self.out += struct.pack("!H", 0xC000 | previous & 0x3FFF)
                previous = self.pointers[-1]
        else:
            for code, data, length in piece.items:
                self.out += struct.pack("!HH", code, len(data) if length is None else length)
                self.out += data


def write(message: Message) -> bytes:
    w = _Writer()
    sections = message.sections
    true = [len(message.questions), *(len(s) for s in sections)]
    counts = [c if c is not None else n for c, n in zip(message.counts, true, strict=True)]
    w.out += HEADER.pack(message.ident & 0xFFFF, message.flags & 0xFFFF, *counts)
    for question in message.questions:
        w.name(question.name)
        w.out += struct.pack("!HH", question.qtype, question.qclass)
    for records in sections:
        for record in records:
            w.name(record.owner)
            w.out += struct.pack("!HHI", record.rtype, record.rclass, record.ttl & 0xFFFFFFFF)
            at = len(w.out)
            w.out += b"\0\0"
            for piece in record.data:
                w.piece(piece)
            length = len(w.out) - at - 2 if record.rdlength is None else record.rdlength
            struct.pack_into("!H", w.out, at, length & 0xFFFF)
    w.out += message.trailing
    return bytes(w.out)


# Mutations: each changes a Message in place


Mutation = Callable[[Message, random.Random], None]


def _any_name(message: Message, rng: random.Random) -> Name:
    names = [q.name for q in message.questions]
    for records in message.sections:
        for record in records:
            names.append(record.owner)
            names += [p for p in record.data if isinstance(p, Name)]
    if not names:
        message.questions.append(Question(Name.of("nginx.demo.svc.cluster.local"), 1, 1))
        return message.questions[0].name
    # mostly the (first) question's: that is what the server reads first and most
    return names[0] if rng.random() < 0.7 else rng.choice(names)


def _opts(message: Message) -> list[Record]:
    return [r for records in message.sections for r in records if r.rtype == TYPE_OPT]


def _new_opt(rng: random.Random) -> Record:
    return Record(Name(), TYPE_OPT, rng.choice(EDNS_SIZES), 0, [Options()])


def flag_bit(message: Message, rng: random.Random) -> None:
    message.flags ^= rng.choice((AA, TC, RD, RA, Z, AD, CD))


def qr_bit(message: Message, rng: random.Random) -> None:
    message.flags |= QR  # a response: must never be answered


def opcode(message: Message, rng: random.Random) -> None:
    message.flags = message.flags & ~0x7800 | rng.randrange(16) << 11


def rcode(message: Message, rng: random.Random) -> None:
    message.flags = message.flags & ~0xF | rng.randrange(16)


def lying_count(message: Message, rng: random.Random) -> None:
    i = rng.randrange(4)
    true = len(message.questions) if i == 0 else len(message.sections[i - 1])
    message.counts[i] = rng.choice((0, 1, 2, true + 1, max(true - 1, 0), 255, 65535))


def qtype(message: Message, rng: random.Random) -> None:
    if message.questions:
        value = rng.choice(QTYPES) if rng.random() < 0.8 else rng.randrange(65536)
        rng.choice(message.questions).qtype = value


def qclass(message: Message, rng: random.Random) -> None:
    if message.questions:
        rng.choice(message.questions).qclass = rng.choice(QCLASSES)


def questions(message: Message, rng: random.Random) -> None:
    if message.questions and rng.random() < 0.3:
        message.questions.clear()
    else:
        pointer = Name([], Pointer("name", 0.0))  # the second often names the first
        name = pointer if rng.random() < 0.5 else Name.of("nope.demo.svc.cluster.local")
        message.questions.append(Question(name, rng.choice(QTYPES), 1))


def case(message: Message, rng: random.Random) -> None:
    name = _any_name(message, rng)
    name.labels = [
        label[:1] + bytes(b ^ 0x20 if rng.random() < 0.5 and chr(b).isalpha() else b
                          for b in label[1:])
        for label in name.labels
    ]  # fmt: skip


def add_label(message: Message, rng: random.Random) -> None:
    name = _any_name(message, rng)
    if rng.random() < 0.7:
        text = rng.choice(LABELS)
    else:
        text = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 20)))
    name.labels.insert(rng.randint(0, len(name.labels)), bytes([len(text)]) + text)


def drop_label(message: Message, rng: random.Random) -> None:
    name = _any_name(message, rng)
    if name.labels:
        del name.labels[rng.randrange(len(name.labels))]


def repeat_label(message: Message, rng: random.Random) -> None:
    name = _any_name(message, rng)
    if name.labels:
        i = rng.randrange(len(name.labels))
        name.labels[i:i] = [name.labels[i]] * rng.choice((1, 2, 10, 40))


def dot_in_label(message: Message, rng: random.Random) -> None:
    """Two labels as one with a `.` (or `\\`, a space...) between: `nginx.demo` as one label
    must never read as the two."""
    name = _any_name(message, rng)
    labels = name.labels
    if len(labels) >= 2 and rng.random() < 0.6:
        i = rng.randrange(len(labels) - 1)
        joint = bytes([rng.choice(b".\\")])
        text = labels[i][1:] + joint + labels[i + 1][1:]
        labels[i : i + 2] = [bytes([min(len(text), 63)]) + text[:63]]
    elif labels:
        i = rng.randrange(len(labels))
        odd = bytearray(labels[i][1:])
        odd.insert(rng.randint(0, len(odd)), rng.choice(ODD_BYTES))
        labels[i] = bytes([min(len(odd), 63)]) + bytes(odd[:63])


def label_length(message: Message, rng: random.Random) -> None:
    """A label of 63 or 64 bytes, or a length byte that lies (too long, too short, or with
    the reserved label types' high bits)."""
    name = _any_name(message, rng)
    if not name.labels:
        name.labels.append(b"\x01x")
    i = rng.randrange(len(name.labels))
    label = name.labels[i]
    size = len(label) - 1
    choice = rng.randrange(4)
    if choice == 0:
        text = (label[1:] * 64)[: rng.choice((63, 64))] or b"x" * 63
        name.labels[i] = bytes([len(text)]) + text  # 64: reads as label type 0x40
    elif choice == 1:
        name.labels[i] = bytes([(size + rng.choice((-2, -1, 1, 2, 30))) % 64]) + label[1:]
    elif choice == 2:
        name.labels[i] = bytes([rng.choice((0x40, 0x80)) | size & 0x3F]) + label[1:]
    else:
        name.labels[i] = b"\x00" + label[1:]  # a root label in the middle


def long_name(message: Message, rng: random.Random) -> None:
    """A name of 250 to 300 bytes on the wire (root included), around the limit of 255."""
    name = _any_name(message, rng)
    target = rng.choice((253, 254, 255, 256, 257, 300))
    labels = list(name.labels)
    size = sum(map(len, labels)) + 1
    while size < target:
        room = min(63, target - size - 1)
        if room <= 0:
            labels.insert(0, b"\x01z")
            break
        labels.insert(0, bytes([room]) + b"y" * room)
        size += room + 1
    name.labels = labels


def root_name(message: Message, rng: random.Random) -> None:
    name = _any_name(message, rng)
    name.labels = []
    name.end = b"\x00"


def pointer(message: Message, rng: random.Random) -> None:
    """End a name in a compression pointer (instead of its root, or of its last labels)."""
    name = _any_name(message, rng)
    if name.labels and rng.random() < 0.5:
        del name.labels[rng.randrange(len(name.labels)) :]
    name.end = Pointer(rng.choice(POINTER_KINDS), rng.random())


def chain(message: Message, rng: random.Random) -> None:
    """A chain of pointers in a record's data (of a type dnslib keeps as bytes), and a
    record after it whose owner (or a name in its data) starts down the chain."""
    length = rng.choice(CHAIN_LENGTHS)
    section = message.sections[rng.randrange(3)]
    holder = Record(Name([], Pointer("header", 0.0)), TYPE_PRIVATE, 1, 0, [Chain(length)])
    walker = Name([b"\x01w"] if rng.random() < 0.3 else [], Pointer("pointer", 1.0))
    if rng.random() < 0.5:
        after = Record(walker, 1, 1, 0, [b"\x0a\x00\x00\x01"])
    else:
        after = Record(Name([], Pointer("name", 0.0)), 5, 1, 0, [walker])  # a CNAME's data
    section.insert(rng.randint(0, len(section)), holder)
    section.insert(section.index(holder) + 1, after)


def add_record(message: Message, rng: random.Random) -> None:
    """A record in a query: an address, or a type whose data holds names (the walk before
    dnslib must follow those too)."""
    section = message.sections[rng.randrange(3)]
    owner = Name([], Pointer("name", 0.0)) if rng.random() < 0.7 else Name.of("x.demo")
    rtype = rng.choice([*NAME_TYPES, NAPTR, 1, 28, 16, 250, 0])
    data: list[Piece]
    target = Name([b"\x03tgt"], Pointer(rng.choice(POINTER_KINDS), rng.random()))
    if rtype in NAME_TYPES:
        skip, names = NAME_TYPES[rtype]
        data = [bytes(skip), *(copy.deepcopy(target) for _ in range(names))]
        if rtype == 6:
            data.append(bytes(20))
    elif rtype == NAPTR:
        data = [b"\x00\x01\x00\x02", b"\x01u", b"\x07E2U+sip", b"\x00", target]
    else:
        data = [bytes(rng.choice((0, 4, 16)))]
    section.insert(rng.randint(0, len(section)), Record(owner, rtype, 1, 30, data))


def rdlength(message: Message, rng: random.Random) -> None:
    records = [r for s in message.sections for r in s]
    if records:
        record = rng.choice(records)
        record.rdlength = rng.choice((0, 1, 3, 255, 1000, 65535))


def opt_add_or_remove(message: Message, rng: random.Random) -> None:
    opts = _opts(message)
    if opts and rng.random() < 0.5:
        for records in message.sections:
            records[:] = [r for r in records if r.rtype != TYPE_OPT]
    else:
        message.sections[2].append(_new_opt(rng))


def opt_placement(message: Message, rng: random.Random) -> None:
    """Two OPTs, OPT in the answer or authority section, or a record after it."""
    opts = _opts(message)
    opt = opts[0] if opts else _new_opt(rng)
    choice = rng.randrange(3)
    if choice == 0:
        message.sections[2].append(copy.deepcopy(opt))
        if not opts:
            message.sections[2].append(opt)
    elif choice == 1:
        for records in message.sections:
            if opt in records:
                records.remove(opt)
        message.sections[rng.randrange(2)].append(opt)
    else:
        if not opts:
            message.sections[2].append(opt)
        rtype = rng.choice((250, 1, 24))  # TSIG, A, SIG
        message.sections[2].append(Record(Name.of("key.example"), rtype, 255, 0, [bytes(8)]))


def opt_fields(message: Message, rng: random.Random) -> None:
    """The OPT's owner, buffer size, extended rcode, version and flags."""
    opts = _opts(message) or [_new_opt(rng)]
    if opts[0] not in message.sections[2]:
        message.sections[2].append(opts[0])
    opt = rng.choice(opts)
    choice = rng.randrange(5)
    if choice == 0:
        opt.rclass = rng.choice(EDNS_SIZES)
    elif choice == 1:
        opt.ttl ^= 0x8000  # DO
    elif choice == 2:
        opt.ttl = opt.ttl & ~0xFF0000 | rng.choice((1, 2, 255)) << 16  # version
    elif choice == 3:
        opt.ttl = opt.ttl & 0xFFFFFF | rng.randrange(1, 256) << 24  # extended rcode
    else:
        opt.owner = rng.choice((Name.of("example"), Name([], Pointer("name", 0.0))))
    if rng.random() < 0.2:
        opt.ttl ^= rng.randrange(1, 0x8000)  # the Z flags


def opt_options(message: Message, rng: random.Random) -> None:
    """EDNS options: cookies of every length, client subnet right and wrong, padding, NSID,
    keepalive, unknown codes; and lengths that lie."""
    opts = _opts(message)
    if not opts:
        opts = [_new_opt(rng)]
        message.sections[2].append(opts[0])
    opt = rng.choice(opts)
    options = next((p for p in opt.data if isinstance(p, Options)), None)
    if options is None:
        options = Options()
        opt.data = [options]
    choice = rng.randrange(8)
    items = options.items
    if choice == 0:
        items.append((10, bytes(rng.choice((0, 7, 8, 9, 16, 24, 40, 41))), None))  # COOKIE
    elif choice == 1:
        family, prefix = rng.choice(((1, 24), (1, 33), (2, 56), (2, 129), (3, 8), (1, 0)))
        address = bytes((prefix + 7) // 8) if rng.random() < 0.8 else bytes(20)
        items.append((8, struct.pack("!HBB", family, prefix, 0) + address, None))  # ECS
    elif choice == 2:
        items.append((12, bytes(rng.choice((0, 1, 100, 468))), None))  # padding
    elif choice == 3:
        items.append((rng.choice((3, 11, 5, 15, 65001, 0, 65535)), bytes(rng.randrange(6)), None))
    elif choice == 4 and items:
        i = rng.randrange(len(items))
        code, data, _ = items[i]
        items[i] = (code, data, rng.choice((len(data) + 1, len(data) + 100, max(len(data) - 1, 0))))
    elif choice == 5:
        opt.data.append(bytes(rng.choice((1, 2, 3))))  # half an option header
    elif choice == 6 and items:
        del items[rng.randrange(len(items))]
    else:
        items.extend((rng.choice((10, 12, 8)), bytes(8), None) for _ in range(rng.choice((2, 50))))


STRUCTURAL: dict[str, tuple[Mutation, float]] = {
    "flag_bit": (flag_bit, 3),
    "qr_bit": (qr_bit, 1),
    "opcode": (opcode, 1),
    "rcode": (rcode, 1),
    "lying_count": (lying_count, 2),
    "qtype": (qtype, 4),
    "qclass": (qclass, 2),
    "questions": (questions, 1),
    "case": (case, 3),
    "add_label": (add_label, 3),
    "drop_label": (drop_label, 2),
    "repeat_label": (repeat_label, 1),
    "dot_in_label": (dot_in_label, 3),
    "label_length": (label_length, 3),
    "long_name": (long_name, 2),
    "root_name": (root_name, 1),
    "pointer": (pointer, 4),
    "chain": (chain, 2),
    "add_record": (add_record, 2),
    "rdlength": (rdlength, 1),
    "opt_add_or_remove": (opt_add_or_remove, 2),
    "opt_placement": (opt_placement, 2),
    "opt_fields": (opt_fields, 3),
    "opt_options": (opt_options, 3),
}


# Mutations of the bytes written


def truncate(data: bytes, rng: random.Random, seeds: Sequence[bytes]) -> bytes:
    return data[: rng.randrange(len(data) + 1)]


def append(data: bytes, rng: random.Random, seeds: Sequence[bytes]) -> bytes:
    return data + bytes(rng.randrange(256) for _ in range(rng.choice((1, 2, 11, 100))))


def flip(data: bytes, rng: random.Random, seeds: Sequence[bytes]) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        if out:
            value = rng.choice((0, 0x3F, 0x40, 0xC0, 0xFF, rng.randrange(256)))
            out[rng.randrange(len(out))] = value
    return bytes(out)


def splice(data: bytes, rng: random.Random, seeds: Sequence[bytes]) -> bytes:
    other = rng.choice(seeds)
    return data[: rng.randrange(len(data) + 1)] + other[rng.randrange(len(other) + 1) :]


BYTEWISE: dict[str, Callable[[bytes, random.Random, Sequence[bytes]], bytes]] = {
    "truncate": truncate,
    "append": append,
    "flip": flip,
    "splice": splice,
}
BYTEWISE_RATE = 0.1  # of packets


class Mutator:
    """Mutated copies of `seeds` (real queries), drawn from `rng`; `used` counts the
    mutations applied, by name."""

    def __init__(self, seeds: Sequence[bytes], rng: random.Random) -> None:
        self.seeds = list(seeds)
        self.messages = [parse(seed) for seed in self.seeds]
        self.rng = rng
        self.used: Counter[str] = Counter()
        self._names = list(STRUCTURAL)
        self._weights = [weight for _, weight in STRUCTURAL.values()]

    def mutate(self) -> bytes:
        rng = self.rng
        message = copy.deepcopy(rng.choice(self.messages))
        rounds = 1
        while rounds < 6 and rng.random() < 0.4:
            rounds += 1
        for name in rng.choices(self._names, self._weights, k=rounds):
            STRUCTURAL[name][0](message, rng)
            self.used[name] += 1
        data = write(message)
        if rng.random() < BYTEWISE_RATE:
            name = rng.choice(list(BYTEWISE))
            data = BYTEWISE[name](data, rng, self.seeds)
            self.used[name] += 1
        return data
