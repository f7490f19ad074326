"""Build resolvers from snapshot objects without sockets, and read answers as text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dnslib import QTYPE, RCODE, RR

from clusterdns.dns.message import Answer
from clusterdns.plugins.kubernetes.answers import WireAnswers
from clusterdns.plugins.kubernetes.index import RecordIndex
from clusterdns.plugins.kubernetes.objects import KINDS, parse_object
from clusterdns.plugins.kubernetes.records import BuildOptions
from clusterdns.plugins.kubernetes.resolver import Resolver, ResolverSettings
from clusterdns.plugins.kubernetes.snapshot import load_snapshot, populate
from clusterdns.plugins.kubernetes.state import ClusterState
from clusterdns.server.block import Block
from clusterdns.server.handler import QueryHandler

ZONE = "cluster.local."


def state_from_items(items: list[dict[str, Any]], synced: bool = True) -> ClusterState:
    state = ClusterState()
    for kind, record_type in KINDS.items():
        state.replace(record_type, [parse_object(kind, i) for i in items if i["kind"] == kind])
    if synced:
        state.mark_synced()
    return state


def state_from_file(path: Path) -> ClusterState:
    state = ClusterState()
    populate(state, load_snapshot(path))
    return state


def make_resolver(
    state: ClusterState,
    *,
    zones: tuple[str, ...] = (ZONE,),
    reverse_zones: tuple[str, ...] = ("in-addr.arpa.", "ip6.arpa."),
    ttl: int = 30,
    pods: str = "insecure",
    fallthrough: tuple[str, ...] | None = None,
    own_ips: tuple[str, ...] = ("127.0.0.1",),
    namespaces: frozenset[str] = frozenset(),
    **options: bool,
) -> Resolver:
    index = RecordIndex(state, zones, BuildOptions(**options), namespaces)
    settings = ResolverSettings(zones, reverse_zones, ttl, pods, fallthrough, own_ips)
    return Resolver(index, settings)


def rr_text(rr: RR) -> str:
    """'name ttl TYPE rdata' with single spaces; the SOA serial masked."""
    text = " ".join(str(rr).split()).replace(" IN ", " ")
    if rr.rtype == QTYPE.SOA:
        parts = text.split()
        parts[5] = "SERIAL"
        text = " ".join(parts)
    return text


def texts(records: list[RR]) -> list[str]:
    return [rr_text(rr) for rr in records]


def rcode_name(answer: Answer) -> str:
    return "FORWARD" if answer.forward else RCODE.get(answer.rcode)


def ask(resolver: Resolver, name: str, qtype: str) -> Answer:
    return resolver.resolve(name, getattr(QTYPE, qtype))


def handler_for(resolver: Resolver, answers: WireAnswers | None = None) -> QueryHandler:
    """The query handler of a Corefile with one block, `.`, holding only this resolver."""
    return QueryHandler([Block(zones=(".",), resolver=resolver)], answers=answers)
