"""Loading kubectl dumps: formats, all-or-nothing errors that name the file and the item."""

from __future__ import annotations

import json
import logging

import pytest
import yaml

from clusterdns.plugins.kubernetes.objects import Namespace, Service
from clusterdns.plugins.kubernetes.selector import parse_selector
from clusterdns.plugins.kubernetes.snapshot import SnapshotError, load_snapshot
from harness.paths import DEMO
from harness.query import ask
from harness.server import start_server, stop_server
from harness.snapshots import (
    endpoint,
    endpoint_slice,
    labelled,
    namespace,
    pod,
    service,
    write_snapshot,
)
from harness.wait import wait_for


def test_demo_cluster_loads_every_kind():
    objects = load_snapshot(DEMO)
    assert {kind.__name__: len(items) for kind, items in objects.items()} == {
        "Service": 9, "EndpointSlice": 7, "Namespace": 3, "Pod": 11,
    }


def test_json_list_and_multi_document_yaml(tmp_path):
    items = [namespace("a"), service("a", "s", ["10.0.0.1"], [("http", "TCP", 80)])]
    as_json = tmp_path / "dump.json"
    as_json.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    multi = tmp_path / "multi.yaml"
    multi.write_text(yaml.safe_dump_all(items))
    for path in (as_json, multi):
        services = load_snapshot(path)[Service]
        assert [(s.namespace, s.name, s.cluster_ips) for s in services] == [("a", "s", ("10.0.0.1",))]


def test_unknown_kinds_are_skipped_and_counted(tmp_path, caplog):
    items = [namespace("a"), {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}]
    path = write_snapshot(tmp_path / "s.yaml", items)
    with caplog.at_level(logging.INFO, logger="clusterdns.snapshot"):
        load_snapshot(path)
    assert "skipped 1 objects of other kinds (ConfigMap: 1)" in caplog.text


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([{"kind": "Service", "metadata": {"namespace": "a"}}], "item 0 (Service a/<no name>): metadata.name is missing"),
        ([namespace("a"), {"kind": "Service", "metadata": {"name": "s", "namespace": "a"},
                           "spec": {"ports": [{"port": "eighty"}]}}],
         "item 1 (Service a/s): spec.ports[0].port must be a port number, not 'eighty'"),
        ([endpoint_slice("a", "s", "sl", [{"addresses": "10.0.0.1"}])],
         "item 0 (EndpointSlice a/sl): endpoints[0].addresses must be a list, not str"),
        ([{"kind": "EndpointSlice", "metadata": {"name": "sl", "namespace": "a"}, "endpoints": []}],
         "item 0 (EndpointSlice a/sl): addressType is missing"),
        (["just a string"], "item 0: not a mapping but str"),
        ([service("a", "s", ["999.1.1.1"])],
         "item 0 (Service a/s): spec.clusterIPs[0]: '999.1.1.1' is not an IP address"),
        ([service("a", "s", ["10.96.0.1", "fd00::zz"])],
         "item 0 (Service a/s): spec.clusterIPs[1]: 'fd00::zz' is not an IP address"),
        ([endpoint_slice("a", "s", "sl", [endpoint("10.0.0.1"), endpoint("not-an-ip")])],
         "item 0 (EndpointSlice a/sl): endpoints[1].addresses[0]: 'not-an-ip' is not an IP address"),
        ([pod("a", "p", "10.0.0.300")],
         "item 0 (Pod a/p): status.podIPs[0]: '10.0.0.300' is not an IP address"),
        ([service("a", "s", ["10.96.0.1"], external_ips=["192.0.2.1", "192.0.2.999"])],
         "item 0 (Service a/s): spec.externalIPs[1]: '192.0.2.999' is not an IP address"),
        ([service("a", "s", ["10.96.0.1"], ingress=[{"hostname": "lb.example"}, {"ip": "lb"}])],
         "item 0 (Service a/s): status.loadBalancer.ingress[1].ip: 'lb' is not an IP address"),
        ([service("a", "s", ["10.96.0.1"], ingress=[{"hostname": "a..example"}])],
         "item 0 (Service a/s): status.loadBalancer.ingress[0].hostname: 'a..example' is not a "
         "host name"),
    ],
)
def test_bad_objects_name_file_and_item(tmp_path, items, message):
    path = write_snapshot(tmp_path / "bad.yaml", items)
    with pytest.raises(SnapshotError) as error:
        load_snapshot(path)
    assert str(error.value) == f"{path}: {message}"


def test_invalid_yaml_and_json_and_missing_file(tmp_path):
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("items: [unclosed\n")
    with pytest.raises(SnapshotError, match=r"bad\.yaml: not valid YAML"):
        load_snapshot(bad_yaml)
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{")
    with pytest.raises(SnapshotError, match=r"bad\.json: not valid JSON"):
        load_snapshot(bad_json)
    with pytest.raises(SnapshotError, match="cannot read"):
        load_snapshot(tmp_path / "missing.yaml")


def test_binary_junk_is_an_error_naming_the_file(tmp_path):
    junk = tmp_path / "junk.yaml"
    junk.write_bytes(bytes(range(256)) * 4096)
    with pytest.raises(SnapshotError, match=rf"^{junk}: not UTF-8 text \(byte 128\)"):
        load_snapshot(junk)


def test_endpoint_defaults(tmp_path):
    path = write_snapshot(tmp_path / "s.yaml", [endpoint_slice("a", "s", "sl", [endpoint("10.0.0.1", ready=None)])])
    (sl,) = next(v for k, v in load_snapshot(path).items() if k.__name__ == "EndpointSlice")
    assert sl.endpoints[0].ready is True and sl.service == "s"


LABELLED = [
    labelled(namespace("shop"), {"team": "web"}),
    labelled(namespace("ops"), {"team": "infra"}),
    labelled(service("shop", "cart", ["10.96.0.1"]), {"env": "prod"}),
    labelled(service("shop", "beta", ["10.96.0.2"]), {"env": "dev"}),
    labelled(service("ops", "grafana", ["10.96.0.3"]), {"env": "prod"}),
]


def selecting(labels: str, namespace_labels: str) -> str:
    return (".:53 {\n    reload 2s 1s\n    kubernetes cluster.local {\n"
            f"        labels {labels}\n        namespace_labels {namespace_labels}\n    }}\n}}\n")


def test_a_snapshot_is_served_as_the_label_selectors_select_it_and_reselected_on_reload(tmp_path):
    snapshot = write_snapshot(tmp_path / "cluster.yaml", LABELLED)
    corefile = tmp_path / "Corefile"
    corefile.write_text(selecting("env=prod", "team in (web)"))
    server = start_server(["--conf", str(corefile), "--snapshot", str(snapshot)])
    try:
        assert ask(server, "cart.shop.svc.cluster.local.") == ("NOERROR", {"10.96.0.1"})
        assert ask(server, "beta.shop.svc.cluster.local.")[0] == "NXDOMAIN"  # env=dev
        assert ask(server, "grafana.ops.svc.cluster.local.")[0] == "NXDOMAIN"  # team=infra
        corefile.write_text(selecting("env!=prod", "team"))
        wait_for(lambda: ask(server, "beta.shop.svc.cluster.local.") == ("NOERROR", {"10.96.0.2"}),
                 what="beta selected after the reload")
        assert ask(server, "cart.shop.svc.cluster.local.")[0] == "NXDOMAIN"
        assert ask(server, "grafana.ops.svc.cluster.local.")[0] == "NXDOMAIN"  # env=prod
    finally:
        stop_server(server)


def test_label_selectors_leave_out_what_they_do_not_select(tmp_path, caplog):
    path = write_snapshot(tmp_path / "cluster.yaml", LABELLED)
    with caplog.at_level(logging.INFO, logger="clusterdns.snapshot"):
        objects = load_snapshot(path, parse_selector("env=prod"), parse_selector("!nothing"))
    assert sorted(s.name for s in objects[Service]) == ["cart", "grafana"]
    assert sorted(n.name for n in objects[Namespace]) == ["ops", "shop"]
    assert "left out 1 objects the label selectors do not select" in caplog.text
