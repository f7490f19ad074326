"""Resolver rules that depend on options and on state changes (SPEC §2–8), no sockets."""

from __future__ import annotations

from clusterdns.plugins.kubernetes.objects import (
    EndpointSlice,
    Namespace,
    Pod,
    Service,
    parse_object,
)
from harness.resolvers import ask, make_resolver, rcode_name, state_from_items, texts
from harness.snapshots import endpoint, endpoint_slice, namespace, pod, service

Z = "cluster.local."


def cluster() -> list[dict]:
    return [
        namespace("ns1"),
        namespace("ns2"),
        service("ns1", "api", ["10.0.0.1"], [("http", "TCP", 80)]),
        endpoint_slice("ns1", "api", "api-a", [
            endpoint("10.1.0.1", pod="api-7d9f-abcde"),
            endpoint("10.1.0.2", ready=False, pod="api-7d9f-fghij"),
            endpoint("10.1.0.3", ready=None, pod="api-7d9f-klmno"),  # no conditions: ready
        ], [("http", "TCP", 8080)]),
        # the same endpoint repeated in a second slice: served once
        endpoint_slice("ns1", "api", "api-b", [endpoint("10.1.0.1", pod="api-7d9f-abcde")],
                       [("http", "TCP", 8080)]),
        service("ns1", "empty", ["10.0.0.2"], [("http", "TCP", 80)]),
        service("ns1", "db", ["None"], [("pg", "TCP", 5432)]),
        endpoint_slice("ns1", "db", "db-a", [
            endpoint("10.2.0.1", hostname="db-0"),
            endpoint("10.2.0.2", hostname="db-0"),  # two endpoints may share a name
        ], [("pg", "TCP", 5432)]),
        endpoint_slice("ns1", "db", "db-fqdn", [endpoint("db.example.com")], [], "FQDN"),
        service("ns1", "ip-external", external_name="192.0.2.1"),
        service("ns1", "loop-a", external_name="loop-b.ns1.svc.cluster.local"),
        service("ns1", "loop-b", external_name="loop-a.ns1.svc.cluster.local"),
        service("ns1", "to-empty", external_name="db.ns2.svc.cluster.local"),
        service("ns2", "web", ["10.0.1.1"], [("http", "TCP", 80)]),
        service("ghost", "orphan", ["10.0.9.9"], [("http", "TCP", 80)]),  # namespace not listed
        pod("ns1", "api-7d9f-abcde", "10.1.0.1"),
        pod("ns1", "done", "10.1.0.9", phase="Succeeded"),
        pod("ns1", "leaving", "10.1.0.8", deleting=True),
    ]


def test_readiness_and_duplicates():
    r = make_resolver(state_from_items(cluster()))
    assert sorted(texts(ask(r, "10-1-0-1.api.ns1.svc.cluster.local.", "A").answer)) == [
        "10-1-0-1.api.ns1.svc.cluster.local. 30 A 10.1.0.1"
    ]
    assert rcode_name(ask(r, "10-1-0-2.api.ns1.svc.cluster.local.", "A")) == "NXDOMAIN"
    assert rcode_name(ask(r, "10-1-0-3.api.ns1.svc.cluster.local.", "A")) == "NOERROR"
    assert rcode_name(ask(r, "2.0.1.10.in-addr.arpa.", "PTR")) == "NXDOMAIN"
    ptr = ask(r, "1.0.1.10.in-addr.arpa.", "PTR")
    assert texts(ptr.answer) == ["1.0.1.10.in-addr.arpa. 30 PTR 10-1-0-1.api.ns1.svc.cluster.local."]


def test_shared_endpoint_name_answers_both_and_srv_weights_count_before_dedup():
    r = make_resolver(state_from_items(cluster()))
    assert sorted(texts(ask(r, "db-0.db.ns1.svc.cluster.local.", "A").answer)) == [
        "db-0.db.ns1.svc.cluster.local. 30 A 10.2.0.1",
        "db-0.db.ns1.svc.cluster.local. 30 A 10.2.0.2",
    ]
    srv = ask(r, "_pg._tcp.db.ns1.svc.cluster.local.", "SRV")
    assert texts(srv.answer) == ["_pg._tcp.db.ns1.svc.cluster.local. 30 SRV 0 50 5432 db-0.db.ns1.svc.cluster.local."]
    assert len(srv.additional) == 2
    # FQDN slices are skipped
    assert sorted(texts(ask(r, "db.ns1.svc.cluster.local.", "A").answer)) == [
        "db.ns1.svc.cluster.local. 30 A 10.2.0.1",
        "db.ns1.svc.cluster.local. 30 A 10.2.0.2",
    ]


def test_endpoint_pod_names():
    r = make_resolver(state_from_items(cluster()), endpoint_pod_names=True)
    assert texts(ask(r, "api-7d9f-abcde.api.ns1.svc.cluster.local.", "A").answer) == [
        "api-7d9f-abcde.api.ns1.svc.cluster.local. 30 A 10.1.0.1"
    ]
    # a hostname still wins over the pod name
    assert rcode_name(ask(r, "db-0.db.ns1.svc.cluster.local.", "A")) == "NOERROR"
    assert rcode_name(ask(r, "10-1-0-1.api.ns1.svc.cluster.local.", "A")) == "NXDOMAIN"


def test_namespaces_filter():
    r = make_resolver(state_from_items(cluster()), namespaces=frozenset({"ns2"}))
    assert rcode_name(ask(r, "web.ns2.svc.cluster.local.", "A")) == "NOERROR"
    assert rcode_name(ask(r, "api.ns1.svc.cluster.local.", "A")) == "NXDOMAIN"
    assert rcode_name(ask(r, "ns1.svc.cluster.local.", "A")) == "NXDOMAIN"
    assert rcode_name(ask(r, "ns2.svc.cluster.local.", "A")) == "NOERROR"
    assert rcode_name(ask(r, "1.0.0.10.in-addr.arpa.", "PTR")) == "NXDOMAIN"


def test_services_of_unlisted_namespaces_are_not_served():
    r = make_resolver(state_from_items(cluster()))
    assert rcode_name(ask(r, "orphan.ghost.svc.cluster.local.", "A")) == "NXDOMAIN"


def test_ignore_empty_service():
    r = make_resolver(state_from_items(cluster()), ignore_empty_service=True)
    assert rcode_name(ask(r, "empty.ns1.svc.cluster.local.", "A")) == "NXDOMAIN"
    assert rcode_name(ask(r, "api.ns1.svc.cluster.local.", "A")) == "NOERROR"
    plain = make_resolver(state_from_items(cluster()))
    assert rcode_name(ask(plain, "empty.ns1.svc.cluster.local.", "A")) == "NOERROR"


def test_noendpoints():
    r = make_resolver(state_from_items(cluster()), noendpoints=True)
    assert rcode_name(ask(r, "api.ns1.svc.cluster.local.", "A")) == "NOERROR"
    assert rcode_name(ask(r, "db.ns1.svc.cluster.local.", "A")) == "NXDOMAIN"
    assert rcode_name(ask(r, "10-1-0-1.api.ns1.svc.cluster.local.", "A")) == "NXDOMAIN"


def test_external_name_edge_cases():
    r = make_resolver(state_from_items(cluster()))
    assert rcode_name(ask(r, "ip-external.ns1.svc.cluster.local.", "A")) == "NXDOMAIN"
    loop = ask(r, "loop-a.ns1.svc.cluster.local.", "A")
    assert rcode_name(loop) == "NOERROR" and loop.answer == []  # a loop answers nothing
    empty = ask(r, "to-empty.ns1.svc.cluster.local.", "A")
    assert rcode_name(empty) == "NOERROR" and empty.answer == []  # internal target is absent


def test_pods_modes():
    items = cluster()
    verified = make_resolver(state_from_items(items), pods="verified")
    assert rcode_name(ask(verified, "10-1-0-1.ns1.pod.cluster.local.", "A")) == "NOERROR"
    assert rcode_name(ask(verified, "10-1-0-1.ns2.pod.cluster.local.", "A")) == "NXDOMAIN"
    assert rcode_name(ask(verified, "10-1-0-9.ns1.pod.cluster.local.", "A")) == "NXDOMAIN"  # finished
    assert rcode_name(ask(verified, "10-1-0-8.ns1.pod.cluster.local.", "A")) == "NXDOMAIN"  # deleting
    assert rcode_name(ask(verified, "ns1.pod.cluster.local.", "A")) == "NOERROR"
    disabled = make_resolver(state_from_items(items), pods="disabled")
    assert rcode_name(ask(disabled, "10-1-0-1.ns1.pod.cluster.local.", "A")) == "NXDOMAIN"
    assert rcode_name(ask(disabled, "ns1.pod.cluster.local.", "A")) == "NXDOMAIN"
    assert rcode_name(ask(disabled, "pod.cluster.local.", "A")) == "NOERROR"


def test_before_sync_unknown_names_are_servfail_known_names_answer():
    r = make_resolver(state_from_items(cluster(), synced=False))
    nx = ask(r, "nope.ns1.svc.cluster.local.", "A")
    assert rcode_name(nx) == "SERVFAIL" and len(nx.authority) == 1
    assert rcode_name(ask(r, "api.ns1.svc.cluster.local.", "A")) == "NOERROR"
    r.index.state.mark_synced()
    assert rcode_name(ask(r, "nope.ns1.svc.cluster.local.", "A")) == "NXDOMAIN"


def test_fallthrough_sends_unknown_names_on():
    r = make_resolver(state_from_items(cluster()), fallthrough=("in-addr.arpa.", "ip6.arpa."))
    assert ask(r, "9.9.9.9.in-addr.arpa.", "PTR").forward
    assert not ask(r, "1.0.0.10.in-addr.arpa.", "PTR").forward  # known IPs are ours
    assert rcode_name(ask(r, "nope.ns1.svc.cluster.local.", "A")) == "NXDOMAIN"
    everything = make_resolver(state_from_items(cluster()), fallthrough=())
    assert ask(everything, "nope.ns1.svc.cluster.local.", "A").forward


def test_reverse_zone_from_a_cidr_only_holds_its_network():
    r = make_resolver(state_from_items(cluster()), reverse_zones=("0.0.10.in-addr.arpa.",))
    assert rcode_name(ask(r, "1.0.0.10.in-addr.arpa.", "PTR")) == "NOERROR"
    assert ask(r, "1.0.1.10.in-addr.arpa.", "PTR").forward  # outside our zones
    nx = ask(r, "99.0.0.10.in-addr.arpa.", "PTR")
    assert rcode_name(nx) == "NXDOMAIN"
    assert texts(nx.authority)[0].startswith("0.0.10.in-addr.arpa. 30 SOA ns.dns.0.0.10.in-addr.arpa.")


def test_several_cluster_zones_and_ptr_uses_the_first():
    r = make_resolver(state_from_items(cluster()), zones=("cluster.local.", "example.org."))
    assert texts(ask(r, "web.ns2.svc.example.org.", "A").answer) == ["web.ns2.svc.example.org. 30 A 10.0.1.1"]
    assert texts(ask(r, "1.1.0.10.in-addr.arpa.", "PTR").answer) == [
        "1.1.0.10.in-addr.arpa. 30 PTR web.ns2.svc.cluster.local."
    ]


def test_changes_rebuild_one_service_and_move_serial_only_on_served_changes():
    state = state_from_items(cluster())
    r = make_resolver(state)
    serial = r.index.serial
    slice_b = parse_object("EndpointSlice", endpoint_slice("ns2", "web", "web-a", [endpoint("10.3.0.1")], [("http", "TCP", 80)]))
    assert isinstance(slice_b, EndpointSlice)
    state.upsert(slice_b)
    assert r.index.serial > serial
    assert rcode_name(ask(r, "10-3-0-1.web.ns2.svc.cluster.local.", "A")) == "NOERROR"
    # a not-ready endpoint added: served data unchanged, serial unchanged
    serial = r.index.serial
    not_ready = parse_object("EndpointSlice", endpoint_slice("ns2", "web", "web-b", [endpoint("10.3.0.2", ready=False)], [("http", "TCP", 80)]))
    state.upsert(not_ready)
    assert r.index.serial == serial
    # a service deleted: its names go, others stay
    state.delete(Service, ("ns2", "web"))
    assert rcode_name(ask(r, "web.ns2.svc.cluster.local.", "A")) == "NXDOMAIN"
    assert rcode_name(ask(r, "10-3-0-1.web.ns2.svc.cluster.local.", "A")) == "NXDOMAIN"
    assert rcode_name(ask(r, "1.1.0.10.in-addr.arpa.", "PTR")) == "NXDOMAIN"
    assert rcode_name(ask(r, "api.ns1.svc.cluster.local.", "A")) == "NOERROR"
    # a namespace deleted: its services go; re-added: back
    state.delete(Namespace, ("", "ns1"))
    assert rcode_name(ask(r, "api.ns1.svc.cluster.local.", "A")) == "NXDOMAIN"
    state.upsert(Namespace("ns1"))
    assert rcode_name(ask(r, "api.ns1.svc.cluster.local.", "A")) == "NOERROR"
    # pods verified follows pod changes
    v = make_resolver(state, pods="verified")
    assert rcode_name(ask(v, "10-1-0-7.ns1.pod.cluster.local.", "A")) == "NXDOMAIN"
    state.upsert(Pod("ns1", "new", ("10.1.0.7",), True))
    assert rcode_name(ask(v, "10-1-0-7.ns1.pod.cluster.local.", "A")) == "NOERROR"


def test_relist_applies_only_the_difference():
    state = state_from_items(cluster())
    r = make_resolver(state)
    serial = r.index.serial
    state.replace(Service, list(state.services.values()))
    assert r.index.serial == serial  # nothing changed: no rebuild, no new serial


def test_unstored_endpoint_names_follow_changes():
    """Endpoint names of ClusterIP services are built on demand; a rename still moves the serial."""
    state = state_from_items(cluster())
    r = make_resolver(state)
    serial = r.index.serial
    renamed = parse_object("EndpointSlice", endpoint_slice("ns1", "api", "api-b", [endpoint("10.1.0.1", hostname="main", pod="api-7d9f-abcde")], [("http", "TCP", 8080)]))
    state.upsert(renamed)
    assert r.index.serial > serial
    assert texts(ask(r, "main.api.ns1.svc.cluster.local.", "A").answer) == ["main.api.ns1.svc.cluster.local. 30 A 10.1.0.1"]
    srv = ask(r, "main.api.ns1.svc.cluster.local.", "SRV")
    assert texts(srv.answer) == ["main.api.ns1.svc.cluster.local. 30 SRV 0 100 8080 main.api.ns1.svc.cluster.local."]
    assert texts(srv.additional) == ["main.api.ns1.svc.cluster.local. 30 A 10.1.0.1"]
    assert sorted(texts(ask(r, "1.0.1.10.in-addr.arpa.", "PTR").answer)) == [
        "1.0.1.10.in-addr.arpa. 30 PTR 10-1-0-1.api.ns1.svc.cluster.local.",
        "1.0.1.10.in-addr.arpa. 30 PTR main.api.ns1.svc.cluster.local.",
    ]
