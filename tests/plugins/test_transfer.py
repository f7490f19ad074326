"""AXFR/IXFR through the real server: CoreDNS's transfer stream (plugins/kubernetes/xfr.py)
over TCP, to allowed clients only. The stream is not the dump, which lists every name the
server answers: these tests hold the server's AXFR to the stream made here from the same
snapshot, and `dump --from-server` to what the AXFR carried."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest
from dnslib import QTYPE, RCODE, RR, SOA, A, DNSRecord

from clusterdns.audit.axfr import AXFR_CARRIES, TransferError, fetch_zone
from clusterdns.audit.zonefile import normalized, read_dump, zone_lines
from clusterdns.dns.zone import Record, with_serial
from clusterdns.plugins.kubernetes.xfr import ClusterZones
from clusterdns.plugins.transfer import TransferConfig, ZoneTransfer, is_transfer
from harness.dig import dig
from harness.dumps import cli, record_set
from harness.paths import DEMO
from harness.query import query, transfer
from harness.resolvers import make_resolver, state_from_file
from harness.server import ServerProcess, start_server, stop_server
from harness.snapshots import big_headless_snapshot

COREFILE = """\
.:53 {
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        pods insecure
        ttl 30
    }
    transfer %s {
        to %s
    }
}
"""
ZONE = "cluster.local."


def serve(tmp_path: Path, snapshot: Path, to: str = "127.0.0.1", zones: str = "") -> ServerProcess:
    conf = tmp_path / f"Corefile-{to.replace('/', '_')}"
    conf.write_text(COREFILE % (zones, to))
    return start_server(["--conf", str(conf), "--snapshot", str(snapshot)])


@pytest.fixture(scope="module")
def allowed(tmp_path_factory) -> Iterator[ServerProcess]:
    server = serve(tmp_path_factory.mktemp("xfr"), DEMO, "10.0.0.0/8 127.0.0.0/8")
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> Iterator[tuple[ServerProcess, Path]]:
    directory = tmp_path_factory.mktemp("big")
    snapshot = big_headless_snapshot(directory, 3000)
    server = serve(directory, snapshot, "*")
    yield server, snapshot
    stop_server(server)


def serial_of(server: ServerProcess) -> int:
    return query(server, ZONE, "SOA").answer[0][0].serial


def ixfr(serial: int) -> DNSRecord:
    request = DNSRecord.question(ZONE, "IXFR")
    request.add_auth(RR(ZONE, QTYPE.SOA, rdata=SOA("ns.dns." + ZONE, "hostmaster." + ZONE, (serial, 0, 0, 0, 0))))
    return request


def local_transfer(snapshot: Path) -> list[Record]:
    """The transfer of the server's zone made here from the same snapshot (the servers of
    this module run COREFILE, whose kubernetes options are make_resolver's defaults), in
    order, in the form dumps are compared in, the SOA serial 0."""
    records = ClusterZones(make_resolver(state_from_file(snapshot))).records(ZONE)
    return [comparable(r) for r in records]


def comparable(record: Record) -> Record:
    return normalized(with_serial(record, 0) if record.rtype == "SOA" else record)


def dumped(path: Path) -> list[Record]:
    return [comparable(r) for r in read_dump(path).records]


@pytest.mark.root(tools=["dig"])
def test_dig_axfr_gives_the_transfer_stream(allowed, tmp_path):
    out = dig(ZONE, "AXFR", server=allowed)
    (tmp_path / "dig.zone").write_text(out)
    expected = local_transfer(DEMO)
    assert f"XFR size: {len(expected)} records (messages 1" in out
    assert dumped(tmp_path / "dig.zone") == expected
    # fewer names than the dump, which lists every name the server answers
    assert cli("dump", "--snapshot", DEMO, "-o", tmp_path / "dump.zone").exit_code == 0
    assert {r.name for r in expected} < {r[0] for r in record_set(tmp_path / "dump.zone")}
    assert cli("diff", tmp_path / "dig.zone", tmp_path / "dump.zone").exit_code == 1


def test_dump_from_server_writes_what_the_axfr_carried(allowed):
    address = f"{allowed.host}:{allowed.port}"
    remote = cli("dump", "--from-server", address, "--stable")
    assert remote.exit_code == 0, remote.stderr
    assert remote.stdout == "".join(zone_lines(local_transfer(DEMO), ZONE, None))
    header = cli("dump", "--from-server", address).stdout.splitlines()[1]
    assert header == f"; source: AXFR from {address} (a zone transfer: {AXFR_CARRIES})"


def test_refused_for_a_client_not_allowed(tmp_path):
    server = serve(tmp_path, DEMO, "192.0.2.0/24")
    try:
        (reply,) = transfer(server, DNSRecord.question(ZONE, "AXFR"))
        assert reply.header.rcode == RCODE.REFUSED and not reply.rr
        with pytest.raises(TransferError, match=r"transfer of cluster.local. refused \(REFUSED\)"):
            fetch_zone(server.host, server.port, ZONE)
        failed = cli("dump", "--from-server", f"{server.host}:{server.port}")
        assert failed.exit_code == 2 and "refused (REFUSED)" in failed.stderr
    finally:
        stop_server(server)


def test_refused_over_udp_and_outside_the_cluster_zones(allowed):
    assert query(allowed, ZONE, "AXFR").rcode() == dns.rcode.REFUSED
    for name in ("svc.cluster.local.", "in-addr.arpa."):
        (reply,) = transfer(allowed, DNSRecord.question(name, "AXFR"))
        assert reply.header.rcode == RCODE.REFUSED


def test_refused_without_a_transfer_block(demo_server):
    (reply,) = transfer(demo_server, DNSRecord.question(ZONE, "AXFR"))
    assert reply.header.rcode == RCODE.REFUSED


def test_ixfr_from_the_current_serial_is_the_soa_alone(allowed):
    serial = serial_of(allowed)
    (reply,) = transfer(allowed, ixfr(serial))
    assert [QTYPE.get(rr.rtype) for rr in reply.rr] == ["SOA"]
    assert reply.rr[0].rdata.times[0] == serial
    full = [rr for m in transfer(allowed, ixfr(serial - 1)) for rr in m.rr]
    assert len(full) == len(local_transfer(DEMO)) and full[0].rtype == full[-1].rtype == QTYPE.SOA


def test_ixfr_without_the_clients_soa_is_servfail(allowed):
    """CoreDNS's transfer plugin: an IXFR whose authority section is not one SOA record.
    Two records there never reach it: miekg's server rejects the message first (FORMERR,
    no question)."""
    bare = DNSRecord.question(ZONE, "IXFR")
    not_soa = DNSRecord.question(ZONE, "IXFR")
    not_soa.add_auth(RR(ZONE, QTYPE.A, rdata=A("10.0.0.1")))
    for request in (bare, not_soa):
        (reply,) = transfer(allowed, request)
        assert reply.header.rcode == RCODE.SERVFAIL and not reply.rr
    twice = ixfr(1)
    twice.add_auth(twice.auth[0])
    (reply,) = transfer(allowed, twice)
    assert reply.header.rcode == RCODE.FORMERR and not reply.questions and not reply.rr


@pytest.mark.parametrize(("rd", "cd"), [(0, 1), (1, 1), (1, 0), (0, 0)])
def test_messages_copy_the_query_s_rd_and_cd_bits(allowed, rd, cd):
    """As miekg's Transfer.Out (SetReply, then AA) writes each message: the query's RD and
    CD; an up-to-date IXFR's SOA (SetReply alone) and the errors (SetRcode) without AA."""

    def flagged(request: DNSRecord) -> DNSRecord:
        request.header.rd, request.header.cd = rd, cd
        return request

    messages = transfer(allowed, flagged(DNSRecord.question(ZONE, "AXFR")))
    assert {(m.header.rd, m.header.cd, m.header.aa) for m in messages} == {(rd, cd, 1)}
    asked = [ixfr(serial_of(allowed)), DNSRecord.question(ZONE, "IXFR"),  # up to date; SERVFAIL
             DNSRecord.question("svc.cluster.local.", "AXFR")]  # REFUSED  # fmt: skip
    for request in asked:
        (reply,) = transfer(allowed, flagged(request))
        assert (reply.header.rd, reply.header.cd, reply.header.aa) == (rd, cd, 0)
    flags = (dns.flags.RD if rd else 0) | (dns.flags.CD if cd else 0)
    udp = query(allowed, ZONE, "AXFR", flags=flags)  # REFUSED: transfers over TCP only
    assert udp.rcode() == dns.rcode.REFUSED
    assert udp.flags & (dns.flags.RD | dns.flags.CD | dns.flags.AA) == flags


@pytest.mark.slow
def test_a_large_zone_spans_messages_of_at_most_64k(big, tmp_path):
    server, snapshot = big
    messages = transfer(server, DNSRecord.question(ZONE, "AXFR"))
    assert len(messages) > 3
    # 16 KiB, not the 64 KiB TCP allows: dnslib's compression pointers cannot reach further
    assert all(m.wire_size <= 16384 for m in messages)
    assert all(m.header.aa and m.header.id == messages[0].header.id for m in messages)
    remote = tmp_path / "remote.zone"
    assert cli("dump", "--from-server", f"{server.host}:{server.port}", "-o", remote).exit_code == 0
    expected = local_transfer(snapshot)
    assert dumped(remote) == expected
    assert len(expected) == sum(len(m.rr) for m in messages)


def test_allowed_clients_and_zones():
    resolver = make_resolver(state_from_file(DEMO))
    xfr = ZoneTransfer((ClusterZones(resolver),), [TransferConfig((ZONE,), ("10.0.0.0/8", "fd00::/8")),
                                  TransferConfig(("example.org.",), ("*",))])
    assert xfr.allowed(ZONE, "10.1.2.3") and xfr.allowed(ZONE, "fd00::1")
    assert not xfr.allowed(ZONE, "192.0.2.1") and not xfr.allowed(ZONE, "garbage")
    assert ZoneTransfer((ClusterZones(resolver),), [TransferConfig((".",), ("*",))]).allowed(ZONE, "192.0.2.1")


def test_is_transfer_reads_the_question_type():
    assert is_transfer(DNSRecord.question(ZONE, "AXFR").pack())
    assert is_transfer(ixfr(1).pack())
    assert not is_transfer(DNSRecord.question(ZONE, "SOA").pack())
    assert not is_transfer(b"\x00\x01")
