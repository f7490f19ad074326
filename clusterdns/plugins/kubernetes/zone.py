"""The served zone as records, in SPEC §10 order: what `clusterdns dump` writes and AXFR sends.

The zone's own records (SOA, NS and glue, dns-version) come from the resolver; every service's
come from its record-index nodes, the very data the resolver answers from (a name's A, AAAA
and SRV records, or its CNAME). Asking `resolve()` once per name and type instead costs a
dnslib object per record, about 100 µs a record all told: a minute for a 10k-service cluster.
tests/test_dump.py holds the two to the same records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from dnslib import QTYPE

from clusterdns.dns.zone import Record, record_from_rr, with_serial
from clusterdns.plugins.kubernetes.objects import ServiceKind
from clusterdns.plugins.kubernetes.provenance import OriginFinder
from clusterdns.plugins.kubernetes.records import Node
from clusterdns.plugins.kubernetes.resolver import Resolver
from clusterdns.plugins.kubernetes.state import Key

Progress = Callable[[int, int], None]  # (services done, services in all)


def zone_records(
    resolver: Resolver,
    zone: str,
    *,
    serial: int | None = None,
    origins: bool = False,
    progress: Progress | None = None,
) -> Iterator[Record]:
    """Every record of the cluster zone `zone`: SOA; NS and glue; dns-version; each service
    by name then namespace; SOA again. `serial` overrides the SOA serial (stable dumps);
    `origins` labels each service record with the objects it comes from."""
    index = resolver.index
    # The stored nodes taken at the start: an AXFR yields to the server's loop between
    # messages, and the index may change meanwhile. A rebuild replaces nodes, never mutates.
    in_zone = (zone, False)  # not the same service's names in another cluster zone
    services = [
        (key, [(name, index.nodes[name]) for name in names if resolver.zone_of(name) == in_zone])
        for key, names in index.services_sorted()
    ]
    soa = record_from_rr(resolver.soa(zone))
    if serial is not None:
        soa = with_serial(soa, serial)
    yield soa
    apex = resolver.resolve(zone, QTYPE.NS)
    for rr in (*apex.answer, *apex.additional):
        yield record_from_rr(rr)
    for rr in resolver.resolve(f"dns-version.{zone}", QTYPE.TXT).answer:
        yield record_from_rr(rr)
    for done, (key, stored) in enumerate(services, 1):
        finder = _origin_finder(resolver, key) if origins else None
        names = {name for name, _ in stored}
        # the index builds some endpoint names only when asked (ClusterIP services')
        built = index.endpoint_nodes(key, zone).items()
        for name, node in (*stored, *((n, node) for n, node in built if n not in names)):
            yield from node_records(name, node, resolver.ttl, finder)
        if progress is not None:
            progress(done, len(services))
    yield soa


def node_records(name: str, node: Node, ttl: int, finder: OriginFinder | None) -> Iterator[Record]:
    """The records at one name: what the resolver answers for CNAME, A, AAAA and SRV."""
    if node.cname is not None:
        yield Record(name, ttl, "CNAME", node.cname, finder.service if finder else None)
        return
    for rtype, ips in (("A", node.a), ("AAAA", node.aaaa)):
        for ip in ips:
            yield Record(name, ttl, rtype, ip, finder.address(name, ip) if finder else None)
    for port, target in node.srv:
        rdata = f"0 {node.srv_weight} {port} {target}"
        yield Record(name, ttl, "SRV", rdata, finder.srv(port, target) if finder else None)


def _origin_finder(resolver: Resolver, key: Key) -> OriginFinder:
    state = resolver.index.state
    svc = state.services[key]
    slices = [] if svc.kind is ServiceKind.EXTERNAL_NAME else state.slices_of(key)
    pod_names = resolver.index.options.endpoint_pod_names
    return OriginFinder(svc.namespace, svc.name, svc.cluster_ips, slices, pod_names)


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
        return zone_records(self.resolver, zone)
