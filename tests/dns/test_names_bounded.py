"""Hostile names cost no more than a walk over their bytes: pointer chains, loops and forward
pointers, names past 255 bytes, unknown label types, in the question or in a record's data,
are FORMERR before dnslib follows a single pointer (its decoder recurses per pointer)."""

from __future__ import annotations

import struct

import pytest
from dnslib import RCODE, DNSRecord

from clusterdns.dns.message import Reject, check_names, parse_query
from harness.paths import DEMO
from harness.resolvers import handler_for, make_resolver, state_from_file

HEADER = struct.Struct("!HHHHHH")


def message(body: bytes, questions: int = 1, authority: int = 0, additional: int = 0) -> bytes:
    return HEADER.pack(0x4242, 0x0100, questions, 0, authority, additional) + body


def chain(hops: int) -> bytes:
    """A query for `a.` with two additional records: the first's data is `hops` pointers,
    each to the one before (the first to `a.`), the second's owner a pointer to the last.
    Every pointer points backwards: only a bound on hops ends the walk early."""
    question = b"\x01a\x00\x00\x01\x00\x01"  # at offset 12
    data_at = HEADER.size + len(question) + 1 + 10  # after the first record's root owner
    pointers = b"".join(
        struct.pack("!H", 0xC000 | (12 if i == 0 else data_at + 2 * (i - 1))) for i in range(hops)
    )
    blob = b"\x00" + struct.pack("!HHIH", 0xFF00, 1, 0, len(pointers)) + pointers  # private type
    last = data_at + 2 * (hops - 1)
    owner = struct.pack("!H", 0xC000 | last) + struct.pack("!HHIH", 1, 1, 0, 0)
    return message(question + blob + owner, additional=2)


CASES = {
    "a 3000-hop pointer chain": chain(3000),
    "a pointer to itself": message(b"\xc0\x0c\x00\x01\x00\x01"),
    "a pointer forwards": message(b"\xc0\x20\x00\x01\x00\x01" + b"\x00" * 30),
    # no name comes before the question's: a pointer there reads the header, whose bytes
    # differ in the reply that copies the question (found by `make fuzz`)
    "a pointer in the question into the header": message(b"\x01a\xc0\x02\x00\x01\x00\x01"),
    "a pointer into the question's own label": message(b"\x04\x01b\x00x\xc0\x0d\x00\x01\x00\x01"),
    "a name of 320 bytes": message(b"".join(b"\x3f" + b"x" * 63 for _ in range(5)) + b"\x00\x00\x01\x00\x01"),
    "an extended label type": message(b"\x41" + b"x" * 65 + b"\x00\x00\x01\x00\x01"),
    "a chain in an SOA's data": message(
        b"\x01a\x00\x00\xfb\x00\x01"  # a. IXFR
        + b"\xc0\x0c\x00\x06\x00\x01\x00\x00\x00\x00\x00\x06" + b"\xc0\x2c" * 3,  # mname → itself
        authority=1,
    ),
}


@pytest.mark.parametrize("data", CASES.values(), ids=CASES.keys())
def test_a_hostile_name_is_formerr_and_dnslib_never_sees_it(data):
    with pytest.raises(ValueError):
        check_names(data)
    with pytest.raises(Reject) as rejected:
        parse_query(data)
    assert rejected.value.reply is not None
    assert DNSRecord.parse(rejected.value.reply).header.rcode == RCODE.FORMERR


def test_the_server_answers_them_formerr_and_goes_on():
    handler = handler_for(make_resolver(state_from_file(DEMO)))
    for data in CASES.values():
        for over_tcp in (False, True):
            reply = handler.handle(data, over_tcp)
            assert reply is not None and DNSRecord.parse(reply).header.rcode == RCODE.FORMERR


def test_dnslib_alone_would_recurse_on_the_chain():
    """Why the bound comes first: dnslib's decoder recurses once per pointer."""
    with pytest.raises(RecursionError):
        DNSRecord.parse(chain(3000))


def test_a_legitimate_compressed_name_passes():
    # a. then b.a. as a label and a pointer back to a.
    data = message(b"\x01a\x00\x00\x01\x00\x01" + b"\x01b\xc0\x0c\x00\x01\x00\x01", questions=2)
    check_names(data)
