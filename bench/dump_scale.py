"""Time and memory of `clusterdns dump` on a large cluster (10k services / 100k endpoints).

Writes a kubectl-shaped snapshot (`kubectl get ns,svc,endpointslices -A -o json`: a v1 List)
and runs the real command on it in a child process, so the numbers include loading, indexing
and writing, as a user would see them:

    .venv/bin/python bench/dump_scale.py [--services 10000] [--endpoints 100000] [--format zone]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

NAMESPACES = 100
HEADLESS_EVERY = 5  # every 5th service is headless (a StatefulSet), every 50th ExternalName
EXTERNAL_EVERY = 50
SLICE_SIZE = 100  # the EndpointSlice controller's default maximum


def _meta(ns: str, name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": ns, "resourceVersion": "1", **extra}


def _service(i: int) -> dict[str, Any]:
    ns, name = f"ns-{i % NAMESPACES}", f"svc-{i}"
    ports = [
        {"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080},
        {"name": "metrics", "protocol": "TCP", "port": 9090, "targetPort": 9090},
    ]
    spec: dict[str, Any] = {"type": "ClusterIP", "ports": ports}
    if i % EXTERNAL_EVERY == 0:
        spec = {"type": "ExternalName", "externalName": f"db-{i}.example.com"}
    elif i % HEADLESS_EVERY == 0:
        spec.update(clusterIP="None", clusterIPs=["None"])
    else:
        ip = f"10.{96 + i // 65536}.{i // 256 % 256}.{i % 256}"
        spec.update(clusterIP=ip, clusterIPs=[ip])
    return {"apiVersion": "v1", "kind": "Service", "metadata": _meta(ns, name), "spec": spec}


def _slices(i: int, count: int, first_ip: int) -> list[dict[str, Any]]:
    ns, svc = f"ns-{i % NAMESPACES}", f"svc-{i}"
    headless = i % HEADLESS_EVERY == 0
    slices = []
    for start in range(0, count, SLICE_SIZE):
        endpoints = []
        for j in range(start, min(count, start + SLICE_SIZE)):
            n = first_ip + j
            endpoint: dict[str, Any] = {
                "addresses": [f"10.{128 + n // 65536}.{n // 256 % 256}.{n % 256}"],
                "conditions": {"ready": j % 20 != 19, "serving": True, "terminating": False},
                "nodeName": f"node-{n % 50}",
                "targetRef": {"kind": "Pod", "namespace": ns, "name": f"{svc}-{j}"},
            }
            if headless:
                endpoint["hostname"] = f"{svc}-{j}"
            endpoints.append(endpoint)
        labels = {
            "kubernetes.io/service-name": svc,
            "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
        }
        slices.append(
            {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": _meta(ns, f"{svc}-{start // SLICE_SIZE:05x}", labels=labels),
                "addressType": "IPv4",
                "endpoints": endpoints,
                "ports": [
                    {"name": "http", "protocol": "TCP", "port": 8080},
                    {"name": "metrics", "protocol": "TCP", "port": 9090},
                ],
            }
        )
    return slices


def snapshot(services: int, endpoints: int) -> dict[str, Any]:
    """A v1 List of namespaces, services and their slices; endpoints spread evenly."""
    items: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"ns-{n}"}}
        for n in range(NAMESPACES)
    ]
    with_endpoints = [i for i in range(services) if i % EXTERNAL_EVERY != 0]
    next_ip = 0
    for rank, i in enumerate(with_endpoints):
        items.append(_service(i))
        count = endpoints * (rank + 1) // len(with_endpoints) - next_ip
        items += _slices(i, count, next_ip)
        next_ip += count
    items += [_service(i) for i in range(0, services, EXTERNAL_EVERY)]
    return {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items}


def count_records(path: Path, fmt: str) -> int:
    with path.open() as lines:
        if fmt == "json":
            return sum(line.startswith('{"name"') for line in lines)
        return sum(not line.startswith((";", "$")) for line in lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--endpoints", type=int, default=100_000)
    parser.add_argument("--format", choices=("zone", "json"), default="zone")
    parser.add_argument("--keep", type=Path, help="directory to keep the snapshot and dump in")
    args = parser.parse_args()
    directory = args.keep or Path(tempfile.mkdtemp(prefix="dump-scale-"))
    directory.mkdir(parents=True, exist_ok=True)
    source = directory / "cluster.json"
    source.write_text(json.dumps(snapshot(args.services, args.endpoints)))
    output = directory / f"dump.{args.format}"
    cmd = [sys.executable, "-m", "clusterdns", "dump", "--snapshot", str(source)]
    cmd += ["--format", args.format, "-o", str(output)]
    start = time.perf_counter()
    subprocess.run(cmd, check=True)
    elapsed = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak_mib = usage.ru_maxrss / 1024  # Linux: KiB
    cpu = usage.ru_utime + usage.ru_stime  # apart from wall time: the machine may be busy
    records = count_records(output, args.format)
    print(
        f"dump of {args.services} services / {args.endpoints} endpoints "
        f"({source.stat().st_size / 2**20:.0f} MiB snapshot): {elapsed:.2f} s ({cpu:.2f} s CPU), "
        f"peak RSS {peak_mib:.0f} MiB, {records} records, "
        f"{output.stat().st_size / 2**20:.1f} MiB {args.format} written to {output}"
    )


if __name__ == "__main__":
    main()
