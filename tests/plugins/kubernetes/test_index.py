"""The record index as the state changes under it: a cluster IP's owners, and the names a
ClusterIP service's port names share with it."""

from __future__ import annotations

from clusterdns.plugins.kubernetes.objects import Service, parse_object
from harness.resolvers import ask, make_resolver, rcode_name, state_from_items, texts
from harness.snapshots import namespace, service

PORTS = [("http", "TCP", 80), ("dns", "UDP", 53), ("dns-tcp", "TCP", 53)]


def ptr(resolver, ip: str) -> list[str]:
    name = ".".join(reversed(ip.split("."))) + ".in-addr.arpa."
    answer = ask(resolver, name, "PTR")
    return [text.split()[-1] for text in texts(answer.answer)] or [rcode_name(answer)]


def test_a_cluster_ip_answers_its_first_service_by_name_as_services_come_and_go():
    state = state_from_items(
        [
            namespace("ns"),
            service("ns", "b", ["10.96.0.7"], PORTS),
            service("ns", "a", ["10.96.0.7"], PORTS),
            service("ns", "c", ["10.96.0.8"], PORTS),
        ]
    )
    r = make_resolver(state)
    assert ptr(r, "10.96.0.7") == ["a.ns.svc.cluster.local."]
    assert set(r.index.cluster_ip_owners("10.96.0.7")) == {("ns", "a"), ("ns", "b")}
    serial = r.index.serial
    state.delete(Service, ("ns", "a"))
    assert ptr(r, "10.96.0.7") == ["b.ns.svc.cluster.local."]
    state.upsert(parse_object("Service", service("ns", "b", ["10.96.0.9"], PORTS)))  # b moves
    assert ptr(r, "10.96.0.7") == ["NXDOMAIN"] and r.index.cluster_ip_owners("10.96.0.7") == ()
    assert ptr(r, "10.96.0.9") == ["b.ns.svc.cluster.local."]
    assert ptr(r, "10.96.0.8") == ["c.ns.svc.cluster.local."]
    assert r.index.serial > serial
    state.delete(Service, ("ns", "b"))
    state.delete(Service, ("ns", "c"))
    assert r.index.service_ptrs == {}


def test_a_cluster_ip_listed_twice_is_one_owner():
    state = state_from_items([namespace("ns"), service("ns", "a", ["10.96.0.7", "10.96.0.7"])])
    r = make_resolver(state)
    assert r.index.cluster_ip_owners("10.96.0.7") == (("ns", "a"),)
    state.delete(Service, ("ns", "a"))
    assert r.index.service_ptrs == {}


def test_port_names_answer_as_the_service_name_does():
    state = state_from_items([namespace("ns"), service("ns", "a", ["10.96.0.7"], PORTS)])
    r = make_resolver(state)
    base = "a.ns.svc.cluster.local."
    assert texts(ask(r, base, "SRV").answer) == [
        f"{base} 30 SRV 0 33 80 {base}",
        f"{base} 30 SRV 0 33 53 {base}",
    ]
    for label, port in (("_http._tcp", 80), ("_dns._udp", 53), ("_dns-tcp._tcp", 53)):
        answer = ask(r, f"{label}.{base}", "SRV")
        assert texts(answer.answer) == [f"{label}.{base} 30 SRV 0 100 {port} {base}"]
        assert texts(ask(r, f"{label}.{base}", "A").answer) == [f"{label}.{base} 30 A 10.96.0.7"]
    state.upsert(parse_object("Service", service("ns", "a", [], PORTS)))  # no cluster IP
    assert rcode_name(ask(r, f"_http._tcp.{base}", "SRV")) == "NXDOMAIN"
    assert rcode_name(ask(r, base, "A")) == "NXDOMAIN"
