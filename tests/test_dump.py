"""`clusterdns dump`: what the server serves, in SPEC §10 order, as a valid zone file or JSON."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path

import dns.zone
import pytest
from dnslib import QTYPE

from clusterdns.audit.diff import service_of
from clusterdns.audit.sources import SourceError, cluster_source
from clusterdns.cli.progress import Progress
from clusterdns.dns.zone import Record, record_from_rr
from clusterdns.plugins.kubernetes.zone import zone_records
from clusterdns.server.app import kubernetes_block, load_servers
from tests.conftest import DEMO
from tests.dump_helpers import cli
from tests.fakeapi import FakeKubeAPI
from tests.resolver_helpers import ZONE, make_resolver, state_from_file, state_from_items
from tests.snapshots import endpoint, endpoint_slice, namespace, service, write_snapshot

# More shapes than the demo: two zones, shared endpoint names, an unnamed port, a named
# endpoint in a ClusterIP service, not-ready and IPv6 endpoints, endpoint pod names.
ITEMS = [
    namespace("shop"),
    service("shop", "cart", ["10.96.5.5", "fd00::5"], [("http", "TCP", 80), ("", "TCP", 81)]),
    endpoint_slice("shop", "cart", "cart-a", [endpoint("10.244.5.1", pod="cart-x"),
                                              endpoint("10.244.5.2", ready=False, pod="cart-y")],
                   [("http", "TCP", 8080)]),
    endpoint_slice("shop", "cart", "cart-b", [endpoint("fd00::5:1", pod="cart-x")],
                   [("http", "TCP", 8080)], address_type="IPv6"),
    service("shop", "db", ["None"], [("pg", "TCP", 5432), ("metrics", "TCP", 9187)]),
    endpoint_slice("shop", "db", "db-a", [endpoint("10.244.6.1", hostname="db-0"),
                                          endpoint("10.244.6.2", hostname="db-0"),
                                          endpoint("10.244.6.3", hostname="db-1")],
                   [("pg", "TCP", 5432), ("metrics", "TCP", 9187)]),
    service("shop", "ext", external_name="payments.example.com"),
]


@pytest.fixture(scope="module")
def demo_resolver():
    return make_resolver(state_from_file(DEMO))


@pytest.fixture(scope="module")
def shop_resolver():
    return make_resolver(
        state_from_items(ITEMS), zones=(ZONE, "cluster.test."), endpoint_pod_names=True
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


def test_dump_validates_with_named_checkzone(tmp_path):
    if shutil.which("named-checkzone") is None:
        pytest.skip("named-checkzone is not installed (make system-deps installs bind9-utils)")
    snapshot = write_snapshot(tmp_path / "shop.yaml", ITEMS)
    for source in (DEMO, snapshot):
        out = tmp_path / "zone"
        assert cli("dump", "--snapshot", source, "-o", out).exit_code == 0
        check = subprocess.run(["named-checkzone", "-i", "full", "cluster.local", str(out)],
                               capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, check.stdout + check.stderr
        assert check.stdout.rstrip().endswith("OK")


def test_dump_parses_with_dnspython_and_holds_every_record(tmp_path):
    result = cli("dump", "--snapshot", DEMO)
    assert result.exit_code == 0
    zone = dns.zone.from_text(result.stdout, origin=ZONE, relativize=False)
    lines = [line for line in result.stdout.splitlines() if line and line[0] not in ";$"]
    parsed = {f"{name} {rdataset.ttl} {dns.rdatatype.to_text(rdataset.rdtype)} {rd.to_text()}"
              for name, rdataset in zone.iterate_rdatasets() for rd in rdataset}
    assert len(parsed) == len(set(lines)) == len(lines) - 1  # the SOA twice
    assert zone.get_rdataset("web-0.web.demo.svc.cluster.local.", "A")[0].address == "10.244.2.10"


def test_stable_dumps_are_byte_identical_and_carry_no_varying_line(tmp_path):
    first, second = tmp_path / "1.zone", tmp_path / "2.zone"
    assert cli("dump", "--stable", "-o", first).exit_code == 0
    assert cli("dump", "--stable", "-o", second).exit_code == 0
    assert first.read_bytes() == second.read_bytes()
    text = first.read_text()
    assert not text.startswith(";")
    assert "hostmaster.cluster.local. 0 7200 1800 86400 30" in text
    for fmt in ("json",):
        a, b = cli("dump", "--stable", "--format", fmt), cli("dump", "--stable", "--format", fmt)
        assert a.stdout == b.stdout and "time" not in json.loads(a.stdout)


def test_header_says_source_time_and_serial(tmp_path):
    text = cli("dump", "--snapshot", DEMO).stdout
    header = [line for line in text.splitlines() if line.startswith(";")]
    assert header[0] == "; clusterdns 0.1.0 dump of cluster.local."
    assert header[1].startswith(f"; source: snapshot {DEMO} (sha256 ")
    assert header[2].startswith("; time: 20")
    soa = next(line for line in text.splitlines() if "\tSOA\t" in line)
    assert soa.split()[6] != "0"


def test_json_holds_the_same_records_as_the_zone_file():
    zone = cli("dump", "--stable").stdout
    doc = json.loads(cli("dump", "--stable", "--format", "json").stdout)
    assert doc["zone"] == ZONE and doc["format"] == "clusterdns-dump/1"
    lines = [line for line in zone.splitlines() if not line.startswith("$")]
    assert [Record(r["name"], r["ttl"], r["type"], r["rdata"]).text() for r in doc["records"]] == lines
    web0 = next(r for r in doc["records"] if r["name"] == "web-0.web.demo.svc.cluster.local.")
    assert web0 == {"name": "web-0.web.demo.svc.cluster.local.", "type": "A", "ttl": 30,
                    "rdata": "10.244.2.10", "service": "demo/web", "slice": "web-7bq4d",
                    "endpoint": "web-0", "pod": "web-0"}


def test_output_is_replaced_atomically_and_kept_on_error(tmp_path):
    out = tmp_path / "cluster.zone"
    out.write_text("old\n")
    result = cli("dump", "--zone", "elsewhere.local", "-o", out)
    assert result.exit_code == 2 and "elsewhere.local. is not a cluster zone" in result.stderr
    assert out.read_text() == "old\n"
    assert cli("dump", "--stable", "-o", out).exit_code == 0
    assert out.read_text() == cli("dump", "--stable").stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cluster.zone"]  # no temporary left


def test_progress_goes_quiet_for_quick_work_and_counts_long_work():
    quick, slow = io.StringIO(), io.StringIO()
    Progress("dump", stream=quick).note("read 9 services")
    progress = Progress("dump", delay=0, stream=slow)
    progress._last -= 1  # a second has passed since the start
    progress.count(5, 10)
    progress.note("wrote out.zone")
    assert quick.getvalue() == ""
    lines = slow.getvalue().splitlines()
    assert lines[0] == "clusterdns dump: 5/10 services"
    assert lines[1].startswith("clusterdns dump: wrote out.zone (")


def test_live_dump_equals_the_snapshot_dump(tmp_path: Path):
    """`--kubeconfig`: one full list through the informer, the same records as a snapshot."""
    snapshot = write_snapshot(tmp_path / "shop.yaml", ITEMS)
    with FakeKubeAPI() as fake:
        for item in ITEMS:
            fake.add(item)
        kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
        live = cli("dump", "--kubeconfig", kubeconfig)
    assert live.exit_code == 0, live.stderr
    header, _, body = live.stdout.partition("$ORIGIN")
    assert f"; source: cluster {fake.url}" in header
    assert "; resourceVersion: Service " in header and "EndpointSlice " in header
    from_file = cli("dump", "--snapshot", snapshot).stdout.partition("$ORIGIN")[2]
    mask = lambda text: [line for line in text.splitlines() if "\tSOA\t" not in line]  # noqa: E731
    assert mask(body) == mask(from_file)


def test_live_dump_names_what_went_wrong(tmp_path: Path):
    result = cli("dump", "--kubeconfig", tmp_path / "missing")
    assert result.exit_code == 2 and "no such file" in result.stderr
    with FakeKubeAPI() as fake:
        kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
    k8s = kubernetes_block(load_servers(None))[1]
    with pytest.raises(SourceError, match="no full list of the cluster within 1 s"):
        cluster_source(k8s, str(kubeconfig), None, timeout=1)  # the API is gone
