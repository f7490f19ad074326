"""`clusterdns explain`: every name form, the reasons given, and the resolver's own answer."""

from __future__ import annotations

import pytest
from dnslib import QTYPE

from clusterdns.audit.explain import explain
from harness.dumps import cli
from harness.paths import DEMO
from harness.resolvers import make_resolver, state_from_file, state_from_items, texts
from harness.snapshots import endpoint, endpoint_slice, namespace, pod, service

ITEMS = [
    namespace("shop"),
    service("shop", "db", ["None"], [("pg", "TCP", 5432)]),
    endpoint_slice("shop", "db", "db-a", [endpoint("10.244.6.1", hostname="db-0"),
                                          endpoint("10.244.6.2", ready=False, hostname="db-1"),
                                          endpoint("10.244.6.3")],
                   [("pg", "TCP", 5432)]),
    endpoint_slice("shop", "db", "db-fqdn", [endpoint("db.example.com")], address_type="FQDN"),
    service("shop", "raw", external_name="192.0.2.1"),
    pod("shop", "db-0", "10.244.6.1"),
]


@pytest.fixture(scope="module")
def demo():
    return make_resolver(state_from_file(DEMO), fallthrough=("in-addr.arpa.", "ip6.arpa."))


@pytest.fixture(scope="module")
def shop():
    return make_resolver(state_from_items(ITEMS), pods="verified")


def lines(resolver, name: str, qtype: str = "A") -> dict[str, list[str]]:
    """Explain, check the answer is the resolver's, and return the lines by topic."""
    explanation = explain(resolver, name, getattr(QTYPE, qtype))
    expected = resolver.resolve(name, getattr(QTYPE, qtype))
    assert explanation.answer.rcode == expected.rcode
    for section in ("answer", "authority", "additional"):
        assert texts(getattr(explanation.answer, section)) == texts(getattr(expected, section))
    by_topic: dict[str, list[str]] = {"result": [explanation.verdict]}
    for topic, text in explanation.lines:
        by_topic.setdefault(topic, []).append(text)
    return by_topic


def test_headless_endpoint_with_skips(shop):
    found = lines(shop, "db-0.db.shop.svc.cluster.local.")
    assert found["zone"] == ["cluster.local. (cluster zone)"]
    assert found["form"] == ["endpoint: <endpoint>.<service>.<namespace>.svc → db-0 of shop/db"]
    assert found["service"] == ["shop/db: headless (clusterIP None), pg/TCP 5432"]
    assert found["slice"] == [
        "db-a: IPv4, 3 endpoints, pg/TCP 5432",
        "db-fqdn: FQDN, 1 endpoint, no ports; skipped: addressType FQDN is not served",
    ]
    assert found["endpoint"] == [
        "10.244.6.1 (slice db-a) named db-0: used",
        "10.244.6.2 (slice db-a): skipped: not ready",
        "10.244.6.3 (slice db-a) named 10-244-6-3: not used: another name",
    ]
    assert found["result"] == ["NOERROR: 1 record"]


def test_a_named_endpoint_is_not_reachable_by_its_dashed_ip(shop):
    found = lines(shop, "10-244-6-1.db.shop.svc.cluster.local.")
    assert "10.244.6.1 (slice db-a) named db-0: not used: an endpoint with a name is not reachable by its IP" in found["endpoint"]
    assert found["result"] == ["NXDOMAIN: no ready endpoint of the service is named 10-244-6-1"]


def test_service_form_nodata_for_the_other_family(demo):
    found = lines(demo, "nginx.demo.svc.cluster.local.", "AAAA")
    assert found["form"] == ["service: <service>.<namespace>.svc → demo/nginx"]
    assert found["service"] == ["demo/nginx: ClusterIP 10.96.12.34, http/TCP 80"]
    assert found["result"] == ["NODATA (NOERROR, no answer): the name exists, but it has no IPv6 address"]


def test_endpoint_of_the_other_family(demo):
    found = lines(demo, "10-244-3-10.api.demo.svc.cluster.local.", "AAAA")
    assert any(text.endswith("named 10-244-3-10: not used: the other address family") for text in found["endpoint"])
    assert found["result"][0].startswith("NODATA")


def test_headless_without_ready_endpoints_is_nxdomain(demo):
    found = lines(demo, "cache.demo.svc.cluster.local.")
    assert all(text.endswith("skipped: not ready") for text in found["endpoint"])
    assert found["result"] == ["NXDOMAIN: a headless service without ready endpoints has no names"]


def test_port_and_protocol(demo):
    found = lines(demo, "_http._tcp.web.demo.svc.cluster.local.", "SRV")
    assert found["form"] == ["port: _<port>._<protocol>.<service>.<namespace>.svc → port http, protocol tcp of demo/web"]
    assert found["ports"] == ["ready slices' named ports: _http._tcp"]
    assert found["result"] == ["NOERROR: 3 records"]
    missing = lines(demo, "_grpc._tcp.web.demo.svc.cluster.local.", "SRV")
    assert missing["result"] == ["NXDOMAIN: no ready slices' port is named grpc with protocol tcp"]
    a_at_port = lines(demo, "_http._tcp.nginx.demo.svc.cluster.local.", "TXT")
    assert a_at_port["result"][0].startswith("NODATA")


def test_pod_forms(demo, shop):
    insecure = lines(demo, "10-1-2-3.demo.pod.cluster.local.")
    assert insecure["pods"] == ["`pods insecure`"] and insecure["pod"] == ["10-1-2-3 → 10.1.2.3"]
    assert insecure["result"] == ["NOERROR: 1 record"]
    assert lines(demo, "10-1-2-3.demo.pod.cluster.local.", "AAAA")["result"][0].startswith("NODATA")
    verified = lines(shop, "10-244-6-9.shop.pod.cluster.local.")
    assert verified["pod"][1] == "no running pod has 10.244.6.9 in shop (`pods verified`)"
    assert verified["result"] == ["NXDOMAIN: no running pod in shop has 10.244.6.9"]
    disabled = make_resolver(state_from_items(ITEMS), pods="disabled")
    assert lines(disabled, "10-244-6-1.shop.pod.cluster.local.")["result"] == [
        "NXDOMAIN: pod records are disabled (`pods disabled`)"]


def test_apex_namespace_and_structural_names(demo):
    assert lines(demo, "cluster.local.", "SOA")["result"] == ["NOERROR: 1 record"]
    assert lines(demo, "cluster.local.", "TXT")["result"] == [
        "NXDOMAIN: TXT exists only at dns-version.<zone>; CoreDNS denies it at the apex"]
    assert lines(demo, "cluster.local.", "A")["result"] == [
        "NODATA (NOERROR, no answer): the name exists, but the apex holds only SOA and NS"]
    namespace_name = lines(demo, "demo.svc.cluster.local.")
    assert namespace_name["namespace"] == ["demo: exists"]
    assert namespace_name["result"][0].startswith("NODATA")
    assert lines(demo, "nope.svc.cluster.local.")["result"] == ["NXDOMAIN: namespace nope does not exist"]
    assert lines(demo, "svc.cluster.local.")["result"][0].startswith("NODATA")
    assert lines(demo, "dns-version.cluster.local.", "TXT")["result"] == ["NOERROR: 1 record"]
    too_deep = lines(demo, "a.b.c.d.e.f.svc.cluster.local.")
    assert too_deep["form"] == ["none: not a name of the Kubernetes DNS schema (SPEC §2)"]
    assert too_deep["result"] == ["NXDOMAIN: no such name form"]


def test_reverse(demo):
    service_ip = lines(demo, "34.12.96.10.in-addr.arpa.", "PTR")
    assert service_ip["form"] == ["reverse: the PTR of 10.96.12.34"]
    assert service_ip["service"] == ["demo/nginx has cluster IP 10.96.12.34"]
    endpoint_ip = lines(demo, "10.2.244.10.in-addr.arpa.", "PTR")
    assert endpoint_ip["endpoint"] == ["10.244.2.10 is a ready endpoint of demo/web"]
    assert endpoint_ip["result"] == ["NOERROR: 1 record"]
    not_ready = lines(demo, "10.4.244.10.in-addr.arpa.", "PTR")
    assert not_ready["endpoint"] == ["10.244.4.10 of demo/cache (slice cache-5fj2w): not ready, so no PTR"]
    assert not_ready["fallthrough"] == ["names here that do not exist are asked upstream"]
    assert not_ready["result"] == ["forwarded: the upstream resolvers answer the whole question"]


def test_external_names(demo, shop):
    outside = lines(demo, "search.demo.svc.cluster.local.")
    assert outside["service"] == ["demo/search: ExternalName www.example.com"]
    assert outside["result"][0].startswith("CNAME to www.example.com., outside the cluster zones")
    inside = lines(demo, "frontend.demo.svc.cluster.local.")
    assert inside["cname"] == ["nginx.demo.svc.cluster.local. (inside our zones: followed here)"]
    assert inside["result"] == ["NOERROR: 2 records"]
    assert lines(shop, "raw.shop.svc.cluster.local.")["result"] == [
        "NXDOMAIN: an ExternalName that is an IP address is ignored"]


def test_outside_our_zones_and_transfers(demo):
    assert lines(demo, "example.com.")["result"] == ["forwarded: the upstream resolvers answer the whole question"]
    assert lines(demo, "cluster.local.", "AXFR")["result"][0].startswith("REFUSED")


def test_cli_explain(tmp_path):
    result = cli("explain", "web-0.web.demo.svc.cluster.local")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0].split() == ["question", "web-0.web.demo.svc.cluster.local.", "A"]
    assert result.stdout.splitlines()[-1].split() == ["answer", "web-0.web.demo.svc.cluster.local.", "30", "IN", "A", "10.244.2.10"]
    bad = cli("explain", "web.demo.svc.cluster.local", "BOGUS")
    assert bad.exit_code == 2 and "unknown record type 'BOGUS'" in bad.stderr
