"""Client attribution on /metrics: every answered query counted by the namespace of the pod
that sent it (found by its IP among the pods `pods verified` watches), and the NXDOMAIN
answers among them to names under a pod's search domains: its search-path expansions that
missed.

A ClusterFirst pod's search domains are `<ns>.svc.<zone>`, `svc.<zone>`, `<zone>` and the
host's (SPEC; `audit.searchpath`): every name of a cluster zone is under the last cluster one,
so an NXDOMAIN counts when its name is in a cluster zone (not a reverse one) or under one of
the host's search domains. Per query: an IP lookup and two list additions; the name is read
from the reply only for an NXDOMAIN. The label values are bounded by the cluster's
namespaces, and one for addresses no pod holds (UNKNOWN_CLIENT).
"""

from __future__ import annotations

from dnslib import DNSLabel

from clusterdns.dns.request import HEADER_SIZE, Peer
from clusterdns.metrics.registry import Cell
from clusterdns.plugins.kubernetes.metrics import (
    CLIENT_REQUESTS,
    CLIENT_SEARCH_NXDOMAIN,
    UNKNOWN_CLIENT,
)
from clusterdns.plugins.kubernetes.resolver import PODS_VERIFIED, Resolver
from clusterdns.plugins.kubernetes.state import ClusterState

_NXDOMAIN = 3
_CELLS: dict[str, tuple[Cell, Cell]] = {}  # namespace → its two counters' cells


class ClientCounts:
    def __init__(self, state: ClusterState, search_domains: tuple[str, ...]) -> None:
        """`search_domains`: absolute, lower case; a name below one is an expansion."""
        self._pods_at = state.pods_at
        self._suffixes = tuple(_wire(domain) for domain in search_domains)

    def record(self, peer: Peer | None, reply: bytes) -> None:
        """Count one reply to the client at `peer`."""
        # (the state's own index of `pod_with_ip`, read inline: this runs for every query)
        pods = self._pods_at.get(peer[0]) if peer is not None else None
        namespace = pods[0][0] if pods else UNKNOWN_CLIENT  # (the first pod's key's)
        cells = _CELLS.get(namespace) or _cells(namespace)
        cells[0][0] += 1
        if reply[3] & 0xF == _NXDOMAIN:
            end = reply.find(0, HEADER_SIZE) + 1  # past the question name's root label
            if end and reply[HEADER_SIZE:end].lower().endswith(self._suffixes):
                cells[1][0] += 1


def client_counts(resolver: Resolver | None) -> ClientCounts | None:
    """The counts of a server whose kubernetes plugin knows pods by IP; else None."""
    if resolver is None or resolver.settings.pods != PODS_VERIFIED:
        return None
    settings = resolver.settings
    domains = (*settings.zones, *settings.host_search)
    return ClientCounts(resolver.index.state, domains)


def _cells(namespace: str) -> tuple[Cell, Cell]:
    cells = _CELLS[namespace] = (
        CLIENT_REQUESTS.cell((namespace,)),
        CLIENT_SEARCH_NXDOMAIN.cell((namespace,)),
    )
    return cells


def _wire(domain: str) -> bytes:
    """`domain` in wire form, as a question spells it (b"\\x07cluster\\x05local\\x00")."""
    return b"".join(bytes((len(label),)) + label for label in DNSLabel(domain).label) + b"\0"
