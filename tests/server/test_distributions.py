"""Distributions' own Corefiles run unchanged (tests/data/corefiles/, with sources): each
starts on loopback and answers a cluster name, a name its extra plugins serve, and a name it
forwards, to the test's own upstream (never the machine's resolver)."""

from __future__ import annotations

import re
from pathlib import Path

import dns.rcode
import pytest
import yaml

from harness.http import metrics, value
from harness.paths import DEMO, REPO
from harness.query import ask, query, rdatas
from harness.server import ServerProcess, serving
from harness.snapshots import service, write_snapshot
from harness.upstream import FakeUpstream
from harness.wait import wait_for

CORES = REPO / "tests" / "data" / "corefiles"
LOOPBACK = {
    re.compile(r"^(\s*)health\b[^\S\n]*[^\s{]*", re.M): r"\1health 127.0.0.1:0 ",
    re.compile(r"^(\s*)ready$", re.M): r"\1ready 127.0.0.1:0",
    re.compile(r"prometheus +\S*:\d+"): "prometheus 127.0.0.1:0",
    re.compile(r"%\{CLUSTER_DOMAIN\}%|__PILLAR__DNS__DOMAIN__"): "cluster.local",
    re.compile(r"__PILLAR__LOCAL__DNS__"): "127.0.0.1",
    re.compile(r"__PILLAR__DNS__SERVER__"): "127.0.0.2",
}


def runnable(name: str, upstream: FakeUpstream, root: Path) -> Path:
    """The distribution's Corefile with only what a test cannot use rewritten."""
    text = (CORES / name).read_text()
    for pattern, replacement in LOOPBACK.items():
        text = pattern.sub(replacement, text)
    text = re.sub(r"forward +\. +/etc/resolv\.conf", f"forward . {upstream.address}", text)
    text = text.replace("/etc/coredns/", f"{root}/").replace("/rootfs/etc/hosts", f"{root}/hosts")
    path = root / "Corefile"
    path.write_text(text)
    return path


def on_demo(corefile: Path) -> list[str]:
    """serve's arguments: `corefile` over the demo cluster."""
    return ["--conf", str(corefile), "--snapshot", str(DEMO)]


def assert_serves_the_cluster_and_its_reverse_zone(server: ServerProcess) -> None:
    assert ask(server, "nginx.demo.svc.cluster.local.") == ("NOERROR", {"10.96.12.34"})
    assert ask(server, "34.12.96.10.in-addr.arpa.", "PTR") == (
        "NOERROR", {"nginx.demo.svc.cluster.local."})


@pytest.fixture
def upstream():
    with FakeUpstream(records={"example.org.": ["203.0.113.7"]}) as fake:
        yield fake


@pytest.mark.parametrize(("corefile", "pod"), [
    ("kubeadm.Corefile", ("NOERROR", {"10.244.1.10"})),
    ("k0s.Corefile", ("NOERROR", {"10.244.1.10"})),
    ("eks.Corefile", ("NOERROR", {"10.244.1.10"})),
    ("deployment.Corefile", ("NXDOMAIN", set())),  # no `pods insecure`: pod names are off
])
def test_kubeadm_and_its_kin_serve_the_cluster_its_reverse_zones_and_forward_the_rest(
    tmp_path, upstream, corefile, pod
):
    with serving(on_demo(runnable(corefile, upstream, tmp_path))) as server:
        assert_serves_the_cluster_and_its_reverse_zone(server)
        assert ask(server, "10-244-1-10.demo.pod.cluster.local.") == pod
        assert ask(server, "example.org.") == ("NOERROR", {"203.0.113.7"})
        # a reverse name no Service owns falls through to forward, as the block says
        ask(server, "7.113.0.203.in-addr.arpa.", "PTR")
        assert upstream.asked("7.113.0.203.in-addr.arpa.")
        assert not upstream.asked("34.12.96.10.in-addr.arpa.")


@pytest.mark.slow  # its health lameduck is 10 s: stopping takes that long
@pytest.mark.parametrize("corefile", ["helm.Corefile", "rke2.Corefile"])
def test_helm_chart_defaults_serve_the_cluster_forward_the_rest_and_count_them(
    tmp_path, upstream, corefile
):
    # RKE2's chart is CoreDNS's with the cluster domain put in by its template (and doubled
    # spaces after each directive that has parameters, which must not matter)
    with serving(on_demo(runnable(corefile, upstream, tmp_path))) as server:
        assert_serves_the_cluster_and_its_reverse_zone(server)
        assert ask(server, "example.org.") == ("NOERROR", {"203.0.113.7"})
        assert value(metrics(server), "coredns_dns_requests_total") >= 3


def test_kubespray_with_its_documented_error_consolidation(tmp_path, upstream):
    path = runnable("kubespray.Corefile", upstream, tmp_path)
    # coredns_additional_error_config's example in the role's defaults, where the template puts it
    path.write_text(path.read_text().replace(
        "    errors {\n", "    errors {\n      consolidate 5m \".* i/o timeout$\" warning\n", 1))
    with serving(on_demo(path)) as server:
        assert_serves_the_cluster_and_its_reverse_zone(server)
        # prefer_udp: asked over TCP, forwarded over UDP
        assert ask(server, "example.org.", tcp=True) == ("NOERROR", {"203.0.113.7"})
        assert {q.proto for q in upstream.asked("example.org.")} == {"udp"}


def test_k3s_with_node_hosts_and_custom_imports(tmp_path, upstream):
    (tmp_path / "NodeHosts").write_text("172.18.0.2 k3d-server-0\n")
    custom = tmp_path / "custom"
    custom.mkdir()
    (custom / "log.override").write_text("log\n")  # coredns-custom's documented use
    (custom / "stub.server").write_text(
        f"corp.internal:53 {{\n    errors\n    forward . {upstream.address}\n}}\n"
    )
    with serving(on_demo(runnable("k3s.Corefile", upstream, tmp_path))) as server:
        assert ask(server, "nginx.demo.svc.cluster.local.") == ("NOERROR", {"10.96.12.34"})
        assert ask(server, "k3d-server-0.") == ("NOERROR", {"172.18.0.2"})  # NodeHosts
        assert ask(server, "example.org.") == ("NOERROR", {"203.0.113.7"})  # forwarded
        assert ask(server, "db.corp.internal.")[0] == "NOERROR"  # the imported stub domain
        assert upstream.asked("db.corp.internal.")
        assert any('"A IN nginx.demo.svc.cluster.local.' in line for line in server.log)  # log


def test_minikube_with_its_inline_host(tmp_path, upstream):
    with serving(on_demo(runnable("minikube.Corefile", upstream, tmp_path))) as server:
        assert ask(server, "nginx.demo.svc.cluster.local.") == ("NOERROR", {"10.96.12.34"})
        assert ask(server, "host.minikube.internal.") == ("NOERROR", {"192.168.49.1"})
        assert ask(server, "example.org.") == ("NOERROR", {"203.0.113.7"})


@pytest.mark.slow  # its health lameduck is 5 s: stopping takes that long
def test_kubeadm_with_rewrite_aliases_answers_the_names_asked(tmp_path, upstream):
    with serving(on_demo(runnable("rewrite.Corefile", upstream, tmp_path))) as server:
        assert_serves_the_cluster_and_its_reverse_zone(server)
        for _ in range(2):  # the second with the rewritten names' replies kept
            reply = query(server, "api.example.com.")
            assert [(str(r.name), r.to_text().split()[-1]) for r in reply.answer] == [
                ("api.example.com.", "10.96.40.1")]
            reply = query(server, "nginx.demo.cluster.example.com.")
            assert [(str(r.name), r.to_text().split()[-1]) for r in reply.answer] == [
                ("nginx.demo.cluster.example.com.", "10.96.12.34")]
        assert ask(server, "example.org.") == ("NOERROR", {"203.0.113.7"})
        assert not upstream.asked("api.example.com.")


@pytest.mark.slow  # its health lameduck is 5 s: stopping takes that long
def test_kubeadm_with_k8s_external_answers_load_balancers_under_their_zone(tmp_path, upstream):
    items = yaml.safe_load(DEMO.read_text())["items"]
    shop = service("demo", "shop", ["10.96.50.5"], [("https", "TCP", 443)],
                   ingress=[{"ip": "203.0.113.50"}])  # fmt: skip
    cluster = write_snapshot(tmp_path / "cluster.yaml", [*items, shop])
    corefile = runnable("k8s_external.Corefile", upstream, tmp_path)
    with serving(["--conf", str(corefile), "--snapshot", str(cluster)]) as server:
        assert_serves_the_cluster_and_its_reverse_zone(server)
        assert ask(server, "shop.demo.example.com.") == ("NOERROR", {"203.0.113.50"})
        assert ask(server, "_https._tcp.shop.demo.example.com.", "SRV") == (
            "NOERROR", {"0 100 443 shop.demo.example.com."})
        assert ask(server, "nginx.demo.example.com.")[0] == "NXDOMAIN"  # a cluster IP only
        assert ask(server, "example.com.", "NS")[0] == "NOERROR"
        assert ask(server, "example.org.") == ("NOERROR", {"203.0.113.7"})
        assert not upstream.asked("shop.demo.example.com.")


@pytest.mark.slow  # its health lameduck is 20 s: stopping takes that long
def test_openshift_with_bufsize_log_classes_and_chaos(tmp_path, upstream):
    with serving(on_demo(runnable("openshift.Corefile", upstream, tmp_path))) as server:
        assert ask(server, "nginx.demo.svc.cluster.local.") == ("NOERROR", {"10.96.12.34"})
        assert ask(server, "example.org.") == ("NOERROR", {"203.0.113.7"})
        reply = query(server, "hostname.bind.", "TXT", rdclass="CH")
        assert reply.rcode() == dns.rcode.NOERROR and len(rdatas(reply)) == 1
        edns = query(server, "nginx.demo.svc.cluster.local.", use_edns=0, payload=4096)
        assert edns.payload == 1232  # bufsize lowered what the query advertised
        # class error: the answers above are not logged, a failure would be
        assert not any(line.startswith("[INFO] ") for line in server.log)


def test_nodelocal_dnscache_forwards_the_cluster_over_tcp_and_the_rest_upstream(tmp_path, upstream):
    with FakeUpstream(records={"nginx.demo.svc.cluster.local.": ["10.96.12.34"]}) as cluster:
        text = runnable("nodelocaldns.Corefile", upstream, tmp_path).read_text()
        text = text.replace("__PILLAR__CLUSTER__DNS__", cluster.address)
        text = text.replace("__PILLAR__UPSTREAM__SERVERS__", upstream.address)
        corefile = tmp_path / "Corefile"
        corefile.write_text(text)
        with serving(["--conf", str(corefile)]) as server:
            assert ask(server, "nginx.demo.svc.cluster.local.") == ("NOERROR", {"10.96.12.34"})
            assert {q.proto for q in cluster.asked("nginx.demo.svc.cluster.local.")} == {"tcp"}
            assert ask(server, "example.org.") == ("NOERROR", {"203.0.113.7"})
            assert not cluster.asked("example.org.")


@pytest.mark.slow  # its health lameduck is 10 s: stopping takes that long
def test_kops_gossip_serves_the_nodes_hosts_file_for_the_cluster_name_only(tmp_path, upstream):
    # the node's /etc/hosts, where kops's gossip writes the API's and nodes' names
    (tmp_path / "hosts").write_text("127.0.0.1 localhost\n172.20.4.6 api.internal.minimal.k8s.local\n")
    with serving(on_demo(runnable("kops.Corefile", upstream, tmp_path))) as server:
        assert_serves_the_cluster_and_its_reverse_zone(server)  # `cluster.local.` as written
        assert ask(server, "api.internal.minimal.k8s.local.") == ("NOERROR", {"172.20.4.6"})
        assert not upstream.asked("api.internal.minimal.k8s.local.")
        # hosts serves only k8s.local: the file's other names go on to forward
        assert ask(server, "localhost.") == ("NOERROR", {"192.0.2.1"})
        assert upstream.asked("localhost.")


def test_aks_with_its_templates_and_coredns_custom_imports(tmp_path, upstream):
    custom = tmp_path / "custom"
    custom.mkdir()
    # coredns-custom's examples in AKS's "Customize CoreDNS" page: a hosts override and a domain
    (custom / "test.override").write_text(
        "hosts {\n    10.0.0.1 example1.org\n    10.0.0.2 example2.org\n    fallthrough\n}\n"
    )
    (custom / "puglife.server").write_text(
        f"puglife.local:53 {{\n    errors\n    cache 30\n    forward . {upstream.address}\n}}\n"
    )
    with serving(on_demo(runnable("aks.Corefile", upstream, tmp_path))) as server:
        assert_serves_the_cluster_and_its_reverse_zone(server)
        assert ask(server, "example1.org.") == ("NOERROR", {"10.0.0.1"})  # the override
        assert ask(server, "db.puglife.local.") == ("NOERROR", {"192.0.2.1"})  # the server
        assert upstream.asked("db.puglife.local.")
        # the templates: a search-path completion never leaves, a VM's own name does
        for name in ("reddog.microsoft.com.", "svc.reddog.microsoft.com.",
                     "mcr.microsoft.com.myvnetid.myregion.internal.cloudapp.net."):
            assert ask(server, name) == ("NXDOMAIN", set()), name
            assert not upstream.asked(name)
        vm = "aks12345.myvnetid.myregion.internal.cloudapp.net."
        assert ask(server, vm) == ("NOERROR", {"192.0.2.1"})
        assert upstream.asked(vm)


def test_aks_without_coredns_custom_warns_once_per_load_of_each_empty_import_glob(
    tmp_path, upstream
):
    """No coredns-custom ConfigMap: the globs match nothing, which is no error (CoreDNS's
    Caddy warns); said at start and at each reload, not by the reload's polls between."""
    path = runnable("aks.Corefile", upstream, tmp_path)
    path.write_text(path.read_text().replace("    reload\n", "    reload 2s 1s\n", 1))

    def warnings(server: ServerProcess) -> dict[str, int]:
        lines = [line for line in server.log if "no files match the import glob" in line]
        return {glob: sum(glob in line for line in lines) for glob in ("*.override", "*.server")}

    with serving(on_demo(path)) as server:
        assert_serves_the_cluster_and_its_reverse_zone(server)
        assert warnings(server) == {"*.override": 1, "*.server": 1}
        path.write_text(path.read_text() + "# changed\n")
        wait_for(lambda: any("Running configuration SHA512" in line for line in server.log),
                 what="the changed Corefile reloaded")
        assert warnings(server) == {"*.override": 2, "*.server": 2}


@pytest.mark.parametrize("corefile", ["talos.Corefile", "microk8s.Corefile"])
def test_log_class_error_logs_the_failed_answer_only(tmp_path, upstream, corefile):
    with serving(on_demo(runnable(corefile, upstream, tmp_path))) as server:
        assert_serves_the_cluster_and_its_reverse_zone(server)
        assert ask(server, "example.org.") == ("NOERROR", {"203.0.113.7"})
        assert ask(server, "nx.demo.svc.cluster.local.")[0] == "NXDOMAIN"
        assert ask(server, "servfail.example.org.")[0] == "SERVFAIL"  # the upstream fails it
        logged = wait_for(
            lambda: [line for line in server.log if line.startswith("[INFO] ")],
            what="the failed answer's log line",
        )
        assert len(logged) == 1 and '"A IN servfail.example.org. udp' in logged[0], logged
