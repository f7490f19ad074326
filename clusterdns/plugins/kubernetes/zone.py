"""The served zone as records, in SPEC §10 order: what `clusterdns dump` writes.

The zone's own records (SOA, NS and glue, dns-version) come from the resolver; every service's
come from its record-index nodes, the very data the resolver answers from (a name's A, AAAA
and SRV records, or its CNAME): the dump lists every name we answer. Asking `resolve()` once
per name and type instead costs a dnslib object per record, about 100 µs a record all told: a
minute for a 10k-service cluster. tests/plugins/kubernetes/test_zone.py holds the two to the
same records.

A zone transfer is not the dump: it sends what CoreDNS's sends (xfr.py). The two share the
zone's head (`zone_head`) and one builder per record kind (`address_record`, `srv_record`,
`cname_record`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from dnslib import QTYPE

from clusterdns.dns.zone import Origin, Record, record_from_rr, with_serial
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
    # The stored nodes taken at the start, so that the dump is of one moment should the index
    # change while it is written. A rebuild replaces nodes, never mutates them.
    in_zone = (zone, False)  # not the same service's names in another cluster zone
    services = [
        (key, [(name, index.nodes[name]) for name in names if resolver.zone_of(name) == in_zone])
        for key, names in index.services_sorted()
    ]
    head = zone_head(resolver, zone, serial)
    yield from head
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
    yield head[0]


def zone_head(resolver: Resolver, zone: str, serial: int | None = None) -> list[Record]:
    """How the dump and a transfer begin: the SOA (`serial` overriding its serial), which
    also ends them, then the apex NS records and their glue, as the resolver answers NS."""
    soa = record_from_rr(resolver.soa(zone))
    if serial is not None:
        soa = with_serial(soa, serial)
    apex = resolver.resolve(zone, QTYPE.NS)
    return [soa, *(record_from_rr(rr) for rr in (*apex.answer, *apex.additional))]


def node_records(name: str, node: Node, ttl: int, finder: OriginFinder | None) -> Iterator[Record]:
    """The records at one name: what the resolver answers for CNAME, A, AAAA and SRV."""
    if node.cname is not None:
        yield cname_record(name, ttl, node.cname, finder.service if finder else None)
        return
    for ip in (*node.a, *node.aaaa):
        yield address_record(name, ttl, ip, finder.address(name, ip) if finder else None)
    for port, target in node.srv:
        origin = finder.srv(port, target) if finder else None
        yield srv_record(name, ttl, node.srv_weight, port, target, origin)


def address_record(name: str, ttl: int, ip: str, origin: Origin | None = None) -> Record:
    """The A or AAAA record of a canonical address."""
    return Record(name, ttl, "AAAA" if ":" in ip else "A", ip, origin)


def srv_record(
    name: str, ttl: int, weight: int, port: int, target: str, origin: Origin | None = None
) -> Record:
    """An SRV record; the priority is always 0."""
    return Record(name, ttl, "SRV", f"0 {weight} {port} {target}", origin)


def cname_record(name: str, ttl: int, target: str, origin: Origin | None = None) -> Record:
    return Record(name, ttl, "CNAME", target, origin)


def _origin_finder(resolver: Resolver, key: Key) -> OriginFinder:
    state = resolver.index.state
    svc = state.services[key]
    slices = [] if svc.kind is ServiceKind.EXTERNAL_NAME else state.slices_of(key)
    pod_names = resolver.index.options.endpoint_pod_names
    return OriginFinder(svc.namespace, svc.name, svc.cluster_ips, slices, pod_names)

