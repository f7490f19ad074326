"""Query mixes as query files ("name TYPE" per line, dnsperf's format, which blast reads).

The mixes model pods behind `ndots:5` with the search path `<ns>.svc.<zone> svc.<zone>
<zone>`: the resolver tries each expansion in turn, sending A and AAAA for each, and stops
at the first that exists. So a pod in `team-01` looking up `svc-0042.team-07` asks
`svc-0042.team-07.team-01.svc.cluster.local` (NXDOMAIN twice) before
`svc-0042.team-07.svc.cluster.local` (an A hit, and AAAA NODATA). The forms' weights give
about 52% NXDOMAIN, 24% A hits and 24% AAAA NODATA.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.cluster import Cluster

# How pods name a service: (weight, form). "short" is a service of the pod's own namespace.
FORMS = [(20, "short"), (65, "svc.ns"), (15, "svc.ns.svc.cluster.local")]
POPULARITY = 0.6  # the service of rank r is asked for in proportion to 1 / r**POPULARITY


@dataclass(frozen=True)
class Mix:
    lines: list[str]  # the queries in the order pods send them
    kinds: Counter[str]  # how many are hits, nodata, nxdomain

    @property
    def distinct(self) -> list[str]:
        """Each question once, in the order it is first asked."""
        return list(dict.fromkeys(self.lines))

    def describe(self) -> str:
        total = len(self.lines)
        shares = ", ".join(f"{kind} {n / total:.0%}" for kind, n in self.kinds.most_common())
        return f"{total:,} queries, {len(set(self.lines)):,} distinct; {shares}"


def lookup(name: str, own_ns: str) -> list[tuple[str, str, str]]:
    """The queries a pod in `own_ns` sends for `name` with ndots:5: (qname, qtype, kind)."""
    search = [f"{own_ns}.svc.cluster.local", "svc.cluster.local", "cluster.local"]
    candidates = [f"{name}.{suffix}" for suffix in search]
    if name.count(".") >= 4:  # ndots:5 asks the name as given last
        candidates.append(name)
    queries: list[tuple[str, str, str]] = []
    for candidate in candidates:
        found = candidate.count(".") == 4 and candidate.endswith(".svc.cluster.local")
        if found:
            return [*queries, (candidate, "A", "hit"), (candidate, "AAAA", "nodata")]
        queries += [(candidate, "A", "nxdomain"), (candidate, "AAAA", "nxdomain")]
    raise ValueError(f"{name} does not resolve from {own_ns}")


def mixed(cluster: Cluster, lookups: int, seed: int = 5) -> Mix:
    """`lookups` pod lookups from pods in random namespaces, services picked with a Zipf-like
    popularity (a few services are asked for much more than most)."""
    rng = random.Random(seed)
    weights = [1 / (rank + 1) ** POPULARITY for rank in range(len(cluster.services))]
    targets = rng.choices(cluster.services, weights=weights, k=lookups)
    forms = rng.choices([form for _, form in FORMS], weights=[w for w, _ in FORMS], k=lookups)
    lines: list[str] = []
    kinds: Counter[str] = Counter()
    for (ns, svc), form in zip(targets, forms, strict=True):
        if form == "short":
            queries = lookup(svc, ns)
        else:
            own = rng.choice([other for other in cluster.namespaces if other != ns])
            name = f"{svc}.{ns}" if form == "svc.ns" else f"{svc}.{ns}.svc.cluster.local"
            queries = lookup(name, own)
        for qname, qtype, kind in queries:
            lines.append(f"{qname} {qtype}")
            kinds[kind] += 1
    return Mix(lines, kinds)


def write_queries(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path
