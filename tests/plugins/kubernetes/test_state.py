"""ClusterState's client lookup: the running pod of an IP, as CoreDNS's podWithIP."""

from __future__ import annotations

from clusterdns.plugins.kubernetes.objects import EndpointSlice, Pod
from clusterdns.plugins.kubernetes.state import ClusterState


def test_the_pod_with_an_ip_is_the_first_running_one():
    state = ClusterState()
    web = Pod("web", "web-1", ("10.244.0.5", "fd00::5"), running=True)
    node = Pod("kube-system", "node-agent", ("10.244.0.5",), running=True)  # host network
    done = Pod("batch", "job-1", ("10.244.0.9",), running=False)
    for pod in (web, node, done):
        state.upsert(pod)
    assert state.pod_with_ip("10.244.0.5") == web
    assert state.pod_with_ip("fd00::5") == web
    assert state.pod_with_ip("10.244.0.9") is None  # finished: its IP may be someone else's
    state.delete(Pod, web.key)
    assert state.pod_with_ip("10.244.0.5") == node and state.pod_with_ip("fd00::5") is None
    state.upsert(Pod("kube-system", "node-agent", ("10.244.0.5",), running=False))
    assert state.pod_with_ip("10.244.0.5") is None and state.pods_at == {}


def test_the_slices_of_a_service_come_in_key_order_as_they_come_and_go():
    state = ClusterState()

    def slice_(name: str, service: str) -> EndpointSlice:
        return EndpointSlice("ns", name, service, "IPv4", (), (), None)

    for name in ("web-c", "web-a", "api-a", "web-b"):
        state.upsert(slice_(name, name.split("-")[0]))
    assert [s.name for s in state.slices_of(("ns", "web"))] == ["web-a", "web-b", "web-c"]
    state.upsert(slice_("web-b", "api"))  # its label moves it to another service
    assert [s.name for s in state.slices_of(("ns", "web"))] == ["web-a", "web-c"]
    assert [s.name for s in state.slices_of(("ns", "api"))] == ["api-a", "web-b"]
    for name in ("web-a", "web-c"):
        state.delete(EndpointSlice, ("ns", name))
    assert state.slices_of(("ns", "web")) == [] and ("ns", "web") not in state.slices_by_service
