"""What autopath, the query log, metadata in it and the per-client metrics cost per query:
clusterdns with each against the same server without.

    python -m bench.features [--rounds 3] [--seconds 10] [--warm-up 2] [--lookups 50000]
                             [--quick] [--workdir DIR]   (or: make bench-features ARGS="...")

The benchmark cluster of bench/run.py (1,000 services in 50 namespaces) plus one running pod,
`team-00/bench-client`, at 127.0.0.1: the address blast's socket sends from (it connects to
127.0.0.1 without binding), so every query comes from a pod the server knows (`pods
verified`). The queries are that pod's lookups (bench/queries.py's forms and popularity)
with `ndots:5`, in two files:

- *search path*: every query its resolver sends without autopath (each expansion, A and
  AAAA, up to the first that exists);
- *first expansion*: the A and AAAA of each lookup's first expansion only: all it sends to an
  autopath server, whose answer (a CNAME to the name found, or its NODATA) ends the walk.

Each measurement starts a fresh server pinned to core 0 (bench/servers.py), sends --warm-up
seconds of one file with blast (bench/blast.c) on core 1, measures --seconds of it, and stops
the server; the configurations take turns within a round (in reverse order in odd rounds), so
ratios are taken between runs of the same round. Before the rounds each configuration is
started once and asked a few questions from 127.0.0.1, to check that it does what it is
measured for (autopath walks, the log writes the pod's name).

The Corefiles have no `forward` and the server reads a resolv.conf written here with no
search line (--resolv-conf), so autopath walks the cluster's domains only and nothing leaves
the machine. The query log (standard output) goes to /dev/null: the runs with `log` write
their server's output file through a link to it, not to a pipe.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import os
import random
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path

from dnslib import QTYPE, RCODE, DNSRecord

from bench import servers
from bench.blast import Load, Result, build
from bench.cluster import Cluster, cluster_items, write_cluster
from bench.queries import FORMS, POPULARITY, Mix, lookup, write_queries
from bench.run import SERVER_CORE, Run, Starter, begin, measure, round_options, write_results
from bench.servers import Server
from harness.snapshots import pod, write_snapshot

NAMESPACES, SERVICES = 50, 1_000  # bench/run.py's 1k cluster
POD_NS, POD_NAME = "team-00", "bench-client"
POD_IP = "127.0.0.1"  # blast's source address: a connected socket to 127.0.0.1, unbound
LOG_FORMAT = (
    "{remote} {/kubernetes/client-namespace}/{/kubernetes/client-pod-name} {type} {name} {rcode}"
)
FULL, FIRST = "search path", "first expansion"  # the two query files
OUTSIDE = "example.com."  # a bare-name candidate outside the cluster: what the block answers


@dataclass(frozen=True)
class Config:
    label: str
    plugins: tuple[str, ...] = ()  # directives before `kubernetes`
    pods: str = "verified"
    writes_log: bool = False  # a line per query on standard output: to /dev/null

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.label.lower()).strip("-")

    @property
    def autopath(self) -> bool:
        return any(plugin.startswith("autopath") for plugin in self.plugins)

    def corefile(self) -> str:
        lines = ["errors", *self.plugins]
        return (
            ".:53 {\n"
            + "".join(f"    {line}\n" for line in lines)
            + "    kubernetes cluster.local in-addr.arpa ip6.arpa {\n"
            + f"        pods {self.pods}\n"
            + "        ttl 30\n    }\n}\n"
        )


BASELINE = Config("baseline (pods verified)")
AUTOPATH = Config("+ autopath @kubernetes", ("autopath @kubernetes",))
LOG = Config("+ log", ("log",), writes_log=True)
METADATA_LOG = Config("+ metadata + log {/kubernetes/...}", ("metadata", f'log . "{LOG_FORMAT}"'),
                      writes_log=True)  # fmt: skip
INSECURE = Config("pods insecure (no client metrics)", pods="insecure")
CONFIGS = (BASELINE, AUTOPATH, LOG, METADATA_LOG, INSECURE)
# Knot DNS on the same zone and query files, in the same round: the C reference every
# per-core figure is also given as a ratio to (it runs none of the plugins measured)
KNOT = Config("knot (reference)")
# (configuration, query file), in a round's order; the baseline takes both files, so that
# autopath is compared with it on each
PLAN = [
    (KNOT, FULL),
    (KNOT, FIRST),
    (BASELINE, FULL),
    (AUTOPATH, FULL),
    (BASELINE, FIRST),
    (AUTOPATH, FIRST),
    (LOG, FULL),
    (METADATA_LOG, FULL),
    (INSECURE, FULL),
]


def pod_sends(config: Config, mix: str) -> bool:
    """Whether `mix` is what the pod's resolver sends to a server of `config`."""
    return mix == (FIRST if config.autopath else FULL)


@dataclass(frozen=True)
class PodMixes:
    lookups: int
    full: Mix  # every query of every lookup, as sent to a server without autopath
    first: Mix  # the first two (A and AAAA of the first expansion) of each lookup

    def queries_per_lookup(self, mix: str) -> float:
        return len((self.full if mix == FULL else self.first).lines) / self.lookups


def pod_mixes(cluster: Cluster, lookups: int, own_ns: str = POD_NS, seed: int = 5) -> PodMixes:
    """`lookups` lookups of one pod in `own_ns`: bench/queries.py's forms (short names of
    its own namespace's services, `svc.ns` and `svc.ns.svc.cluster.local` of the others'),
    each service asked for with the same Zipf-like popularity within its pool."""
    rng = random.Random(seed)
    pools = {
        "own": [s for s in cluster.services if s[0] == own_ns],
        "other": [s for s in cluster.services if s[0] != own_ns],
    }
    cumulative = {
        key: list(itertools.accumulate(1 / (rank + 1) ** POPULARITY for rank in range(len(pool))))
        for key, pool in pools.items()
    }
    forms = rng.choices([form for _, form in FORMS], weights=[w for w, _ in FORMS], k=lookups)
    full: list[str] = []
    first: list[str] = []
    full_kinds: Counter[str] = Counter()
    first_kinds: Counter[str] = Counter()
    for form in forms:
        pool = "own" if form == "short" else "other"
        weights = cumulative[pool]
        ns, svc = pools[pool][bisect.bisect(weights, rng.random() * weights[-1])]
        name = {"short": svc, "svc.ns": f"{svc}.{ns}"}.get(form, f"{svc}.{ns}.svc.cluster.local")
        queries = lookup(name, own_ns)
        for index, (qname, qtype, kind) in enumerate(queries):
            full.append(f"{qname} {qtype}")
            full_kinds[kind] += 1
            if index < 2:
                first.append(f"{qname} {qtype}")
                first_kinds[kind] += 1
    return PodMixes(lookups, Mix(full, full_kinds), Mix(first, first_kinds))


def bench_cluster(directory: Path) -> Cluster:
    """bench/run.py's 1k cluster, its snapshot with the pod that blast sends as."""
    cluster = write_cluster(directory, NAMESPACES, SERVICES)
    items = [*cluster_items(NAMESPACES, SERVICES, 100), pod(POD_NS, POD_NAME, POD_IP)]
    write_snapshot(cluster.snapshot, items)
    return cluster


@dataclass
class Setup:
    """Where a configuration's servers run from: its Corefile, its server flags, and the
    directory of their output file."""

    config: Config
    cluster: Cluster
    extra: tuple[str, ...]
    directory: Path


def setups(workdir: Path, cluster: Cluster, resolv_conf: Path) -> dict[Config, Setup]:
    """Each configuration's directory (workdir/SLUG), Corefile and output file: a link to
    /dev/null for those that log every query."""
    found = {}
    for config in CONFIGS:
        directory = workdir / config.slug
        (directory / "check").mkdir(parents=True, exist_ok=True)
        corefile = directory / "Corefile"
        corefile.write_text(config.corefile())
        output = directory / "clusterdns.log"  # (bench/servers.py's name for it)
        if config.writes_log and not output.is_symlink():
            output.symlink_to(os.devnull)  # the query log, discarded: no pipe to fill
        extra = ("--resolv-conf", str(resolv_conf))
        found[config] = Setup(config, replace(cluster, corefile=corefile), extra, directory)
    return found


def serving(setup: Setup, directory: Path | None = None) -> AbstractContextManager[Server]:
    """The configuration's server on core 0, its output in `directory`'s clusterdns.log
    (default: the measured runs' directory)."""
    return servers.clusterdns(setup.cluster, directory or setup.directory, SERVER_CORE, setup.extra)


def ask(port: int, name: str, qtype: str) -> str:
    """The reply to one question from 127.0.0.1, in short: rcode and answer records."""
    reply = DNSRecord.parse(DNSRecord.question(name, qtype).send(POD_IP, port, timeout=2))
    records = " ".join(f"{QTYPE.get(rr.rtype)} {rr.rdata}" for rr in reply.rr)
    return f"{RCODE.get(reply.header.rcode)} {records}".strip()


def check(setup: Setup, mixes: PodMixes) -> dict[str, str]:
    """Start the configuration once (its output kept in check/), ask the first expansion of a
    `svc.ns` lookup (A and AAAA) and a name outside the cluster, and check what it is
    measured for: autopath answers the expansion with a CNAME, the others NXDOMAIN; the
    log's lines name the pod. The answers and a log line, for the report."""
    config, directory = setup.config, setup.directory / "check"
    (directory / "clusterdns.log").unlink(missing_ok=True)
    expansion = next(name for name, _ in map(str.split, mixes.first.lines) if name.count(".") == 5)
    with serving(setup, directory) as server:
        answers = {
            f"{expansion} A": ask(server.port, expansion, "A"),
            f"{expansion} AAAA": ask(server.port, expansion, "AAAA"),
            f"{OUTSIDE} A": ask(server.port, OUTSIDE, "A"),
        }
    walked = answers[f"{expansion} A"].startswith("NOERROR CNAME")
    if walked != config.autopath:
        sys.exit(f"bench: {config.label}: {expansion} A answered {answers[f'{expansion} A']}")
    lines = [
        line for line in (directory / "clusterdns.log").read_text().splitlines() if "[INFO]" in line
    ]
    if config.writes_log:
        wanted = f"{POD_IP} {POD_NS}/{POD_NAME} A" if config is METADATA_LOG else f"{POD_IP}:"
        written = [line for line in lines if wanted in line and expansion in line]
        if not written:
            sys.exit(f"bench: {config.label}: no log line with {wanted!r} in {lines}")
        answers["log line"] = written[0]
    return answers


def run_round(
    index: int, plan: list[tuple[Config, str]], found: dict[Config, Setup],
    files: dict[str, Path], blast: Path, load: Load,
) -> Iterator[Run]:  # fmt: skip
    for config, mix in plan if index % 2 == 0 else reversed(plan):
        heading = f"round {index} | {config.label:34} | {mix:15}"
        start: Starter
        if config is KNOT:
            setup = found[BASELINE]  # (its cluster: the zone Knot serves)
            start = partial(servers.knot, setup.cluster, setup.directory, SERVER_CORE)
        else:
            start = partial(serving, found[config])
        result = measure(heading, start, blast, files[mix], load)
        if result is not None:
            yield Run(index, mix, config.label, result)


def table(runs: list[Run], mixes: PodMixes) -> str:
    """Medians over rounds, ratios and differences taken within a round: to the baseline on
    the same file, and (lookups) to the baseline's search-path lookups."""
    by_key: dict[tuple[str, str], dict[int, Result]] = {}
    for run in runs:
        by_key.setdefault((run.server, run.test), {})[run.round] = run.result

    def median(values: list[float], digits: int = 0) -> str:
        return f"{statistics.median(values):.{digits}f}" if values else ""

    lines = [
        "| configuration | queries | QPS | × baseline | per server core | × baseline "
        "| × Knot per core | µs/query added | lookups/s | × baseline | µs CPU/lookup | p50 ms "
        "| p99 ms | server CPU | other CPU | lost | NX/data/nodata % |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    base_lookups = by_key.get((BASELINE.label, FULL), {})
    full_per_lookup = mixes.queries_per_lookup(FULL)
    for config, mix in PLAN:
        by_round = by_key.get((config.label, mix))
        if not by_round:
            continue
        results = list(by_round.values())
        base = by_key.get((BASELINE.label, mix), {})
        compared = config not in (BASELINE, KNOT)
        pairs = [(r, base[i]) for i, r in by_round.items() if i in base and compared]
        knot = by_key.get((KNOT.label, mix), {})
        to_knot = [r.per_core / knot[i].per_core for i, r in by_round.items() if i in knot]
        per_lookup = mixes.queries_per_lookup(mix)
        lookups = [
            (r.qps / per_lookup, r.qps / per_lookup * full_per_lookup / base_lookups[i].qps,
             1e6 * per_lookup / r.per_core)
            for i, r in by_round.items() if i in base_lookups
        ] if pod_sends(config, mix) and config != KNOT else []  # fmt: skip
        lines.append(
            f"| {config.label} | {mix} | {median([r.qps for r in results])} "
            f"| {median([r.qps / b.qps for r, b in pairs], 2)} "
            f"| {median([r.per_core for r in results])} "
            f"| {median([r.per_core / b.per_core for r, b in pairs], 2)} "
            f"| {median(to_knot, 2) if config != KNOT else ''} "
            f"| {median([1e6 / r.per_core - 1e6 / b.per_core for r, b in pairs], 2)} "
            f"| {median([x[0] for x in lookups])} "
            f"| {median([x[1] for x in lookups], 2) if config != BASELINE else ''} "
            f"| {median([x[2] for x in lookups], 1)} "
            f"| {median([r.p50_ms for r in results], 3)} "
            f"| {median([r.p99_ms for r in results], 3)} "
            f"| {median([r.server_cpu for r in results], 2)} "
            f"| {median([r.other_cpu for r in results], 2)} | {sum(r.lost for r in results)} "
            f"| {results[0].answers()} |"
        )
    return "\n".join(lines)


def rounds_table(runs: list[Run], rounds: int) -> str:
    """µs of server CPU per query (1 / per server core), run by run: the spread."""
    cpu = {(run.server, run.test, run.round): 1e6 / run.result.per_core for run in runs}
    lines = [
        "| configuration | queries | " + " | ".join(f"round {i}" for i in range(rounds)) + " |",
        "|---|---|" + "---:|" * rounds,
    ]
    for config, mix in PLAN:
        cells = [cpu.get((config.label, mix, i)) for i in range(rounds)]
        text = " | ".join("" if cell is None else f"{cell:.1f}" for cell in cells)
        lines.append(f"| {config.label} | {mix} | {text} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    round_options(parser)
    parser.add_argument("--lookups", type=int, default=50_000, help="the pod's, per file")
    args = parser.parse_args()
    started = time.monotonic()
    workdir, command, facts = begin(
        args, "bench.features", ("gcc", "knotd", "taskset"),
        prefix="clusterdns-bench-features-",
    )  # fmt: skip

    cluster = bench_cluster(workdir / "cluster")
    resolv_conf = workdir / "resolv.conf"
    resolv_conf.write_text("# no search line: autopath walks the cluster's domains only\n"
                           "nameserver 127.0.0.1\n")  # fmt: skip
    mixes = pod_mixes(cluster, args.lookups)
    described = {
        mix: f"{args.lookups:,} lookups of {POD_NS}/{POD_NAME} ({POD_IP}), "
        f"{mixes.queries_per_lookup(mix):.2f} queries each: {chosen.describe()}"
        for mix, chosen in ((FULL, mixes.full), (FIRST, mixes.first))
    }
    for mix, text in described.items():
        print(f"mix {mix}: {text}", flush=True)
    files = {
        FULL: write_queries(workdir / "search-path.txt", mixes.full.lines),
        FIRST: write_queries(workdir / "first-expansion.txt", mixes.first.lines),
    }
    blast = build(workdir)
    found = setups(workdir, cluster, resolv_conf)
    checks = {}
    for config in CONFIGS:
        checks[config.label] = check(found[config], mixes)
        print(f"check {config.label}: {checks[config.label]}", flush=True)

    load = Load(args.seconds, args.warm_up)
    runs: list[Run] = []
    for index in range(args.rounds):
        runs += run_round(index, PLAN, found, files, blast, load)
    print()
    print(table(runs, mixes))
    print(f"\n(medians of {args.rounds} rounds)\n\nµs of server CPU per query, round by round:\n")
    print(rounds_table(runs, args.rounds))
    results = {
        "command": command,
        "machine": facts,
        "mixes": described,
        "corefiles": {config.label: config.corefile() for config in CONFIGS},
        "checks": checks,
        "runs": [
            {"round": r.round, "mix": r.test, "config": r.server, **asdict(r.result)} for r in runs
        ],
    }
    write_results(workdir, time.monotonic() - started, results)


if __name__ == "__main__":
    main()
