"""Query mixes as dnsperf data files ("name type" per line).

The mixed load models pods behind `ndots:5` with the search path `<ns>.svc.<zone>
svc.<zone> <zone>`: the resolver tries each expansion in turn, sending A and AAAA for each,
and stops at the first that exists. So a pod in `team-01` looking up `svc-0042.team-07` asks
`svc-0042.team-07.team-01.svc.cluster.local` (NXDOMAIN twice) before
`svc-0042.team-07.svc.cluster.local` (an A hit, and AAAA NODATA).
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

from bench.cluster import BIG_NAMESPACE, BIG_SERVICE, Cluster

# How pods name a service: (weight, form). "short" is a service of the pod's own namespace.
FORMS = [(25, "short"), (65, "svc.ns"), (10, "svc.ns.svc.cluster.local")]


def lookup(name: str, own_ns: str) -> list[tuple[str, str, str]]:
    """The queries a pod in `own_ns` sends for `name` with ndots:5: (qname, qtype, kind)."""
    search = [f"{own_ns}.svc.cluster.local", "svc.cluster.local", "cluster.local"]
    candidates = [f"{name}.{suffix}" for suffix in search]
    if name.count(".") >= 4:  # ndots:5 asks the name as given last
        candidates.append(name)
    queries = []
    for candidate in candidates:
        found = candidate.count(".") == 4 and candidate.endswith(".svc.cluster.local")
        if found:
            return [*queries, (candidate, "A", "hit"), (candidate, "AAAA", "nodata")]
        queries += [(candidate, "A", "nxdomain"), (candidate, "AAAA", "nxdomain")]
    raise ValueError(f"{name} does not resolve from {own_ns}")


def mixed(cluster: Cluster, lookups: int, seed: int = 5) -> tuple[list[str], Counter[str]]:
    """dnsperf lines for `lookups` pod lookups, services picked with a Zipf-like popularity
    (a few services are asked for much more than most), and the count of each kind."""
    rng = random.Random(seed)
    weights = [1 / (rank + 1) for rank in range(len(cluster.services))]
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
    return lines, kinds


def headless() -> list[str]:
    return [f"{BIG_SERVICE}.{BIG_NAMESPACE}.svc.cluster.local A"]


def write_queries(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path
