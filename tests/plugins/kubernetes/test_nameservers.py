"""NS records and ns.dns.<zone> as CoreDNS's nsAddrs (plugin/kubernetes/ns.go) and Services
(isDefaultNS, plugin/kubernetes/kubernetes.go) make them from the server's own addresses."""

from __future__ import annotations

from clusterdns.plugins.kubernetes.objects import EndpointSlice, Service, parse_object
from harness.resolvers import ask, make_resolver, rcode_name, state_from_items, texts
from harness.snapshots import endpoint, endpoint_slice, namespace, service

DNS = [("dns", "UDP", 53), ("dns-tcp", "TCP", 53)]
POD_IP = "10.244.0.20"


def kube_dns(cluster_ips: list[str] | None = None, *others: dict) -> list[dict]:
    """kube-dns with our pod and another replica as its endpoints."""
    return [
        namespace("kube-system"),
        service("kube-system", "kube-dns", cluster_ips or ["10.96.0.10"], DNS),
        endpoint_slice("kube-system", "kube-dns", "kube-dns-a", [
            endpoint(POD_IP, pod="coredns-0"), endpoint("10.244.1.7", pod="coredns-1"),
        ], DNS),
        *others,
    ]


def apex_ns(resolver, zone: str = "cluster.local.") -> tuple[list[str], list[str]]:
    answer = ask(resolver, zone, "NS")
    return sorted(texts(answer.answer)), sorted(texts(answer.additional))


def test_the_ns_is_kube_dns_when_our_pod_ip_is_one_of_its_endpoints():
    r = make_resolver(state_from_items(kube_dns()), own_ips=(POD_IP,))
    assert apex_ns(r) == (
        ["cluster.local. 30 NS kube-dns.kube-system.svc.cluster.local."],
        ["kube-dns.kube-system.svc.cluster.local. 30 A 10.96.0.10"],
    )


def test_ns_dns_answers_the_addresses_of_the_ns_glue():
    r = make_resolver(state_from_items(kube_dns(["10.96.0.10", "fd00::10"])), own_ips=(POD_IP,))
    assert texts(ask(r, "ns.dns.cluster.local.", "A").answer) == ["ns.dns.cluster.local. 30 A 10.96.0.10"]
    assert texts(ask(r, "ns.dns.cluster.local.", "AAAA").answer) == ["ns.dns.cluster.local. 30 AAAA fd00::10"]
    alone = make_resolver(state_from_items(kube_dns()), own_ips=("10.0.0.1",))
    assert apex_ns(alone) == (
        ["cluster.local. 30 NS ns.dns.cluster.local."], ["ns.dns.cluster.local. 30 A 10.0.0.1"]
    )
    assert texts(ask(alone, "ns.dns.cluster.local.", "A").answer) == ["ns.dns.cluster.local. 30 A 10.0.0.1"]
    nodata = ask(alone, "ns.dns.cluster.local.", "AAAA")
    assert rcode_name(nodata) == "NOERROR" and not nodata.answer and nodata.authority


def test_ns_dns_is_nodata_for_other_types_but_txt_and_ptr():
    r = make_resolver(state_from_items(kube_dns()), own_ips=(POD_IP,))
    for qtype in ("SRV", "MX", "CNAME", "NS", "SOA", "HINFO"):
        answer = ask(r, "ns.dns.cluster.local.", qtype)
        assert (rcode_name(answer), answer.answer) == ("NOERROR", []), qtype
        assert texts(answer.authority)[0].startswith("cluster.local. 30 SOA ns.dns.cluster.local."), qtype
    for qtype in ("TXT", "PTR"):
        assert rcode_name(ask(r, "ns.dns.cluster.local.", qtype)) == "NXDOMAIN", qtype


def test_a_headless_dns_service_names_every_ready_address_of_the_slice_holding_our_ip():
    cluster = [
        namespace("kube-system"),
        service("kube-system", "dns", ["None"], DNS),
        endpoint_slice("kube-system", "dns", "dns-a", [
            endpoint(POD_IP), endpoint("10.244.1.7", hostname="other"), endpoint("10.244.1.8", ready=False),
        ], DNS),
        endpoint_slice("kube-system", "dns", "dns-b", [endpoint("10.244.2.9")], DNS),
    ]
    r = make_resolver(state_from_items(cluster), own_ips=(POD_IP,))
    assert apex_ns(r) == (
        [
            "cluster.local. 30 NS 10-244-0-20.dns.kube-system.svc.cluster.local.",
            "cluster.local. 30 NS other.dns.kube-system.svc.cluster.local.",
        ],
        [
            "10-244-0-20.dns.kube-system.svc.cluster.local. 30 A 10.244.0.20",
            "other.dns.kube-system.svc.cluster.local. 30 A 10.244.1.7",
        ],
    )
    assert sorted(texts(ask(r, "ns.dns.cluster.local.", "A").answer)) == [
        "ns.dns.cluster.local. 30 A 10.244.0.20", "ns.dns.cluster.local. 30 A 10.244.1.7",
    ]


def test_the_dns_service_is_named_whatever_the_namespaces_option_or_namespace_objects():
    filtered = make_resolver(
        state_from_items(kube_dns()), own_ips=(POD_IP,), namespaces=frozenset({"default"})
    )
    assert apex_ns(filtered)[0] == ["cluster.local. 30 NS kube-dns.kube-system.svc.cluster.local."]
    no_namespace = make_resolver(state_from_items(kube_dns()[1:]), own_ips=(POD_IP,))
    assert apex_ns(no_namespace)[1] == ["kube-dns.kube-system.svc.cluster.local. 30 A 10.96.0.10"]


def test_our_ip_in_a_slice_without_its_service_leaves_the_apex_without_ns():
    state = state_from_items(kube_dns()[::2])  # the namespace and the slice
    r = make_resolver(state, own_ips=(POD_IP,))
    answer = ask(r, "cluster.local.", "NS")
    assert (rcode_name(answer), answer.answer, answer.additional) == ("NOERROR", [], [])
    assert texts(answer.authority)[0].startswith("cluster.local. 30 SOA ns.dns.cluster.local.")
    assert ask(r, "ns.dns.cluster.local.", "A").answer == []


def test_the_ns_follows_the_dns_service_and_moves_the_serial_outside_served_namespaces():
    state = state_from_items(kube_dns())
    r = make_resolver(state, own_ips=(POD_IP,), namespaces=frozenset({"default"}))
    serial = r.index.serial
    moved = parse_object("Service", service("kube-system", "kube-dns", ["10.96.0.53"], DNS))
    assert isinstance(moved, Service)
    state.upsert(moved)
    assert r.index.serial > serial
    assert apex_ns(r)[1] == ["kube-dns.kube-system.svc.cluster.local. 30 A 10.96.0.53"]
    serial = r.index.serial
    state.delete(EndpointSlice, ("kube-system", "kube-dns-a"))
    assert r.index.serial > serial
    assert apex_ns(r) == (
        ["cluster.local. 30 NS ns.dns.cluster.local."], ["ns.dns.cluster.local. 30 A 10.244.0.20"]
    )


def test_ns_names_keep_the_zone_as_asked():
    r = make_resolver(state_from_items(kube_dns()), own_ips=(POD_IP,))
    assert apex_ns(r, "Cluster.LOCAL.") == (
        ["Cluster.LOCAL. 30 NS kube-dns.kube-system.svc.Cluster.LOCAL."],
        ["kube-dns.kube-system.svc.Cluster.LOCAL. 30 A 10.96.0.10"],
    )
