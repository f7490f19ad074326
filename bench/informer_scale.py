"""Memory and time for `clusterdns serve` to sync a large cluster from the fake API server.

The fake API server (harness/fakeapi.py) runs in a child process and holds N services, each
with one EndpointSlice of M endpoints, carrying the metadata a real API server sends (uid,
labels, managedFields, ...) so that JSON decoding costs what it would. Each round starts a
fresh `clusterdns serve --kubeconfig` (the kubeadm Corefile without `forward` and `loop`) and
measures, for that process: the time from its start to the first correct answers (the last
service's A record and the PTR of its last endpoint), its CPU time until then, its peak RSS
(VmHWM in /proc/PID/status) and its RSS after the sync.

`--breakdown` also says where the bytes go: the same server on an empty cluster (the
interpreter, the libraries, the threads), then the informer and the record index in this
process under tracemalloc (every object of the state and the index, by structure, and the
transient bytes of the LIST pages).

    .venv/bin/python -m bench.informer_scale --rounds 3 --breakdown
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from harness.query import ask  # noqa: E402
from harness.server import kubeadm_corefile, start_server, stop_server  # noqa: E402

TARGET_SECONDS = 5.0
TARGET_MIB = 100.0
# kubeadm's Corefile with nothing that leaves the machine (HTTP listeners on loopback ports)
# and no lameduck (each round stops its server)
COREFILE = kubeadm_corefile(
    {
        "    forward . /etc/resolv.conf {\n       max_concurrent 1000\n    }\n": "",
        "    loop\n": "",
        "lameduck 5s": "lameduck 0s",
    }
)


def metadata(ns: str | None, name: str, i: int, **extra: Any) -> dict[str, Any]:
    """Metadata as the API server returns it, managedFields included (ns None: cluster-scoped)."""
    return {
        "name": name,
        **({"namespace": ns} if ns else {}),
        "uid": f"{i:08x}-1c2d-4e5f-8a9b-{i:012x}",
        "creationTimestamp": "2026-11-01T10:00:00Z",
        "labels": {"app": name, "app.kubernetes.io/managed-by": "helm"},
        "managedFields": [
            {
                "manager": "kube-controller-manager",
                "operation": "Update",
                "apiVersion": "v1",
                "time": "2026-11-01T10:00:00Z",
                "fieldsType": "FieldsV1",
                "fieldsV1": {
                    "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                    "f:spec": {"f:ports": {}},
                },
            }
        ],
        **extra,
    }


def ip(i: int) -> str:
    return f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"


def cluster_ip(i: int) -> str:
    return f"172.{16 + (i >> 16)}.{(i >> 8) & 255}.{i & 255}"


def service(ns: str, i: int) -> dict[str, Any]:
    return {
        "kind": "Service",
        "apiVersion": "v1",
        "metadata": metadata(ns, f"svc-{i}", i),
        "spec": {
            "type": "ClusterIP",
            "clusterIP": cluster_ip(i),
            "clusterIPs": [cluster_ip(i)],
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "selector": {"app": f"svc-{i}"},
            "sessionAffinity": "None",
            "internalTrafficPolicy": "Cluster",
            "ports": [
                {"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080},
                {"name": "metrics", "protocol": "TCP", "port": 9090, "targetPort": 9090},
            ],
        },
        "status": {"loadBalancer": {}},
    }


def endpoint_slice(ns: str, i: int, endpoints: int, first_ip: int) -> dict[str, Any]:
    name = f"svc-{i}"
    labels = {
        "kubernetes.io/service-name": name,
        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
    }
    annotations = {"endpoints.kubernetes.io/last-change-trigger-time": "2026-11-01T10:00:00Z"}
    meta = metadata(ns, f"{name}-7xq2p", i, annotations=annotations)
    meta["labels"] = labels
    meta["ownerReferences"] = [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "name": name,
            "uid": meta["uid"],
            "controller": True,
        }
    ]
    return {
        "kind": "EndpointSlice",
        "apiVersion": "discovery.k8s.io/v1",
        "metadata": meta,
        "addressType": "IPv4",
        "endpoints": [
            {
                "addresses": [ip(first_ip + j)],
                "conditions": {"ready": True, "serving": True, "terminating": False},
                "nodeName": f"node-{(first_ip + j) % 50}",
                "zone": "zone-a",
                "targetRef": {
                    "kind": "Pod",
                    "namespace": ns,
                    "name": f"{name}-5d9c7b-{j:05d}",
                    "uid": f"{first_ip + j:08x}-aaaa-bbbb-cccc-{j:012x}",
                },
            }
            for j in range(endpoints)
        ],
        "ports": [
            {"name": "http", "protocol": "TCP", "port": 8080},
            {"name": "metrics", "protocol": "TCP", "port": 9090},
        ],
    }


def namespace_of(args: argparse.Namespace, i: int) -> str:
    return f"ns-{i % args.namespaces}"


def serve_cluster(args: argparse.Namespace, services: int, kubeconfig: Path, conn: Any) -> None:
    """Child process: fill a fake API server, write its kubeconfig, serve until told to stop."""
    from harness.fakeapi import FakeKubeAPI

    with FakeKubeAPI(bookmark_interval=5.0) as fake:
        for n in range(args.namespaces):
            meta = metadata(None, f"ns-{n}", 0)
            fake.add({"kind": "Namespace", "apiVersion": "v1", "metadata": meta})
        per = args.endpoints_per_service
        for i in range(services):
            fake.add(service(namespace_of(args, i), i))
            fake.add(endpoint_slice(namespace_of(args, i), i, per, i * per))
        fake.compact()  # drop the event log of the fill: the informer lists, then watches
        fake.write_kubeconfig(kubeconfig)
        conn.send("filled")
        conn.recv()


@contextmanager
def fake_api(args: argparse.Namespace, services: int) -> Iterator[Path]:
    """A fake API server with `services` services in a child process: its kubeconfig."""
    with tempfile.TemporaryDirectory() as tmp:
        kubeconfig = Path(tmp) / "kubeconfig"
        ours, theirs = multiprocessing.Pipe()
        child = multiprocessing.get_context("fork").Process(
            target=serve_cluster, args=(args, services, kubeconfig, theirs), daemon=True
        )
        child.start()
        try:
            ours.recv()
            yield kubeconfig
        finally:
            ours.send("stop")
            child.join(10)


def mib(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def expected_answers(args: argparse.Namespace, services: int) -> list[tuple[str, str, str]]:
    """(name, type, rdata) the synced server answers: the last service listed and the PTR
    of its last endpoint (named by its dashed IP); for an empty cluster, nothing."""
    if not services:
        return []
    i = services - 1
    base = f"svc-{i}.{namespace_of(args, i)}.svc.cluster.local."
    address = ip(i * args.endpoints_per_service + args.endpoints_per_service - 1)
    reverse = ".".join(reversed(address.split("."))) + ".in-addr.arpa."
    return [(base, "A", cluster_ip(i)), (reverse, "PTR", address.replace(".", "-") + "." + base)]


def server_round(args: argparse.Namespace, kubeconfig: Path, services: int) -> dict[str, float]:
    """A fresh server: start, first correct answers, then its numbers."""
    conf = kubeconfig.parent / "Corefile"
    conf.write_text(COREFILE)
    expected = expected_answers(args, services)
    started = time.monotonic()
    server = start_server(["--conf", str(conf), "--kubeconfig", str(kubeconfig)], timeout=120)
    try:
        pid = server.process.pid
        while not all(ask(server, name, qtype)[1] == {rdata} for name, qtype, rdata in expected):
            if time.monotonic() - started > 120:
                raise SystemExit(f"no correct answer after 120 s: {''.join(server.log[-5:])}")
            time.sleep(0.01)
        answered, cpu = time.monotonic() - started, cpu_seconds(pid)
        time.sleep(1)  # what stays after the sync
        return {
            "answer_s": answered,
            "cpu_s": cpu,
            "peak_mib": mib(pid, "VmHWM"),
            "rss_mib": mib(pid, "VmRSS"),
        }
    finally:
        stop_server(server)


# -- where the bytes go ------------------------------------------------------------------


def deep_size(roots: Iterable[Any], seen: set[int]) -> tuple[int, int]:
    """Bytes and objects reachable from `roots` (containers, slotted objects) not yet seen."""
    size = count = 0
    stack = list(roots)
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, type) or obj is None:
            continue
        seen.add(id(obj))
        size += sys.getsizeof(obj)
        count += 1
        if isinstance(obj, dict):
            stack += [*obj.keys(), *obj.values()]
        elif isinstance(obj, (tuple, list, set, frozenset)):
            stack += obj
        elif not isinstance(obj, (str, int, float, bool)):
            for klass in type(obj).__mro__:
                stack += [
                    getattr(obj, s) for s in getattr(klass, "__slots__", ()) if hasattr(obj, s)
                ]
    return size, count


def census(state: Any, index: Any) -> list[tuple[str, int, int]]:
    """The state's and the index's objects by structure, each object counted once, in the
    first structure (of this order) that reaches it."""
    seen: set[int] = set()
    addresses = (a for sl in state.slices.values() for ep in sl.endpoints for a in ep.addresses)
    parts = [
        ("state: endpoint addresses (strings)", list(addresses)),
        ("state: EndpointSlices (the rest)", [state.slices]),
        ("state: Services", [state.services]),
        ("state: slices by service, namespaces", [state.slices_by_service, state.namespaces]),
        ("index: names and their records", [index.nodes]),
        ("index: endpoint IP → services", [index.endpoint_owners, index.endpoint_links]),
        ("index: per service, cluster IP → services", [index.by_service, index.service_ptrs]),
    ]
    return [(name, *deep_size(roots, seen)) for name, roots in parts]


def breakdown(args: argparse.Namespace) -> None:
    from clusterdns.plugins.kubernetes.client import make_api_client
    from clusterdns.plugins.kubernetes.informer import Informer
    from clusterdns.plugins.kubernetes.resolver import build_resolver
    from clusterdns.server.directives import kubernetes_block, load_servers
    from harness.fakeapi import StateLoop

    print("\nthe interpreter, libraries and threads: the server on an empty cluster")
    with fake_api(args, 0) as kubeconfig:
        empty = server_round(args, kubeconfig, 0)
    print(
        f"  answer {empty['answer_s']:.2f} s, CPU {empty['cpu_s']:.2f} s, "
        f"peak RSS {empty['peak_mib']:.1f} MiB, RSS after {empty['rss_mib']:.1f} MiB"
    )

    print("\nthe informer and record index in this process, under tracemalloc")
    with fake_api(args, args.services) as kubeconfig:
        loop = StateLoop()
        _, k8s = kubernetes_block(load_servers(None))
        resolver = loop.read(lambda state: build_resolver(state, k8s, ("127.0.0.1",)))
        informer = Informer(make_api_client(str(kubeconfig)), loop.state, loop.submit)
        gc.collect()
        tracemalloc.start()
        informer.start()
        if not informer.synced.wait(300):
            raise SystemExit(f"not synced after 300 s: {informer.status()}")
        informer.stop()
        gc.collect()
        held, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        parts = loop.read(lambda state: census(state, resolver.index), timeout=60)
        loop.close()
    for name, size, count in parts:
        print(f"  {name:<44} {size / 2**20:6.1f} MiB {count:>9,} objects")
    total = sum(size for _, size, _ in parts)
    print(f"  {'all of the above (getsizeof)':<44} {total / 2**20:6.1f} MiB")
    print(f"  {'traced after the sync':<44} {held / 2**20:6.1f} MiB")
    print(f"  {'traced at the peak (LIST pages, parsing)':<44} {peak / 2**20:6.1f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--services", type=int, default=10000)
    parser.add_argument("--endpoints-per-service", type=int, default=10)
    parser.add_argument("--namespaces", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3, help="fresh servers (default 3)")
    parser.add_argument("--breakdown", action="store_true", help="say where the bytes go")
    args = parser.parse_args()

    print(
        f"{args.services} services × {args.endpoints_per_service} endpoints in "
        f"{args.namespaces} namespaces from the fake API server",
        flush=True,
    )
    rounds = []
    with fake_api(args, args.services) as kubeconfig:
        header = ("round", 6), ("answer (s)", 11), ("CPU (s)", 8), ("peak RSS (MiB)", 15)
        print(" ".join(f"{text:>{width}}" for text, width in header), f"{'RSS after':>10}")
        for n in range(1, args.rounds + 1):
            result = server_round(args, kubeconfig, args.services)
            rounds.append(result)
            print(
                f"{n:>6} {result['answer_s']:>11.2f} {result['cpu_s']:>8.2f} "
                f"{result['peak_mib']:>15.1f} {result['rss_mib']:>10.1f}",
                flush=True,
            )
    median = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
    print(
        f"{'median':>6} {median['answer_s']:>11.2f} {median['cpu_s']:>8.2f} "
        f"{median['peak_mib']:>15.1f} {median['rss_mib']:>10.1f}"
    )
    if args.breakdown:
        breakdown(args)
    met = median["answer_s"] <= TARGET_SECONDS and max(r["peak_mib"] for r in rounds) <= TARGET_MIB
    print(
        f"\ntargets (answer ≤ {TARGET_SECONDS:.0f} s, peak RSS ≤ {TARGET_MIB:.0f} MiB): "
        + ("met" if met else "MISSED")
    )
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
