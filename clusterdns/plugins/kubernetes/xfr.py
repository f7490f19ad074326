"""The zone transfer (AXFR, and IXFR's fallback to it): record for record the stream of
CoreDNS 1.14's `k.Transfer` (plugin/kubernetes/xfr.go), so that a secondary or a tool that
transfers the zone from CoreDNS gets the same zone from us.

It is not the dump (zone.py), which lists every name the resolver answers. As CoreDNS walks
the Services of exposed namespaces, by name (then namespace), a transfer sends:

- a service with cluster IPs: an A/AAAA per cluster IP at its name; per port an SRV at its name
  (unnamed ports too) and, for a named port, one at `_port._proto`, each of weight 100 and with
  the service as target (the resolver weighs a dual-stack service's 50: floor(100/N) over
  its N records before de-duplication, one per cluster IP);
- a headless one, EndpointSlice by EndpointSlice and ready address by address: an A/AAAA at
  the service's name and at the endpoint's, then an SRV per named port at `_port._proto` to
  the endpoint, weighing floor(100/N) over the N ready addresses of that slice;
- an ExternalName one: its CNAME.

So it leaves out names the resolver answers (SRV at a headless service's or an endpoint's name,
A/AAAA at `_port._proto` names, the endpoint names of ClusterIP services); it repeats a record
that two endpoints give alike (an endpoint name shared by two addresses: one SRV each); and,
as CoreDNS's, it holds a ClusterIP service that `ignore empty_service` denies for want of
ready endpoints. Records are made by zone.py's builders, names by records.py's.
"""

from __future__ import annotations

from collections.abc import Iterator

from clusterdns.dns.zone import Record, record_from_rr
from clusterdns.plugins.kubernetes.objects import EndpointSlice, Service, ServiceKind
from clusterdns.plugins.kubernetes.records import (
    cname_target,
    port_label,
    ready_addresses,
    service_name,
    srv_weight,
)
from clusterdns.plugins.kubernetes.resolver import Resolver
from clusterdns.plugins.kubernetes.state import ClusterState
from clusterdns.plugins.kubernetes.zone import address_record, cname_record, srv_record, zone_head

CLUSTER_IP_SRV_WEIGHT = 100  # xfr.go: s.NewSRV(..., 100) for every port of a ClusterIP service


def transfer_records(resolver: Resolver, zone: str) -> Iterator[Record]:
    """The transfer of the cluster zone `zone`: SOA; NS and glue; the services; SOA."""
    index = resolver.index
    state = index.state
    # Taken at the start: a transfer yields to the server's loop between messages, and the
    # state may change meanwhile. Services and slices are replaced on change, never mutated.
    services = [
        (svc, _endpoint_slices(svc, state, index.options.noendpoints))
        for key, svc in sorted(state.services.items(), key=lambda item: item[0][::-1])
        if index.namespace_exposed(key[0])
    ]
    head = zone_head(resolver, zone)
    yield from head
    use_pod_names = index.options.endpoint_pod_names
    for svc, slices in services:
        yield from service_records(svc, slices, zone, resolver.ttl, use_pod_names)
    yield head[0]


def _endpoint_slices(svc: Service, state: ClusterState, noendpoints: bool) -> list[EndpointSlice]:
    """The slices a service's transfer walks: a headless one's (none under `noendpoints`,
    with which CoreDNS does not watch endpoints)."""
    if svc.kind is ServiceKind.EXTERNAL_NAME or svc.cluster_ips or noendpoints:
        return []
    return state.slices_of(svc.key)


def service_records(
    svc: Service, slices: list[EndpointSlice], zone: str, ttl: int, use_pod_names: bool
) -> Iterator[Record]:
    """One service's part of the transfer, in CoreDNS's order (transferServices)."""
    base = service_name(svc, zone)
    if svc.kind is ServiceKind.EXTERNAL_NAME:
        target = cname_target(svc)
        if target is not None:
            yield cname_record(base, ttl, target)
        return
    if svc.cluster_ips:
        for ip in svc.cluster_ips:
            yield address_record(base, ttl, ip)
        for port in svc.ports:
            yield srv_record(base, ttl, CLUSTER_IP_SRV_WEIGHT, port.port, base)
            if port.name:
                name = f"{port_label(port)}.{base}"
                yield srv_record(name, ttl, CLUSTER_IP_SRV_WEIGHT, port.port, base)
        return
    # CoreDNS reads each EndpointSlice as an Endpoints object of one subset
    # (object.EndpointSliceToEndpoints) and weighs the SRV records of each on its own
    for sl in slices:
        ready = ready_addresses([sl], use_pod_names)
        weight = srv_weight(len(ready))
        named = [(f"{port_label(port)}.{base}", port.port) for port in sl.ports if port.name]
        for addr in ready:
            target = f"{addr.name}.{base}"
            yield address_record(base, ttl, addr.ip)
            yield address_record(target, ttl, addr.ip)
            for name, number in named:
                yield srv_record(name, ttl, weight, number, target)


class ClusterZones:
    """The cluster zones as the `transfer` plugin reads them (its Transferer)."""

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver

    @property
    def zones(self) -> tuple[str, ...]:
        return self.resolver.settings.zones

    @property
    def serial(self) -> int:
        return self.resolver.index.serial

    def soa(self, zone: str) -> Record:
        return record_from_rr(self.resolver.soa(zone))

    def records(self, zone: str) -> Iterator[Record]:
        return transfer_records(self.resolver, zone)
