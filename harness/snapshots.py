"""Kubernetes objects in kubectl's shape, for building test snapshots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml


def namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def service(
    ns: str,
    name: str,
    cluster_ips: list[str] | None = None,
    ports: list[tuple[str, str, int]] = (),  # type: ignore[assignment]
    *,
    external_name: str | None = None,
    external_ips: list[str] = (),  # type: ignore[assignment]
    ingress: list[dict[str, str]] = (),  # type: ignore[assignment]
) -> dict[str, Any]:
    """`ingress`: status.loadBalancer.ingress entries ({"ip": ...} or {"hostname": ...}),
    which make it a LoadBalancer Service."""
    spec: dict[str, Any] = {
        "ports": [{"name": n, "protocol": p, "port": port} for n, p, port in ports]
    }
    if external_name is not None:
        spec.update(type="ExternalName", externalName=external_name)
    else:
        ips = cluster_ips or ["None"]
        spec.update(type="LoadBalancer" if ingress else "ClusterIP", clusterIP=ips[0],
                    clusterIPs=ips)  # fmt: skip
    if external_ips:
        spec["externalIPs"] = list(external_ips)
    metadata = {"name": name, "namespace": ns}
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": metadata, "spec": spec}
    if ingress:
        svc["status"] = {"loadBalancer": {"ingress": list(ingress)}}
    return svc


def endpoint(
    ip: str, ready: bool | None = True, hostname: str | None = None, pod: str | None = None
) -> dict[str, Any]:
    ep: dict[str, Any] = {"addresses": [ip]}
    if ready is not None:
        ep["conditions"] = {"ready": ready}
    if hostname:
        ep["hostname"] = hostname
    if pod:
        ep["targetRef"] = {"kind": "Pod", "name": pod}
    return ep


def endpoint_slice(
    ns: str,
    svc: str,
    name: str,
    endpoints: list[dict[str, Any]],
    ports: list[tuple[str, str, int]] = (),  # type: ignore[assignment]
    address_type: str = "IPv4",
) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": name, "namespace": ns, "labels": {"kubernetes.io/service-name": svc}},
        "addressType": address_type,
        "endpoints": endpoints,
        "ports": [{"name": n, "protocol": p, "port": port} for n, p, port in ports],
    }


def pod(
    ns: str, name: str, ip: str, phase: str = "Running", deleting: bool = False
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": ns}
    if deleting:
        meta["deletionTimestamp"] = "2026-11-29T00:00:00Z"
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "status": {"phase": phase, "podIP": ip, "podIPs": [{"ip": ip}]}}


def labelled(obj: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    """`obj` with `labels` added to (or replacing) its metadata.labels."""
    metadata = obj["metadata"]
    return {**obj, "metadata": {**metadata, "labels": {**metadata.get("labels", {}), **labels}}}


def write_snapshot(path: Path, items: list[dict[str, Any]]) -> Path:
    """A v1 List of `items`, as `kubectl get -o json` writes it when `path` ends in .json (it
    loads much faster than YAML), else as YAML."""
    snapshot = {"apiVersion": "v1", "kind": "List", "items": items}
    path.write_text(json.dumps(snapshot) if path.suffix == ".json" else yaml.safe_dump(snapshot))
    return path


def big_headless_snapshot(directory: Path, endpoints: int) -> Path:
    """Namespace `demo` with a headless service `big` of `endpoints` ready endpoints."""
    eps = [endpoint(f"10.1.{i // 250}.{i % 250 + 1}") for i in range(endpoints)]
    return write_snapshot(
        directory / "big.yaml",
        [namespace("demo"), service("demo", "big", ["None"], [("http", "TCP", 80)]),
         endpoint_slice("demo", "big", "big-1", eps, [("http", "TCP", 80)])],
    )


def shop_cluster() -> list[dict[str, Any]]:
    """More shapes than the demo: shared endpoint names, an unnamed port, a named endpoint in
    a ClusterIP service, not-ready and IPv6 endpoints, pod names for endpoint_pod_names."""
    http, db = [("http", "TCP", 8080)], [("pg", "TCP", 5432), ("metrics", "TCP", 9187)]
    return [
        namespace("shop"),
        service("shop", "cart", ["10.96.5.5", "fd00::5"], [("http", "TCP", 80), ("", "TCP", 81)]),
        endpoint_slice("shop", "cart", "cart-a", [
            endpoint("10.244.5.1", pod="cart-x"),
            endpoint("10.244.5.2", ready=False, pod="cart-y"),
        ], http),
        endpoint_slice("shop", "cart", "cart-b", [endpoint("fd00::5:1", pod="cart-x")], http,
                       address_type="IPv6"),
        service("shop", "db", ["None"], db),
        endpoint_slice("shop", "db", "db-a", [
            endpoint("10.244.6.1", hostname="db-0"),
            endpoint("10.244.6.2", hostname="db-0"),
            endpoint("10.244.6.3", hostname="db-1"),
        ], db),
        service("shop", "ext", external_name="payments.example.com"),
    ]
