"""The zone transfer's stream (plugins/kubernetes/xfr.py): CoreDNS 1.14's k.Transfer record for
record, where the dump (test_zone.py) lists every name the resolver answers. The replay of
CoreDNS's own xfr_test is in test_coredns_tables.py; these are the shapes its fixture lacks."""

from __future__ import annotations

import pytest
from dnslib import QTYPE

from clusterdns.dns.zone import Record, record_from_rr
from clusterdns.plugins.kubernetes.xfr import transfer_records
from clusterdns.plugins.kubernetes.zone import zone_records
from harness.paths import DEMO
from harness.resolvers import ZONE, make_resolver, rcode_name, state_from_file, state_from_items
from harness.snapshots import endpoint, endpoint_slice, namespace, service, shop_cluster

SHOP = "shop.svc.cluster.local."


def lines(records) -> list[str]:
    return [f"{r.name} {r.rtype} {r.rdata}" for r in records]


def of_service(records: list[Record], base: str) -> list[str]:
    """The records of one service (its name and the names under it), in stream order."""
    return lines(r for r in records if r.name == base or r.name.endswith("." + base))


@pytest.fixture(scope="module")
def shop():
    return make_resolver(state_from_items(shop_cluster()))


def test_cluster_ip_service_srv_per_port_weight_100(shop):
    """Each cluster IP's address, then per port an SRV at the service name (the unnamed port
    too) and one at _port._proto for a named port: weight 100, dual-stack or not."""
    cart = f"cart.{SHOP}"
    assert of_service(list(transfer_records(shop, ZONE)), cart) == [
        f"{cart} A 10.96.5.5",
        f"{cart} AAAA fd00::5",
        f"{cart} SRV 0 100 80 {cart}",
        f"_http._tcp.{cart} SRV 0 100 80 {cart}",
        f"{cart} SRV 0 100 81 {cart}",
    ]
    # the query answers weigh the records before de-duplication, one per cluster IP (as
    # CoreDNS's plugin.SRV does over its k.Services): 2 ports x 2 IPs, 1 port x 2 IPs
    srv = shop.resolve(cart, QTYPE.SRV).answer
    assert {str(rr.rdata) for rr in srv} == {f"0 25 80 {cart}", f"0 25 81 {cart}"}
    (named,) = shop.resolve(f"_http._tcp.{cart}", QTYPE.SRV).answer
    assert str(named.rdata) == f"0 50 80 {cart}"


def test_headless_service_endpoint_by_endpoint_duplicates_kept(shop):
    """Two addresses under one endpoint name give the same SRV records twice, as CoreDNS's
    stream has them; the weight is over the slice's three ready addresses."""
    db = f"db.{SHOP}"
    endpoints = [("db-0", "10.244.6.1"), ("db-0", "10.244.6.2"), ("db-1", "10.244.6.3")]
    expected = []
    for name, ip in endpoints:
        expected += [
            f"{db} A {ip}",
            f"{name}.{db} A {ip}",
            f"_pg._tcp.{db} SRV 0 33 5432 {name}.{db}",
            f"_metrics._tcp.{db} SRV 0 33 9187 {name}.{db}",
        ]
    assert of_service(list(transfer_records(shop, ZONE)), db) == expected


def test_headless_dual_stack_is_weighed_slice_by_slice():
    """CoreDNS reads each EndpointSlice as an Endpoints object of one subset and weighs its
    SRV records over that slice's ready addresses; the query answer weighs over all."""
    http = [("http", "TCP", 80)]
    resolver = make_resolver(state_from_items([
        namespace("ns"),
        service("ns", "web", ["None"], http),
        endpoint_slice("ns", "web", "web-v4", [
            endpoint("10.0.0.1", hostname="web-0"), endpoint("10.0.0.2", hostname="web-1"),
            endpoint("10.0.0.3", hostname="web-2"), endpoint("10.0.0.4", ready=False),
        ], http),
        endpoint_slice("ns", "web", "web-v6", [
            endpoint("fd00::1", hostname="web-0"), endpoint("fd00::2", hostname="web-1"),
        ], http, address_type="IPv6"),
    ]))
    web = "web.ns.svc.cluster.local."
    srv = [r for r in transfer_records(resolver, ZONE) if r.rtype == "SRV"]
    assert [r.rdata.split()[1] for r in srv] == ["33", "33", "33", "50", "50"]
    answer = resolver.resolve(f"_http._tcp.{web}", QTYPE.SRV).answer
    assert {rr.rdata.weight for rr in answer} == {20}


def test_external_name_is_its_cname_and_an_ip_one_nothing():
    resolver = make_resolver(state_from_items([
        namespace("ns"),
        service("ns", "ext", external_name="payments.example.com"),
        service("ns", "byip", external_name="192.0.2.1"),
    ]))
    services = lines(r for r in transfer_records(resolver, ZONE) if ".svc." in r.name)
    assert services == ["ext.ns.svc.cluster.local. CNAME payments.example.com."]


def test_what_is_not_transferred():
    """Services of namespaces not served (that do not exist, or that `namespaces` leaves
    out), headless ones without ready endpoints; under noendpoints (no endpoints watched, as
    in CoreDNS) a headless service's endpoints."""
    http = [("http", "TCP", 80)]
    items = [
        namespace("ns"), namespace("other"),
        service("ns", "api", ["10.96.0.5"], http),
        service("other", "api", ["10.96.0.6"], http),
        service("gone", "api", ["10.96.0.7"], http),  # its namespace does not exist
        service("ns", "idle", ["None"], http),
        endpoint_slice("ns", "idle", "idle-1", [endpoint("10.0.0.9", ready=False)], http),
        service("ns", "web", ["None"], http),
        endpoint_slice("ns", "web", "web-1", [endpoint("10.0.0.1")], http),
    ]

    def services(**options) -> set[str]:
        resolver = make_resolver(state_from_items(items), **options)
        names = {r.name for r in transfer_records(resolver, ZONE)}
        return {name for name in names if name.startswith(("api.", "idle.", "web."))}

    shown = {"api.ns.svc.cluster.local.", "api.other.svc.cluster.local."}
    assert services() == {*shown, "web.ns.svc.cluster.local."}
    assert services(namespaces=frozenset({"other", "gone"})) == {"api.other.svc.cluster.local."}
    assert services(noendpoints=True) == shown


def test_a_service_ignore_empty_service_denies_is_transferred_as_coredns_does():
    """CoreDNS's transfer does not read `ignore empty_service`: a ClusterIP service without
    ready endpoints is in its stream though its name is NXDOMAIN."""
    resolver = make_resolver(
        state_from_items([namespace("ns"), service("ns", "idle", ["10.96.0.9"], [])]),
        ignore_empty_service=True,
    )
    idle = "idle.ns.svc.cluster.local."
    assert f"{idle} A 10.96.0.9" in lines(transfer_records(resolver, ZONE))
    assert rcode_name(resolver.resolve(idle, QTYPE.A)) == "NXDOMAIN"


def test_one_ns_record_and_the_glue_of_each_own_address():
    """CoreDNS's TestKubernetesAXFRMultipleNSAddrs: a dual-stack server's two addresses give
    one NS record and both glue records; the stream still ends with the SOA."""
    resolver = make_resolver(state_from_file(DEMO), own_ips=("10.0.0.10", "fd00::10"))
    records = list(transfer_records(resolver, ZONE))
    assert lines(records[1:4]) == [
        "cluster.local. NS ns.dns.cluster.local.",
        "ns.dns.cluster.local. A 10.0.0.10",
        "ns.dns.cluster.local. AAAA fd00::10",
    ]
    assert records[0] == records[-1] and records[0].rtype == "SOA"
    assert [r.rtype for r in records].count("NS") == 1


@pytest.mark.parametrize("cluster", ["demo", "shop"])
def test_every_transferred_record_is_answered_srv_weights_aside(cluster, shop):
    """What the transfer sends, the resolver answers (with its own SRV weights); the dump
    lists more names than the transfer sends."""
    resolver = shop if cluster == "shop" else make_resolver(state_from_file(DEMO))
    records = list(transfer_records(resolver, ZONE))
    for record in records:
        answer = resolver.resolve(record.name, getattr(QTYPE, record.rtype)).answer
        answered = {_weightless(record_from_rr(rr)) for rr in answer}
        assert _weightless(record) in answered, record
    dumped = {r.name for r in zone_records(resolver, ZONE)}
    assert {r.name for r in records} < dumped


def _weightless(record: Record) -> tuple[str, str, str]:
    rdata = record.rdata.split()
    if record.rtype == "SRV":
        rdata[1] = "-"
    if record.rtype == "SOA":
        rdata[2] = "-"
    return record.name.lower(), record.rtype, " ".join(rdata)
