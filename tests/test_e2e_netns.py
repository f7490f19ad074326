"""The pod's-eye test: the Kubernetes e2e DNS probes, asked by real `dig` and glibc from a
"pod" network namespace whose resolv.conf is the kubelet's, of clusterdns serving the kube-dns
address 10.96.0.10:53 in a "node" namespace, fed by the fake API server (tests/fakeapi.py)
through its informer, exactly as in a cluster.

    pod netns                                   dns netns
    eth0 10.244.0.5/24  ──── veth ────  veth0 10.244.0.1/24, lo 10.96.0.10/32 (as kube-proxy
    10.96.0.0/12 via 10.244.0.1                  puts service IPs on a local interface)
    /etc/{resolv.conf,hosts,nsswitch.conf}      clusterdns :53, with no capability at all;
    as the kubelet and a Debian image make them  the fake API server on its 127.0.0.1

Every address and interface lives inside the two namespaces this module creates (named
uniquely per run) and everything is removed at the end, even on failure. `ip netns exec`
bind-mounts /etc/netns/<name>/* over /etc/* for the command it runs; the host's own
/etc/resolv.conf is never touched.
"""

from __future__ import annotations

import ctypes
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.fakeapi import FakeKubeAPI, wait_for
from tests.snapshots import endpoint, endpoint_slice, namespace, service

if os.geteuid() != 0:
    pytest.skip(
        "the pod's-eye DNS test needs root to create network namespaces (ip netns); "
        "CI runs it as root",
        allow_module_level=True,
    )

KUBE_DNS_IP = "10.96.0.10"
NODE_IP = "10.244.0.1"  # the dns netns end of the veth: clusterdns's own pod IP
POD_IP = "10.244.0.5"
POD_NAMESPACE = "e2e"

# What the kubelet writes for a pod in POD_NAMESPACE with dnsPolicy ClusterFirst.
KUBELET_RESOLV_CONF = (
    f"search {POD_NAMESPACE}.svc.cluster.local svc.cluster.local cluster.local\n"
    f"nameserver {KUBE_DNS_IP}\n"
    "options ndots:5\n"
)
POD_HOSTS = f"127.0.0.1\tlocalhost\n{POD_IP}\tdns-querier\n"
POD_NSSWITCH = "hosts: files dns\n"  # a Debian image's: glibc's own DNS client, no host daemons

# The kubeadm server block without `forward`, so nothing leaves the namespaces. `bind`: a
# server on 0.0.0.0 would answer from the route's source address (10.244.0.1), which dig and
# glibc drop; in a cluster, kube-proxy's NAT hides this by rewriting the reply's source.
COREFILE = f"""\
.:53 {{
    errors
    bind {KUBE_DNS_IP}
    kubernetes cluster.local in-addr.arpa ip6.arpa {{
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }}
    loadbalance
}}
"""

HTTP = [("http", "TCP", 80)]
STATEFULSET = {"web-0": "10.244.1.10", "web-1": "10.244.1.11"}


def cluster_objects() -> list[dict[str, Any]]:
    """The objects of the e2e DNS tests: kubernetes.default, a headless service fronting a
    StatefulSet, a ClusterIP service, and ExternalName services outside and inside the zone."""
    return [
        namespace("default"),
        namespace("kube-system"),
        namespace(POD_NAMESPACE),
        service("default", "kubernetes", ["10.96.0.1"], [("https", "TCP", 443)]),
        endpoint_slice(
            "default", "kubernetes", "kubernetes", [endpoint("10.244.0.100")], [("https", "TCP", 6443)]
        ),
        service("kube-system", "kube-dns", [KUBE_DNS_IP], [("dns", "UDP", 53), ("dns-tcp", "TCP", 53)]),
        endpoint_slice(
            "kube-system", "kube-dns", "kube-dns-1", [endpoint(NODE_IP)], [("dns", "UDP", 53), ("dns-tcp", "TCP", 53)]
        ),
        service(POD_NAMESPACE, "dns-test-service", ["None"], HTTP),
        endpoint_slice(
            POD_NAMESPACE, "dns-test-service", "dns-test-service-1",
            [endpoint(ip, hostname=name, pod=name) for name, ip in STATEFULSET.items()], HTTP,
        ),
        service(POD_NAMESPACE, "test-service-2", ["10.96.100.2"], HTTP),
        endpoint_slice(POD_NAMESPACE, "test-service-2", "test-service-2-1", [endpoint("10.244.1.20")], HTTP),
        service(POD_NAMESPACE, "dns-test-service-3", external_name="foo.example.com"),
        service(POD_NAMESPACE, "dns-test-service-4", external_name="test-service-2.e2e.svc.cluster.local"),
    ]


# --- the cluster network ---------------------------------------------------------------------


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=10)


@dataclass
class ClusterNetwork:
    dns_ns: str
    pod_ns: str

    def in_pod(self, *cmd: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", self.pod_ns, *cmd], capture_output=True, text=True, timeout=timeout
        )


@contextmanager
def cluster_network() -> Iterator[ClusterNetwork]:
    suffix = secrets.token_hex(3)
    net = ClusterNetwork(dns_ns=f"clusterdns-dns-{suffix}", pod_ns=f"clusterdns-pod-{suffix}")
    pod_etc = Path("/etc/netns") / net.pod_ns
    try:
        ip("netns", "add", net.dns_ns)
        ip("netns", "add", net.pod_ns)
        # Both ends are created inside their namespaces: the host never sees the link.
        ip("-n", net.dns_ns, "link", "add", "veth0", "type", "veth", "peer", "name", "eth0", "netns", net.pod_ns)
        for ns in (net.dns_ns, net.pod_ns):
            ip("-n", ns, "link", "set", "lo", "up")
        ip("-n", net.dns_ns, "addr", "add", f"{NODE_IP}/24", "dev", "veth0")
        ip("-n", net.dns_ns, "addr", "add", f"{KUBE_DNS_IP}/32", "dev", "lo")
        ip("-n", net.dns_ns, "link", "set", "veth0", "up")
        ip("-n", net.pod_ns, "addr", "add", f"{POD_IP}/24", "dev", "eth0")
        ip("-n", net.pod_ns, "link", "set", "eth0", "up")
        ip("-n", net.pod_ns, "route", "add", "10.96.0.0/12", "via", NODE_IP)
        pod_etc.mkdir(parents=True)
        (pod_etc / "resolv.conf").write_text(KUBELET_RESOLV_CONF)
        (pod_etc / "hosts").write_text(POD_HOSTS)
        (pod_etc / "nsswitch.conf").write_text(POD_NSSWITCH)
        yield net
    finally:
        shutil.rmtree(pod_etc, ignore_errors=True)
        with suppress(OSError):
            pod_etc.parent.rmdir()  # /etc/netns, if no one else uses it
        for ns in (net.pod_ns, net.dns_ns):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)


def without_capabilities(ns: str, *cmd: str) -> list[str]:
    """cmd in netns `ns` with an empty capability bounding set: no CAP_NET_BIND_SERVICE, as
    for the pod's non-root user (uid 0 stays only so that CI's checkout is readable)."""
    return [
        "ip", "netns", "exec", ns,
        "setpriv", "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all", *cmd,
    ]


def allow_unprivileged_port_53(ns: str) -> None:
    """The Deployment's pod sysctl, in the dns netns only."""
    subprocess.run(
        ["ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv4.ip_unprivileged_port_start=53"],
        check=True, capture_output=True, timeout=10,
    )


# --- the API server, and clusterdns watching it --------------------------------------------

CLONE_NEWNET = 0x40000000
LIBC = ctypes.CDLL(None, use_errno=True)


def _enter_netns(ns: str) -> None:
    """Move the calling thread (only) into netns `ns`."""
    with open(f"/run/netns/{ns}") as handle:
        if LIBC.setns(handle.fileno(), CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"setns into {ns}: {os.strerror(errno)}")


def fake_api_in(ns: str) -> FakeKubeAPI:
    """The fake API server with its socket inside netns `ns`, so that its 127.0.0.1 is that
    namespace's: made on a thread that entered `ns`; its own threads stay in ours."""
    with ThreadPoolExecutor(max_workers=1, initializer=_enter_netns, initargs=(ns,)) as pool:
        return pool.submit(FakeKubeAPI).result()


@contextmanager
def clusterdns_in(net: ClusterNetwork, kubeconfig: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`clusterdns serve` in the dns netns, as in the pod: the sysctl, no capability, POD_IP."""
    (log.parent / "Corefile").write_text(COREFILE)
    allow_unprivileged_port_53(net.dns_ns)
    cmd = without_capabilities(
        net.dns_ns, sys.executable, "-m", "clusterdns", "serve",
        "--conf", str(log.parent / "Corefile"), "--kubeconfig", str(kubeconfig),
    )
    with log.open("wb") as out:
        process = subprocess.Popen(cmd, cwd=REPO, stdout=out, stderr=out, env={**os.environ, "POD_IP": NODE_IP})

    def answering() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"clusterdns exited {process.returncode}:\n{log.read_text()}")
        try:
            return bool(dig(net, "kubernetes.default.svc.cluster.local.", "A", "+notcp"))
        except DigFailed:
            return False

    try:
        wait_for(answering, timeout=20, what=f"clusterdns to answer at {KUBE_DNS_IP}:53")
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Cluster:
    net: ClusterNetwork
    api: FakeKubeAPI


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    workdir = tmp_path_factory.mktemp("e2e-netns")
    with cluster_network() as net, fake_api_in(net.dns_ns) as api:
        for obj in cluster_objects():
            api.add(obj)
        kubeconfig = api.write_kubeconfig(workdir / "kubeconfig")
        with clusterdns_in(net, kubeconfig, workdir / "clusterdns.log"):
            yield Cluster(net, api)


# --- the probes --------------------------------------------------------------------------------


class DigFailed(Exception):
    """dig got no reply at all (its exit status is 0 for any rcode)."""


def dig(net: ClusterNetwork, name: str, qtype: str, transport: str) -> set[str]:
    """`dig +search` from the pod: the answer section as {"TYPE RDATA"}."""
    result = net.in_pod(
        "dig", "+search", transport, "+noall", "+answer", "+time=2", "+tries=2", name, qtype
    )
    if result.returncode != 0:
        raise DigFailed(f"dig {transport} {name} {qtype}: {result.stdout}{result.stderr}")
    records = (line.split() for line in result.stdout.splitlines() if not line.startswith(";"))
    return {" ".join(fields[3:]) for fields in records if fields}


def getent_hosts(net: ClusterNetwork, key: str) -> list[list[str]]:
    """glibc's resolver from the pod: `getent hosts` lines, split ([] when not found)."""
    return [line.split() for line in net.in_pod("getent", "hosts", key).stdout.splitlines()]


def srv(port: int, target: str, weight: int) -> str:
    return f"SRV 0 {weight} {port} {target}."


NS_SVC = f"{POD_NAMESPACE}.svc.cluster.local"
# (name as a pod writes it, type, the answer section) — the e2e conformance probes.
PROBES = [
    ("kubernetes.default", "A", {"A 10.96.0.1"}),
    ("kubernetes.default.svc", "A", {"A 10.96.0.1"}),
    ("kubernetes.default.svc.cluster.local", "A", {"A 10.96.0.1"}),
    ("kube-dns.kube-system", "A", {f"A {KUBE_DNS_IP}"}),
    ("dns-test-service", "A", {f"A {a}" for a in STATEFULSET.values()}),
    (f"dns-test-service.{POD_NAMESPACE}.svc", "A", {f"A {a}" for a in STATEFULSET.values()}),
    ("web-0.dns-test-service", "A", {f"A {STATEFULSET['web-0']}"}),
    (f"web-1.dns-test-service.{NS_SVC}", "A", {f"A {STATEFULSET['web-1']}"}),
    (
        f"_http._tcp.dns-test-service.{POD_NAMESPACE}.svc", "SRV",
        {srv(80, f"{name}.dns-test-service.{NS_SVC}", 50) for name in STATEFULSET},
    ),
    (f"_http._tcp.test-service-2.{POD_NAMESPACE}.svc", "SRV", {srv(80, f"test-service-2.{NS_SVC}", 100)}),
    ("2.100.96.10.in-addr.arpa.", "PTR", {f"PTR test-service-2.{NS_SVC}."}),
    ("dns-test-service-4", "A", {f"CNAME test-service-2.{NS_SVC}.", "A 10.96.100.2"}),
    (f"{POD_IP.replace('.', '-')}.{POD_NAMESPACE}.pod", "A", {f"A {POD_IP}"}),
]


@pytest.mark.parametrize("transport", ["+notcp", "+tcp"])
@pytest.mark.parametrize(("name", "qtype", "expected"), PROBES, ids=[f"{p[0]} {p[1]}" for p in PROBES])
def test_dig_search_from_the_pod(cluster, name, qtype, expected, transport):
    assert dig(cluster.net, name, qtype, transport) == expected


GETENT = [(name, {a.split()[1] for a in answer if a.startswith("A ")}) for name, qtype, answer in PROBES if qtype == "A"]


@pytest.mark.parametrize(("name", "addresses"), GETENT, ids=[name for name, _ in GETENT])
def test_glibc_resolves_from_the_pod(cluster, name, addresses):
    lines = getent_hosts(cluster.net, name)
    assert {line[0] for line in lines} == addresses


def test_glibc_reverse_lookup_of_a_cluster_ip(cluster):
    assert getent_hosts(cluster.net, "10.96.100.2") == [["10.96.100.2", f"test-service-2.{NS_SVC}"]]


def test_externalname_changes_target_then_becomes_a_cluster_ip(cluster):
    name = "dns-test-service-3"

    def answer(qtype: str) -> set[str]:
        return dig(cluster.net, f"{name}.{NS_SVC}", qtype, "+notcp")

    assert answer("CNAME") == {"CNAME foo.example.com."}
    cluster.api.update(service(POD_NAMESPACE, name, external_name="bar.example.com"))
    wait_for(lambda: answer("CNAME") == {"CNAME bar.example.com."}, what="the new CNAME")
    cluster.api.update(service(POD_NAMESPACE, name, ["10.96.100.3"], HTTP))
    wait_for(lambda: answer("A") == {"A 10.96.100.3"}, what="the ClusterIP")
    assert answer("CNAME") == set()


def test_port_53_needs_the_sysctl_not_a_capability():
    """The Deployment's choice (README, "Deploying"): without CAP_NET_BIND_SERVICE, binding :53
    fails until net.ipv4.ip_unprivileged_port_start is lowered in the pod's netns."""
    bind_53 = "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).bind(('0.0.0.0', 53))"
    with cluster_network() as net:
        cmd = without_capabilities(net.dns_ns, sys.executable, "-c", bind_53)
        denied = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        assert denied.returncode != 0 and "PermissionError" in denied.stderr
        allow_unprivileged_port_53(net.dns_ns)
        subprocess.run(cmd, check=True, capture_output=True, timeout=10)
