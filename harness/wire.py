"""Queries as bytes, built with dnslib, and the names worth asking of the demo cluster."""

from __future__ import annotations

import dataclasses
import ipaddress
import random

from dnslib import CLASS, EDNS0, QTYPE, DNSQuestion, DNSRecord, EDNSOption

from clusterdns.plugins.kubernetes.resolver import Resolver


@dataclasses.dataclass(frozen=True)
class Variant:
    """What besides the name shapes a reply."""

    edns: int | None = None  # the buffer size sent in OPT; None: no OPT
    do_bit: bool = False
    cookie: bool = False  # an EDNS option (ignored by the server)
    rd: bool = True
    over_tcp: bool = False


QTYPES = ["A", "AAAA", "SRV", "PTR", "TXT", "SOA", "NS", "CNAME", "ANY", "MX", "AXFR"]

VARIANTS = [
    Variant(),
    Variant(rd=False),
    Variant(over_tcp=True),
    Variant(edns=512),
    Variant(edns=1232, do_bit=True),
    Variant(edns=4096, cookie=True),
    Variant(edns=100),  # below 512: read as 512
    Variant(edns=65000, over_tcp=True),  # above our maximum: capped
]


def random_case(name: str, rng: random.Random) -> str:
    return "".join(c.upper() if rng.random() < 0.5 else c.lower() for c in name)


def wire_query(
    name: str, qtype: str, variant: Variant, ident: int, qclass: int = CLASS.IN
) -> bytes:
    record = DNSRecord(q=DNSQuestion(name, getattr(QTYPE, qtype), qclass))
    record.header.id = ident
    record.header.rd = int(variant.rd)
    if variant.edns is not None:
        options = [EDNSOption(10, b"\x01" * 8)] if variant.cookie else []
        flags = "do" if variant.do_bit else ""
        record.add_ar(EDNS0(udp_len=variant.edns, flags=flags, opts=options))
    return bytes(record.pack())


def demo_names(resolver: Resolver) -> list[str]:
    """Every name the demo cluster serves, the names around them (zone, svc, namespaces,
    pods, reverse) and names that do not exist (search-path expansions among them)."""
    zone = "cluster.local."
    nodes = resolver.index.nodes
    names = set(nodes)
    names |= {f"nope.{name}" for name in nodes} | {f"{name}demo.svc.{zone}" for name in nodes}
    names |= {zone, f"svc.{zone}", f"pod.{zone}", f"demo.svc.{zone}", f"nonexist.svc.{zone}"}
    names |= {f"dns-version.{zone}", f"ns.dns.{zone}", f"10-244-1-1.demo.pod.{zone}"}
    ips = {ip for node in nodes.values() for ip in (*node.a, *node.aaaa)} | {"10.9.9.9"}
    names |= {ipaddress.ip_address(ip).reverse_pointer + "." for ip in ips}
    names |= {"in-addr.arpa.", "example.com.", "*.demo.svc.cluster.local."}
    return sorted(names)
