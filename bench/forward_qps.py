"""Forwarded names through clusterdns: QPS from the cache (hits) and with a cold cache.

    python -m bench.forward_qps [--seconds 10] [--workdir DIR]   (or: make bench-forward)

clusterdns runs the kubeadm Corefile (cache 30, loadbalance, loop…) forwarding to the test
upstream (harness/upstream.py) on loopback, pinned to core 0; blast (bench/blast.c) and the
upstream (in this process) share core 1. Three loads, each for --seconds:

- hit: 1000 forwarded names, asked once to fill the cache, then over and over;
- cold: a new name every query, so every one is a cache miss forwarded upstream;
- cluster: one cluster name (the wire cache), for scale.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from bench import servers
from bench.blast import Load, build, run_blast
from bench.queries import write_queries
from harness.paths import DEMO
from harness.server import kubeadm_corefile
from harness.upstream import FakeUpstream

SERVER_CORE, LOADER_CORE = "0", "1"
HIT_NAMES = 1000
COLD_NAMES = 500_000  # more than a run asks: every query a new name


def measure(
    name: str,
    blast: Path,
    server: servers.Server,
    queries: Path,
    load: Load,
    upstream: FakeUpstream,
) -> dict:
    before = servers.process_cpu(os.getpid())
    asked = upstream.asked_total
    result = run_blast(blast, server, queries, load, LOADER_CORE)
    seconds = result.seconds
    return {
        "load": name,
        "qps": round(result.qps),
        "p50_ms": round(result.p50_ms, 3),
        "p99_ms": round(result.p99_ms, 3),
        "lost": result.lost,
        "NX/data/nodata %": result.answers(),
        "server_cpu": round(result.server_cpu, 2),
        "qps_per_core": round(result.qps / result.server_cpu) if result.server_cpu else 0,
        "upstream_cpu": round((servers.process_cpu(os.getpid()) - before) / seconds, 2),
        "upstream_qps": round((upstream.asked_total - asked) / seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="forward-qps-"))
    workdir.mkdir(parents=True, exist_ok=True)
    os.sched_setaffinity(0, {int(LOADER_CORE)})  # this process hosts the upstream
    hit = write_queries(workdir / "hit.txt", [f"h{i}.forward.example. A" for i in range(HIT_NAMES)])
    cold = write_queries(
        workdir / "cold.txt", [f"c{i}.forward.example. A" for i in range(COLD_NAMES)]
    )
    cluster = write_queries(workdir / "cluster.txt", ["nginx.demo.svc.cluster.local. A"])
    blast = build(workdir)
    with FakeUpstream() as upstream:
        conf = workdir / "Corefile"
        conf.write_text(kubeadm_corefile({"/etc/resolv.conf": upstream.address}))
        port = servers.free_port()
        cmd = [
            sys.executable, "-m", "clusterdns", "serve", "--conf", str(conf),
            "--snapshot", str(DEMO), "--listen", f"127.0.0.1:{port}", "--log-level", "warning",
        ]  # fmt: skip
        with servers._running(
            "clusterdns", servers.pinned(SERVER_CORE, cmd), port, workdir
        ) as server:
            run_blast(blast, server, hit, Load(seconds=60, once=True), LOADER_CORE)  # the cache
            rows = [
                measure(name, blast, server, queries, Load(args.seconds), upstream)
                for name, queries in (("hit", hit), ("cold", cold), ("cluster", cluster))
            ]
    columns = list(rows[0])
    print(" | ".join(columns))
    for row in rows:
        print(" | ".join(str(row[c]) for c in columns))
    print(f"(inputs and logs in {workdir})")


if __name__ == "__main__":
    main()
