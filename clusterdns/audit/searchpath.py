"""The search-path audit: each pod's queries, grouped into its resolver's lookups, and the
ones its resolv.conf's search path wastes, by name (searchreport says what saves them).

A pod's resolver (ndots:5, the kubelet's `ClusterFirst` resolv.conf) asks a name X with fewer
than five dots as `X.<ns>.svc.<zone>`, `X.svc.<zone>`, `X.<zone>`, `X.<host domain>`... and
only then `X.`, stopping at the first answer. The queries of one client and type are grouped
into such lookups: a query continues the open lookup it is the next candidate of, else it
starts one (at the first expansion, or at the bare name for names the resolver asks as they
are first). A and AAAA are walked apart, so interleaving them, or other lookups, is fine.

A lookup's queries before the one answered (NOERROR: the name exists) are wasted, and so are
all its expansions when it had to go on to the bare name, answered or not.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from clusterdns.audit.querylog import Query, parse_line
from clusterdns.dns.names import fqdn
from clusterdns.plugins.kubernetes.objects import Pod

MAX_OPEN = 64  # lookups in progress kept per client and type; beyond, the oldest is given up
BARE = -1  # the step of a lookup that asks the name as it is


@dataclass(frozen=True, slots=True)
class Client:
    namespace: str
    pod: str
    ip: str


def pod_clients(pods: Iterable[Pod]) -> dict[str, Client]:
    """IP → the pod behind it: the running pod holding it, else the one finished pod that
    held it. An IP several pods hold at once (host network) stands for no pod."""
    holders: dict[str, list[Pod]] = defaultdict(list)
    for pod in pods:
        for ip in pod.ips:
            holders[ip].append(pod)
    clients = {}
    for ip, held in holders.items():
        candidates = [pod for pod in held if pod.running] or held
        if len(candidates) == 1:
            clients[ip] = Client(candidates[0].namespace, candidates[0].name, ip)
    return clients


@dataclass(slots=True)
class NameStats:
    """The lookups of one name, by one pod or one namespace."""

    lookups: int = 0
    long_way: int = 0  # lookups that wasted queries
    wasted: int = 0
    autopath: int = 0  # queries `autopath` saves: all but one of each search-path walk
    at_bare: int = 0  # expansions before the bare name answered: what a low ndots saves
    at_expansion: int = 0  # lookups an expansion answered: a low ndots costs each a bare query
    answer: str | None = None  # the name that answered

    def add(self, other: NameStats) -> None:
        self.lookups += other.lookups
        self.long_way += other.long_way
        self.wasted += other.wasted
        self.autopath += other.autopath
        self.at_bare += other.at_bare
        self.at_expansion += other.at_expansion
        self.answer = self.answer or other.answer


@dataclass(slots=True)
class ClientStats:
    queries: int = 0
    wasted: int = 0
    lookups: int = 0
    names: dict[str, NameStats] = field(default_factory=dict)


@dataclass(slots=True)
class Unknown:
    """Queries from an address no pod holds."""

    queries: int = 0
    nxdomain: int = 0


@dataclass(slots=True)
class _Lookup:
    name: str  # as the application asked it, without a trailing dot
    stats: ClientStats
    bare_first: bool  # the name had enough dots to be asked as it is first
    last: int = BARE  # the index in the search path of the last expansion asked
    bare: bool = False  # the bare name was asked
    queries: int = 0

    def accepts(self, step: int) -> bool:
        """Whether a query at `step` is this lookup's next candidate (an open lookup that
        asked the bare name is one that asked it first)."""
        return not self.bare if step == BARE else step > self.last


class SearchPathAudit:
    """Reads query logs and keeps, per pod, its queries and lookups by name."""

    def __init__(
        self, clients: Mapping[str, Client], zone: str, host_search: Iterable[str] = ()
    ) -> None:
        self.clients = clients
        self.zone = fqdn(zone)
        self.host_search = tuple(fqdn(domain) for domain in host_search)
        self.lines = 0
        self.skipped = 0  # lines that are no query
        self.pods: dict[Client, ClientStats] = {}
        self.unknown: dict[str, Unknown] = {}
        self._open: dict[tuple[str, str], dict[str, _Lookup]] = {}
        self._paths: dict[str, tuple[str, ...]] = {}

    def search_path(self, namespace: str) -> tuple[str, ...]:
        """The search domains of a ClusterFirst pod in `namespace`, in order."""
        path = self._paths.get(namespace)
        if path is None:
            cluster = (f"{namespace}.svc.{self.zone}", f"svc.{self.zone}", self.zone)
            path = self._paths[namespace] = cluster + self.host_search
        return path

    def read(self, lines: Iterable[str]) -> None:
        """One log, in its order; lookups still open at its end are given up."""
        for line in lines:
            self.lines += 1
            query = parse_line(line)
            if query is None:
                self.skipped += 1
            else:
                self.add(query)
        for pending in self._open.values():
            for lookup in pending.values():
                _close(lookup, None)
        self._open.clear()

    def add(self, query: Query) -> None:
        client = self.clients.get(query.client)
        if client is None:
            unknown = self.unknown.setdefault(query.client, Unknown())
            unknown.queries += 1
            unknown.nxdomain += query.rcode == "NXDOMAIN"
            return
        stats = self.pods.setdefault(client, ClientStats())
        stats.queries += 1
        path = self.search_path(client.namespace)
        pending = self._open.setdefault((query.client, query.qtype), {})
        found = _continued(pending, query.name, path)
        if found is None:
            lookup, step = self._start(pending, query.name, path, stats)
        else:
            lookup, step = found
            pending[lookup.name] = pending.pop(lookup.name)  # the most recent last
        lookup.queries += 1
        if step == BARE:
            lookup.bare = True
        else:
            lookup.last = step
        answered = query.rcode == "NOERROR"
        # the walk is over: at the bare name after the expansions, or at the last expansion
        # after the bare name
        last = BARE if not lookup.bare_first else len(path) - 1
        if answered or step == last:
            del pending[lookup.name]
            _close(lookup, query.name if answered else None)

    def _start(
        self, pending: dict[str, _Lookup], name: str, path: tuple[str, ...], stats: ClientStats
    ) -> tuple[_Lookup, int]:
        first = "." + path[0]
        bare_first = not name.endswith(first)
        asked = name[:-1] if bare_first else name[: -len(first)]
        previous = pending.pop(asked, None)
        if previous is not None:
            _close(previous, None)
        lookup = pending[asked] = _Lookup(asked, stats, bare_first)
        if len(pending) > MAX_OPEN:
            _close(pending.pop(next(iter(pending))), None)
        return lookup, BARE if bare_first else 0


def _continued(
    pending: dict[str, _Lookup], name: str, path: tuple[str, ...]
) -> tuple[_Lookup, int] | None:
    """The open lookup whose next candidate `name` is, and its step."""
    for step, domain in enumerate(path):
        if name.endswith("." + domain):
            lookup = pending.get(name[: -len(domain) - 1])
            if lookup is not None and lookup.accepts(step):
                return lookup, step
    lookup = pending.get(name[:-1])
    if lookup is not None and lookup.accepts(BARE):
        return lookup, BARE
    return None


def _close(lookup: _Lookup, answer: str | None) -> None:
    """Count a finished lookup: answered by `answer`, or not (None)."""
    stats = lookup.stats
    reached_bare = lookup.bare and not lookup.bare_first
    wasted = lookup.queries - 1 if answer is not None or reached_bare else 0
    stats.lookups += 1
    stats.wasted += wasted
    name = stats.names.get(lookup.name)
    if name is None:
        name = stats.names[lookup.name] = NameStats()
    name.lookups += 1
    name.wasted += wasted
    name.long_way += wasted > 0
    if answer is not None:
        name.answer = answer
    if not lookup.bare_first:
        name.autopath += lookup.queries - 1
        if answer is not None and reached_bare:
            name.at_bare += lookup.queries - 1
        elif answer is not None:
            name.at_expansion += 1
