"""The real `dig` against the real server, including a pod's search-path walk (ndots:5)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests.conftest import ServerProcess

if shutil.which("dig") is None:  # `make test` installs it; a bare pytest run may not have it
    pytest.skip("dig is not installed (make system-deps installs bind9-dnsutils)", allow_module_level=True)


def dig(server: ServerProcess, *args: str) -> str:
    cmd = ["dig", f"@{server.host}", "-p", str(server.port), "+tries=1", "+time=3", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=20, check=True).stdout


def status(output: str) -> str:
    for line in output.splitlines():
        if "status:" in line:
            return line.split("status:")[1].split(",")[0].strip()
    raise AssertionError(f"no status in dig output:\n{output}")


@pytest.mark.parametrize("transport", ["+notcp", "+tcp"])
def test_dig_statefulset_pod(demo_server, transport):
    out = dig(demo_server, transport, "+short", "web-0.web.demo.svc.cluster.local")
    assert out.split() == ["10.244.2.10"]


@pytest.mark.parametrize("transport", ["+notcp", "+tcp"])
def test_dig_srv_and_ptr(demo_server, transport):
    srv = dig(demo_server, transport, "+short", "_http._tcp.web.demo.svc.cluster.local", "SRV")
    assert sorted(srv.splitlines()) == [
        f"0 33 80 web-{i}.web.demo.svc.cluster.local." for i in range(3)
    ]
    ptr = dig(demo_server, transport, "+short", "-x", "10.96.0.10")
    assert ptr.split() == ["kube-dns.kube-system.svc.cluster.local."]


def test_dig_flags_and_authority(demo_server):
    out = dig(demo_server, "nope.demo.svc.cluster.local")
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
        out = dig(demo_server, f"{candidate}.", "A")
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
    out = dig(demo_server, "+search", "+ndots=5", "+domain=demo.svc.cluster.local", "+short", "web-1.web")
    # dig +domain sets a one-entry search list: web-1.web.demo.svc.cluster.local
    assert out.split() == ["10.244.2.11"]
