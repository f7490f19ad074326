"""PTR answers for endpoint IPs as CoreDNS's serviceRecordForIP (plugin/kubernetes/reverse.go)
gives them: from the EndpointSlices alone (EpIndexReverse), whether their Service exists or not."""

from __future__ import annotations

from clusterdns.plugins.kubernetes.objects import EndpointSlice, Service, parse_object
from harness.resolvers import ask, make_resolver, rcode_name, state_from_items, texts
from harness.snapshots import endpoint, endpoint_slice, namespace, service

HTTP = [("http", "TCP", 80)]


def cluster() -> list[dict]:
    return [
        namespace("testns"),
        service("testns", "svc1", ["10.96.0.1"], HTTP),
        endpoint_slice("testns", "svc1", "svc1-a", [endpoint("10.0.0.99", hostname="double-ep")], HTTP),
        # slices whose Service object does not exist (yet, or any more)
        endpoint_slice("testns", "svc2", "svc2-a", [endpoint("10.0.0.99", hostname="double-ep")], HTTP),
        endpoint_slice("testns", "lonely", "lonely-a", [
            endpoint("10.0.0.50", hostname="pod-0"),
            endpoint("10.0.0.51"),
            endpoint("10.0.0.52", ready=False),
        ], HTTP),
    ]


def ptr(resolver, name: str) -> list[str]:
    return sorted(texts(ask(resolver, name, "PTR").answer))


def test_an_endpoint_whose_slice_has_no_service_answers_its_ptr_from_the_slice():
    r = make_resolver(state_from_items(cluster()))
    assert ptr(r, "50.0.0.10.in-addr.arpa.") == [
        "50.0.0.10.in-addr.arpa. 30 PTR pod-0.lonely.testns.svc.cluster.local."
    ]
    assert ptr(r, "51.0.0.10.in-addr.arpa.") == [
        "51.0.0.10.in-addr.arpa. 30 PTR 10-0-0-51.lonely.testns.svc.cluster.local."
    ]
    # the forward names stay unanswered: CoreDNS's findServices starts from the Service
    assert rcode_name(ask(r, "pod-0.lonely.testns.svc.cluster.local.", "A")) == "NXDOMAIN"
    assert rcode_name(ask(r, "lonely.testns.svc.cluster.local.", "A")) == "NXDOMAIN"


def test_an_ip_selected_by_a_service_and_a_serviceless_slice_answers_both_names():
    r = make_resolver(state_from_items(cluster()))
    assert ptr(r, "99.0.0.10.in-addr.arpa.") == [
        "99.0.0.10.in-addr.arpa. 30 PTR double-ep.svc1.testns.svc.cluster.local.",
        "99.0.0.10.in-addr.arpa. 30 PTR double-ep.svc2.testns.svc.cluster.local.",
    ]


def test_not_ready_filtered_namespace_and_noendpoints_endpoints_have_no_ptr():
    r = make_resolver(state_from_items(cluster()))
    assert rcode_name(ask(r, "52.0.0.10.in-addr.arpa.", "PTR")) == "NXDOMAIN"
    filtered = make_resolver(state_from_items(cluster()), namespaces=frozenset({"other"}))
    assert rcode_name(ask(filtered, "50.0.0.10.in-addr.arpa.", "PTR")) == "NXDOMAIN"
    ends = make_resolver(state_from_items(cluster()), noendpoints=True)
    assert rcode_name(ask(ends, "50.0.0.10.in-addr.arpa.", "PTR")) == "NXDOMAIN"


def test_serviceless_slice_changes_follow_and_move_the_serial():
    state = state_from_items(cluster())
    r = make_resolver(state)
    serial = r.index.serial
    moved = parse_object("EndpointSlice", endpoint_slice("testns", "lonely", "lonely-a", [endpoint("10.0.0.70")], HTTP))
    assert isinstance(moved, EndpointSlice)
    state.upsert(moved)
    assert r.index.serial > serial
    assert rcode_name(ask(r, "50.0.0.10.in-addr.arpa.", "PTR")) == "NXDOMAIN"
    assert ptr(r, "70.0.0.10.in-addr.arpa.") == [
        "70.0.0.10.in-addr.arpa. 30 PTR 10-0-0-70.lonely.testns.svc.cluster.local."
    ]
    # the Service arrives, then goes: the endpoint's PTR stays all along
    svc = parse_object("Service", service("testns", "lonely", ["10.96.0.9"], HTTP))
    state.upsert(svc)
    assert ptr(r, "70.0.0.10.in-addr.arpa.") == [
        "70.0.0.10.in-addr.arpa. 30 PTR 10-0-0-70.lonely.testns.svc.cluster.local."
    ]
    state.delete(Service, ("testns", "lonely"))
    assert ptr(r, "70.0.0.10.in-addr.arpa.") == [
        "70.0.0.10.in-addr.arpa. 30 PTR 10-0-0-70.lonely.testns.svc.cluster.local."
    ]
    serial = r.index.serial
    state.delete(EndpointSlice, ("testns", "lonely-a"))
    assert r.index.serial > serial
    assert rcode_name(ask(r, "70.0.0.10.in-addr.arpa.", "PTR")) == "NXDOMAIN"


def test_a_change_in_a_namespace_the_namespaces_option_leaves_out_keeps_the_serial():
    state = state_from_items([*cluster(), namespace("other")])
    r = make_resolver(state, namespaces=frozenset({"testns"}))
    serial = r.index.serial
    state.upsert(parse_object("EndpointSlice", endpoint_slice("other", "x", "x-a", [endpoint("10.0.0.61")], HTTP)))
    assert r.index.serial == serial
    assert rcode_name(ask(r, "61.0.0.10.in-addr.arpa.", "PTR")) == "NXDOMAIN"
