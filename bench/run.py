"""clusterdns against a C reference (Knot DNS), side by side on this machine.

    python -m bench.run [--rounds 3] [--seconds 10] [--workdir DIR]   (or: make bench)

The server under test runs pinned to core 0 and dnsperf to core 1 (this script too, so it
never competes with the server); servers run one at a time, in interleaved rounds (the
reference first in even rounds, last in odd ones), and ratios are taken within a round.
Everything is on loopback and every run is bounded by --seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import asdict
from pathlib import Path

from bench import servers
from bench.cluster import Cluster, write_cluster
from bench.dnsperf import Load, Result, run_dnsperf
from bench.queries import headless, mixed, write_queries

SERVER_CORE, LOADER_CORE, BOTH_CORES = "0", "1", "0,1"
FIXED_QPS = 2000
CHURN_INTERVALS = (1.0, 0.05)  # seconds between index changes: a busy cluster; all cold
WARM_UP = Load(seconds=120, passes=1)
WARM_UP_WORKERS = Load(seconds=120, passes=6)  # a question misses one worker with p=1/64
WORKERS_2 = "clusterdns --workers 2 (cores 0,1)"

Starter = Callable[[], AbstractContextManager[servers.Server]]


def machine() -> str:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )
    versions = [
        subprocess.run(cmd, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        for cmd in (["knotd", "--version"], ["dnsperf", "-h"])
    ]
    try:
        import uvloop  # noqa: F401 - only reported

        loop = "uvloop"
    except ImportError:
        loop = "asyncio"
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"], capture_output=True, text=True,
        cwd=servers.REPO,
    ).stdout.strip() or "(not a git checkout)"
    return (
        f"{cpu}, {os.cpu_count()} cores, Linux {platform.release()}, "
        f"Python {platform.python_version()} ({loop}), {'; '.join(versions)}, clusterdns {commit}"
    )


def supports_workers() -> bool:
    help_text = subprocess.run(
        [sys.executable, "-m", "clusterdns", "serve", "--help"], capture_output=True, text=True
    ).stdout
    return "--workers" in help_text


def scenarios(cluster: Cluster, workdir: Path, workers: bool) -> dict[str, Starter]:
    """The servers of one round, by name."""
    found: dict[str, Starter] = {
        "knot": lambda: servers.knot(cluster, workdir, SERVER_CORE),
        "clusterdns": lambda: servers.clusterdns(cluster, workdir, SERVER_CORE),
    }
    for interval in CHURN_INTERVALS:
        found[f"clusterdns, index change every {interval:g}s"] = (
            lambda interval=interval: servers.churning_clusterdns(
                cluster, workdir, SERVER_CORE, interval
            )
        )
    if workers:
        found[WORKERS_2] = lambda: servers.clusterdns(
            cluster, workdir, BOTH_CORES, ("--workers", "2")
        )
    return found


def loads_for(name: str, seconds: float) -> dict[str, tuple[str, Load]]:
    """What to measure on each server: label → (query file, load)."""
    loads = {"mixed, saturation": ("mixed", Load(seconds))}
    if name in ("knot", "clusterdns"):
        loads["mixed, 2k QPS"] = ("mixed", Load(seconds, qps=FIXED_QPS))
        loads["headless 100 endpoints, EDNS"] = ("headless", Load(seconds, edns=True))
    return loads


def run_round(
    index: int, starters: dict[str, Starter], files: dict[str, Path], seconds: float
) -> Iterator[tuple[str, str, Result]]:
    order = list(starters)
    if index % 2:
        order.reverse()
    for name in order:
        try:
            with starters[name]() as server:
                # every distinct question: measure a warm server, as in steady state. Workers
                # each keep their own cache and a new dnsperf run sends each question to a
                # worker picked by its new source port: several passes warm them all.
                warm_up = WARM_UP_WORKERS if name == WORKERS_2 else WARM_UP
                run_dnsperf(server, files["distinct"], warm_up, LOADER_CORE)
                measured = [
                    (label, run_dnsperf(server, files[queries], load, LOADER_CORE))
                    for label, (queries, load) in loads_for(name, seconds).items()
                ]
        except RuntimeError as exc:  # one broken server must not cost the whole run
            print(f"round {index} | {name}: failed: {exc}", flush=True)
            continue
        for label, result in measured:
            print(
                f"round {index} | {name:38} | {label:30} | {result.qps:9.0f} QPS | "
                f"p50 {result.p50_ms:6.3f} ms | p99 {result.p99_ms:6.3f} ms | "
                f"lost {result.lost} | cpu server {result.server_cpu:.2f} "
                f"dnsperf {result.loader_cpu:.2f} other {result.other_cpu:.2f}",
                flush=True,
            )
            yield name, label, result


def table(results: dict[tuple[str, str], list[Result]], rounds: int) -> str:
    """Medians over rounds. Ratios are medians of per-round ratios to knot under the same
    load (churn and workers rows: to knot's mixed saturation). "per core" divides QPS by the
    server's CPU use, which stays fair when dnsperf, not the server, is the limit."""
    lines = [
        "| server | load | QPS | ×knot | QPS per server core | ×knot | p50 ms | p99 ms "
        "| server CPU | other CPU | lost |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (name, label), runs in results.items():
        reference = results.get(("knot", label)) or results.get(("knot", "mixed, saturation"))
        ratio = per_core_ratio = ""
        if name != "knot" and reference and label != "mixed, 2k QPS":
            pairs = list(zip(runs, reference, strict=False))
            ratio = f"{statistics.median(r.qps / k.qps for r, k in pairs):.2f}"
            per_core_ratio = f"{statistics.median(per_core(r) / per_core(k) for r, k in pairs):.2f}"
        lines.append(
            f"| {name} | {label} | {median(runs, 'qps'):.0f} | {ratio} "
            f"| {statistics.median(per_core(r) for r in runs):.0f} | {per_core_ratio} "
            f"| {median(runs, 'p50_ms'):.3f} | {median(runs, 'p99_ms'):.3f} "
            f"| {median(runs, 'server_cpu'):.2f} | {median(runs, 'other_cpu'):.2f} "
            f"| {sum(r.lost for r in runs)} |"
        )
    lines.append(f"\n(medians of {rounds} rounds)")
    one, two = (results.get((name, "mixed, saturation")) for name in ("clusterdns", WORKERS_2))
    if one and two:
        pairs = list(zip(two, one, strict=False))
        lines.append(
            f"--workers 2 / --workers 1, same round: QPS "
            f"×{statistics.median(w.qps / s.qps for w, s in pairs):.2f}, QPS per server core "
            f"×{statistics.median(per_core(w) / per_core(s) for w, s in pairs):.2f}, "
            f"server CPU {median(two, 'server_cpu'):.2f} vs {median(one, 'server_cpu'):.2f}"
        )
    return "\n".join(lines)


def per_core(result: Result) -> float:
    return result.qps / max(result.server_cpu, 0.01)


def median(runs: list[Result], field: str) -> float:
    return statistics.median(getattr(r, field) for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each run")
    parser.add_argument("--workdir", type=Path, help="keep inputs and logs here")
    parser.add_argument("--json", type=Path, help="also write every run's result here")
    args = parser.parse_args()
    for tool in ("dnsperf", "knotd", "taskset"):
        if shutil.which(tool) is None:
            sys.exit(f"bench: {tool} is not installed (make bench-deps)")
    os.sched_setaffinity(0, {int(LOADER_CORE)})
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop the servers on the way out
    with contextlib.ExitStack() as stack:
        workdir = args.workdir or Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="clusterdns-bench-"))
        )
        workdir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        print(f"machine: {machine()}", flush=True)
        cluster = write_cluster(workdir)
        lines, kinds = mixed(cluster, lookups=50_000)
        total = sum(kinds.values())
        print(
            f"mixed load: {total} queries, {len(set(lines))} distinct; "
            + ", ".join(f"{kind} {count / total:.0%}" for kind, count in kinds.most_common()),
            flush=True,
        )
        files = {
            "mixed": write_queries(workdir / "mixed.txt", lines),
            "distinct": write_queries(workdir / "distinct.txt", list(dict.fromkeys(lines))),
            "headless": write_queries(workdir / "headless.txt", headless()),
        }
        starters = scenarios(cluster, workdir, supports_workers())
        results: dict[tuple[str, str], list[Result]] = defaultdict(list)
        for index in range(args.rounds):
            for name, label, result in run_round(index, starters, files, args.seconds):
                results[(name, label)].append(result)
        print()
        print(table(results, args.rounds))
        print(f"\ntook {time.monotonic() - started:.0f} s")
        if args.json:
            args.json.write_text(json.dumps(
                [{"server": n, "load": label, "runs": [asdict(r) for r in runs]}
                 for (n, label), runs in results.items()],
                indent=1,
            ))


if __name__ == "__main__":
    main()
