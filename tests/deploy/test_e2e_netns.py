"""The pod's-eye test: the Kubernetes e2e DNS probes, asked by real `dig` and glibc from a
"pod" network namespace whose resolv.conf is the kubelet's, of clusterdns serving the kube-dns
address 10.96.0.10:53 with the Corefile of deploy/configmap.yaml, fed by the fake API server
(harness/fakeapi.py) through its informer, as in a cluster.

    pod netns                        dns netns ("clusterdns's pod")          upstream netns
    eth0 10.244.0.5/24 ─── veth ─── veth0 10.244.0.1/24    veth1 198.51.100.1/24 ─── veth ───
    10.96.0.0/12 via 10.244.0.1     lo 10.96.0.10/32                  eth0 198.51.100.53/24
    /etc/{resolv.conf,hosts,        resolv.conf: 198.51.100.53        the node's resolver:
    nsswitch.conf} as the kubelet   clusterdns :53, no capabilities;  example.com names,
    and a Debian image make them    the fake API on its 127.0.0.1     NXDOMAIN for the rest

10.96.0.10 sits on lo as kube-proxy's IPVS mode puts service IPs on a local interface, and the
route to the pods prefers it as source address: a server on 0.0.0.0 answers from that source,
as kube-proxy's NAT makes it seem in a cluster.

Every address and interface lives inside the namespaces this module creates (named uniquely
per run), and everything is removed at the end, even on failure. `ip netns exec` bind-mounts
/etc/netns/<name>/* over /etc/* for the command it runs: the host's own /etc/resolv.conf is
never touched.
"""

from __future__ import annotations

import ctypes
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from dnslib import QTYPE, RCODE, RR, A, DNSRecord
from dnslib.server import BaseResolver, DNSLogger, DNSServer

from harness.dig import DigFailed, answers, dig
from harness.fakeapi import FakeKubeAPI
from harness.paths import REPO
from harness.snapshots import endpoint, endpoint_slice, namespace, service
from harness.wait import wait_for

pytestmark = [
    pytest.mark.root("network namespaces (ip netns) and their /etc/netns files",
                     tools=["ip", "setpriv", "sysctl", "getent", "dig"]),
    pytest.mark.slow,
]

T = TypeVar("T")

KUBE_DNS_IP = "10.96.0.10"
NODE_IP = "10.244.0.1"  # the dns netns end of the pod veth: clusterdns's own pod IP
POD_IP = "10.244.0.5"
UPSTREAM_IP = "198.51.100.53"
POD_NAMESPACE = "e2e"
NS_SVC = f"{POD_NAMESPACE}.svc.cluster.local"

# What the kubelet writes for a pod in POD_NAMESPACE with dnsPolicy ClusterFirst.
KUBELET_RESOLV_CONF = (
    f"search {NS_SVC} svc.cluster.local cluster.local\n"
    f"nameserver {KUBE_DNS_IP}\n"
    "options ndots:5\n"
)
POD_HOSTS = f"127.0.0.1\tlocalhost\n{POD_IP}\tdns-querier\n"
POD_NSSWITCH = "hosts: files dns\n"  # a Debian image's: glibc's own DNS client, no host daemons

# The world beyond the cluster, as the node's resolver answers it.
EXTERNAL = {"foo.example.com.": "192.0.2.10", "bar.example.com.": "192.0.2.11", "www.example.com.": "192.0.2.12"}

DEPLOY = REPO / "deploy"
HTTP = [("http", "TCP", 80)]
STATEFULSET = {"web-0": "10.244.1.10", "web-1": "10.244.1.11"}


def cluster_objects() -> list[dict[str, Any]]:
    """The objects of the e2e DNS tests: kubernetes.default, a headless service fronting a
    StatefulSet, a ClusterIP service, and ExternalName services into and out of the zone."""
    dns_ports = [("dns", "UDP", 53), ("dns-tcp", "TCP", 53)]
    return [
        namespace("default"),
        namespace("kube-system"),
        namespace(POD_NAMESPACE),
        service("default", "kubernetes", ["10.96.0.1"], [("https", "TCP", 443)]),
        endpoint_slice("default", "kubernetes", "kubernetes", [endpoint("10.244.0.100")], [("https", "TCP", 6443)]),
        service("kube-system", "kube-dns", [KUBE_DNS_IP], dns_ports),
        endpoint_slice("kube-system", "kube-dns", "kube-dns-1", [endpoint(NODE_IP)], dns_ports),
        service(POD_NAMESPACE, "dns-test-service", ["None"], HTTP),
        endpoint_slice(
            POD_NAMESPACE, "dns-test-service", "dns-test-service-1",
            [endpoint(ip, hostname=name, pod=name) for name, ip in STATEFULSET.items()], HTTP,
        ),
        service(POD_NAMESPACE, "test-service-2", ["10.96.100.2"], HTTP),
        endpoint_slice(POD_NAMESPACE, "test-service-2", "test-service-2-1", [endpoint("10.244.1.20")], HTTP),
        service(POD_NAMESPACE, "dns-test-service-3", external_name="foo.example.com"),  # changes
        service(POD_NAMESPACE, "dns-test-service-4", external_name=f"test-service-2.{NS_SVC}"),
        service(POD_NAMESPACE, "dns-test-service-5", external_name="bar.example.com"),
    ]


# --- the cluster network ---------------------------------------------------------------------


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=10)


@dataclass
class ClusterNetwork:
    pod_ns: str
    dns_ns: str
    upstream_ns: str

    def in_pod(self, *cmd: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", self.pod_ns, *cmd], capture_output=True, text=True, timeout=timeout
        )


def veth(ns_a: str, name_a: str, address_a: str, ns_b: str, name_b: str, address_b: str) -> None:
    """A link between two namespaces, made inside them: the host never sees it."""
    ip("-n", ns_a, "link", "add", name_a, "type", "veth", "peer", "name", name_b, "netns", ns_b)
    for ns, name, address in ((ns_a, name_a, address_a), (ns_b, name_b, address_b)):
        ip("-n", ns, "addr", "add", address, "dev", name)
        ip("-n", ns, "link", "set", name, "up")


def etc_files(ns: str, files: dict[str, str]) -> None:
    """What `ip netns exec ns` shows at /etc/NAME."""
    directory = Path("/etc/netns") / ns
    directory.mkdir(parents=True)
    for name, text in files.items():
        (directory / name).write_text(text)


@contextmanager
def cluster_network() -> Iterator[ClusterNetwork]:
    suffix = secrets.token_hex(3)
    net = ClusterNetwork(*(f"clusterdns-{role}-{suffix}" for role in ("pod", "dns", "upstream")))
    names = (net.pod_ns, net.dns_ns, net.upstream_ns)
    try:
        for ns in names:
            ip("netns", "add", ns)
            ip("-n", ns, "link", "set", "lo", "up")
        veth(net.dns_ns, "veth0", f"{NODE_IP}/24", net.pod_ns, "eth0", f"{POD_IP}/24")
        veth(net.dns_ns, "veth1", "198.51.100.1/24", net.upstream_ns, "eth0", f"{UPSTREAM_IP}/24")
        ip("-n", net.dns_ns, "addr", "add", f"{KUBE_DNS_IP}/32", "dev", "lo")
        ip("-n", net.dns_ns, "route", "replace", "10.244.0.0/24", "dev", "veth0", "src", KUBE_DNS_IP)
        ip("-n", net.pod_ns, "route", "add", "10.96.0.0/12", "via", NODE_IP)
        etc_files(net.pod_ns, {"resolv.conf": KUBELET_RESOLV_CONF, "hosts": POD_HOSTS, "nsswitch.conf": POD_NSSWITCH})
        etc_files(net.dns_ns, {"resolv.conf": f"nameserver {UPSTREAM_IP}\n"})  # dnsPolicy: Default
        yield net
    finally:
        for ns in names:
            shutil.rmtree(Path("/etc/netns") / ns, ignore_errors=True)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)
        with suppress(OSError):
            Path("/etc/netns").rmdir()  # if no one else uses it


CLONE_NEWNET = 0x40000000
LIBC = ctypes.CDLL(None, use_errno=True)


def _enter_netns(ns: str) -> None:
    """Move the calling thread (only) into netns `ns`."""
    with open(f"/run/netns/{ns}") as handle:
        if LIBC.setns(handle.fileno(), CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"setns into {ns}: {os.strerror(errno)}")



def run_in(ns: str, make: Callable[[], T]) -> T:
    """make() on a thread inside netns `ns`: the sockets it opens, and the threads it starts,
    are that namespace's (so its 127.0.0.1 is that namespace's); ours stay in ours."""
    with ThreadPoolExecutor(max_workers=1, initializer=_enter_netns, initargs=(ns,)) as pool:
        return pool.submit(make).result()


def without_capabilities(ns: str, *cmd: str) -> list[str]:
    """cmd in netns `ns` with an empty capability bounding set: no CAP_NET_BIND_SERVICE, as
    for the pod's non-root user (uid 0 stays only so that CI's checkout is readable)."""
    return [
        "ip", "netns", "exec", ns,
        "setpriv", "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all", *cmd,
    ]


def allow_unprivileged_port_53(ns: str) -> None:
    """The Deployment's pod sysctl, in netns `ns` only."""
    subprocess.run(
        ["ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv4.ip_unprivileged_port_start=53"],
        check=True, capture_output=True, timeout=10,
    )


class NodeResolver(BaseResolver):
    """The node's resolver: the A records of EXTERNAL, NODATA for their other types, NXDOMAIN
    for every other name (as the real DNS answers `kubernetes.default.`)."""

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        reply = request.reply()
        name = str(request.q.qname).lower()
        if name not in EXTERNAL:
            reply.header.rcode = RCODE.NXDOMAIN
        elif request.q.qtype == QTYPE.A:
            reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(EXTERNAL[name]), ttl=60))
        return reply


@contextmanager
def node_resolver_in(ns: str) -> Iterator[None]:
    """NodeResolver on UPSTREAM_IP:53, UDP and TCP, listening inside netns `ns`."""
    servers = [
        run_in(ns, lambda tcp=tcp: DNSServer(NodeResolver(), UPSTREAM_IP, 53, tcp, DNSLogger("error")))
        for tcp in (False, True)
    ]
    for server in servers:
        server.start_thread()
    try:
        yield
    finally:
        for server in servers:
            server.stop()
            server.server.server_close()


# --- clusterdns as deployed ---------------------------------------------------------------------


def deployed(name: str) -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / name).read_text())


@contextmanager
def clusterdns_in(net: ClusterNetwork, kubeconfig: Path, workdir: Path) -> Iterator[None]:
    """`clusterdns serve` in the dns netns as the Deployment runs it: the ConfigMap's Corefile,
    the port sysctl, no capability, POD_IP."""
    corefile = workdir / "Corefile"
    corefile.write_text(deployed("configmap.yaml")["data"]["Corefile"])
    log = workdir / "clusterdns.log"
    allow_unprivileged_port_53(net.dns_ns)
    cmd = without_capabilities(
        net.dns_ns, sys.executable, "-m", "clusterdns", "serve",
        "--conf", str(corefile), "--kubeconfig", str(kubeconfig),
    )
    with log.open("wb") as out:
        process = subprocess.Popen(cmd, cwd=REPO, stdout=out, stderr=out, env={**os.environ, "POD_IP": NODE_IP})

    def answering() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"clusterdns exited {process.returncode}:\n{log.read_text()}")
        try:
            return bool(dig_in_pod(net, "kubernetes.default.svc.cluster.local.", "A", "+notcp"))
        except DigFailed:
            return False

    try:
        wait_for(answering, what=f"clusterdns to answer at {KUBE_DNS_IP}:53")
        yield
    finally:
        process.terminate()  # lameduck first, as on a pod's deletion
        try:
            process.wait(timeout=15)
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
    with ExitStack() as stack:
        net = stack.enter_context(cluster_network())
        stack.enter_context(node_resolver_in(net.upstream_ns))
        api = stack.enter_context(run_in(net.dns_ns, FakeKubeAPI))
        for obj in cluster_objects():
            api.add(obj)
        stack.enter_context(clusterdns_in(net, api.write_kubeconfig(workdir / "kubeconfig"), workdir))
        yield Cluster(net, api)


# --- the probes --------------------------------------------------------------------------------


def dig_in_pod(net: ClusterNetwork, name: str, qtype: str, transport: str) -> set[str]:
    """`dig +search` from the pod: the answer section as {"TYPE RDATA"}."""
    output = dig("+search", transport, "+noall", "+answer", name, qtype,
                     prefix=["ip", "netns", "exec", net.pod_ns], tries=2, wait=2)
    return answers(output)


def getent_hosts(net: ClusterNetwork, key: str) -> list[list[str]]:
    """glibc's resolver from the pod: `getent hosts` lines, split ([] when not found)."""
    return [line.split() for line in net.in_pod("getent", "hosts", key).stdout.splitlines()]


def srv(port: int, target: str, weight: int) -> str:
    return f"SRV 0 {weight} {port} {target}."


# (name as a pod writes it, type, the answer section): the e2e conformance probes, and names
# outside the cluster that only the forwarder (to the node's resolver) can answer.
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
    (f"{POD_IP.replace('.', '-')}.{POD_NAMESPACE}.pod", "A", {f"A {POD_IP}"}),
    ("dns-test-service-4", "A", {f"CNAME test-service-2.{NS_SVC}.", "A 10.96.100.2"}),
    ("dns-test-service-5", "A", {"CNAME bar.example.com.", f"A {EXTERNAL['bar.example.com.']}"}),
    ("www.example.com", "A", {f"A {EXTERNAL['www.example.com.']}"}),
]


@pytest.mark.parametrize("transport", ["+notcp", "+tcp"])
@pytest.mark.parametrize(("name", "qtype", "expected"), PROBES, ids=[f"{p[0]} {p[1]}" for p in PROBES])
def test_dig_search_from_the_pod(cluster, name, qtype, expected, transport):
    assert dig_in_pod(cluster.net, name, qtype, transport) == expected


GETENT = [(name, {a.split()[1] for a in answer if a.startswith("A ")}) for name, qtype, answer in PROBES if qtype == "A"]


@pytest.mark.parametrize(("name", "addresses"), GETENT, ids=[name for name, _ in GETENT])
def test_glibc_resolves_from_the_pod(cluster, name, addresses):
    assert {line[0] for line in getent_hosts(cluster.net, name)} == addresses


def test_glibc_reverse_lookup_of_a_cluster_ip(cluster):
    assert getent_hosts(cluster.net, "10.96.100.2") == [["10.96.100.2", f"test-service-2.{NS_SVC}"]]


def test_externalname_changes_target_then_becomes_a_cluster_ip(cluster):
    name = "dns-test-service-3"

    def answer(qtype: str) -> set[str]:
        return dig_in_pod(cluster.net, f"{name}.{NS_SVC}", qtype, "+notcp")

    assert answer("CNAME") == {"CNAME foo.example.com."}
    cluster.api.update(service(POD_NAMESPACE, name, external_name="bar.example.com"))
    wait_for(lambda: answer("CNAME") == {"CNAME bar.example.com."}, what="the new CNAME")
    cluster.api.update(service(POD_NAMESPACE, name, ["10.96.100.3"], HTTP))
    wait_for(lambda: answer("A") == {"A 10.96.100.3"}, what="the ClusterIP")
    assert answer("CNAME") == set()


def kubelet_probes() -> list[tuple[str, int]]:
    (container,) = deployed("deployment.yaml")["spec"]["template"]["spec"]["containers"]
    gets = [container[probe]["httpGet"] for probe in ("livenessProbe", "readinessProbe")]
    return [(get["path"], get["port"]) for get in gets]


HTTP_GET = """\
import sys, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
with opener.open(sys.argv[1], timeout=5) as reply:
    print(reply.status)
"""


@pytest.mark.parametrize(("path", "port"), kubelet_probes())
def test_the_deployments_probes_pass(cluster, path, port):
    """The kubelet probes the pod IP, as the Deployment says, and the Corefile serves."""
    result = cluster.net.in_pod(sys.executable, "-c", HTTP_GET, f"http://{NODE_IP}:{port}{path}")
    assert result.stdout.strip() == "200", result.stderr


def test_prometheus_scrapes_the_services_port(cluster):
    port = deployed("service.yaml")["metadata"]["annotations"]["prometheus.io/port"]
    code = HTTP_GET.replace("print(reply.status)", "print(reply.read().decode())")
    result = cluster.net.in_pod(sys.executable, "-c", code, f"http://{NODE_IP}:{port}/metrics")
    assert "coredns_dns_requests_total{" in result.stdout, result.stderr


def test_port_53_needs_the_sysctl_not_a_capability():
    """The Deployment's choice (README, "Binding :53 without root"): without
    CAP_NET_BIND_SERVICE, binding :53 fails until net.ipv4.ip_unprivileged_port_start is
    lowered in the pod's netns."""
    bind_53 = "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).bind(('0.0.0.0', 53))"
    with cluster_network() as net:
        cmd = without_capabilities(net.dns_ns, sys.executable, "-c", bind_53)
        denied = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        assert denied.returncode != 0 and "PermissionError" in denied.stderr
        allow_unprivileged_port_53(net.dns_ns)
        subprocess.run(cmd, check=True, capture_output=True, timeout=10)
