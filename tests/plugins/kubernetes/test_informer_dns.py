"""The real server fed by the informer from the fake API server, asked over real DNS:
changes in the cluster reach answers, and API faults never lose what was served."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.fakeapi import FakeKubeAPI
from harness.query import ask
from harness.server import ServerProcess, start_server, stop_server
from harness.snapshots import endpoint, endpoint_slice, namespace, service
from harness.wait import wait_for

COREFILE = """\
.:53 {
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        pods insecure
        ttl 5
        startup_timeout 1s
    }
}
"""


def answers(server: ServerProcess, name: str, rcode: str, data: set[str] | None = None) -> None:
    """Wait until the answer to `name` is `rcode` (with exactly `data`, if given)."""
    wait_for(lambda: (got := ask(server, name))[0] == rcode and (data is None or got[1] == data),
             what=f"{name} → {rcode} {data}")


@pytest.fixture
def fake() -> Iterator[FakeKubeAPI]:
    with FakeKubeAPI(bookmark_interval=0.5) as api:
        yield api


def seed(fake: FakeKubeAPI) -> dict[str, dict]:
    objects = {
        "ns": namespace("shop"),
        "svc": service("shop", "cart", ["10.96.5.5"], [("http", "TCP", 80)]),
        "db": service("shop", "db", ["None"], [("pg", "TCP", 5432)]),
        "db-slice": endpoint_slice("shop", "db", "db-abc", [endpoint("10.244.7.1", hostname="db-0")], [("pg", "TCP", 5432)]),
    }
    for obj in objects.values():
        fake.add(obj)
    return objects


@pytest.fixture
def serve(fake: FakeKubeAPI, tmp_path: Path):
    servers: list[ServerProcess] = []

    def start(corefile: str = COREFILE) -> ServerProcess:
        conf = tmp_path / "Corefile"
        conf.write_text(corefile)
        kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
        server = start_server(["--conf", str(conf), "--kubeconfig", str(kubeconfig)])
        servers.append(server)
        return server

    yield start
    for server in servers:
        stop_server(server)


def test_changes_reach_answers(fake, serve):
    objects = seed(fake)
    server = serve()
    answers(server, "cart.shop.svc.cluster.local.", "NOERROR", {"10.96.5.5"})
    answers(server, "db-0.db.shop.svc.cluster.local.", "NOERROR", {"10.244.7.1"})
    # a new service appears
    fake.add(service("shop", "pay", ["10.96.5.6"], [("http", "TCP", 80)]))
    answers(server, "pay.shop.svc.cluster.local.", "NOERROR", {"10.96.5.6"})
    # a StatefulSet scales up; then an endpoint turns not ready
    slice_ = copy.deepcopy(objects["db-slice"])
    slice_["endpoints"].append(endpoint("10.244.7.2", hostname="db-1"))
    fake.update(slice_)
    answers(server, "db.shop.svc.cluster.local.", "NOERROR", {"10.244.7.1", "10.244.7.2"})
    slice_ = copy.deepcopy(slice_)
    slice_["endpoints"][0]["conditions"] = {"ready": False}
    fake.update(slice_)
    answers(server, "db.shop.svc.cluster.local.", "NOERROR", {"10.244.7.2"})
    answers(server, "db-0.db.shop.svc.cluster.local.", "NXDOMAIN")
    # a service is deleted
    fake.delete(objects["svc"])
    answers(server, "cart.shop.svc.cluster.local.", "NXDOMAIN")


def test_relist_after_compaction_converges(fake, serve):
    objects = seed(fake)
    server = serve()
    answers(server, "cart.shop.svc.cluster.local.", "NOERROR")
    fake.compact()
    fake.delete(objects["svc"])
    fake.add(service("shop", "pay", ["10.96.5.6"], [("http", "TCP", 80)]))
    answers(server, "cart.shop.svc.cluster.local.", "NXDOMAIN")
    answers(server, "pay.shop.svc.cluster.local.", "NOERROR", {"10.96.5.6"})


@pytest.mark.slow
def test_api_down_at_start_servfail_then_converges(fake, serve):
    seed(fake)
    fake.fail_with(503)
    server = serve()  # startup_timeout 1s: serves before any sync
    rcode, _ = ask(server, "cart.shop.svc.cluster.local.")
    assert rcode == "SERVFAIL"  # never a false NXDOMAIN before the first sync
    fake.fail_with(None)
    answers(server, "cart.shop.svc.cluster.local.", "NOERROR", {"10.96.5.5"})
    answers(server, "nope.shop.svc.cluster.local.", "NXDOMAIN")


def test_outage_after_sync_keeps_serving(fake, serve):
    seed(fake)
    server = serve()
    answers(server, "cart.shop.svc.cluster.local.", "NOERROR", {"10.96.5.5"})
    fake.fail_with(503)
    fake.drop_watches()
    for _ in range(20):  # through reconnect attempts against a failing API
        assert ask(server, "cart.shop.svc.cluster.local.") == ("NOERROR", {"10.96.5.5"})
        assert ask(server, "db-0.db.shop.svc.cluster.local.") == ("NOERROR", {"10.244.7.1"})
    fake.fail_with(None)
    fake.add(service("shop", "pay", ["10.96.5.6"], [("http", "TCP", 80)]))
    answers(server, "pay.shop.svc.cluster.local.", "NOERROR", {"10.96.5.6"})


@pytest.mark.slow
def test_a_reload_with_new_api_options_lists_again(fake, serve, tmp_path):
    """`namespaces` (like the API server, kubeconfig and `pods verified`) shapes what the
    informer watches: a reload that changes it starts a new informer, serving meanwhile."""
    seed(fake)
    fake.add(namespace("tools"))
    fake.add(service("tools", "ci", ["10.96.6.6"], [("http", "TCP", 80)]))
    reloading = COREFILE.replace(".:53 {\n", ".:53 {\n    reload 2s 1s\n")
    server = serve(reloading)
    answers(server, "cart.shop.svc.cluster.local.", "NOERROR", {"10.96.5.5"})
    lists = fake.requests[("services", "list")]
    (tmp_path / "Corefile").write_text(reloading.replace("ttl 5\n", "ttl 5\n        namespaces tools\n"))
    answers(server, "cart.shop.svc.cluster.local.", "NXDOMAIN")
    answers(server, "ci.tools.svc.cluster.local.", "NOERROR", {"10.96.6.6"})
    # listed again, by the new informer (once the old one has stopped)
    wait_for(lambda: fake.requests[("services", "list")] > lists, what="a new LIST")
    assert any("listing the cluster again" in line for line in server.log)
    fake.add(service("tools", "cd", ["10.96.6.7"], [("http", "TCP", 80)]))  # it watches
    answers(server, "cd.tools.svc.cluster.local.", "NOERROR", {"10.96.6.7"})
