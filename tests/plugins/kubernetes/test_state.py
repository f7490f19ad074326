"""ClusterState's client lookup: the running pod of an IP, as CoreDNS's podWithIP."""

from __future__ import annotations

from clusterdns.plugins.kubernetes.objects import Pod
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
