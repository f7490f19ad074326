"""The real `dig` against the real server, including a pod's search-path walk (ndots:5)."""

from __future__ import annotations

import re

import pytest

from harness.dig import dig, status

pytestmark = pytest.mark.root(tools=["dig"])


@pytest.mark.parametrize("transport", ["+notcp", "+tcp"])
def test_dig_statefulset_pod(demo_server, transport):
    out = dig(transport, "+short", "web-0.web.demo.svc.cluster.local", server=demo_server)
    assert out.split() == ["10.244.2.10"]


@pytest.mark.parametrize("transport", ["+notcp", "+tcp"])
def test_dig_srv_and_ptr(demo_server, transport):
    srv = dig(transport, "+short", "_http._tcp.web.demo.svc.cluster.local", "SRV", server=demo_server)
    assert sorted(srv.splitlines()) == [
        f"0 33 80 web-{i}.web.demo.svc.cluster.local." for i in range(3)
    ]
    ptr = dig(transport, "+short", "-x", "10.96.0.10", server=demo_server)
    assert ptr.split() == ["kube-dns.kube-system.svc.cluster.local."]


def test_dig_flags_and_authority(demo_server):
    out = dig("nope.demo.svc.cluster.local", server=demo_server)
    assert status(out) == "NXDOMAIN"
    assert " aa" in out.split("flags:")[1].split(";")[0]
    assert "SOA\tns.dns.cluster.local. hostmaster.cluster.local." in out


# What a pod in namespace `demo` with kubelet's resolv.conf sends for `web` and for
# `kubernetes.default` (ndots:5: the search list first, then the name as given).
SEARCH = ["demo.svc.cluster.local", "svc.cluster.local", "cluster.local"]


@pytest.mark.parametrize(
    ("short_name", "answered_by"),
    [
        ("web", "web.demo.svc.cluster.local"),
        ("kubernetes.default", "kubernetes.default.svc.cluster.local"),
        ("kubernetes.default.svc", "kubernetes.default.svc.cluster.local"),
        ("nginx.demo.svc.cluster.local", "nginx.demo.svc.cluster.local"),
    ],
)
def test_pod_search_path_walk(demo_server, short_name, answered_by):
    candidates = [f"{short_name}.{suffix}" for suffix in SEARCH] + [short_name]
    answered = False
    for candidate in candidates:
        out = dig(f"{candidate}.", "A", server=demo_server)
        if candidate == answered_by:
            assert status(out) == "NOERROR"
            assert re.search(r"\sIN\s+A\s+\d", out), out
            answered = True
            break  # the resolver stops at the first answer
        # every wrong expansion must be NXDOMAIN, never NODATA/SERVFAIL, so the walk goes on
        assert status(out) == "NXDOMAIN", (candidate, out)
    assert answered


def test_dig_search_option_with_ndots(demo_server, tmp_path):
    """dig's own +search/+ndots walk ends at the right name."""
    out = dig("+search", "+ndots=5", "+domain=demo.svc.cluster.local", "+short", "web-1.web", server=demo_server)
    # dig +domain sets a one-entry search list: web-1.web.demo.svc.cluster.local
    assert out.split() == ["10.244.2.11"]
