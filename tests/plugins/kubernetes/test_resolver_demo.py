"""The resolver against the demo cluster: one row per rule of SPEC §2–8 (no sockets)."""

from __future__ import annotations

import pytest

from harness.paths import DEMO
from harness.resolvers import ask, make_resolver, rcode_name, state_from_file, texts

SOA = "cluster.local. 30 SOA ns.dns.cluster.local. hostmaster.cluster.local. SERIAL 7200 1800 86400 30"
Z = "cluster.local."


@pytest.fixture(scope="module")
def resolver():
    return make_resolver(state_from_file(DEMO))


# (name, type, rcode, answer records in order-insensitive form)
POSITIVE = [
    # ClusterIP
    ("nginx.demo.svc.cluster.local.", "A", ["nginx.demo.svc.cluster.local. 30 A 10.96.12.34"]),
    ("kubernetes.default.svc.cluster.local.", "A",
     ["kubernetes.default.svc.cluster.local. 30 A 10.96.0.1"]),
    # ClusterIP without endpoints still answers its cluster IP
    ("orders.demo.svc.cluster.local.", "A", ["orders.demo.svc.cluster.local. 30 A 10.96.50.5"]),
    # dual stack: each family on its own type
    ("api.demo.svc.cluster.local.", "A", ["api.demo.svc.cluster.local. 30 A 10.96.40.1"]),
    ("api.demo.svc.cluster.local.", "AAAA",
     ["api.demo.svc.cluster.local. 30 AAAA fd00:10:96::4001"]),
    # headless: every ready endpoint
    ("web.demo.svc.cluster.local.", "A", [
        "web.demo.svc.cluster.local. 30 A 10.244.2.10",
        "web.demo.svc.cluster.local. 30 A 10.244.2.11",
        "web.demo.svc.cluster.local. 30 A 10.244.2.12",
    ]),
    # StatefulSet pod names
    ("web-0.web.demo.svc.cluster.local.", "A", ["web-0.web.demo.svc.cluster.local. 30 A 10.244.2.10"]),
    ("web-2.web.demo.svc.cluster.local.", "A", ["web-2.web.demo.svc.cluster.local. 30 A 10.244.2.12"]),
    # endpoint names by dashed IP work under ClusterIP services too
    ("10-244-1-11.nginx.demo.svc.cluster.local.", "A",
     ["10-244-1-11.nginx.demo.svc.cluster.local. 30 A 10.244.1.11"]),
    ("fd00-10-244-3--a.api.demo.svc.cluster.local.", "AAAA",
     ["fd00-10-244-3--a.api.demo.svc.cluster.local. 30 AAAA fd00:10:244:3::a"]),
    # SRV for a named port on a ClusterIP service: the service port, target the service
    ("_http._tcp.nginx.demo.svc.cluster.local.", "SRV",
     ["_http._tcp.nginx.demo.svc.cluster.local. 30 SRV 0 100 80 nginx.demo.svc.cluster.local."]),
    # CoreDNS reads port/protocol labels with or without underscores
    ("http.tcp.nginx.demo.svc.cluster.local.", "SRV",
     ["http.tcp.nginx.demo.svc.cluster.local. 30 SRV 0 100 80 nginx.demo.svc.cluster.local."]),
    # A at the port name gives the service IP under the asked name
    ("_http._tcp.nginx.demo.svc.cluster.local.", "A",
     ["_http._tcp.nginx.demo.svc.cluster.local. 30 A 10.96.12.34"]),
    # SRV at the service name: one per port, de-duplicated by (target, port); weight over all
    ("kube-dns.kube-system.svc.cluster.local.", "SRV", [
        "kube-dns.kube-system.svc.cluster.local. 30 SRV 0 33 53 kube-dns.kube-system.svc.cluster.local.",
        "kube-dns.kube-system.svc.cluster.local. 30 SRV 0 33 9153 kube-dns.kube-system.svc.cluster.local.",
    ]),
    ("_dns._udp.kube-dns.kube-system.svc.cluster.local.", "SRV",
     ["_dns._udp.kube-dns.kube-system.svc.cluster.local. 30 SRV 0 100 53 kube-dns.kube-system.svc.cluster.local."]),
    # headless SRV: one per ready endpoint, target the endpoint name, the slice's port
    ("_http._tcp.web.demo.svc.cluster.local.", "SRV", [
        "_http._tcp.web.demo.svc.cluster.local. 30 SRV 0 33 80 web-0.web.demo.svc.cluster.local.",
        "_http._tcp.web.demo.svc.cluster.local. 30 SRV 0 33 80 web-1.web.demo.svc.cluster.local.",
        "_http._tcp.web.demo.svc.cluster.local. 30 SRV 0 33 80 web-2.web.demo.svc.cluster.local.",
    ]),
    # ExternalName: the CNAME; for A the CNAME alone when the target is outside (no forwarder here)
    ("search.demo.svc.cluster.local.", "CNAME",
     ["search.demo.svc.cluster.local. 30 CNAME www.example.com."]),
    ("search.demo.svc.cluster.local.", "A",
     ["search.demo.svc.cluster.local. 30 CNAME www.example.com."]),
    # ExternalName inside the zone is resolved internally
    ("frontend.demo.svc.cluster.local.", "A", [
        "frontend.demo.svc.cluster.local. 30 CNAME nginx.demo.svc.cluster.local.",
        "nginx.demo.svc.cluster.local. 30 A 10.96.12.34",
    ]),
    # pods insecure
    ("10-244-1-10.demo.pod.cluster.local.", "A",
     ["10-244-1-10.demo.pod.cluster.local. 30 A 10.244.1.10"]),
    ("1-2-3-4.default.pod.cluster.local.", "A", ["1-2-3-4.default.pod.cluster.local. 30 A 1.2.3.4"]),
    ("fd00--1.demo.pod.cluster.local.", "AAAA", ["fd00--1.demo.pod.cluster.local. 30 AAAA fd00::1"]),
    # PTR: service IP → service; endpoint IP → endpoint name
    ("34.12.96.10.in-addr.arpa.", "PTR", ["34.12.96.10.in-addr.arpa. 30 PTR nginx.demo.svc.cluster.local."]),
    ("11.2.244.10.in-addr.arpa.", "PTR",
     ["11.2.244.10.in-addr.arpa. 30 PTR web-1.web.demo.svc.cluster.local."]),
    ("1.0.0.4.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa.", "PTR",
     ["1.0.0.4.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa. 30 PTR api.demo.svc.cluster.local."]),
    # special records
    ("dns-version.cluster.local.", "TXT", ['dns-version.cluster.local. 28800 TXT "1.1.0"']),
    ("cluster.local.", "SOA", [SOA]),
    ("cluster.local.", "NS", ["cluster.local. 30 NS ns.dns.cluster.local."]),
    ("ns.dns.cluster.local.", "A", ["ns.dns.cluster.local. 30 A 127.0.0.1"]),
]


@pytest.mark.parametrize(("name", "qtype", "expected"), POSITIVE)
def test_positive_answers(resolver, name, qtype, expected):
    answer = ask(resolver, name, qtype)
    assert rcode_name(answer) == "NOERROR"
    assert answer.authoritative
    assert sorted(texts(answer.answer)) == sorted(expected)
    assert answer.authority == []


# Names that exist but lack the type: NODATA with the zone's SOA (never NXDOMAIN).
NODATA = [
    (Z, "A"),
    ("svc.cluster.local.", "A"),
    ("pod.cluster.local.", "A"),
    ("demo.svc.cluster.local.", "A"),
    ("kube-system.svc.cluster.local.", "AAAA"),
    ("demo.pod.cluster.local.", "A"),
    ("nginx.demo.svc.cluster.local.", "AAAA"),
    ("nginx.demo.svc.cluster.local.", "TXT"),
    ("nginx.demo.svc.cluster.local.", "MX"),
    ("nginx.demo.svc.cluster.local.", "ANY"),
    ("nginx.demo.svc.cluster.local.", "PTR"),
    ("nginx.demo.svc.cluster.local.", "CNAME"),
    ("web.demo.svc.cluster.local.", "AAAA"),
    ("web-0.web.demo.svc.cluster.local.", "AAAA"),
    ("search.demo.svc.cluster.local.", "SRV"),
    ("search.demo.svc.cluster.local.", "TXT"),
    ("1-2-3-4.demo.pod.cluster.local.", "AAAA"),
    ("nginx.demo.svc.cluster.local.", "SOA"),  # SOA only at the apex
    ("nginx.demo.svc.cluster.local.", "NS"),
    ("34.12.96.10.in-addr.arpa.", "A"),
]


@pytest.mark.parametrize(("name", "qtype"), NODATA)
def test_nodata(resolver, name, qtype):
    answer = ask(resolver, name, qtype)
    assert rcode_name(answer) == "NOERROR"
    assert answer.answer == []
    zone = "in-addr.arpa." if name.endswith("in-addr.arpa.") else Z
    assert len(answer.authority) == 1
    assert answer.authority[0].rtype == 6 and str(answer.authority[0].rname) == zone


NXDOMAIN = [
    ("foo.cluster.local.", "A"),
    ("nope.svc.cluster.local.", "A"),  # namespace that does not exist
    ("nope.demo.svc.cluster.local.", "A"),
    ("cache.demo.svc.cluster.local.", "A"),  # headless, no ready endpoint
    ("cache-0.cache.demo.svc.cluster.local.", "A"),  # not-ready endpoint: no name
    ("10-244-2-10.web.demo.svc.cluster.local.", "A"),  # has a hostname: not by dashed IP
    ("web-9.web.demo.svc.cluster.local.", "A"),
    ("_grpc._tcp.nginx.demo.svc.cluster.local.", "SRV"),  # no such port
    ("_http._udp.nginx.demo.svc.cluster.local.", "SRV"),  # wrong protocol
    ("_http._tcp.search.demo.svc.cluster.local.", "SRV"),  # ExternalName has no ports
    ("a.b.c.nginx.demo.svc.cluster.local.", "A"),  # too many labels
    ("*.demo.svc.cluster.local.", "A"),  # `*` is a literal label
    ("nginx.demo.svc.cluster.local.demo.svc.cluster.local.", "A"),  # search expansion
    ("nginx.demo.svc.cluster.local.svc.cluster.local.", "A"),
    ("nginx.demo.svc.cluster.local.cluster.local.", "A"),
    ("nginx.demo.cluster.local.", "A"),
    ("dns.cluster.local.", "A"),
    ("dns-version.cluster.local.", "A"),  # dns-version exists only for TXT (as in CoreDNS)
    (Z, "TXT"),  # TXT exists only at dns-version
    ("demo.svc.cluster.local.", "TXT"),
    ("svc.cluster.local.", "TXT"),
    ("nosuch.pod.cluster.local.", "A"),  # namespace does not exist
    ("1-2-3-4.nosuch.pod.cluster.local.", "A"),
    ("not-an-ip.demo.pod.cluster.local.", "A"),
    ("x.1-2-3-4.demo.pod.cluster.local.", "A"),
    ("9.9.9.9.in-addr.arpa.", "PTR"),  # unknown IP, no fallthrough configured
    ("12.4.244.10.in-addr.arpa.", "PTR"),  # not-ready endpoint: no PTR
    ("10.in-addr.arpa.", "PTR"),
]


@pytest.mark.parametrize(("name", "qtype"), NXDOMAIN)
def test_nxdomain(resolver, name, qtype):
    answer = ask(resolver, name, qtype)
    assert rcode_name(answer) == "NXDOMAIN"
    assert answer.answer == []
    assert len(answer.authority) == 1 and answer.authority[0].rtype == 6


def test_srv_additional_section_carries_targets(resolver):
    answer = ask(resolver, "web.demo.svc.cluster.local.", "SRV")
    assert sorted(texts(answer.additional)) == [
        f"web-{i}.web.demo.svc.cluster.local. 30 A 10.244.2.1{i}" for i in range(3)
    ]
    answer = ask(resolver, "_grpc._tcp.api.demo.svc.cluster.local.", "SRV")
    assert texts(answer.answer) == [
        "_grpc._tcp.api.demo.svc.cluster.local. 30 SRV 0 50 9090 api.demo.svc.cluster.local."
    ]
    assert sorted(texts(answer.additional)) == [
        "api.demo.svc.cluster.local. 30 A 10.96.40.1",
        "api.demo.svc.cluster.local. 30 AAAA fd00:10:96::4001",
    ]


def test_owner_name_keeps_the_question_case(resolver):
    answer = ask(resolver, "WeB-0.Web.DEMO.svc.Cluster.Local.", "A")
    assert texts(answer.answer) == ["WeB-0.Web.DEMO.svc.Cluster.Local. 30 A 10.244.2.10"]
    srv = ask(resolver, "_HTTP._Tcp.Web.demo.svc.cluster.local.", "SRV")
    # SRV targets are lower-case object names + the zone
    assert {str(r.rdata.target) for r in srv.answer} == {
        f"web-{i}.web.demo.svc.cluster.local." for i in range(3)
    }


def test_names_outside_the_zones_are_forwarded(resolver):
    assert ask(resolver, "example.com.", "A").forward
    assert ask(resolver, "cluster.local.example.com.", "A").forward


def test_transfer_is_refused(resolver):
    assert rcode_name(ask(resolver, Z, "AXFR")) == "REFUSED"
    assert rcode_name(ask(resolver, Z, "IXFR")) == "REFUSED"


def test_soa_ttl_is_capped_and_minimum_is_the_ttl():
    resolver = make_resolver(state_from_file(DEMO), ttl=3600)
    soa = ask(resolver, Z, "SOA").answer[0]
    assert soa.ttl == 300 and soa.rdata.times[-1] == 3600
