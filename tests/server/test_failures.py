"""One bad query gets SERVFAIL, a count and a bounded log, never silence: the guard in the
query handler, the rate-limited panic log, and a real case that used to raise (an SRV target
from a pod name too long to be a label)."""

from __future__ import annotations

import logging

import dns.message
import dns.rcode
import pytest
from dnslib import QTYPE, RCODE, DNSRecord

from clusterdns.metrics.panics import PanicLog
from clusterdns.metrics.requests import PANICS
from harness.exploding import Exploding
from harness.paths import DEMO
from harness.query import query
from harness.resolvers import handler_for, make_resolver, state_from_file
from harness.server import start_server, stop_server
from harness.snapshots import endpoint, endpoint_slice, namespace, service, write_snapshot
from harness.wire import Variant, wire_query


@pytest.fixture
def handler():
    demo = make_resolver(state_from_file(DEMO))
    return handler_for(Exploding(demo.index, demo.settings))


def test_an_exception_inside_is_servfail_with_the_question_counted_and_logged(handler, caplog):
    before = PANICS.value()
    with caplog.at_level(logging.ERROR, logger="clusterdns.server"):
        reply = handler.handle(wire_query("boom.demo.svc.cluster.local.", "A", Variant(), 7), False)
    parsed = DNSRecord.parse(reply)
    assert (parsed.header.id, parsed.header.rcode, parsed.header.qr) == (7, RCODE.SERVFAIL, 1)
    assert str(parsed.q.qname) == "boom.demo.svc.cluster.local." and parsed.q.qtype == QTYPE.A
    assert PANICS.value() == before + 1
    assert any(r.getMessage().endswith("answered SERVFAIL: RuntimeError: a bug met by one "
                                       "query") for r in caplog.records)  # fmt: skip
    # the next query is answered as ever
    fine = DNSRecord.parse(handler.handle(wire_query("nginx.demo.svc.cluster.local.", "A",
                                                     Variant(), 8), False))
    assert fine.header.rcode == RCODE.NOERROR and fine.rr


def test_a_response_that_sets_off_a_bug_is_still_never_answered(handler):
    data = bytearray(wire_query("boom.demo.svc.cluster.local.", "A", Variant(), 9))
    data[2] |= 0x80  # QR: a response sent to us
    assert handler.handle(bytes(data), False) is None


def test_a_flood_of_failures_logs_a_few_lines_and_then_how_many(caplog):
    log = logging.getLogger("clusterdns.test.panics")
    panics = PanicLog(log, interval=3600.0, burst=3)
    with caplog.at_level(logging.ERROR, logger="clusterdns.test.panics"):
        for _ in range(1000):
            try:
                raise ValueError("again")
            except ValueError:
                panics.record("failed")
        assert len(caplog.records) == 3
        panics.interval = 0.0  # the window ends: the next failure reports the rest
        try:
            raise ValueError("once more")
        except ValueError:
            panics.record("failed")
    assert "997 more internal errors" in caplog.records[3].getMessage()
    assert len(caplog.records) == 5


def test_a_pod_name_too_long_for_a_label_gives_the_dashed_ip_not_a_lost_query(tmp_path):
    long_pod = "x" * 70
    snapshot = write_snapshot(tmp_path / "cluster.yaml", [
        namespace("demo"),
        service("demo", "db", None, [("pg", "TCP", 5432)]),
        endpoint_slice("demo", "db", "db-1", [endpoint("10.244.9.9", pod=long_pod)],
                       [("pg", "TCP", 5432)]),
    ])
    corefile = tmp_path / "Corefile"
    corefile.write_text(".:53 {\n    kubernetes cluster.local {\n        endpoint_pod_names\n"
                        "    }\n}\n")
    server = start_server(["--conf", str(corefile), "--snapshot", str(snapshot)])
    try:
        reply = query(server, "_pg._tcp.db.demo.svc.cluster.local.", "SRV")
        assert reply.rcode() == dns.rcode.NOERROR
        (srv,) = [rd for rrset in reply.answer for rd in rrset]
        assert srv.target.to_text() == "10-244-9-9.db.demo.svc.cluster.local."
    finally:
        stop_server(server)


def test_dns_message_of_a_servfail_parses(handler):
    reply = handler.handle(wire_query("boom.demo.svc.cluster.local.", "SRV", Variant(edns=1232), 3),
                           True)
    assert dns.message.from_wire(reply).rcode() == dns.rcode.SERVFAIL
