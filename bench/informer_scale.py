"""Time and memory for the informer to sync a large cluster from the fake API server.

The fake API server runs in a child process, so the RSS measured here is the informer's
process alone: the kubernetes client, the informer threads, the ClusterState (and with
--index, the record index the server builds from it). Objects carry the metadata a real
API server sends (uid, labels, managedFields, ...), so that JSON decoding costs what it would.

    .venv/bin/python bench/informer_scale.py --services 10000 --endpoints-per-service 10
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from clusterdns.plugins.kubernetes.client import make_api_client  # noqa: E402
from clusterdns.plugins.kubernetes.informer import Informer  # noqa: E402
from harness.fakeapi import FakeKubeAPI, StateLoop  # noqa: E402

TARGET_SECONDS = 5.0
TARGET_MB = 100.0


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


def service(ns: str, i: int) -> dict[str, Any]:
    cluster_ip = f"172.{16 + (i >> 16)}.{(i >> 8) & 255}.{i & 255}"
    return {
        "kind": "Service",
        "apiVersion": "v1",
        "metadata": metadata(ns, f"svc-{i}", i),
        "spec": {
            "type": "ClusterIP",
            "clusterIP": cluster_ip,
            "clusterIPs": [cluster_ip],
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


def serve_cluster(args: argparse.Namespace, conn: Connection) -> None:
    """Child process: fill a fake API server, send its URL, serve until told to stop."""
    with FakeKubeAPI(bookmark_interval=5.0) as fake:
        namespaces = [f"ns-{n}" for n in range(args.namespaces)]
        for ns in namespaces:
            fake.add({"kind": "Namespace", "apiVersion": "v1", "metadata": metadata(None, ns, 0)})
        for i in range(args.services):
            ns = namespaces[i % len(namespaces)]
            fake.add(service(ns, i))
            fake.add(
                endpoint_slice(ns, i, args.endpoints_per_service, i * args.endpoints_per_service)
            )
        fake.compact()  # drop the event log of the fill: the informer lists, then watches
        conn.send(fake.url)
        conn.recv()


def rss_mb(field: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def build_index(loop: StateLoop) -> None:
    """Subscribe the server's record index to the state, as `clusterdns serve` does."""
    from clusterdns.plugins.kubernetes.resolver import build_resolver
    from clusterdns.server.directives import kubernetes_block, load_servers

    _, k8s = kubernetes_block(load_servers(None))
    loop.read(lambda state: build_resolver(state, k8s, ("127.0.0.1",)))


def run(args: argparse.Namespace, url: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        kubeconfig = Path(tmp) / "kubeconfig"
        kubeconfig.write_text(
            f"apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: '{url}'}}}}]\n"
            "users: [{name: u, user: {token: fake-token}}]\n"
            "contexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n"
        )
        api = make_api_client(str(kubeconfig))
    loop = StateLoop()
    if args.index:
        build_index(loop)
    gc.collect()
    before = rss_mb()
    informer = Informer(api, loop.state, loop.submit, page_size=args.page_size)
    started, cpu_started = time.monotonic(), time.process_time()
    informer.start()
    if not informer.synced.wait(120):
        raise SystemExit(f"not synced after 120 s: {informer.status()}")
    seconds, cpu = time.monotonic() - started, time.process_time() - cpu_started
    counts = loop.read(
        lambda s: (
            len(s.services),
            len(s.slices),
            len(s.namespaces),
            sum(len(sl.endpoints) for sl in s.slices.values()),
        )
    )
    gc.collect()
    after = rss_mb()
    informer.stop()
    loop.close()
    return {
        "services": counts[0],
        "slices": counts[1],
        "namespaces": counts[2],
        "endpoints": counts[3],
        "ready_s": seconds,
        "cpu_s": cpu,
        "rss_before_mb": before,
        "rss_after_mb": after,
        "delta_mb": after - before,
        "peak_mb": rss_mb("VmHWM"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=10000)
    parser.add_argument("--endpoints-per-service", type=int, default=10)
    parser.add_argument("--namespaces", type=int, default=100)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument(
        "--index", action="store_true", help="also build the server's record index from the state"
    )
    args = parser.parse_args()

    ours, theirs = multiprocessing.Pipe()
    child = multiprocessing.get_context("fork").Process(
        target=serve_cluster, args=(args, theirs), daemon=True
    )
    child.start()
    print(
        f"filling the fake API server: {args.services} services × "
        f"{args.endpoints_per_service} endpoints in {args.namespaces} namespaces ...",
        flush=True,
    )
    result = run(args, ours.recv())
    ours.send("stop")
    child.join(10)

    print(f"{'':>16} {'value':>10}  target")
    for name in ("services", "slices", "endpoints", "namespaces"):
        print(f"{name:>16} {result[name]:>10.0f}")
    print(f"{'ready (s)':>16} {result['ready_s']:>10.2f}  ≤ {TARGET_SECONDS:.0f}")
    print(f"{'CPU to ready (s)':>16} {result['cpu_s']:>10.2f}  (all threads of this process)")
    print(f"{'RSS before (MB)':>16} {result['rss_before_mb']:>10.1f}")
    print(f"{'RSS after (MB)':>16} {result['rss_after_mb']:>10.1f}  ≤ {TARGET_MB:.0f}")
    print(f"{'RSS delta (MB)':>16} {result['delta_mb']:>10.1f}")
    print(f"{'RSS peak (MB)':>16} {result['peak_mb']:>10.1f}")
    met = result["ready_s"] <= TARGET_SECONDS and result["rss_after_mb"] <= TARGET_MB
    print("targets met" if met else "TARGETS MISSED")
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
