"""clusterdns against a C reference (Knot DNS), side by side on this machine.

    python -m bench.run [--rounds 3] [--seconds 10] [--warm-up 2] [--mix all] [--quick]
                        [--workdir DIR]   (or: make bench ARGS="...")

Each measurement starts a fresh server pinned to core 0, sends it --warm-up seconds of the
load, measures --seconds of it with blast (bench/blast.c, built here with gcc) on core 1,
and stops the server. Knot and clusterdns take turns, measurement by measurement (Knot
first in even rounds, last in odd ones), so ratios are taken within a round. Knot serves
`clusterdns dump` of the same snapshot. Everything is on loopback, every run is bounded,
and the servers are the processes this script started.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from pathlib import Path

from bench import servers
from bench.blast import Load, Result, build, run_blast
from bench.cluster import Cluster, write_cluster
from bench.queries import mixed, write_queries

SERVER_CORE, LOADER_CORE = "0", "1"
FIXED_QPS = 2000
KNOT, CLUSTERDNS = "knot", "clusterdns"
NULL = "null (transport only)"  # bench/null_server.py: the floor under clusterdns
CHURN = {f"{CLUSTERDNS}, 1 change/s": 1.0, f"{CLUSTERDNS}, 20 changes/s": 0.05}
# pod lookups per mix (bench/queries.py): the large ones ask more distinct questions than
# any cache holds (~102k over 1,000 services, ~244k over 10,000), the small one ~11k.
MIXES = {"large": 130_000, "large10k": 130_000, "small": 5_000}
CLUSTERS = {"large": "1k", "large10k": "10k", "small": "1k"}
CLUSTER_SIZES = {"1k": (50, 1_000), "10k": (200, 10_000)}  # namespaces, services

Starter = Callable[[], AbstractContextManager[servers.Server]]


@dataclass(frozen=True)
class Measurement:
    label: str
    mix: str
    load: Load
    servers: tuple[str, ...]
    first_pass: bool = False  # each distinct question once, in the order first asked


def measurements(mixes: list[str], seconds: float, warm_up: float) -> list[Measurement]:
    """What each round measures, in this order."""
    found = []
    for mix in mixes:
        names = (KNOT, CLUSTERDNS, *CHURN, NULL) if mix == "large" else (KNOT, CLUSTERDNS)
        found.append(Measurement(f"{mix}, saturation", mix, Load(seconds, warm_up), names))
    if "large" in mixes:
        found += [
            Measurement(
                "large, first pass", "large", Load(seconds, once=True), (KNOT, CLUSTERDNS), True
            ),
            Measurement(
                f"large, {FIXED_QPS} QPS",
                "large",
                Load(seconds, warm_up, qps=FIXED_QPS),
                (KNOT, CLUSTERDNS),
            ),
        ]
    return found


def starter(name: str, cluster: Cluster) -> Starter:
    directory = cluster.snapshot.parent
    if name == KNOT:
        return lambda: servers.knot(cluster, directory, SERVER_CORE)
    if name == CLUSTERDNS:
        return lambda: servers.clusterdns(cluster, directory, SERVER_CORE)
    if name == NULL:
        return lambda: servers.null_server(directory, SERVER_CORE)
    return lambda: servers.churning_clusterdns(cluster, directory, SERVER_CORE, CHURN[name])


def first_line(cmd: list[str]) -> str:
    if shutil.which(cmd[0]) is None:
        return "(not installed)"
    output = subprocess.run(cmd, capture_output=True, text=True, cwd=servers.REPO).stdout
    return output.strip().splitlines()[0] if output.strip() else "(unknown)"


def machine() -> dict[str, str]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    try:
        import uvloop  # noqa: F401 - only reported

        loop = "uvloop"
    except ImportError:
        loop = "asyncio"
    return {
        "cpu": f"{cpu}, {os.cpu_count()} cores",
        "kernel": f"Linux {platform.release()}",
        "python": f"Python {platform.python_version()} ({loop})",
        "knot": first_line(["knotd", "--version"]),
        "gcc": first_line(["gcc", "--version"]),
        "clusterdns": first_line(["git", "describe", "--always", "--dirty"]),
        "load average at start": Path("/proc/loadavg").read_text().split(" ", 1)[0],
    }


@dataclass(frozen=True)
class Run:
    round: int
    test: str
    server: str
    result: Result


def run_round(
    index: int,
    plan: list[Measurement],
    clusters: dict[str, Cluster],
    files: dict[str, Path],
    blast: Path,
) -> Iterator[Run]:
    for test in plan:
        names = test.servers if index % 2 == 0 else tuple(reversed(test.servers))
        queries = files["distinct" if test.first_pass else test.mix]
        for name in names:
            start = starter(name, clusters[CLUSTERS[test.mix]])
            heading = f"round {index} | {test.label:19} | {name:26}"
            result = measure(heading, start, blast, queries, test.load)
            if result is not None:
                yield Run(index, test.label, name, result)


def measure(heading: str, start: Starter, blast: Path, queries: Path, load: Load) -> Result | None:
    """One run: a server from `start`, blast sending it `queries` from its core, a line
    printed after `heading`. None (and why, printed) when the server or blast failed."""
    try:
        with start() as server:
            result = run_blast(blast, server, queries, load, LOADER_CORE)
    except RuntimeError as exc:  # one broken server must not cost the whole run
        print(f"{heading} | failed: {exc}", flush=True)
        return None
    print(
        f"{heading} | {result.qps:8.0f} QPS | {result.per_core:8.0f}/core | "
        f"p50 {result.p50_ms:6.3f} p99 {result.p99_ms:6.3f} ms | lost {result.lost} | "
        f"NX/data/nodata % {result.answers()} | cpu server {result.server_cpu:.2f} "
        f"blast {result.loader_cpu:.2f} other {result.other_cpu:.2f}",
        flush=True,
    )
    return result


def table(runs: list[Run], rounds: int) -> str:
    """Medians over rounds; ratios are medians of per-round ratios: to Knot in the same
    measurement, and (churn) to clusterdns without churn. Per server core is QPS divided
    by the server's CPU use: steadier than QPS when other processes take the server's core."""
    by_key: dict[tuple[str, str], dict[int, Result]] = {}
    for run in runs:
        by_key.setdefault((run.test, run.server), {})[run.round] = run.result

    def ratio(key: tuple[str, str], reference: tuple[str, str], field: str) -> str:
        references = by_key.get(reference, {})
        ratios = [
            getattr(result, field) / getattr(references[i], field)
            for i, result in by_key[key].items()
            if i in references
        ]
        return f"{statistics.median(ratios):.2f}" if ratios else ""

    lines = [
        "| load | server | QPS | × Knot | per server core | × Knot | × no churn | p50 ms "
        "| p99 ms | server CPU | other CPU | lost | NX/data/nodata % |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for (test, server), by_round in by_key.items():
        results = list(by_round.values())

        def median(field: str, results: list[Result] = results) -> float:
            return statistics.median(getattr(r, field) for r in results)

        key, knot = (test, server), (test, KNOT)
        compared = server != KNOT and not test.endswith(f"{FIXED_QPS} QPS")
        to_knot = ratio(key, knot, "qps") if compared else ""
        per_core_to_knot = ratio(key, knot, "per_core") if compared else ""
        to_plain = ratio(key, (test, CLUSTERDNS), "qps") if server in CHURN else ""
        lines.append(
            f"| {test} | {server} | {median('qps'):.0f} | {to_knot} | {median('per_core'):.0f} "
            f"| {per_core_to_knot} | {to_plain} | {median('p50_ms'):.3f} "
            f"| {median('p99_ms'):.3f} | {median('server_cpu'):.2f} | {median('other_cpu'):.2f} "
            f"| {sum(r.lost for r in results)} | {results[0].answers()} |"
        )
    lines.append(f"\n(medians of {rounds} rounds)")
    return "\n".join(lines)


def round_options(parser: argparse.ArgumentParser) -> None:
    """The flags of a bench of rounds: --rounds, --seconds, --warm-up, --quick, --workdir."""
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured, per run")
    parser.add_argument("--warm-up", type=float, default=2.0, help="sent first, per run")
    parser.add_argument("--quick", action="store_true", help="one round of 1 s runs (a smoke test)")
    parser.add_argument("--workdir", type=Path, help="inputs, logs and results.json (kept)")


def begin(
    args: argparse.Namespace,
    module: str,
    tools: tuple[str, ...],
    prefix: str = "clusterdns-bench-",
) -> tuple[Path, str, dict[str, str]]:
    """A bench of rounds set going: --quick applied, `tools` checked, this process on
    blast's core (stopping its servers on SIGTERM), the workdir made (default: a new
    /tmp/`prefix`*), the command and the machine printed.
    The workdir, command and facts."""
    if args.quick:
        args.rounds, args.seconds, args.warm_up = 1, 1.0, 0.5
    for tool in tools:
        if shutil.which(tool) is None:
            sys.exit(f"bench: {tool} is not installed (make bench-deps)")
    os.sched_setaffinity(0, {int(LOADER_CORE)})
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop the servers on the way out
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix=prefix))
    workdir.mkdir(parents=True, exist_ok=True)
    command = shlex.join(["python", "-m", module, *sys.argv[1:]])
    facts = machine()
    print(f"command: {command}")
    for key, value in facts.items():
        print(f"{key}: {value}")
    print(f"workdir: {workdir}", flush=True)
    return workdir, command, facts


def write_results(workdir: Path, took: float, results: Mapping[str, object]) -> None:
    """`results` (and the time taken) as workdir/results.json."""
    print(f"\ntook {took:.0f} s; results in {workdir / 'results.json'}")
    (workdir / "results.json").write_text(json.dumps({**results, "seconds": took}, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    round_options(parser)
    parser.add_argument("--mix", choices=[*MIXES, "all"], default="all")
    args = parser.parse_args()
    started = time.monotonic()
    workdir, command, facts = begin(args, "bench.run", ("gcc", "knotd", "taskset"))

    mixes = list(MIXES) if args.mix == "all" else [args.mix]
    clusters = {
        size: write_cluster(workdir / size, *CLUSTER_SIZES[size])
        for size in sorted({CLUSTERS[mix] for mix in mixes})
    }
    files: dict[str, Path] = {}
    described: dict[str, str] = {}
    for mix in mixes:
        queries = mixed(clusters[CLUSTERS[mix]], MIXES[mix])
        namespaces, services = CLUSTER_SIZES[CLUSTERS[mix]]
        described[mix] = f"{services:,} services in {namespaces} namespaces, " + queries.describe()
        print(f"mix {mix}: {described[mix]}", flush=True)
        files[mix] = write_queries(workdir / f"{mix}.txt", queries.lines)
        if mix == "large":  # for the first pass
            files["distinct"] = write_queries(workdir / "large-distinct.txt", queries.distinct)
    blast = build(workdir)

    plan = measurements(mixes, args.seconds, args.warm_up)
    runs: list[Run] = []
    for index in range(args.rounds):
        runs += run_round(index, plan, clusters, files, blast)
    print()
    print(table(runs, args.rounds))
    runs_json = [
        {"round": r.round, "test": r.test, "server": r.server, **asdict(r.result)} for r in runs
    ]
    results = {"command": command, "machine": facts, "mixes": described, "runs": runs_json}
    write_results(workdir, time.monotonic() - started, results)


if __name__ == "__main__":
    main()
