"""The served zone written out as an RFC 1035 zone file, in SPEC §10 order.

It walks the same record index the resolver answers from and builds each record with the
resolver's own builders, so the dump is exactly what the server serves.
"""

from __future__ import annotations

from collections.abc import Iterator

from dnslib import QTYPE, RR

from clusterdns.resolver import Resolver


def zone_records(resolver: Resolver, zone: str) -> Iterator[RR]:
    """Every record of one cluster zone: SOA, NS and glue, dns-version, services, SOA."""
    soa = resolver.soa(zone)
    yield soa
    yield from resolver.resolve(zone, QTYPE.NS).answer
    yield from resolver.resolve(zone, QTYPE.NS).additional
    yield from resolver.resolve(f"dns-version.{zone}", QTYPE.TXT).answer
    suffix = "." + zone
    for _key, names in resolver.index.services_sorted():
        for name in names:
            node = resolver.index.nodes[name]
            if not name.endswith(suffix):
                continue  # the same service in another cluster zone
            if node.cname is not None:
                yield from resolver.resolve(name, QTYPE.CNAME).answer
                continue
            for qtype in (QTYPE.A, QTYPE.AAAA, QTYPE.SRV):
                yield from resolver.resolve(name, qtype).answer
    yield soa


def zone_text(resolver: Resolver, zone: str, header: str = "") -> str:
    lines = [f"; {line}" for line in header.splitlines()]
    lines += [f"$ORIGIN {zone}"] if header else []
    lines += [rr.toZone() for rr in zone_records(resolver, zone)]
    return "\n".join(lines) + "\n"
