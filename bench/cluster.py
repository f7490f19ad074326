"""The benchmark's cluster: a kubectl-shaped snapshot, the Corefile, and the same zone as an
RFC 1035 file for the C reference server (written by `clusterdns dump`, so both serve
exactly the same records)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.server import TEST_COREFILE
from harness.snapshots import endpoint, endpoint_slice, namespace, service, write_snapshot

ZONE = "cluster.local."
BIG_NAMESPACE, BIG_SERVICE = "bench", "big"  # the headless service with many endpoints


@dataclass(frozen=True)
class Cluster:
    snapshot: Path
    corefile: Path
    zone_file: Path
    services: list[tuple[str, str]]  # (namespace, name) of every ClusterIP/headless service
    namespaces: list[str]


def namespace_name(i: int) -> str:
    return f"team-{i:02d}"


def service_name(i: int) -> str:
    return f"svc-{i:04d}"


def service_items(ns: str, name: str, ip: str, pod_net: str, headless: bool) -> list[dict]:
    """One service with three ready endpoints (a Deployment, or a StatefulSet when headless)."""
    ports = [("http", "TCP", 80), ("metrics", "TCP", 9090)]
    eps = [
        endpoint(f"{pod_net}.{i + 1}", hostname=f"{name}-{i}" if headless else None)
        for i in range(3)
    ]
    return [
        service(ns, name, ["None"] if headless else [ip], ports),
        endpoint_slice(ns, name, f"{name}-abcde", eps, [("http", "TCP", 8080)]),
    ]


def cluster_items(namespaces: int, services: int, big_endpoints: int) -> list[dict[str, Any]]:
    """`services` services spread over `namespaces` namespaces (every tenth headless), and a
    headless `big.bench` with `big_endpoints` ready endpoints."""
    items = [namespace(namespace_name(i)) for i in range(namespaces)]
    for s in range(services):
        ns = namespace_name(s % namespaces)
        ip = f"10.96.{s // 250}.{s % 250 + 1}"
        pod_net = f"10.{100 + s // 250}.{s % 250}"
        items += service_items(ns, service_name(s), ip, pod_net, headless=s % 10 == 9)
    big = [endpoint(f"10.250.{i // 250}.{i % 250 + 1}") for i in range(big_endpoints)]
    items += [
        namespace(BIG_NAMESPACE),
        service(BIG_NAMESPACE, BIG_SERVICE, ["None"], [("http", "TCP", 80)]),
        endpoint_slice(BIG_NAMESPACE, BIG_SERVICE, f"{BIG_SERVICE}-1", big, [("http", "TCP", 80)]),
    ]
    return items


def write_cluster(
    directory: Path, namespaces: int = 50, services: int = 1000, big_endpoints: int = 100
) -> Cluster:
    """The snapshot (JSON: 10,000 services load in seconds), Corefile and zone file."""
    directory.mkdir(parents=True, exist_ok=True)
    snapshot = write_snapshot(
        directory / "cluster.json", cluster_items(namespaces, services, big_endpoints)
    )
    corefile = directory / "Corefile"
    corefile.write_text(TEST_COREFILE)  # no `forward`: every query stays on this machine
    zone_file = directory / "cluster.local.zone"
    subprocess.run(
        [sys.executable, "-m", "clusterdns", "dump", "--conf", str(corefile),
         "--snapshot", str(snapshot), "-o", str(zone_file)],
        check=True,
    )  # fmt: skip
    names = [(namespace_name(s % namespaces), service_name(s)) for s in range(services)]
    return Cluster(
        snapshot, corefile, zone_file, names, [namespace_name(i) for i in range(namespaces)]
    )
