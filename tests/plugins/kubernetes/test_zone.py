"""The cluster zone as records (plugins/kubernetes/zone.py): what the resolver answers, in
SPEC §10 order, one zone at a time, each record labelled with the objects it comes from."""

from __future__ import annotations

import pytest
from dnslib import QTYPE

from clusterdns.audit.diff import service_of
from clusterdns.dns.zone import Record, record_from_rr
from clusterdns.plugins.kubernetes.zone import zone_records
from harness.paths import DEMO
from harness.resolvers import ZONE, make_resolver, state_from_file, state_from_items
from harness.snapshots import shop_cluster


@pytest.fixture(scope="module")
def demo_resolver():
    return make_resolver(state_from_file(DEMO))


@pytest.fixture(scope="module")
def shop_resolver():
    return make_resolver(
        state_from_items(shop_cluster()), zones=(ZONE, "cluster.test."), endpoint_pod_names=True
    )


def as_text(records: list[Record]) -> set[str]:
    return {r.text() for r in records}


@pytest.mark.parametrize("resolver_name", ["demo_resolver", "shop_resolver"])
def test_every_dumped_name_is_what_the_resolver_answers(request, resolver_name):
    """The dump writes nodes directly; each of its RRsets must be the resolver's answer."""
    resolver = request.getfixturevalue(resolver_name)
    for zone in resolver.settings.zones:
        records = list(zone_records(resolver, zone))
        by_name: dict[tuple[str, str], list[Record]] = {}
        for record in records[1:-1]:  # the two SOAs
            by_name.setdefault((record.name, record.rtype), []).append(record)
        for (name, rtype), dumped in by_name.items():
            answer = resolver.resolve(name, getattr(QTYPE, rtype)).answer
            assert as_text(dumped) == as_text([record_from_rr(rr) for rr in answer]), name
        # and every name the index holds in this zone is in the dump
        in_zone = {name for name in resolver.index.nodes if resolver.zone_of(name) == (zone, False)}
        assert in_zone <= {name for name, _ in by_name}


def test_spec_order_soa_ns_glue_services_soa(demo_resolver):
    records = list(zone_records(demo_resolver, ZONE))
    assert records[0] == records[-1] and records[0].rtype == "SOA"
    assert [r.rtype for r in records[1:3]] == ["NS", "A"]  # NS, then its glue
    groups = [service_of(r.name, ZONE) for r in records if r.name.endswith(".svc." + ZONE)]
    order = list(dict.fromkeys(groups))
    assert order == sorted(order, key=lambda g: (g.split("/")[1], g.split("/")[0]))
    assert order[:3] == ["demo/api", "demo/frontend", "kube-system/kube-dns"]


def test_second_zone_is_dumped_on_its_own(shop_resolver):
    names = {r.name for r in zone_records(shop_resolver, "cluster.test.")}
    assert "db-0.db.shop.svc.cluster.test." in names
    assert not any(name.endswith(".cluster.local.") for name in names)


def test_origins_name_the_service_slice_endpoint_and_pod(shop_resolver):
    records = {(r.name, r.rtype, r.rdata): r.origin for r in zone_records(shop_resolver, ZONE, origins=True)}
    cart_a = records[("cart-x.cart.shop.svc.cluster.local.", "A", "10.244.5.1")]
    assert (cart_a.namespace, cart_a.service, cart_a.slice, cart_a.endpoint, cart_a.pod) == (
        "shop", "cart", "cart-a", "cart-x", "cart-x")
    assert records[("cart-x.cart.shop.svc.cluster.local.", "AAAA", "fd00::5:1")].slice == "cart-b"
    assert records[("cart.shop.svc.cluster.local.", "A", "10.96.5.5")].slice is None
    srv = records[("db.shop.svc.cluster.local.", "SRV", "0 16 5432 db-1.db.shop.svc.cluster.local.")]
    assert (srv.slice, srv.endpoint) == ("db-a", "db-1")
    assert records[("ext.shop.svc.cluster.local.", "CNAME", "payments.example.com.")].service == "ext"
    assert records[("cluster.local.", "NS", "ns.dns.cluster.local.")] is None
