"""Zone transfers through what CoreDNS runs before its `transfer` plugin, over real TCP (and
UDP): acl's allow, block, filter and drop by `type AXFR|IXFR` and source, ahead of transfer's
own `to`; rewrite before acl, header's response flags on every message; acl's counters, the
request counted and logged once."""

from __future__ import annotations

import contextlib
import re
import socket
import time
from collections.abc import Iterator

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest
from dnslib import DNSRecord

from harness.http import metrics, value
from harness.paths import DEMO
from harness.query import query, transfer
from harness.server import ServerProcess, serving
from harness.wait import wait_for

ZONE = "cluster.local."
# transfer's `to` lets 127.0.0.1, .2 and 127.0.1.0/24 transfer, but acl decides first: .1
# transfers; .2: AXFR blocked, IXFR let by; .3: transfers filtered; .4: transfers and TXT
# dropped; .5: let by acl, not by `to`; .6: AXFR of cluster.local blocked (asked as
# kube.example., which rewrite makes it); any other source (127.0.1.1): blocked
COREFILE = """\
.:53 {
    log
    rewrite name exact kube.example. cluster.local.
    acl cluster.local {
        block type AXFR net 127.0.0.6
    }
    acl {
        block type AXFR net 127.0.0.2
        filter type AXFR IXFR net 127.0.0.3
        drop type AXFR IXFR TXT net 127.0.0.4
        allow net 127.0.0.0/24
        block
    }
    header {
        response set ra
    }
    kubernetes cluster.local in-addr.arpa ip6.arpa
    transfer {
        to 127.0.0.1 127.0.0.2 127.0.1.0/24
    }
    prometheus 127.0.0.1:0
}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[ServerProcess]:
    corefile = tmp_path_factory.mktemp("transfers") / "Corefile"
    corefile.write_text(COREFILE)
    with serving(["--conf", str(corefile), "--snapshot", str(DEMO)]) as process:
        yield process


def xfr(server: ServerProcess, source: str, rdtype: str = "AXFR", **options) -> list:
    """The messages of a transfer from `source` (dnspython checks the stream)."""
    return list(dns.query.xfr(server.host, ZONE, rdtype=rdtype, port=server.port,
                              source=source, lifetime=10, **options))  # fmt: skip


def over_tcp(server: ServerProcess, source: str, *asked: dns.message.Message) -> socket.socket:
    """A TCP connection from `source` with `asked` sent on it."""
    sock = socket.create_connection((server.host, server.port), timeout=5,
                                    source_address=(source, 0))  # fmt: skip
    for message in asked:
        dns.query.send_tcp(sock, message)
    return sock


def first_reply(sock: socket.socket) -> dns.message.Message:
    reply, _ = dns.query.receive_tcp(sock, expiration=time.time() + 5)
    return reply


def asked(name: str = ZONE, rdtype: str = "AXFR") -> dns.message.Message:
    return dns.message.make_query(name, rdtype, use_edns=0)


def serial_of(server: ServerProcess) -> int:
    return query(server, ZONE, "SOA", source="127.0.0.1").answer[0][0].serial


def extended(reply: dns.message.Message) -> list[int]:
    return [error.code for error in reply.extended_errors()]


def test_an_allowed_client_transfers_with_header_s_flags_on_every_message(server):
    messages = xfr(server, "127.0.0.1")
    records = [rr for m in messages for rrset in m.answer for rr in rrset]
    assert len(records) > 10 and records[0].rdtype == records[-1].rdtype == dns.rdatatype.SOA
    assert all(m.flags & dns.flags.RA and m.flags & dns.flags.AA for m in messages)


@pytest.mark.parametrize("rdtype", ["AXFR", "IXFR"])
def test_blocked_is_refused_with_extended_error_15(server, rdtype):
    for source in ("127.0.1.1",) + (("127.0.0.2",) if rdtype == "AXFR" else ()):
        with over_tcp(server, source, asked(rdtype=rdtype)) as sock:
            reply = first_reply(sock)
        assert (reply.rcode(), reply.answer) == (dns.rcode.REFUSED, [])
        assert extended(reply) == [dns.edns.EDECode.BLOCKED]


def test_a_type_rule_blocks_axfr_and_lets_ixfr_by(server):
    """`block type AXFR`: the same client's IXFR goes on to the transfer."""
    serial = serial_of(server)
    up_to_date = xfr(server, "127.0.0.2", "IXFR", serial=serial)
    assert [m.answer[0][0].rdtype for m in up_to_date] == [dns.rdatatype.SOA]
    assert len([rr for m in xfr(server, "127.0.0.2", "IXFR", serial=serial - 1)
                for rrset in m.answer for rr in rrset]) > 10  # fmt: skip


@pytest.mark.parametrize("rdtype", ["AXFR", "IXFR"])
def test_filtered_is_noerror_without_records_and_extended_error_17(server, rdtype):
    with over_tcp(server, "127.0.0.3", asked(rdtype=rdtype)) as sock:
        reply = first_reply(sock)
    assert (reply.rcode(), reply.answer, reply.authority) == (dns.rcode.NOERROR, [], [])
    assert extended(reply) == [dns.edns.EDECode.FILTERED]


def test_dropped_gets_nothing_and_the_connection_goes_on(server):
    """As CoreDNS: nothing written, and the next query on the connection is answered (a
    dropped plain query over TCP too)."""
    name = "nginx.demo.svc.cluster.local."
    after = dns.message.make_query(name, "A")
    with over_tcp(server, "127.0.0.4", asked(), asked(rdtype="IXFR"), asked(name, "TXT"),
                  after) as sock:  # fmt: skip
        reply = first_reply(sock)
    assert reply.id == after.id and reply.rcode() == dns.rcode.NOERROR and reply.answer


def test_acl_comes_before_transfer_s_own_to(server):
    with over_tcp(server, "127.0.0.5", asked()) as sock:
        reply = first_reply(sock)
    assert reply.rcode() == dns.rcode.REFUSED and extended(reply) == []


def test_rewrite_comes_before_acl(server):
    """kube.example. is cluster.local. once rewritten: acl's rule for that zone judges it,
    and an allowed client gets the zone under the name it asked."""
    with over_tcp(server, "127.0.0.6", asked("kube.example.")) as sock:
        reply = first_reply(sock)
    assert reply.rcode() == dns.rcode.REFUSED and extended(reply) == [dns.edns.EDECode.BLOCKED]
    with over_tcp(server, "127.0.0.6", asked()) as sock:  # (never rewritten: the same rule)
        assert extended(first_reply(sock)) == [dns.edns.EDECode.BLOCKED]
    messages = list(dns.query.xfr(server.host, "kube.example.", port=server.port,
                                  source="127.0.0.1", lifetime=10, relativize=False))  # fmt: skip
    assert {m.question[0].name.to_text() for m in messages} == {"kube.example."}
    assert messages[0].answer[0].rdtype == dns.rdatatype.SOA


def test_over_udp_acl_judges_first(server):
    reply = query(server, ZONE, "AXFR", source="127.0.1.1", use_edns=0)
    assert reply.rcode() == dns.rcode.REFUSED and extended(reply) == [dns.edns.EDECode.BLOCKED]
    with pytest.raises(dns.exception.Timeout):
        query(server, ZONE, "AXFR", source="127.0.0.4", timeout=0.5)
    plain = query(server, ZONE, "AXFR", source="127.0.0.1", use_edns=0)  # transfers are TCP's
    assert plain.rcode() == dns.rcode.REFUSED and extended(plain) == []


def test_counted_by_acl_and_as_requests_and_logged_once_as_coredns_does(server):
    messages = transfer(server, DNSRecord.question(ZONE, "AXFR"))  # from 127.0.0.1
    size = sum(m.wire_size for m in messages)
    for source in ("127.0.0.2", "127.0.0.3", "127.0.0.4"):
        over_tcp(server, source, asked()).close()
    with over_tcp(server, "127.0.0.2", asked()) as sock:
        first_reply(sock)  # (answered: the ones before it were judged)
    line = re.compile(rf'\[INFO\] 127\.0\.0\.1:\d+ - {messages[0].header.id} "AXFR IN '
                      rf'cluster\.local\. tcp \d+ false 65535" NOERROR qr,aa,rd,ra {size} [\d.]+s')
    wait_for(lambda: any(line.fullmatch(x.rstrip("\n")) for x in server.log),
             what="the transfer's one log line")
    samples = metrics(server)
    for counter in ("blocked", "filtered", "dropped"):
        assert value(samples, f"coredns_acl_{counter}_requests_total", zone=".") >= 1, counter
    assert value(samples, "coredns_acl_allowed_requests_total") >= 1
    assert value(samples, "coredns_dns_requests_total", type="AXFR", proto="tcp") >= 5
    assert value(samples, "coredns_dns_responses_total", plugin="transfer", rcode="NOERROR") >= 1


def test_over_udp_a_block_with_transfer_refuses_every_zone_transfer(tmp_path, upstream):
    """CoreDNS's transfer plugin returns REFUSED for AXFR or IXFR over UDP before it looks
    at its zones: a name the block forwards is refused too, never forwarded; other types of
    that name still are, and a block without `transfer` forwards the transfer as asked."""
    conf = tmp_path / "Corefile"
    conf.write_text(
        f".:53 {{\n    kubernetes cluster.local\n    transfer {{\n        to *\n    }}\n"
        f"    forward . {upstream.address}\n}}\n"
        f"example.org:53 {{\n    forward . {upstream.address}\n}}\n"
    )
    with serving(["--conf", str(conf), "--snapshot", str(DEMO)]) as server:
        for qtype in ("AXFR", "IXFR"):
            for name in ("example.com.", ZONE):
                reply = query(server, name, qtype, use_edns=0)
                assert reply.rcode() == dns.rcode.REFUSED and not reply.answer, (name, qtype)
                assert not reply.flags & dns.flags.AA
        assert not upstream.asked("example.com.")
        assert query(server, "example.com.", "A").rcode() == dns.rcode.NOERROR
        assert [q.qtype for q in upstream.asked("example.com.")] == [dns.rdatatype.A]
        with contextlib.suppress(dns.exception.Timeout):  # (whatever the upstream makes of it)
            query(server, "example.org.", "AXFR", timeout=0.5)
        wait_for(lambda: upstream.asked("example.org."), what="the AXFR forwarded")
