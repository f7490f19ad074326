"""The informer against the fake API server, through the real `kubernetes` client.

Every scenario asserts on the ClusterState as the server's loop sees it (StateLoop.read), and
waits with bounded polling. Faults are injected with the fake's hooks.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import ApiClient, Configuration

from clusterdns.plugins.kubernetes.api import backoff_delay
from clusterdns.plugins.kubernetes.client import KubeClientError, make_api_client
from clusterdns.plugins.kubernetes.informer import Informer
from clusterdns.plugins.kubernetes.metrics import SKIPPED
from clusterdns.plugins.kubernetes.objects import (
    TRIGGER_TIME_ANNOTATION,
    EndpointSlice,
    ServiceKind,
)
from clusterdns.plugins.kubernetes.selector import parse_selector
from clusterdns.plugins.kubernetes.state import ClusterState
from harness.fakeapi import FakeKubeAPI, StateLoop, running_informer
from harness.snapshots import endpoint, endpoint_slice, labelled, namespace, pod, service
from harness.wait import wait_for

KINDS = ("Service", "EndpointSlice", "Namespace")


@pytest.fixture
def fake() -> Iterator[FakeKubeAPI]:
    with FakeKubeAPI(bookmark_interval=0.2) as server:
        yield server


@pytest.fixture
def api(fake: FakeKubeAPI, tmp_path: Path) -> Iterator[ApiClient]:
    client = make_api_client(str(fake.write_kubeconfig(tmp_path / "kubeconfig")))
    yield client
    client.close()


@pytest.fixture
def loop() -> Iterator[StateLoop]:
    state_loop = StateLoop()
    yield state_loop
    state_loop.close()
    assert not state_loop.errors, "a submitted change raised"


@pytest.fixture
def start(api: ApiClient, loop: StateLoop) -> Iterator[Callable[..., Informer]]:
    """start(**options) → a running Informer (FAST timeouts), stopped after the test."""
    with ExitStack() as stack:
        yield lambda **options: stack.enter_context(running_informer(api, loop, **options))


def seed(fake: FakeKubeAPI, services: int = 7, namespaces: tuple[str, ...] = ("a", "b", "c")):
    for ns in namespaces:
        fake.add(namespace(ns))
    for i in range(services):
        ns = namespaces[i % len(namespaces)]
        fake.add(service(ns, f"svc{i}", [f"10.96.0.{i + 1}"], [("http", "TCP", 80)]))
        fake.add(endpoint_slice(ns, f"svc{i}", f"svc{i}-x", [endpoint(f"10.244.0.{i + 1}")],
                                [("http", "TCP", 8080)]))


def until(loop: StateLoop, predicate: Callable[[ClusterState], Any], what: str) -> Any:
    return wait_for(lambda: loop.read(predicate), what=what)


def synced(informer: Informer) -> Informer:
    assert informer.synced.wait(30), informer.status()  # generous: only a failure waits
    return informer


def watching(fake: FakeKubeAPI, informer: Informer) -> Informer:
    """Synced, and every kind's watch is open (so that watch faults hit it)."""
    synced(informer)
    resources = ("services", "endpointslices", "namespaces")
    wait_for(lambda: all(fake.watching(r) for r in resources), what="open watches")
    return informer


def counter(informer: Informer, name: str, kind: str = "Service") -> int:
    return informer.status()[kind][name]


# -- sync ---------------------------------------------------------------------------------


def test_initial_sync_pages_through_every_kind(fake, loop, start):
    seed(fake, services=7)
    informer = synced(start(page_size=3))

    assert loop.read(lambda s: s.synced)
    assert loop.read(lambda s: sorted(s.services)) == sorted(
        (ns, f"svc{i}") for i, ns in zip(range(7), "abcabca", strict=True))
    assert loop.read(lambda s: len(s.slices)) == 7
    assert loop.read(lambda s: sorted(k[1] for k in s.namespaces)) == ["a", "b", "c"]
    svc = loop.read(lambda s: s.services[("a", "svc0")])
    assert (svc.kind, svc.cluster_ips, svc.ports[0].port) == (ServiceKind.CLUSTER_IP,
                                                              ("10.96.0.1",), 80)
    assert fake.requests[("services", "list")] == 3  # 7 objects, pages of 3
    assert fake.requests[("pods", "list")] == 0
    status = informer.status()
    assert set(status) == set(KINDS)
    assert status["Service"]["objects"] == 7
    assert status["Service"]["resource_version"] == str(fake.resource_version)
    assert all(s["synced"] and s["relists"] == 0 and s["errors"] == 0 for s in status.values())


def test_pods_are_watched_only_when_asked(fake, loop, start):
    fake.add(pod("a", "web-0", "10.244.1.5"))
    fake.add(pod("a", "job-1", "10.244.1.6", phase="Succeeded"))
    informer = synced(start(watch_pods=True))

    assert set(informer.status()) == {*KINDS, "Pod"}
    assert loop.read(lambda s: s.pod_ip_running("a", "10.244.1.5"))
    assert not loop.read(lambda s: s.pod_ip_running("a", "10.244.1.6"))
    fake.update(pod("a", "web-0", "10.244.1.5", phase="Failed"))
    until(loop, lambda s: not s.pod_ip_running("a", "10.244.1.5"), "pod no longer running")
    fake.delete(pod("a", "job-1", "10.244.1.6"))
    until(loop, lambda s: ("a", "job-1") not in s.pods, "pod deleted")


def test_namespaces_option_keeps_only_those_namespaces(fake, loop, start):
    seed(fake, services=6)
    synced(start(namespaces={"b"}))
    fake.add(service("a", "late", ["10.96.9.9"]))
    fake.add(service("b", "late", ["10.96.9.8"]))

    until(loop, lambda s: ("b", "late") in s.services, "service in a watched namespace")
    assert loop.read(lambda s: sorted(s.services)) == [("b", "late"), ("b", "svc1"), ("b", "svc4")]
    assert loop.read(lambda s: {k[0] for k in s.slices}) == {"b"}
    assert loop.read(lambda s: list(s.namespaces)) == [("", "b")]


# -- events -------------------------------------------------------------------------------


def test_service_add_update_delete(fake, loop, start):
    synced(start())
    fake.add(service("a", "web", ["10.96.1.1"], [("http", "TCP", 80)]))
    until(loop, lambda s: ("a", "web") in s.services, "service added")

    fake.update(service("a", "web", ["10.96.1.2", "fd00::2"], [("https", "TCP", 443)]))
    until(loop, lambda s: s.services[("a", "web")].cluster_ips == ("10.96.1.2", "fd00::2"),
          "service updated")
    assert loop.read(lambda s: s.services[("a", "web")].ports[0].name) == "https"

    fake.update(service("a", "web", external_name="Example.COM."))
    until(loop, lambda s: s.services[("a", "web")].kind is ServiceKind.EXTERNAL_NAME,
          "service became ExternalName")
    assert loop.read(lambda s: s.services[("a", "web")].external_name) == "example.com"

    fake.delete(service("a", "web"))
    until(loop, lambda s: ("a", "web") not in s.services, "service deleted")


def test_endpoint_slice_changes_and_readiness_flips(fake, loop, start):
    changes: list[tuple[EndpointSlice, int]] = []
    synced(start(on_slice_change=lambda s: changes.append((s, threading.get_ident()))))
    loop_thread = loop.read(lambda s: threading.get_ident())

    def web_slice(*ready: bool) -> dict[str, Any]:
        eps = [endpoint(f"10.244.2.{i}", ready=r, hostname=f"web-{i}")
               for i, r in enumerate(ready)]
        raw = endpoint_slice("a", "web", "web-abc", eps, [("http", "TCP", 8080)])
        raw["metadata"]["annotations"] = {TRIGGER_TIME_ANNOTATION: f"2026-01-01T00:00:0{len(changes)}Z"}
        return raw

    def readiness(s: ClusterState) -> tuple[bool, ...]:
        return tuple(e.ready for e in s.slices[("a", "web-abc")].endpoints)

    fake.add(web_slice(True, True))
    until(loop, lambda s: s.slices_of(("a", "web")), "slice added")
    fake.update(web_slice(True, False))
    until(loop, lambda s: readiness(s) == (True, False), "endpoint turned not ready")
    fake.update(web_slice(True, True))
    until(loop, lambda s: readiness(s) == (True, True), "endpoint ready again")
    fake.delete(web_slice())
    until(loop, lambda s: not s.slices_of(("a", "web")), "slice deleted")

    assert [s.trigger_time for s, _ in changes] == [
        "2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z"]
    assert changes[1][0].endpoints[1].hostname == "web-1"
    assert {thread for _, thread in changes} == {loop_thread}


def test_namespace_add_delete(fake, loop, start):
    synced(start())
    fake.add(namespace("team"))
    until(loop, lambda s: s.has_namespace("team"), "namespace added")
    fake.delete(namespace("team"))
    until(loop, lambda s: not s.has_namespace("team"), "namespace deleted")


def test_bookmarks_move_the_resource_version(fake, loop, start):
    informer = synced(start())
    fake.add(service("a", "web", ["10.96.1.1"]))  # a Service event: no Namespace event
    wait_for(lambda: counter(informer, "resource_version", "Namespace")
             == str(fake.resource_version), what="a Namespace bookmark")
    assert counter(informer, "relists", "Namespace") == 0


def test_malformed_objects_are_logged_counted_and_skipped(fake, loop, start, caplog):
    caplog.set_level(logging.WARNING, logger="clusterdns.informer")
    skipped_before = SKIPPED.value(("Service",))
    bad = service("a", "bad", ["10.96.1.1"])
    bad["spec"]["ports"] = [{"name": "http", "port": "eighty"}]
    fake.add(bad)
    fake.add(service("a", "good", ["10.96.1.2"]))
    synced(start())
    assert loop.read(lambda s: list(s.services)) == [("a", "good")]

    worse = service("a", "worse", ["10.96.1.3"])
    worse["spec"]["clusterIPs"] = [1, 2]
    fake.add(worse)
    fake.add(service("a", "after", ["10.96.1.4"]))
    until(loop, lambda s: ("a", "after") in s.services, "the next good service")
    assert ("a", "worse") not in loop.read(lambda s: s.services)
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert any("Service a/bad" in m and "spec.ports[0].port" in m for m in skipped), skipped
    assert any("Service a/worse" in m and "clusterIPs" in m for m in skipped), skipped

    invalid = service("a", "invalid", ["999.1.1.1"])  # the API validates it: a broken source
    fake.add(invalid)
    fake.add(service("a", "last", ["10.96.1.5"]))
    until(loop, lambda s: ("a", "last") in s.services, "the service after the invalid one")
    assert ("a", "invalid") not in loop.read(lambda s: s.services)
    assert SKIPPED.value(("Service",)) == skipped_before + 3


# -- faults -------------------------------------------------------------------------------


def test_watch_timeout_rewatches_without_relist(fake, loop, start):
    informer = synced(start(watch_timeout=1))
    wait_for(lambda: fake.requests[("services", "watch")] >= 2, what="a re-watch")
    fake.add(service("a", "web", ["10.96.1.1"]))
    until(loop, lambda s: ("a", "web") in s.services, "service added")
    assert counter(informer, "relists") == 0
    assert counter(informer, "errors") == 0


def test_compaction_ends_open_watches_and_relists(fake, loop, start):
    seed(fake, services=2)
    informer = watching(fake, start())
    fake.compact()  # open watches get an ERROR 410 event
    for kind in KINDS:
        wait_for(lambda kind=kind: counter(informer, "relists", kind) == 1, what=f"{kind} relist")
    fake.add(service("a", "web", ["10.96.1.1"]))
    until(loop, lambda s: ("a", "web") in s.services, "service added after the relist")


def test_expired_continue_token_restarts_the_list(fake, loop, start):
    seed(fake, services=5)
    expired = []

    def compact_once(resource: str, continued: bool) -> None:
        if resource == "services" and continued and not expired:
            expired.append(resource)
            fake.compact()  # the continue token of the list in progress is gone

    fake.on_list_page = compact_once
    informer = synced(start(page_size=2))
    assert loop.read(lambda s: len(s.services)) == 5
    assert counter(informer, "errors") == 1 and "410" in counter(informer, "last_error")
    assert fake.requests[("services", "list")] == 2 + 3  # a page, the expired one, then 3


@pytest.mark.parametrize("as_status", [False, True], ids=["error-event", "http-410"])
def test_gap_with_compaction_relists_and_converges(fake, loop, start, as_status):
    fake.expired_as_status = as_status
    seed(fake, services=3)
    informer = watching(fake, start())
    fake.fail_with(503)
    fake.drop_watches()
    wait_for(lambda: counter(informer, "errors") >= 2, what="failed reconnects")
    # the gap: changes the informer cannot see, then their history is compacted away
    fake.delete(service("a", "svc0"))
    fake.delete(endpoint_slice("a", "svc0", "svc0-x", []))
    fake.add(service("c", "new", ["10.96.5.5"]))
    fake.update(endpoint_slice("b", "svc1", "svc1-x", [endpoint("10.244.0.2", ready=False)]))
    fake.compact()
    fake.fail_with(None)

    until(loop, lambda s: ("c", "new") in s.services and ("a", "svc0") not in s.services,
          "services converged")
    until(loop, lambda s: ("a", "svc0-x") not in s.slices
          and not s.slices[("b", "svc1-x")].endpoints[0].ready, "slices converged")
    assert counter(informer, "relists") >= 1
    assert counter(informer, "relists", "EndpointSlice") >= 1


def test_dropped_watch_resumes_without_relist(fake, loop, start):
    seed(fake, services=2)
    informer = watching(fake, start())
    lists = {k: n for k, n in fake.requests.items() if k[1] == "list"}
    fake.drop_watches()
    fake.add(service("a", "web", ["10.96.1.1"]))
    until(loop, lambda s: ("a", "web") in s.services, "service added after the drop")
    wait_for(lambda: counter(informer, "reconnects") >= 1, what="a reconnect")
    assert all(counter(informer, "relists", kind) == 0 for kind in KINDS)
    assert {k: n for k, n in fake.requests.items() if k[1] == "list"} == lists


def test_stalled_watch_is_relisted_by_the_watchdog(fake, loop, start):
    informer = watching(fake, start(stall_timeout=1.0))
    fake.stall_watches(True)
    fake.add(service("a", "web", ["10.96.1.1"]))  # only a re-list can see it now
    until(loop, lambda s: ("a", "web") in s.services, "service seen by the re-list")
    assert counter(informer, "relists") >= 1
    fake.stall_watches(False)
    fake.add(service("a", "api", ["10.96.1.2"]))
    until(loop, lambda s: ("a", "api") in s.services, "service seen by the watch again")


def test_api_down_at_start_then_converges(fake, loop, start):
    seed(fake, services=2)
    fake.fail_with(503)
    informer = start()
    for kind in KINDS:
        wait_for(lambda kind=kind: counter(informer, "errors", kind) >= 2, what=f"{kind} errors")
    assert not informer.synced.is_set()
    assert not loop.read(lambda s: s.synced)
    assert "503" in counter(informer, "last_error")
    fake.fail_with(None)
    synced(informer)
    assert loop.read(lambda s: len(s.services)) == 2


def test_outage_after_sync_keeps_the_last_good_state(fake, loop, start):
    seed(fake, services=3)
    informer = watching(fake, start())
    before = loop.read(lambda s: (dict(s.services), dict(s.slices), dict(s.namespaces)))
    fake.fail_with(503)
    fake.drop_watches()
    wait_for(lambda: counter(informer, "errors") >= 3, what="failed reconnects")
    fake.delete(service("a", "svc0"))  # unseen until the API is back
    assert loop.read(lambda s: (dict(s.services), dict(s.slices), dict(s.namespaces))) == before
    assert loop.read(lambda s: s.synced)
    fake.fail_with(None)
    until(loop, lambda s: ("a", "svc0") not in s.services, "the change made during the outage")


def test_forbidden_says_which_permission_and_keeps_serving(fake, loop, start, caplog):
    """A 403 (RBAC taken away) after the sync: the last good state serves, the log says
    which verbs on which resource are missing, and the informer comes back by itself."""
    seed(fake, services=2)
    informer = watching(fake, start())
    fake.fail_with(403)
    fake.drop_watches()
    wait_for(lambda: counter(informer, "errors") >= 2, what="forbidden reconnects")
    assert "403" in counter(informer, "last_error")
    assert "check the credentials and RBAC: list and watch on" in caplog.text
    assert loop.read(lambda s: len(s.services)) == 2 and loop.read(lambda s: s.synced)
    fake.fail_with(None)
    fake.add(service("a", "late", ["10.96.0.99"], [("http", "TCP", 80)]))
    until(loop, lambda s: ("a", "late") in s.services, "the change made while forbidden")


def test_too_many_requests_waits_what_retry_after_says(fake, loop, start, caplog):
    """A 429 with Retry-After: the next try waits that long (within the backoff's cap),
    not the backoff's own few milliseconds."""
    seed(fake, services=1)
    fake.fail_with(429, retry_after=2)
    informer = start(backoff_max=5.0)
    wait_for(lambda: counter(informer, "errors") >= 1, what="a throttled list")
    assert "429" in counter(informer, "last_error")
    wait_for(lambda: "retrying in 2.0 s" in caplog.text, what="the Retry-After honoured")
    fake.fail_with(None)
    synced(informer)


def test_stop_interrupts_a_blocked_watch(fake, loop, api):
    # read and stall timeouts of a minute: a watch read ends by itself only after that long
    informer = Informer(api, loop.state, loop.submit, read_timeout=60, stall_timeout=60)
    informer.start()
    watching(fake, informer)
    fake.stall_watches(True)  # not even a bookmark: every watch thread blocks in its read
    informer.stop(timeout=30)  # returns once every thread has ended, or after 30 s
    assert not [t.name for t in threading.enumerate() if t.name.startswith("informer-")]


# -- the client ---------------------------------------------------------------------------


def _get(client: ApiClient) -> int:
    request = client.param_serialize("GET", "/api/v1/services", auth_settings=["BearerToken"])
    return client.call_api(*request, _request_timeout=5).response.status


def test_the_client_does_not_retry_a_503_by_itself(fake, api):
    fake.fail_with(503, retry_after=0)
    assert _get(api) == 503
    assert fake.requests[("services", "list")] == 1
    # the pitfall it avoids: a default client retries silently
    default = ApiClient(Configuration(host=fake.url))
    assert _get(default) == 503
    assert fake.requests[("services", "list")] > 2
    default.close()


def test_make_api_client_needs_a_configuration(monkeypatch, tmp_path):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(KubeClientError, match="--kubeconfig"):
        make_api_client(None)
    with pytest.raises(KubeClientError, match="no such file"):
        make_api_client(str(tmp_path / "missing"))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    if Path("/var/run/secrets/kubernetes.io/serviceaccount/token").exists():
        pytest.skip("running in a pod")
    with pytest.raises(KubeClientError, match=r"in-cluster.*token"):
        make_api_client(None)


def test_make_api_client_context_and_endpoint(fake, tmp_path):
    kubeconfig = str(fake.write_kubeconfig(tmp_path / "kubeconfig", context="dev"))
    assert make_api_client(kubeconfig, "dev").configuration.host == fake.url
    with pytest.raises(KubeClientError, match="'prod'"):
        make_api_client(kubeconfig, "prod")
    moved = make_api_client(kubeconfig, endpoint="http://127.0.0.1:1/")
    assert moved.configuration.host == "http://127.0.0.1:1"
    proxy = make_api_client(None, endpoint=fake.url)
    assert proxy.configuration.host == fake.url
    assert not proxy.configuration.auth_settings()


def test_backoff_delay_doubles_with_jitter_up_to_the_cap():
    assert [backoff_delay(n, 1.0, 8.0, lambda: 1.0) for n in (1, 2, 3, 4, 5, 100)] == [
        1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert backoff_delay(3, 1.0, 8.0, lambda: 0.0) == 2.0  # jitter spans half the delay


def test_label_selectors_choose_what_is_listed_and_follow_labels_as_they_change(fake, start, loop):
    """`labels` selects Services, EndpointSlices and Pods, `namespace_labels` Namespaces, on
    the API server: an object whose labels change into or out of the selection is added to
    or deleted from the state, as the watch sends it."""
    fake.add(labelled(namespace("a"), {"team": "dns"}))
    fake.add(labelled(namespace("b"), {"team": "web"}))
    prod = labelled(service("a", "api", ["10.96.0.1"]), {"env": "prod"})
    fake.add(prod)
    fake.add(labelled(service("a", "dev", ["10.96.0.2"]), {"env": "dev"}))
    fake.add(labelled(endpoint_slice("a", "api", "api-x", [endpoint("10.244.0.1")]), {"env": "prod"}))
    fake.add(endpoint_slice("a", "dev", "dev-x", [endpoint("10.244.0.2")]))
    fake.add(labelled(pod("a", "api-0", "10.244.0.1"), {"env": "prod"}))
    fake.add(pod("a", "other-0", "10.244.0.9"))
    synced(start(watch_pods=True, labels=parse_selector("env in (prod)"),
                 namespace_labels=parse_selector("team=dns")))
    assert loop.read(lambda s: (set(s.services), set(s.slices), set(s.pods), set(s.namespaces))) == (
        {("a", "api")}, {("a", "api-x")}, {("a", "api-0")}, {("", "a")})
    fake.update(labelled(prod, {"env": "retired"}))  # out of the selection: deleted
    until(loop, lambda s: ("a", "api") not in s.services, "api deleted as its labels changed")
    fake.update(labelled(service("a", "dev", ["10.96.0.2"]), {"env": "prod"}))  # into it
    until(loop, lambda s: ("a", "dev") in s.services, "dev added as its labels changed")
    fake.update(labelled(namespace("b"), {"team": "dns"}))
    until(loop, lambda s: ("", "b") in s.namespaces, "namespace b added as its labels changed")
    assert fake.requests[("services", "list")] == 1  # all of it by watch events, no re-list


@pytest.mark.parametrize(
    "line",
    [
        pytest.param(b'{"type": "ADDED", "object": {"kind": "Serv', id="cut-json"),
        pytest.param(b"<html>502 Bad Gateway</html>", id="not-json"),
        pytest.param(json.dumps({"type": "ERROR", "object": {
            "kind": "Status", "code": 500, "reason": "InternalError",
            "message": "etcd cluster is unavailable"}}).encode(), id="error-500"),
    ],
)
def test_a_broken_watch_stream_is_listed_again_so_no_change_is_lost(fake, loop, start, caplog, line):
    """A line that is not an event, or an ERROR other than 410, means the stream lost what it
    was to carry: the informer lists again (after a pause), which finds the change."""
    caplog.set_level(logging.WARNING, logger="clusterdns.informer")
    seed(fake)
    informer = synced(start())
    fake.break_stream(service("a", "hidden", ["10.96.9.9"]), line)
    until(loop, lambda s: ("a", "hidden") in s.services, "the change the stream lost, re-listed")
    assert counter(informer, "relists", "Service") >= 1
    assert any("re-listing" in r.getMessage() for r in caplog.records)
    assert any(line[:20].decode(errors="replace") in r.getMessage() or "etcd" in r.getMessage()
               for r in caplog.records)
