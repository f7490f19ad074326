"""`clusterdns dump`: what the server serves, in SPEC §10 order, as a valid zone file or JSON."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import dns.zone
import pytest

from clusterdns.audit.sources import SourceError, cluster_source
from clusterdns.dns.zone import Record
from clusterdns.server.directives import kubernetes_block, load_servers
from harness.dumps import cli
from harness.fakeapi import FakeKubeAPI
from harness.paths import DEMO
from harness.resolvers import ZONE
from harness.snapshots import shop_cluster, write_snapshot


@pytest.mark.root(tools=["named-checkzone"])
def test_dump_validates_with_named_checkzone(tmp_path):
    snapshot = write_snapshot(tmp_path / "shop.yaml", shop_cluster())
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


def test_live_dump_equals_the_snapshot_dump(tmp_path: Path):
    """`--kubeconfig`: one full list through the informer, the same records as a snapshot."""
    snapshot = write_snapshot(tmp_path / "shop.yaml", shop_cluster())
    with FakeKubeAPI() as fake:
        for item in shop_cluster():
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
