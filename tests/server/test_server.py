"""The real server process on a loopback port, asked over real UDP and TCP with dnspython."""

from __future__ import annotations

import socket
import struct

import dns.flags
import dns.message
import dns.opcode
import dns.query
import dns.rcode
import dns.rdatatype
import pytest
from dnslib import QTYPE, DNSHeader, DNSLabel, DNSQuestion, DNSRecord

from harness.query import query, raw_udp, rdatas, replies_before_probe
from harness.server import start_server, stop_server
from harness.snapshots import big_headless_snapshot

pytestmark = pytest.mark.usefixtures("demo_server")


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_statefulset_pod_name(demo_server, tcp):
    response = query(demo_server, "web-0.web.demo.svc.cluster.local.", tcp=tcp)
    assert response.rcode() == dns.rcode.NOERROR
    assert rdatas(response) == {"10.244.2.10"}
    assert response.flags & dns.flags.AA
    assert not response.flags & dns.flags.RA
    assert response.answer[0].ttl == 30


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_nxdomain_carries_soa(demo_server, tcp):
    response = query(demo_server, "nope.demo.svc.cluster.local.", tcp=tcp)
    assert response.rcode() == dns.rcode.NXDOMAIN
    assert [rrset.rdtype for rrset in response.authority] == [dns.rdatatype.SOA]
    assert response.authority[0][0].minimum == 30


def test_nodata_is_noerror_with_soa(demo_server):
    response = query(demo_server, "nginx.demo.svc.cluster.local.", "AAAA")
    assert response.rcode() == dns.rcode.NOERROR
    assert response.answer == []
    assert [rrset.rdtype for rrset in response.authority] == [dns.rdatatype.SOA]


def test_case_is_preserved(demo_server):
    response = query(demo_server, "NGINX.Demo.SVC.cluster.LOCAL.")
    assert response.answer[0].name.to_text() == "NGINX.Demo.SVC.cluster.LOCAL."
    assert response.question[0].name.to_text() == "NGINX.Demo.SVC.cluster.LOCAL."


def test_srv_with_additional(demo_server):
    response = query(demo_server, "_http._tcp.web.demo.svc.cluster.local.", "SRV")
    targets = {rd.target.to_text() for rd in response.answer[0]}
    assert targets == {f"web-{i}.web.demo.svc.cluster.local." for i in range(3)}
    glue = {(rrset.name.to_text(), rd.address) for rrset in response.additional for rd in rrset}
    assert glue == {(f"web-{i}.web.demo.svc.cluster.local.", f"10.244.2.1{i}") for i in range(3)}


def test_ptr(demo_server):
    response = query(demo_server, "34.12.96.10.in-addr.arpa.", "PTR")
    assert rdatas(response) == {"nginx.demo.svc.cluster.local."}


def test_edns_is_echoed_and_absent_without_it(demo_server):
    with_edns = query(demo_server, "nginx.demo.svc.cluster.local.", use_edns=0, payload=1232)
    assert with_edns.edns == 0 and with_edns.payload == 1232
    without = query(demo_server, "nginx.demo.svc.cluster.local.")
    assert without.edns == -1


def test_many_queries_on_one_tcp_connection(demo_server):
    with socket.create_connection((demo_server.host, demo_server.port), timeout=10) as sock:
        names = ["nginx", "web", "api", "kubernetes.default", "orders"]
        for i, name in enumerate(names * 4):
            fqdn = f"{name}.svc.cluster.local." if "." in name else f"{name}.demo.svc.cluster.local."
            msg = dns.message.make_query(fqdn, "A")
            msg.id = i
            dns.query.send_tcp(sock, msg)
            response, _ = dns.query.receive_tcp(sock)
            assert response.id == i
            assert response.rcode() == dns.rcode.NOERROR
            assert response.answer


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_replies_copy_the_query_s_rd_and_cd_bits(demo_server, tcp):
    """As miekg's SetReply (and SetRcode) writes every CoreDNS reply: the query's RD and CD,
    from the slow path (a name's first reply, SERVFAIL where no plugin answers) and from the
    wire answers (the same names again), for records, NODATA and NXDOMAIN alike."""
    bits = dns.flags.RD | dns.flags.CD
    protocol = "tcp" if tcp else "udp"
    names = [(f"{protocol}-cd.nope.demo.svc.cluster.local.", "A"),
             (f"{protocol}-cd.example.com.", "A"),
             ("nginx.demo.svc.cluster.local.", "A"), ("nginx.demo.svc.cluster.local.", "TXT")]
    for flags in (dns.flags.CD, bits, dns.flags.CD, dns.flags.RD, 0, dns.flags.CD):
        for name, qtype in names:
            reply = query(demo_server, name, qtype, tcp=tcp, flags=flags)
            assert reply.flags & bits == flags, (name, qtype)


def test_a_name_no_plugin_of_its_block_answers_is_servfail(demo_server):
    """The test Corefile's block serves `.` with no `forward`: example.com is the block's,
    and its chain ends with no plugin to answer, SERVFAIL as CoreDNS's NextOrFailure (musl
    would wait out its timeout on REFUSED)."""
    response = query(demo_server, "example.com.")
    assert response.rcode() == dns.rcode.SERVFAIL


def test_a_name_no_server_block_serves_is_refused(tmp_path):
    corefile = tmp_path / "Corefile"
    corefile.write_text("cluster.local:53 {\n    kubernetes\n}\n")
    server = start_server(["--conf", str(corefile)])
    try:
        assert query(server, "example.com.").rcode() == dns.rcode.REFUSED
        assert query(server, "nginx.demo.svc.cluster.local.").rcode() == dns.rcode.NOERROR
    finally:
        stop_server(server)


def test_udp_truncation_sets_tc_and_tcp_gets_everything(tmp_path, test_corefile):
    path = big_headless_snapshot(tmp_path, endpoints=100)
    server = start_server(["--conf", str(test_corefile), "--snapshot", str(path)])
    try:
        udp = query(server, "big.demo.svc.cluster.local.")
        assert udp.flags & dns.flags.TC
        assert len(udp.to_wire()) <= 512
        # EDNS 4096 asked, 1232 answered (no amplification): as many whole records as fit
        edns = query(server, "big.demo.svc.cluster.local.", use_edns=0, payload=4096)
        assert edns.flags & dns.flags.TC and edns.payload == 1232
        assert len(edns.to_wire()) <= 1232 and 60 < len(rdatas(edns)) < 100
        tcp = query(server, "big.demo.svc.cluster.local.", tcp=True)
        assert not tcp.flags & dns.flags.TC and len(rdatas(tcp)) == 100
    finally:
        stop_server(server)


def test_malformed_packets(demo_server):
    # too short for a header: dropped
    assert replies_before_probe(demo_server, b"\x12\x34\x01") == []
    # a header alone, promising a question: miekg reads no question and no error, and
    # CoreDNS's server answers a message without a question SERVFAIL (SetRcode: RD kept)
    reply = raw_udp(demo_server, struct.pack("!HHHHHH", 0xBEEF, 0x0100, 1, 0, 0, 0))
    assert reply == struct.pack("!HHHHHH", 0xBEEF, 0x8100 | dns.rcode.SERVFAIL, 0, 0, 0, 0)
    # counts miekg's DefaultMsgAcceptFunc rejects, before reading on: FORMERR, no question
    for counts in [(0, 0, 0, 0), (2, 0, 0, 0), (1, 2, 0, 0), (1, 0, 2, 0), (1, 0, 0, 3)]:
        asked = dns.message.make_query("nginx.demo.svc.cluster.local.", "A").to_wire()
        reply = raw_udp(demo_server, asked[:4] + struct.pack("!HHHH", *counts) + asked[12:])
        assert reply == asked[:2] + struct.pack("!HHHHH", 0x8101, 0, 0, 0, 0), counts
    # a response sent to us is never answered
    assert replies_before_probe(demo_server, struct.pack("!HHHHHH", 1, 0x8180, 0, 0, 0, 0)) == []
    # an opcode we do not implement
    notify = dns.message.make_query("cluster.local.", "SOA")
    notify.set_opcode(dns.opcode.NOTIFY)
    reply = raw_udp(demo_server, notify.to_wire())
    assert reply is not None and struct.unpack("!H", reply[2:4])[0] & 0xF == dns.rcode.NOTIMP
    # and the server still answers
    assert query(demo_server, "nginx.demo.svc.cluster.local.").rcode() == dns.rcode.NOERROR


def test_rejected_messages_keep_the_query_header_as_miekg_does(demo_server):
    """FORMERR and NOTIMP are written on the query's own header (miekg's MsgReject):
    TC, RD, RA, AD and CD kept, AA and Z cleared, opcode QUERY for FORMERR."""
    every_bit = 0x0400 | 0x0200 | 0x0100 | 0x0080 | 0x0040 | 0x0020 | 0x0010  # AA ... CD
    kept = every_bit & ~0x0400 & ~0x0040
    # a question that runs past the end of the message
    cut = struct.pack("!HHHHHH", 0xF00D, every_bit, 1, 0, 0, 0) + b"\x05ngi"
    reply = raw_udp(demo_server, cut)
    assert reply is not None
    assert struct.unpack("!HH", reply[:4]) == (0xF00D, 0x8000 | kept | dns.rcode.FORMERR)
    # a question that reads, then a record that does not (its data runs past the end):
    # FORMERR keeps the question miekg read, as asked
    asked = dns.message.make_query("NGINX.demo.svc.cluster.local.", "A", use_edns=0).to_wire()
    question_end = 12 + len(b"\x05NGINX\x04demo\x03svc\x07cluster\x05local\x00") + 4
    cut = asked[:-2] + b"\x00\x09"  # the OPT's rdlength: 9 bytes that are not there
    reply = raw_udp(demo_server, cut)
    assert reply == (asked[:2] + struct.pack("!HHHHH", 0x8101, 1, 0, 0, 0)
                     + asked[12:question_end])  # fmt: skip
    # an opcode we do not implement (STATUS) keeps it
    status = dns.message.make_query("cluster.local.", "SOA")
    status.set_opcode(dns.opcode.STATUS)
    wire = bytearray(status.to_wire())
    wire[2:4] = (struct.unpack("!H", wire[2:4])[0] | every_bit).to_bytes(2)
    reply = raw_udp(demo_server, bytes(wire))
    assert reply is not None
    assert struct.unpack("!H", reply[2:4])[0] == 0x8000 | 0x1000 | kept | dns.rcode.NOTIMP


@pytest.mark.parametrize("name", ["nginx.demo.svc.cluster.local.", "example.com."])
def test_unknown_edns_version_gets_badvers(demo_server, name):
    for _ in range(2):  # the second time too: a BADVERS is never served from a cache
        response = query(demo_server, name, use_edns=1)
        assert response.rcode() == dns.rcode.BADVERS
        assert response.edns == 0 and response.answer == []
    assert query(demo_server, name, use_edns=0).rcode() != dns.rcode.BADVERS


def test_two_opt_records_are_formerr(demo_server):
    wire = dns.message.make_query("nginx.demo.svc.cluster.local.", "A", use_edns=0).to_wire()
    opt = wire[-11:]  # the OPT record dnspython appends (no options)
    doubled = wire[:10] + struct.pack("!H", 2) + wire[12:] + opt
    reply = raw_udp(demo_server, doubled)
    assert reply is not None and struct.unpack("!H", reply[2:4])[0] & 0xF == dns.rcode.FORMERR


def labelled_query(labels: list[bytes], qtype: str = "A") -> bytes:
    """A query whose name is exactly these labels (dots inside a label included)."""
    question = DNSQuestion(DNSLabel(labels), getattr(QTYPE, qtype))
    return bytes(DNSRecord(DNSHeader(id=0x5EED, rd=1), q=question).pack())


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_a_dot_inside_a_label_is_not_a_label_boundary(demo_server, tcp):
    """`web-0.web.demo` as one label under svc.cluster.local is a name no one has (NXDOMAIN),
    not web-0's address; the whole service name as one label is not in the cluster zone."""
    for _ in range(2):  # the second time from the wire cache
        inside = dns.message.from_wire(send(demo_server, labelled_query(
            [b"web-0.web.demo", b"svc", b"cluster", b"local"]), tcp))
        assert inside.rcode() == dns.rcode.NXDOMAIN and not inside.answer
        assert inside.question[0].name.labels[0] == b"web-0.web.demo"  # echoed as asked
        whole = dns.message.from_wire(send(demo_server, labelled_query(
            [b"nginx.demo.svc.cluster.local"]), tcp))
        assert whole.rcode() == dns.rcode.SERVFAIL and not whole.answer  # the "." block's, no forward
    plain = query(demo_server, "web-0.web.demo.svc.cluster.local.", tcp=tcp)
    assert rdatas(plain) == {"10.244.2.10"}


def send(server, data: bytes, tcp: bool) -> bytes:
    if tcp:
        with socket.create_connection((server.host, server.port), timeout=5) as sock:
            sock.sendall(struct.pack("!H", len(data)) + data)
            (length,) = struct.unpack("!H", sock.recv(2, socket.MSG_WAITALL))
            return sock.recv(length, socket.MSG_WAITALL)
    reply = raw_udp(server, data)
    assert reply is not None
    return reply
