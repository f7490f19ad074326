"""`k8s_external` over real sockets: the cases of CoreDNS's own external_test.go and
apex_test.go on a snapshot holding their Services, its README's examples (fallthrough to a
loopback upstream, transfer), `ttl` and `apex`, and its setup errors naming the line."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest
from dnslib import QTYPE, DNSRecord

from clusterdns.config.corefile import CorefileError
from clusterdns.plugins.k8s_external.setup import K8S_EXTERNAL
from clusterdns.server.directives import load_config
from harness.dig import dig, status
from harness.fakeapi import FakeKubeAPI
from harness.query import ask, query, transfer
from harness.server import ServerProcess, start_server, stop_server
from harness.snapshots import endpoint, endpoint_slice, namespace, service, write_snapshot
from harness.upstream import FakeUpstream
from harness.wait import wait_for

HTTP = [("http", "TCP", 80)]
# external_test.go's Services and endpoints (svcIndexExternal, epIndexExternal), and a
# ClusterIP-only one, one without ports, one in a namespace `namespaces` leaves out
CLUSTER = [
    namespace("testns"),
    namespace("other"),
    service("testns", "svc1", ["10.0.0.1"], HTTP, external_ips=["1.2.3.4"]),
    service("testns", "svc6", ["10.0.0.3"], HTTP, external_ips=["1:2::5"]),
    service("testns", "svc11", ["10.0.0.3"], HTTP, ingress=[{"ip": "2.3.4.5"}]),
    service("testns", "svc12", ["10.0.0.3"], HTTP, ingress=[{"hostname": "dummy.hostname"}]),
    service("testns", "svc-headless", ["None"], HTTP),
    endpoint_slice("testns", "svc-headless", "svc-headless-1", [
        endpoint("1.2.3.4", hostname="endpoint-svc-0", pod="endpoint-svc-0"),
        endpoint("1.2.3.5", hostname="endpoint-svc-1", pod="endpoint-svc-1"),
    ], HTTP),
    service("testns", "plain", ["10.0.0.9"], HTTP),
    service("testns", "bare", ["10.0.0.10"], external_ips=["1.2.3.9"]),
    service("other", "svc1", ["10.0.0.11"], HTTP, external_ips=["1.2.3.4"]),
]
SOA = "example.com. 5 IN SOA ns1.dns.example.com. hostmaster.dns.example.com. SERIAL 7200 1800 86400 5"
# external_test.go's zones and options: example.com and the IPv4 reverse zone, headless
COREFILE = """\
.:53 {
    kubernetes cluster.local {
        namespaces testns
    }
    k8s_external example.com in-addr.arpa {
        headless
    }
}
"""


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_snapshot(tmp_path_factory.mktemp("k8s_external") / "cluster.yaml", CLUSTER)


def serve(tmp_path: Path, snapshot: Path, corefile: str) -> ServerProcess:
    conf = tmp_path / "Corefile"
    conf.write_text(corefile)
    return start_server(["--conf", str(conf), "--snapshot", str(snapshot)])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, snapshot: Path) -> Iterator[ServerProcess]:
    process = serve(tmp_path_factory.mktemp("conf"), snapshot, COREFILE)
    yield process
    stop_server(process)


def lines(rrsets: list) -> set[str]:
    """Each record as `name ttl IN TYPE rdata`, an SOA's serial as SERIAL."""
    found = set()
    for rrset in rrsets:
        for rdata in rrset:
            text = f"{rrset.name} {rrset.ttl} IN {dns.rdatatype.to_text(rrset.rdtype)} {rdata}"
            if rrset.rdtype == dns.rdatatype.SOA:
                fields = text.split()
                fields[6] = "SERIAL"
                text = " ".join(fields)
            found.add(text)
    return found


def sections(reply: dns.message.Message) -> tuple[str, set[str], set[str], set[str]]:
    """(rcode, answer, authority, additional) of an authoritative reply."""
    assert reply.flags & dns.flags.AA
    rcode = dns.rcode.to_text(reply.rcode())
    return rcode, lines(reply.answer), lines(reply.authority), lines(reply.additional)


S1, HL = "svc1.testns.example.com.", "svc-headless.testns.example.com."
EP0, EP1 = "endpoint-svc-0." + HL, "endpoint-svc-1." + HL
# (name, type, rcode, answer, authority, additional): external_test.go's table, then ours
CASES = [
    ("4.3.2.1.in-addr.arpa.", "PTR", "NOERROR", {f"4.3.2.1.in-addr.arpa. 5 IN PTR {S1}"}, set(), set()),
    (S1, "PTR", "NOERROR", set(), {SOA}, set()),  # a PTR of a name that is no reverse one
    ("not-existing.testns.example.com.", "PTR", "NXDOMAIN", set(), {SOA}, set()),
    (S1, "A", "NOERROR", {f"{S1} 5 IN A 1.2.3.4"}, set(), set()),
    (S1, "SRV", "NOERROR", {f"{S1} 5 IN SRV 0 100 80 {S1}"}, set(), {f"{S1} 5 IN A 1.2.3.4"}),
    ("*._not-udp-or-tcp." + S1, "SRV", "NXDOMAIN", set(), {SOA}, set()),
    ("_http._tcp." + S1, "SRV", "NOERROR", {f"_http._tcp.{S1} 5 IN SRV 0 100 80 {S1}"}, set(),
     {f"{S1} 5 IN A 1.2.3.4"}),
    (S1, "AAAA", "NOERROR", set(), {SOA}, set()),  # an A record but no AAAA: NODATA
    ("svc0.testns.example.com.", "AAAA", "NXDOMAIN", set(), {SOA}, set()),
    ("svc0.testns.example.com.", "A", "NXDOMAIN", set(), {SOA}, set()),
    ("svc0.svc-nons.example.com.", "A", "NXDOMAIN", set(), {SOA}, set()),
    ("svc6.testns.example.com.", "AAAA", "NOERROR", {"svc6.testns.example.com. 5 IN AAAA 1:2::5"}, set(), set()),
    ("_http._tcp.svc6.testns.example.com.", "SRV", "NOERROR",
     {"_http._tcp.svc6.testns.example.com. 5 IN SRV 0 100 80 svc6.testns.example.com."}, set(),
     {"svc6.testns.example.com. 5 IN AAAA 1:2::5"}),
    ("svc6.testns.example.com.", "SRV", "NOERROR",
     {"svc6.testns.example.com. 5 IN SRV 0 100 80 svc6.testns.example.com."}, set(),
     {"svc6.testns.example.com. 5 IN AAAA 1:2::5"}),
    ("testns.example.com.", "A", "NOERROR", set(), {SOA}, set()),  # a namespace: NODATA
    ("testns.example.com.", "SOA", "NOERROR", set(), {SOA}, set()),
    ("svc11.testns.example.com.", "A", "NOERROR", {"svc11.testns.example.com. 5 IN A 2.3.4.5"}, set(), set()),
    ("_http._tcp.svc11.testns.example.com.", "SRV", "NOERROR",
     {"_http._tcp.svc11.testns.example.com. 5 IN SRV 0 100 80 svc11.testns.example.com."}, set(),
     {"svc11.testns.example.com. 5 IN A 2.3.4.5"}),
    ("svc11.testns.example.com.", "SRV", "NOERROR",
     {"svc11.testns.example.com. 5 IN SRV 0 100 80 svc11.testns.example.com."}, set(),
     {"svc11.testns.example.com. 5 IN A 2.3.4.5"}),
    ("svc12.testns.example.com.", "A", "NOERROR",
     {"svc12.testns.example.com. 5 IN CNAME dummy.hostname."}, set(), set()),
    ("_http._tcp.svc12.testns.example.com.", "SRV", "NOERROR",
     {"_http._tcp.svc12.testns.example.com. 5 IN SRV 0 100 80 dummy.hostname."}, set(), set()),
    ("svc12.testns.example.com.", "SRV", "NOERROR",
     {"svc12.testns.example.com. 5 IN SRV 0 100 80 dummy.hostname."}, set(), set()),
    (HL, "A", "NOERROR", {f"{HL} 5 IN A 1.2.3.4", f"{HL} 5 IN A 1.2.3.5"}, set(), set()),
    (HL, "SRV", "NOERROR", {f"{HL} 5 IN SRV 0 50 80 {EP0}", f"{HL} 5 IN SRV 0 50 80 {EP1}"}, set(),
     {f"{EP0} 5 IN A 1.2.3.4", f"{EP1} 5 IN A 1.2.3.5"}),
    ("_http._tcp." + HL, "SRV", "NOERROR",
     {f"_http._tcp.{HL} 5 IN SRV 0 50 80 {EP0}", f"_http._tcp.{HL} 5 IN SRV 0 50 80 {EP1}"}, set(),
     {f"{EP0} 5 IN A 1.2.3.4", f"{EP1} 5 IN A 1.2.3.5"}),
    (EP0, "SRV", "NOERROR", {f"{EP0} 5 IN SRV 0 100 80 {EP0}"}, set(), {f"{EP0} 5 IN A 1.2.3.4"}),
    (EP1, "SRV", "NOERROR", {f"{EP1} 5 IN SRV 0 100 80 {EP1}"}, set(), {f"{EP1} 5 IN A 1.2.3.5"}),
    (EP0, "A", "NOERROR", {f"{EP0} 5 IN A 1.2.3.4"}, set(), set()),
    (EP1, "A", "NOERROR", {f"{EP1} 5 IN A 1.2.3.5"}, set(), set()),
    # ours: a ClusterIP-only Service has no name here; a Service without ports has addresses
    # but no SRV; an existing name asked another type is NODATA; `namespaces` hides `other`
    ("plain.testns.example.com.", "A", "NXDOMAIN", set(), {SOA}, set()),
    ("bare.testns.example.com.", "A", "NOERROR", {"bare.testns.example.com. 5 IN A 1.2.3.9"}, set(), set()),
    ("bare.testns.example.com.", "SRV", "NOERROR", set(), {SOA}, set()),
    (S1, "TXT", "NOERROR", set(), {SOA}, set()),
    ("svc12.testns.example.com.", "CNAME", "NOERROR", set(), {SOA}, set()),
    ("svc1.other.example.com.", "A", "NXDOMAIN", set(), {SOA}, set()),
    ("99.3.2.1.in-addr.arpa.", "PTR", "NXDOMAIN", set(),
     {"in-addr.arpa. 5 IN SOA ns1.dns.in-addr.arpa. hostmaster.dns.in-addr.arpa. SERIAL 7200 1800 86400 5"},
     set()),
    ("a.b.c.svc1.testns.example.com.", "A", "NXDOMAIN", set(), {SOA}, set()),
]  # fmt: skip
# apex_test.go's table: the server's own address (no EndpointSlice holds it) as the glue
APEX_CASES = [
    ("example.com.", "SOA", "NOERROR", {SOA}, set(), set()),
    ("example.com.", "NS", "NOERROR", {"example.com. 5 IN NS ns1.dns.example.com."}, set(),
     {"ns1.dns.example.com. 5 IN A 127.0.0.1"}),
    ("example.com.", "SRV", "NOERROR", set(), {SOA}, set()),
    ("dns.example.com.", "SRV", "NOERROR", set(), {SOA}, set()),
    ("dns.example.com.", "NS", "NOERROR", set(), {SOA}, set()),
    ("ns1.dns.example.com.", "SRV", "NOERROR", set(), {SOA}, set()),
    ("ns1.dns.example.com.", "NS", "NOERROR", set(), {SOA}, set()),
    ("ns1.dns.example.com.", "AAAA", "NOERROR", set(), {SOA}, set()),
    ("ns1.dns.example.com.", "A", "NOERROR", {"ns1.dns.example.com. 5 IN A 127.0.0.1"}, set(), set()),
    # ours: another name under the apex label does not exist
    ("ns2.dns.example.com.", "A", "NXDOMAIN", set(), {SOA}, set()),
    ("x.ns1.dns.example.com.", "A", "NXDOMAIN", set(), {SOA}, set()),
]  # fmt: skip


@pytest.mark.parametrize(("name", "qtype", "rcode", "answer", "authority", "additional"),
                         CASES + APEX_CASES)  # fmt: skip
@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_coredns_tables(server, name, qtype, rcode, answer, authority, additional, tcp):
    reply = query(server, name, qtype, tcp=tcp)
    assert sections(reply) == (rcode, answer, authority, additional)


def test_names_are_case_insensitive_and_answered_as_asked(server):
    reply = query(server, "SVC1.TestNS.Example.COM.", "A")
    assert sections(reply) == ("NOERROR", {"SVC1.TestNS.Example.COM. 5 IN A 1.2.3.4"}, set(), set())
    assert ask(server, "_HTTP._Tcp.SVC-Headless.testns.EXAMPLE.com.", "SRV")[0] == "NOERROR"
    reply = query(server, "EXAMPLE.com.", "NS")  # the glue's owner spelled as asked
    assert lines(reply.additional) == {"ns1.dns.EXAMPLE.com. 5 IN A 127.0.0.1"}


@pytest.mark.root(tools=["dig"])
def test_dig_reads_the_readme_example(server):
    """README: test.default.example.org's A record from the Service's externalIPs (here
    svc-headless's neighbour svc1 in testns under example.com), as dig prints it."""
    out = dig("+norec", "svc1.testns.example.com", "A", server=server)
    assert status(out) == "NOERROR" and " aa" in out.split("flags:")[1].split(";")[0]
    assert re.search(r"^svc1\.testns\.example\.com\.\s+5\s+IN\s+A\s+1\.2\.3\.4$", out, re.M)
    out = dig("example.com", "NS", server=server)
    assert re.search(r"^ns1\.dns\.example\.com\.\s+5\s+IN\s+A\s+127\.0\.0\.1$", out, re.M)


def test_the_soa_serial_is_the_same_everywhere(server):
    serials = {
        rr.serial
        for name, qtype in (("example.com.", "SOA"), ("svc0.testns.example.com.", "A"))
        for rrset in (*query(server, name, qtype).answer, *query(server, name, qtype).authority)
        for rr in rrset
    }
    assert len(serials) == 1 and next(iter(serials)) > 1_600_000_000


def test_the_cluster_zone_still_answers(server):
    assert ask(server, "svc1.testns.svc.cluster.local.") == ("NOERROR", {"10.0.0.1"})
    # a class other than IN is not its to answer
    reply = query(server, S1, "A", rdclass="CH")
    assert dns.rcode.to_text(reply.rcode()) == "REFUSED"


def test_an_axfr_lists_the_zone_as_it_is_served(tmp_path, snapshot):
    """README: k8s_external with the transfer plugin (notifies are not supported)."""
    corefile = COREFILE.replace("    kubernetes cluster.local {", "    transfer example.com {\n"
                                "        to *\n    }\n    kubernetes cluster.local {")
    process = serve(tmp_path, snapshot, corefile)
    try:
        messages = transfer(process, DNSRecord.question("example.com.", "AXFR"))
        records = [rr for message in messages for rr in message.rr]
        texts = [f"{rr.rname} {QTYPE.get(rr.rtype)} {rr.rdata.toZone()}" for rr in records]
        assert texts[0].startswith("example.com. SOA ns1.dns.example.com.")
        assert texts[-1] == texts[0]
        assert texts[1:3] == ["example.com. NS ns1.dns.example.com.",
                              "ns1.dns.example.com. A 127.0.0.1"]
        body = set(texts[3:-1])
        assert len(body) == len(texts) - 4  # nothing twice
        assert body == {
            "bare.testns.example.com. A 1.2.3.9",
            "svc1.testns.example.com. A 1.2.3.4",
            "svc1.testns.example.com. SRV 0 100 80 svc1.testns.example.com.",
            "_http._tcp.svc1.testns.example.com. SRV 0 100 80 svc1.testns.example.com.",
            "svc11.testns.example.com. A 2.3.4.5",
            "svc11.testns.example.com. SRV 0 100 80 svc11.testns.example.com.",
            "_http._tcp.svc11.testns.example.com. SRV 0 100 80 svc11.testns.example.com.",
            "svc12.testns.example.com. CNAME dummy.hostname.",
            "svc12.testns.example.com. SRV 0 100 80 dummy.hostname.",
            "_http._tcp.svc12.testns.example.com. SRV 0 100 80 dummy.hostname.",
            "svc6.testns.example.com. AAAA 1:2::5",
            "svc6.testns.example.com. SRV 0 100 80 svc6.testns.example.com.",
            "_http._tcp.svc6.testns.example.com. SRV 0 100 80 svc6.testns.example.com.",
            f"{HL} A 1.2.3.4", f"{HL} A 1.2.3.5",
            f"{HL} SRV 0 50 80 {EP0}", f"{HL} SRV 0 50 80 {EP1}",
            f"_http._tcp.{HL} SRV 0 50 80 {EP0}", f"_http._tcp.{HL} SRV 0 50 80 {EP1}",
            f"{EP0} A 1.2.3.4", f"{EP0} SRV 0 100 80 {EP0}",
            f"{EP1} A 1.2.3.5", f"{EP1} SRV 0 100 80 {EP1}",
        }
        # the cluster zone is still the kubernetes plugin's; a zone nobody serves is refused
        cluster = transfer(process, DNSRecord.question("cluster.local.", "AXFR"))
        assert cluster[0].header.rcode == 5  # not in this block's transfer rules
        other = transfer(process, DNSRecord.question("example.net.", "AXFR"))
        assert other[0].header.rcode == 5
    finally:
        stop_server(process)


FALLTHROUGH = """\
. {{
    kubernetes cluster.local {{
        ttl 7
    }}
    k8s_external example.org {{
        fallthrough
        ttl 30
        apex ext
    }}
    forward . {upstream}
}}
"""


def test_readme_fallthrough_ttl_and_apex(tmp_path, snapshot):
    """README: with `fallthrough` a name that does not exist goes to the next plugin (here
    forward, to a loopback upstream); NODATA does not. `ttl` sets the A/AAAA, SOA and NS
    TTLs; SRV and CNAME records carry the kubernetes plugin's, as CoreDNS's do."""
    with FakeUpstream() as upstream:
        process = serve(tmp_path, snapshot, FALLTHROUGH.format(upstream=upstream.address))
        try:
            assert ask(process, "nothing.testns.example.org.") == ("NOERROR", {"192.0.2.1"})
            assert upstream.asked("nothing.testns.example.org.")
            assert ask(process, "plain.testns.example.org.") == ("NOERROR", {"192.0.2.1"})
            soa = ("example.org. 30 IN SOA ns1.ext.example.org. hostmaster.ext.example.org. "
                   "SERIAL 7200 1800 86400 30")
            reply = query(process, "svc1.testns.example.org.", "AAAA")
            assert sections(reply) == ("NOERROR", set(), {soa}, set())  # NODATA stays
            assert not upstream.asked("svc1.testns.example.org.")
            reply = query(process, "svc1.testns.example.org.", "SRV")
            assert sections(reply) == (
                "NOERROR", {"svc1.testns.example.org. 7 IN SRV 0 100 80 svc1.testns.example.org."},
                set(), {"svc1.testns.example.org. 30 IN A 1.2.3.4"},
            )
            reply = query(process, "svc12.testns.example.org.", "A")  # the target: forward's
            assert lines(reply.answer) == {"svc12.testns.example.org. 7 IN CNAME dummy.hostname.",
                                           "dummy.hostname. 300 IN A 192.0.2.1"}  # fmt: skip
            assert sections(query(process, "ns1.ext.example.org.", "A"))[1] == {
                "ns1.ext.example.org. 30 IN A 127.0.0.1"}
            assert ask(process, "ns1.dns.example.org.") == ("NOERROR", {"192.0.2.1"})  # no such
        finally:
            stop_server(process)


def soa_serial(server: ServerProcess) -> int:
    (rrset,) = query(server, "example.com.", "SOA").answer
    serial: int = rrset[0].serial
    return serial


def test_a_live_change_of_external_ips_reaches_the_answer(tmp_path):
    """From the API server (the informer on the fake API): externalIPs added, changed and
    removed, a load balancer's address arriving in the status, each answered as it
    happens, the zone's serial moving with them; a Service the API sends with an external
    IP that is no address is skipped with a log line."""
    with FakeKubeAPI(bookmark_interval=0.5) as fake:
        web = service("testns", "web", ["10.0.0.20"], HTTP)
        for obj in (namespace("testns"), web):
            fake.add(obj)
        conf = tmp_path / "Corefile"
        conf.write_text(COREFILE)
        kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
        process = start_server(["--conf", str(conf), "--kubeconfig", str(kubeconfig)])
        try:
            name = "web.testns.example.com."

            def answers(expected: tuple[str, set[str]], qtype: str = "A") -> None:
                wait_for(lambda: ask(process, name, qtype) == expected,
                         what=f"{name} {qtype} → {expected}")

            answers(("NXDOMAIN", set()))  # a ClusterIP-only Service has no external name
            before = soa_serial(process)
            fake.update(service("testns", "web", ["10.0.0.20"], HTTP, external_ips=["192.0.2.7"]))
            answers(("NOERROR", {"192.0.2.7"}))
            assert soa_serial(process) > before
            fake.update(service("testns", "web", ["10.0.0.20"], HTTP,
                                external_ips=["192.0.2.8", "2001:db8::8"]))
            answers(("NOERROR", {"192.0.2.8"}))
            answers(("NOERROR", {"2001:db8::8"}), "AAAA")
            assert ask(process, "8.2.0.192.in-addr.arpa.", "PTR") == ("NOERROR", {name})
            fake.update(service("testns", "web", ["10.0.0.20"], HTTP,
                                ingress=[{"ip": "198.51.100.9"}]))
            answers(("NOERROR", {"198.51.100.9"}))
            assert ask(process, "8.2.0.192.in-addr.arpa.", "PTR")[0] == "NXDOMAIN"
            fake.add(service("testns", "bad", ["10.0.0.21"], HTTP, external_ips=["no-address"]))
            wait_for(lambda: any("Service testns/bad: skipped" in line for line in process.log),
                     what="the skipped Service's log line")
            assert "spec.externalIPs[0]" in next(x for x in process.log if "testns/bad" in x)
            fake.update(web)
            answers(("NXDOMAIN", set()))
        finally:
            stop_server(process)


# Load balancers known by host name: answered by the loopback upstream (forward), by `hosts`
# in the same block, by another server block whose `bufsize` cuts the reply (40 addresses
# upstream); one with an external IP too
HOSTNAMES = [
    namespace("testns"),
    service("testns", "up", ["10.0.0.1"], HTTP, ingress=[{"hostname": "lb.example.net"}]),
    service("testns", "local", ["10.0.0.2"], HTTP, ingress=[{"hostname": "lb.hosts.test"}]),
    service("testns", "cut", ["10.0.0.3"], HTTP, ingress=[{"hostname": "big.cut.test"}]),
    service("testns", "mixed", ["10.0.0.4"], HTTP, external_ips=["1.2.3.10"],
            ingress=[{"hostname": "lb.hosts.test"}]),
]  # fmt: skip
FOLLOWING = """\
cut.test {{
    bufsize 512
    forward . {upstream}
}}
. {{
    hosts {{
        192.0.2.77 lb.hosts.test
        2001:db8::77 lb.hosts.test
        fallthrough
    }}
    kubernetes cluster.local
    k8s_external example.com
    forward . {upstream}
}}
"""


@pytest.fixture(scope="module")
def following(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, FakeUpstream]]:
    directory = tmp_path_factory.mktemp("following")
    snapshot = write_snapshot(directory / "cluster.yaml", HOSTNAMES)
    with FakeUpstream() as upstream:
        process = serve(directory, snapshot, FOLLOWING.format(upstream=upstream.address))
        yield process, upstream
        stop_server(process)


CNAME = "{0}.testns.example.com. 5 IN CNAME {1}"
HOSTS_A, HOSTS_AAAA = "lb.hosts.test. 3600 IN A 192.0.2.77", "lb.hosts.test. 3600 IN AAAA 2001:db8::77"


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_a_load_balancer_s_host_name_is_followed_through_the_server(following, tcp):
    """As CoreDNS's a(), aaaa() and srv() look the host name up through the server itself
    (upstream.Lookup): after the CNAME the name's records of the type, an SRV reply's
    additional records its A and AAAA; here from the upstream the block forwards to, and
    from `hosts` in the block (so the upstream is never asked)."""
    server, upstream = following
    cases = [
        ("up", "A", {CNAME.format("up", "lb.example.net."), "lb.example.net. 300 IN A 192.0.2.1"}),
        ("up", "AAAA", {CNAME.format("up", "lb.example.net."),
                        "lb.example.net. 300 IN AAAA 2001:db8::1"}),
        ("local", "A", {CNAME.format("local", "lb.hosts.test."), HOSTS_A}),
        ("local", "AAAA", {CNAME.format("local", "lb.hosts.test."), HOSTS_AAAA}),
        ("mixed", "A", {"mixed.testns.example.com. 5 IN A 1.2.3.10",
                        CNAME.format("mixed", "lb.hosts.test."), HOSTS_A}),
    ]  # fmt: skip
    for service_name, qtype, answer in cases:
        reply = query(server, f"{service_name}.testns.example.com.", qtype, tcp=tcp)
        assert sections(reply) == ("NOERROR", answer, set(), set())
        assert reply.answer[0].rdtype == dns.rdatatype.CNAME or service_name == "mixed"
    reply = query(server, "_http._tcp.local.testns.example.com.", "SRV", tcp=tcp)
    srv = "_http._tcp.local.testns.example.com. 5 IN SRV 0 100 80 lb.hosts.test."
    assert sections(reply) == ("NOERROR", {srv}, set(), {HOSTS_A, HOSTS_AAAA})
    reply = query(server, "mixed.testns.example.com.", "SRV", tcp=tcp)
    assert sections(reply)[3] == {"mixed.testns.example.com. 5 IN A 1.2.3.10", HOSTS_A, HOSTS_AAAA}
    reply = query(server, "up.testns.example.com.", "SRV", tcp=tcp)
    assert sections(reply)[3] == {"lb.example.net. 300 IN A 192.0.2.1",
                                  "lb.example.net. 300 IN AAAA 2001:db8::1"}  # fmt: skip
    assert upstream.asked("lb.example.net.") and not upstream.asked("lb.hosts.test.")


def test_a_truncated_lookup_truncates_the_reply(following):
    """As CoreDNS's a() passes `resp.Truncated` on: the host name's reply, cut to its block's
    512 bytes, has TC, and so has ours, which fits the client's 1232 bytes; over TCP every
    record. An SRV reply's additional records carry no TC (CoreDNS's srv() drops it)."""
    server, _upstream = following
    reply = query(server, "cut.testns.example.com.", payload=1232)
    assert reply.flags & dns.flags.TC and reply.answer[0].rdtype == dns.rdatatype.CNAME
    assert 0 < len(reply.answer[1]) < 40 and reply.answer[1].name.to_text() == "big.cut.test."
    whole = query(server, "cut.testns.example.com.", tcp=True)
    assert not whole.flags & dns.flags.TC and len(whole.answer[1]) == 40
    srv = query(server, "cut.testns.example.com.", "SRV", payload=4096)
    assert not srv.flags & dns.flags.TC and srv.additional


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        ("k8s_external example.org", 2, "k8s_external needs a kubernetes directive"),
        ("kubernetes cluster.local\nk8s_external {\n  ttl 3601\n}", 4, "ttl must be in range 0..3600"),
        ("kubernetes cluster.local\nk8s_external {\n  ttl five\n}", 4, "'five' is not an integer"),
        ("kubernetes cluster.local\nk8s_external {\n  apex a.b\n}", 4, "not one DNS label"),
        ("kubernetes cluster.local\nk8s_external {\n  apex\n}", 4, "takes 1 argument"),
        ("kubernetes cluster.local\nk8s_external {\n  headless on\n}", 4, "takes no arguments"),
        ("kubernetes cluster.local\nk8s_external {\n  upstream\n}", 4,
         "unknown k8s_external option 'upstream'"),
    ],
)
def test_setup_errors_name_the_line(body, line, message):
    with pytest.raises(CorefileError, match=message) as caught:
        load_config(f".:53 {{\n{body}\n}}\n")
    assert caught.value.line == line


def test_zones_default_to_the_block_and_options_are_read():
    (server,) = load_config("example.org {\n kubernetes cluster.local\n k8s_external {\n"
                            "  headless\n  fallthrough a.example.org\n }\n}\n")
    config = server.get(K8S_EXTERNAL)
    assert config is not None
    assert (config.zones, config.apex, config.ttl, config.headless, config.fallthrough) == (
        ("example.org.",), "dns", 5, True, ("a.example.org.",))
