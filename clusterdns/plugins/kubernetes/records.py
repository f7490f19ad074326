"""Record builders: one Service (with its EndpointSlices) → the DNS names it owns (SPEC §3–4).

The index, the resolver and the zone dump all use these, so what we dump is what we serve.
Names are absolute and lower case; record data is kept as small tuples, not dnslib objects,
because a large cluster holds hundreds of thousands of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from clusterdns.dns.names import canonical_ip, ip_family
from clusterdns.plugins.kubernetes.objects import (
    IP_ADDRESS_TYPES,
    EndpointSlice,
    Port,
    Service,
    ServiceKind,
    endpoint_name,
)

SrvTarget = tuple[int, str]  # (port, target name); priority is always 0


@dataclass(slots=True)
class Node:
    """The records at one name. A name with a Node exists: other types get NODATA.

    SRV records of one name share a weight, so a record is just (port, target): the same
    tuple object then serves the service, port and endpoint names alike."""

    a: tuple[str, ...] = ()
    aaaa: tuple[str, ...] = ()
    srv: tuple[SrvTarget, ...] = ()
    srv_weight: int = 0
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


def ready_addresses(slices: Iterable[EndpointSlice], use_pod_names: bool) -> list[ReadyAddress]:
    """Ready addresses of a service's slices, de-duplicated by (name, IP), in slice order.
    Addresses are already canonical (objects.py parses them once)."""
    seen: set[tuple[str, str]] = set()
    ready = []
    for sl in slices:
        if sl.address_type not in IP_ADDRESS_TYPES:
            continue
        for ep in sl.endpoints:
            if not ep.ready:
                continue
            for ip in ep.addresses:
                name = endpoint_name(ep, ip, use_pod_names)
                if (name, ip) not in seen:
                    seen.add((name, ip))
                    ready.append(ReadyAddress(name, ip, sl.ports))
    return ready


def port_label(port: Port) -> str:
    """`_http._tcp` for a named port."""
    return f"_{port.name.lower()}._{port.protocol.lower()}"


def srv_weight(candidates: int) -> int:
    """CoreDNS's SRV weight: floor(100/N) over all N candidates before de-duplication."""
    return max(1, 100 // candidates) if candidates else 0


def split_families(ips: Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The IPv4 and the IPv6 addresses, each once. A tuple of one family comes back as
    itself: a service's names then hold its Service's tuple of cluster IPs, not a copy."""
    unique = list(dict.fromkeys(ips))
    v4 = tuple(ip for ip in unique if ip_family(ip) == 4)
    v6 = tuple(ip for ip in unique if ip_family(ip) == 6)
    if isinstance(ips, tuple):
        return (ips if v4 == ips else v4), (ips if v6 == ips else v6)
    return v4, v6


def address_node(ips: Iterable[str], srv: list[SrvTarget] | None = None) -> Node:
    """A node with these addresses and SRV candidates (de-duplicated by target and port)."""
    a, aaaa = split_families(ips)
    srv = srv or []
    return Node(a=a, aaaa=aaaa, srv=tuple(dict.fromkeys(srv)), srv_weight=srv_weight(len(srv)))


def build_service(
    svc: Service,
    slices: list[EndpointSlice],
    zones: tuple[str, ...],
    opts: BuildOptions,
    ready: list[ReadyAddress] | None = None,
) -> dict[str, Node]:
    """The names of one service in every cluster zone; `ready`: the ready addresses of
    `slices`, when the caller has them already.

    Endpoint names of a ClusterIP service are not stored: they are asked for rarely, and
    most endpoints of a cluster sit behind ClusterIP services, so the resolver builds them
    from the state when asked (`endpoint_nodes`)."""
    out: dict[str, Node] = {}
    if svc.kind is ServiceKind.EXTERNAL_NAME:
        target = cname_target(svc)
        if target is not None:
            for zone in zones:
                out[service_name(svc, zone)] = Node(cname=target)
        return out
    if opts.noendpoints:
        ready = []
    elif ready is None:
        ready = ready_addresses(slices, opts.endpoint_pod_names)
    if svc.kind is ServiceKind.CLUSTER_IP and opts.ignore_empty_service and not ready:
        return out
    if svc.kind is ServiceKind.HEADLESS and not ready:
        return out  # headless without ready endpoints: NXDOMAIN (spec rule)
    for zone in zones:
        base = service_name(svc, zone)
        if svc.kind is ServiceKind.CLUSTER_IP:
            _cluster_ip_names(out, svc, base)
        else:
            srv = SrvTargets(ready, base)
            _headless_names(out, ready, srv, base)
            _endpoint_names(out, ready, srv)
    return out


def endpoint_nodes(
    svc: Service, slices: list[EndpointSlice], zone: str, opts: BuildOptions
) -> dict[str, Node]:
    """The endpoint names of one service in one zone (built on demand for ClusterIP ones)."""
    if svc.kind is ServiceKind.EXTERNAL_NAME or opts.noendpoints:
        return {}
    ready = ready_addresses(slices, opts.endpoint_pod_names)
    nodes: dict[str, Node] = {}
    _endpoint_names(nodes, ready, SrvTargets(ready, service_name(svc, zone)))
    return nodes


def cname_target(svc: Service) -> str | None:
    """An ExternalName service's CNAME target, absolute; None when its externalName is empty
    or an IP address, which CoreDNS does not answer."""
    if svc.external_name and canonical_ip(svc.external_name) is None:
        return svc.external_name + "."
    return None


def service_name(svc: Service, zone: str) -> str:
    return service_key_name(svc.key, zone)


def service_key_name(key: tuple[str, str], zone: str) -> str:
    """The name of the service of this (namespace, name) key, Service object or not."""
    namespace, name = key
    return f"{name}.{namespace}.svc.{zone}".lower()


def _cluster_ip_names(nodes: dict[str, Node], svc: Service, base: str) -> None:
    ips = svc.cluster_ips
    # the port names share the service name's addresses and its (port, target) records
    pairs = {port: (port.port, base) for port in svc.ports}
    node = address_node(ips, [pairs[p] for p in svc.ports for _ in ips])
    nodes[base] = node
    for port in svc.ports:
        if port.name:
            srv = (pairs[port],) if ips else ()
            nodes[f"{port_label(port)}.{base}"] = Node(
                node.a, node.aaaa, srv, srv_weight(len(ips))
            )


def _headless_names(
    nodes: dict[str, Node], ready: list[ReadyAddress], srv: SrvTargets, base: str
) -> None:
    nodes[base] = address_node(
        (a.ip for a in ready), [srv.get(a, p) for a in ready for p in a.ports]
    )
    by_port: dict[str, list[tuple[ReadyAddress, Port]]] = {}
    for addr in ready:
        for port in addr.ports:
            if port.name:
                by_port.setdefault(port_label(port), []).append((addr, port))
    for label, pairs in by_port.items():
        targets = [srv.get(a, p) for a, p in pairs]
        nodes[f"{label}.{base}"] = address_node((a.ip for a, _ in pairs), targets)


def _endpoint_names(nodes: dict[str, Node], ready: list[ReadyAddress], srv: SrvTargets) -> None:
    by_name: dict[str, list[ReadyAddress]] = {}
    for addr in ready:
        by_name.setdefault(addr.name, []).append(addr)
    for name, addrs in by_name.items():
        targets = [srv.get(a, p) for a in addrs for p in a.ports]
        nodes[srv.targets[name]] = address_node((a.ip for a in addrs), targets)


class SrvTargets:
    """One target name per endpoint name and one (port, target) tuple per endpoint port,
    shared by every node that lists them."""

    def __init__(self, ready: list[ReadyAddress], base: str) -> None:
        self.targets = {addr.name: f"{addr.name}.{base}" for addr in ready}
        self._pairs: dict[SrvTarget, SrvTarget] = {}

    def get(self, addr: ReadyAddress, port: Port) -> SrvTarget:
        pair = (port.port, self.targets[addr.name])
        return self._pairs.setdefault(pair, pair)
