"""`clusterdns diff`: dump, change the cluster, dump again, and see exactly the change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clusterdns.audit.zonefile import DumpError, read_dump
from harness.dumps import cli
from harness.snapshots import endpoint, endpoint_slice, namespace, service, write_snapshot


def cluster(web_endpoints: int = 2, api_ip: str = "10.96.0.20", with_cache: bool = True):
    items = [
        namespace("shop"),
        service("shop", "api", [api_ip], [("http", "TCP", 80)]),
        service("shop", "web", ["None"], [("http", "TCP", 80)]),
        endpoint_slice("shop", "web", "web-a",
                       [endpoint(f"10.244.1.{i}", hostname=f"web-{i}") for i in range(web_endpoints)],
                       [("http", "TCP", 8080)]),
    ]
    if with_cache:
        items.append(service("shop", "cache", ["10.96.0.30"], [("redis", "TCP", 6379)]))
    return items


def dumps(tmp_path: Path, old: list, new: list, *flags: str) -> tuple[Path, Path]:
    paths = []
    for label, items in (("old", old), ("new", new)):
        snapshot = write_snapshot(tmp_path / f"{label}.yaml", items)
        out = tmp_path / f"{label}.dump"
        assert cli("dump", "--snapshot", snapshot, "-o", out, *flags).exit_code == 0
        paths.append(out)
    return paths[0], paths[1]


def test_equal_dumps_exit_0_even_with_other_serials_and_times(tmp_path):
    old, new = dumps(tmp_path, cluster(), cluster())
    result = cli("diff", old, new)
    assert result.exit_code == 0, result.stdout
    assert result.stdout == "0 added, 0 removed, 0 changed RRsets\n"


def test_diff_reports_exactly_the_change(tmp_path):
    """A third web endpoint, a new api cluster IP, a deleted service."""
    old, new = dumps(tmp_path, cluster(), cluster(web_endpoints=3, api_ip="10.96.0.21", with_cache=False))
    result = cli("diff", old, new)
    assert result.exit_code == 1
    assert result.stdout == """\
service shop/api
  ~ api.shop.svc.cluster.local. A
      - api.shop.svc.cluster.local.\t30\tIN\tA\t10.96.0.20
      + api.shop.svc.cluster.local.\t30\tIN\tA\t10.96.0.21
  ~ _http._tcp.api.shop.svc.cluster.local. A
      - _http._tcp.api.shop.svc.cluster.local.\t30\tIN\tA\t10.96.0.20
      + _http._tcp.api.shop.svc.cluster.local.\t30\tIN\tA\t10.96.0.21
service shop/cache
  - cache.shop.svc.cluster.local. A
      cache.shop.svc.cluster.local.\t30\tIN\tA\t10.96.0.30
  - cache.shop.svc.cluster.local. SRV
      cache.shop.svc.cluster.local.\t30\tIN\tSRV\t0 100 6379 cache.shop.svc.cluster.local.
  - _redis._tcp.cache.shop.svc.cluster.local. A
      _redis._tcp.cache.shop.svc.cluster.local.\t30\tIN\tA\t10.96.0.30
  - _redis._tcp.cache.shop.svc.cluster.local. SRV
      _redis._tcp.cache.shop.svc.cluster.local.\t30\tIN\tSRV\t0 100 6379 cache.shop.svc.cluster.local.
service shop/web
  ~ web.shop.svc.cluster.local. A
      + web.shop.svc.cluster.local.\t30\tIN\tA\t10.244.1.2
  ~ web.shop.svc.cluster.local. SRV
      - web.shop.svc.cluster.local.\t30\tIN\tSRV\t0 50 8080 web-0.web.shop.svc.cluster.local.
      - web.shop.svc.cluster.local.\t30\tIN\tSRV\t0 50 8080 web-1.web.shop.svc.cluster.local.
      + web.shop.svc.cluster.local.\t30\tIN\tSRV\t0 33 8080 web-0.web.shop.svc.cluster.local.
      + web.shop.svc.cluster.local.\t30\tIN\tSRV\t0 33 8080 web-1.web.shop.svc.cluster.local.
      + web.shop.svc.cluster.local.\t30\tIN\tSRV\t0 33 8080 web-2.web.shop.svc.cluster.local.
  ~ _http._tcp.web.shop.svc.cluster.local. A
      + _http._tcp.web.shop.svc.cluster.local.\t30\tIN\tA\t10.244.1.2
  ~ _http._tcp.web.shop.svc.cluster.local. SRV
      - _http._tcp.web.shop.svc.cluster.local.\t30\tIN\tSRV\t0 50 8080 web-0.web.shop.svc.cluster.local.
      - _http._tcp.web.shop.svc.cluster.local.\t30\tIN\tSRV\t0 50 8080 web-1.web.shop.svc.cluster.local.
      + _http._tcp.web.shop.svc.cluster.local.\t30\tIN\tSRV\t0 33 8080 web-0.web.shop.svc.cluster.local.
      + _http._tcp.web.shop.svc.cluster.local.\t30\tIN\tSRV\t0 33 8080 web-1.web.shop.svc.cluster.local.
      + _http._tcp.web.shop.svc.cluster.local.\t30\tIN\tSRV\t0 33 8080 web-2.web.shop.svc.cluster.local.
  + web-2.web.shop.svc.cluster.local. A
      web-2.web.shop.svc.cluster.local.\t30\tIN\tA\t10.244.1.2
  + web-2.web.shop.svc.cluster.local. SRV
      web-2.web.shop.svc.cluster.local.\t30\tIN\tSRV\t0 100 8080 web-2.web.shop.svc.cluster.local.
2 added, 4 removed, 6 changed RRsets
"""


def test_json_report_and_mixed_formats(tmp_path):
    old, _ = dumps(tmp_path, cluster(), cluster())
    new = tmp_path / "new.json"
    snapshot = write_snapshot(tmp_path / "new.yaml", cluster(api_ip="10.96.0.21"))
    assert cli("dump", "--snapshot", snapshot, "--format", "json", "-o", new).exit_code == 0
    result = cli("diff", "--json", old, new)
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["equal"] is False
    assert report["summary"] == {"added": 0, "removed": 0, "changed": 2}
    assert report["new"]["source"].startswith("snapshot ") and report["new"]["format"] == "clusterdns-dump/1"
    assert report["changes"][0] == {
        "change": "changed", "service": "shop/api", "name": "api.shop.svc.cluster.local.", "type": "A",
        "old": [{"ttl": 30, "rdata": "10.96.0.20"}], "new": [{"ttl": 30, "rdata": "10.96.0.21"}],
    }


def test_the_same_state_as_zone_file_and_json_is_equal(tmp_path):
    zone, json_dump = tmp_path / "a.zone", tmp_path / "a.json"
    assert cli("dump", "-o", zone).exit_code == 0
    assert cli("dump", "--format", "json", "-o", json_dump).exit_code == 0
    assert cli("diff", zone, json_dump).exit_code == 0


def test_stdin_as_new(tmp_path):
    old = tmp_path / "old.zone"
    assert cli("dump", "-o", old).exit_code == 0
    assert cli("diff", old, "-", stdin=cli("dump").stdout).exit_code == 0


def test_errors_exit_2(tmp_path):
    bad = tmp_path / "bad.zone"
    bad.write_text("cluster.local. 30 IN\n")
    assert cli("diff", tmp_path / "missing", bad).exit_code == 2
    result = cli("diff", bad, bad)
    assert result.exit_code == 2 and f"{bad}:1: not a record" in result.stderr
    broken_json = tmp_path / "bad.json"
    broken_json.write_text('{"records": [{"name": "x."}]}')
    assert "not a clusterdns JSON dump" in cli("diff", broken_json, bad).stderr


def test_zone_file_reader_takes_ordinary_zone_files(tmp_path):
    path = tmp_path / "hand.zone"
    path.write_text("""\
$ORIGIN cluster.local.
$TTL 60
@   IN SOA ns.dns hostmaster ( 7 7200 1800
                               86400 30 ) ; a comment
    IN NS  ns.dns
ns.dns  A 10.0.0.1
web.shop.svc 30 IN A 10.244.1.1
txt  IN TXT "a ; not a comment"
alias CNAME Web.Shop.Svc
""")
    dump = read_dump(path)
    assert dump.zone == "cluster.local."
    assert [r.text() for r in dump.records] == [
        "cluster.local.\t60\tIN\tSOA\tns.dns.cluster.local. hostmaster.cluster.local. 7 7200 1800 86400 30",
        "cluster.local.\t60\tIN\tNS\tns.dns.cluster.local.",
        "ns.dns.cluster.local.\t60\tIN\tA\t10.0.0.1",
        "web.shop.svc.cluster.local.\t30\tIN\tA\t10.244.1.1",
        'txt.cluster.local.\t60\tIN\tTXT\t"a ; not a comment"',
        "alias.cluster.local.\t60\tIN\tCNAME\tweb.shop.svc.cluster.local.",
    ]
    path.write_text("x. 30 IN SOA ( a. b. 1 2 3 4 5\n")
    with pytest.raises(DumpError, match="unclosed"):
        read_dump(path)
