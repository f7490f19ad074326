"""Record builders: one Service (with its EndpointSlices) → the DNS names it owns (SPEC §3–4).

The index, the resolver and the zone dump all use these, so what we dump is what we serve.
Names are absolute and lower case; record data is kept as small tuples, not dnslib objects,
because a large cluster holds hundreds of thousands of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from clusterdns.names import canonical_ip, endpoint_name, ip_family
from clusterdns.objects import EndpointSlice, Port, Service, ServiceKind


class Srv(NamedTuple):
    priority: int
    weight: int
    port: int
    target: str


@dataclass(slots=True)
class Node:
    """The records at one name. A name with a Node exists: other types get NODATA."""

    a: tuple[str, ...] = ()
    aaaa: tuple[str, ...] = ()
    srv: tuple[Srv, ...] = ()
    cname: str | None = None  # absolute, lower case, with trailing dot


@dataclass(frozen=True, slots=True)
class BuildOptions:
    endpoint_pod_names: bool = False
    noendpoints: bool = False
    ignore_empty_service: bool = False


@dataclass(frozen=True, slots=True)
class ReadyAddress:
    """One ready endpoint address with the name it answers to and its slice's ports."""

    name: str
    ip: str
    ports: tuple[Port, ...]


@dataclass(slots=True)
class ServiceRecords:
    """Everything one service contributes: its names, and PTR targets by IP (zone-relative)."""

    nodes: dict[str, Node] = field(default_factory=dict)
    # IP → relative PTR targets ("nginx.demo.svc"); cluster IPs and endpoint IPs kept apart
    # because a cluster IP's PTR wins over any endpoint's (SPEC §5).
    service_ptrs: dict[str, str] = field(default_factory=dict)
    endpoint_ptrs: dict[str, tuple[str, ...]] = field(default_factory=dict)


def ready_addresses(slices: Iterable[EndpointSlice], use_pod_names: bool) -> list[ReadyAddress]:
    """Ready addresses of a service's slices, de-duplicated by (name, IP), in slice order."""
    seen: set[tuple[str, str]] = set()
    ready = []
    for sl in slices:
        if sl.address_type not in ("IPv4", "IPv6"):
            continue
        for ep in sl.endpoints:
            if not ep.ready:
                continue
            for address in ep.addresses:
                ip = canonical_ip(address)
                if ip is None:
                    continue
                name = endpoint_name(ep, address, use_pod_names)
                if (name, ip) not in seen:
                    seen.add((name, ip))
                    ready.append(ReadyAddress(name, ip, sl.ports))
    return ready


def port_label(port: Port) -> str:
    """`_http._tcp` for a named port."""
    return f"_{port.name.lower()}._{port.protocol.lower()}"


def srv_records(candidates: list[tuple[int, str]]) -> tuple[Srv, ...]:
    """SRV records for (port, target) candidates: weight floor(100/N) over all N candidates,
    then de-duplicated by (target, port), as CoreDNS does."""
    if not candidates:
        return ()
    weight = max(1, 100 // len(candidates))
    unique = dict.fromkeys(candidates)
    return tuple(Srv(0, weight, port, target) for port, target in unique)


def split_families(ips: Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    unique = list(dict.fromkeys(ips))
    return (
        tuple(ip for ip in unique if ip_family(ip) == 4),
        tuple(ip for ip in unique if ip_family(ip) == 6),
    )


def address_node(ips: Iterable[str], srv: tuple[Srv, ...] = ()) -> Node:
    a, aaaa = split_families(ips)
    return Node(a=a, aaaa=aaaa, srv=srv)


def build_service(
    svc: Service, slices: list[EndpointSlice], zones: tuple[str, ...], opts: BuildOptions
) -> ServiceRecords:
    """All records of one service in every cluster zone."""
    out = ServiceRecords()
    if svc.kind is ServiceKind.EXTERNAL_NAME:
        if svc.external_name and canonical_ip(svc.external_name) is None:
            for zone in zones:
                out.nodes[_base(svc, zone)] = Node(cname=svc.external_name + ".")
        return out
    ready = [] if opts.noendpoints else ready_addresses(slices, opts.endpoint_pod_names)
    if svc.kind is ServiceKind.CLUSTER_IP:
        if opts.ignore_empty_service and not ready:
            return out
        ips = [ip for ip in (canonical_ip(i) for i in svc.cluster_ips) if ip]
        for ip in ips:
            out.service_ptrs[ip] = _relative(svc)
        for zone in zones:
            _cluster_ip_names(out.nodes, svc, ips, _base(svc, zone))
    elif not ready:
        return out  # headless without ready endpoints: NXDOMAIN (spec rule)
    for addr in ready:
        out.endpoint_ptrs[addr.ip] = (
            *out.endpoint_ptrs.get(addr.ip, ()),
            f"{addr.name}.{_relative(svc)}",
        )
    for zone in zones:
        base = _base(svc, zone)
        if svc.kind is ServiceKind.HEADLESS:
            _headless_names(out.nodes, ready, base)
        _endpoint_names(out.nodes, ready, base)
    return out


def _relative(svc: Service) -> str:
    return f"{svc.name}.{svc.namespace}.svc".lower()


def _base(svc: Service, zone: str) -> str:
    return f"{_relative(svc)}.{zone}"


def _cluster_ip_names(nodes: dict[str, Node], svc: Service, ips: list[str], base: str) -> None:
    nodes[base] = address_node(ips, srv_records([(p.port, base) for p in svc.ports for _ in ips]))
    for port in svc.ports:
        if port.name:
            srv = srv_records([(port.port, base) for _ in ips])
            nodes[f"{port_label(port)}.{base}"] = address_node(ips, srv)


def _headless_names(nodes: dict[str, Node], ready: list[ReadyAddress], base: str) -> None:
    srv = srv_records([(p.port, f"{a.name}.{base}") for a in ready for p in a.ports])
    nodes[base] = address_node((a.ip for a in ready), srv)
    by_port: dict[str, list[tuple[ReadyAddress, Port]]] = {}
    for addr in ready:
        for port in addr.ports:
            if port.name:
                by_port.setdefault(port_label(port), []).append((addr, port))
    for label, pairs in by_port.items():
        srv = srv_records([(p.port, f"{a.name}.{base}") for a, p in pairs])
        nodes[f"{label}.{base}"] = address_node((a.ip for a, _ in pairs), srv)


def _endpoint_names(nodes: dict[str, Node], ready: list[ReadyAddress], base: str) -> None:
    by_name: dict[str, list[ReadyAddress]] = {}
    for addr in ready:
        by_name.setdefault(addr.name, []).append(addr)
    for name, addrs in by_name.items():
        target = f"{name}.{base}"
        srv = srv_records([(p.port, target) for a in addrs for p in a.ports])
        nodes[target] = address_node((a.ip for a in addrs), srv)
