"""Relaying replies as bytes: layout, rendering for another client, truncation, loadbalance."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.rcode
import pytest
from dnslib import AAAA, EDNS0, QTYPE, RCODE, RR, SOA, A, DNSRecord

from clusterdns.dns.packet import (
    PacketError,
    failure,
    opt_record,
    render,
    scan,
    soa_minimum,
    ttl_of,
    without_opt,
)
from clusterdns.plugins.loadbalance import shuffle_addresses


def reply(
    name: str = "www.example.com", count: int = 3, extra: bool = True, edns: bool = True
) -> bytes:
    record = DNSRecord.question(name, "A").reply(ra=1, aa=1)
    for i in range(count):
        record.add_answer(RR(name, QTYPE.A, ttl=300 + i, rdata=A(f"192.0.2.{i}")))
    record.add_auth(RR("example.com", QTYPE.SOA, ttl=60, rdata=SOA("ns.", "h.", (1, 2, 3, 4, 30))))
    if extra:
        record.add_ar(RR("ns.example.com", QTYPE.A, ttl=10, rdata=A("198.51.100.1")))
    if edns:
        record.add_ar(EDNS0(udp_len=1232))
    return bytes(record.pack())


def query(name: str, edns: int | None = None, rd: bool = True) -> bytes:
    message = dns.message.make_query(name, "A", use_edns=0 if edns else False, payload=edns or 512)
    if not rd:
        message.flags &= ~dns.flags.RD
    message.id = 0xBEEF
    return message.to_wire()


def test_scan_finds_every_record():
    data = reply()
    layout = scan(data)
    assert [(r.section, r.rtype) for r in layout.records] == [
        (0, 1),
        (0, 1),
        (0, 1),
        (1, 6),
        (2, 1),
        (2, 41),
    ]
    assert [ttl_of(data, r) for r in layout.records[:3]] == [300, 301, 302]
    assert soa_minimum(data, layout.records[3]) == 30
    # names seen before are one pointer; the glue's owner has a label of its own
    assert [r.pointer_owner for r in layout.records[:5]] == [True, True, True, True, False]


@pytest.mark.parametrize("cut", [5, 13, 30, 60])
def test_scan_refuses_cut_messages(cut):
    with pytest.raises(PacketError):
        scan(reply()[:cut])


def test_without_opt_drops_opt_only():
    data = reply()
    stripped, layout = without_opt(data, scan(data))
    assert [r.rtype for r in layout.records] == [1, 1, 1, 6, 1]
    assert dns.message.from_wire(stripped).edns == -1
    assert scan(stripped) == layout


def test_render_for_another_client():
    stripped, layout = without_opt(reply(), scan(reply()))
    asked = query("WWW.example.COM.", edns=4096, rd=False)
    out = dns.message.from_wire(
        render(stripped, layout, asked, 42, clear_aa=True, opt=opt_record(4096, False), limit=4096)
    )
    assert out.id == 0xBEEF and out.question[0].name.to_text() == "WWW.example.COM."
    assert (
        not out.flags & dns.flags.AA and not out.flags & dns.flags.RD and out.flags & dns.flags.RA
    )
    assert {
        rrset.ttl for section in (out.answer, out.authority, out.additional) for rrset in section
    } == {42}
    assert out.answer[0].name.to_text() == "WWW.example.COM."  # pointers lead into the question
    assert out.edns == 0 and out.payload == 4096  # the OPT given, as given


def test_render_keeps_ttls_and_aa_when_relaying_as_is():
    stripped, layout = without_opt(reply(), scan(reply()))
    out = dns.message.from_wire(
        render(
            stripped, layout, query("www.example.com."), None, clear_aa=False, opt=b"", limit=512
        )
    )
    assert out.flags & dns.flags.AA and out.flags & dns.flags.RD
    assert sorted(rrset.ttl for rrset in out.answer) == [300]  # dnspython merges to the lowest
    assert out.edns == -1


def test_render_drops_additional_before_truncating():
    stripped, layout = without_opt(reply(count=20), scan(reply(count=20)))
    full = render(
        stripped, layout, query("www.example.com."), None, clear_aa=False, opt=b"", limit=65535
    )
    without_glue = len(full) - (layout.records[-1].end - layout.records[-1].start)
    out = render(
        stripped,
        layout,
        query("www.example.com."),
        None,
        clear_aa=False,
        opt=b"",
        limit=without_glue,
    )
    parsed = dns.message.from_wire(out)
    assert not parsed.flags & dns.flags.TC and len(parsed.answer[0]) == 20 and not parsed.additional


def test_render_truncates_to_the_answers_that_fit():
    stripped, layout = without_opt(reply(count=60), scan(reply(count=60)))
    opt = opt_record(600, True)
    out = render(
        stripped,
        layout,
        query("www.example.com.", edns=600),
        None,
        clear_aa=False,
        opt=opt,
        limit=600,
    )
    parsed = dns.message.from_wire(out)
    assert len(out) <= 600 and parsed.flags & dns.flags.TC
    assert 30 < len(parsed.answer[0]) < 60 and not parsed.authority
    assert parsed.edns == 0 and parsed.ednsflags & dns.flags.DO


def test_shuffle_permutes_addresses_only():
    data = reply(count=6)
    orders = set()
    for _ in range(50):
        out = dns.message.from_wire(shuffle_addresses(data))
        orders.add(tuple(rd.address for rd in out.answer[0]))
        assert out.authority and out.additional
    assert len(orders) > 1
    assert all(sorted(order) == [f"192.0.2.{i}" for i in range(6)] for order in orders)


def test_shuffle_leaves_mixed_families_and_failures_alone():
    record = DNSRecord.question("x.example", "ANY").reply()
    record.add_answer(RR("x.example", QTYPE.A, rdata=A("192.0.2.1")))
    record.add_answer(RR("x.example", QTYPE.AAAA, rdata=AAAA("2001:db8::1")))
    mixed = bytes(record.pack())
    assert shuffle_addresses(mixed) == mixed
    failed = bytearray(reply(count=5))
    failed[3] = (failed[3] & 0xF0) | RCODE.SERVFAIL
    assert shuffle_addresses(bytes(failed)) == bytes(failed)
    assert dns.rcode.from_flags(failed[2] << 8 | failed[3], 0) == dns.rcode.SERVFAIL


def test_failure_carries_the_question_and_opt():
    asked = query("Down.Example.", edns=1232)
    out = dns.message.from_wire(failure(asked, RCODE.SERVFAIL, opt_record(1232, False)))
    assert out.id == 0xBEEF and out.rcode() == dns.rcode.SERVFAIL
    assert out.question[0].name.to_text() == "Down.Example." and out.flags & dns.flags.RD
    assert not out.answer and out.edns == 0 and out.payload == 1232
