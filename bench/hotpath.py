"""Where a query's time goes inside the server: the query handler alone, in this process, on
the benchmark's cluster and large mix (no sockets, no load generator, no kernel).

    python -m bench.hotpath [--cluster 1k|10k] [--queries 300000] [--repeat 7] [--profile]

The handler is built from the benchmark's Corefile and snapshot as `clusterdns serve` builds
it; the queries are the large mix's (bench/queries.py), written as blast writes them (RD,
no EDNS). It answers each query once (the first pass: every reply the wire answers keep is
made then), then again --repeat times; per kind of reply (a repeat answered by its bytes, an
NXDOMAIN, a NODATA, records) the best pass's CPU time per query is shown. The rest of a
query's cost in `make bench` is the transport's (recvmmsg/sendmmsg, the event loop) and the
kernel's. --profile adds cProfile's functions by their own time over one more pass (the
profiler's overhead inflates each call: read it for where, not for how long). The compiled
hot path's functions are C to cProfile, invisible: profile the sources, with
CLUSTERDNS_PURE_PYTHON=1 (which also gives their CPU time, for comparison). The first line
says which ran.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.cluster import write_cluster
from bench.queries import mixed
from bench.run import CLUSTER_SIZES, MIXES
from clusterdns import compiled
from clusterdns.server.app import ClusterDNS, ServeOptions, settle_garbage_collector
from clusterdns.server.handler import QueryHandler
from clusterdns.server.plan import build_plan
from harness.wire import Variant, wire_query

PEER = ("127.0.0.1", 40000)


def build_handler(directory: Path, cluster: str) -> tuple[QueryHandler, list[str]]:
    """The handler `clusterdns serve` makes for the benchmark's cluster, and the mix."""
    made = write_cluster(directory / cluster, *CLUSTER_SIZES[cluster])
    options = ServeOptions(conf=made.corefile, snapshot=made.snapshot, listen="127.0.0.1:53")
    app = ClusterDNS(options)
    assert app.k8s is not None
    app.load_source(app.k8s)
    plan = build_plan(
        app.servers, app.override, app.resolver, app.ready, app.options.resolv_conf, lambda: None
    )
    listener = next(iter(plan.dns))
    return QueryHandler(plan.dns[listener], listener.label), mixed(made, MIXES["large"]).lines


def kind_of(handler: QueryHandler, query: bytes, reply: bytes) -> str:
    """How the handler answers `query` now: from its bytes kept, or which rcode / records."""
    assert handler.answers is not None
    if handler.answers.exact(query) is not None:
        return "repeat (kept bytes)"
    if reply[3] & 0xF == 3:
        return "NXDOMAIN"
    return "records" if reply[6] | reply[7] else "NODATA"


def cpu_per_query(handle: Callable[[bytes, bool, tuple[str, int]], object], queries: list[bytes],
                  repeat: int) -> float:  # fmt: skip
    """The best of `repeat` passes, in CPU microseconds per query."""
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        for query in queries:
            handle(query, False, PEER)
        best = min(best, time.process_time() - started)
    return best / len(queries) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cluster", choices=sorted(CLUSTER_SIZES), default="1k")
    parser.add_argument("--queries", type=int, default=300_000, help="of the mix, from its start")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="clusterdns-hotpath-") as directory:
        handler, lines = build_handler(Path(directory), args.cluster)
    queries = [
        wire_query(name + ".", qtype, Variant(), number & 0xFFFF)
        for number, (name, qtype) in enumerate(line.split() for line in lines[: args.queries])
    ]
    settle_garbage_collector()
    handle = handler.handle
    started = time.process_time()
    replies = [handle(query, False, PEER) for query in queries]
    first = (time.process_time() - started) / len(queries) * 1e6
    by_kind: dict[str, list[bytes]] = {}
    for query, reply in zip(queries, replies, strict=True):
        assert isinstance(reply, bytes)
        by_kind.setdefault(kind_of(handler, query, reply), []).append(query)
    print(f"{len(queries):,} queries of the large mix on the {args.cluster} cluster; "
          f"hot path: {compiled.STATUS}")  # fmt: skip
    print("| kind | share | CPU µs a query |\n|---|---:|---:|")
    print(f"| first pass (all) | | {first:.2f} |")
    for kind, asked in sorted(by_kind.items()):
        share = len(asked) / len(queries)
        print(f"| {kind} | {share:.0%} | {cpu_per_query(handle, asked, args.repeat):.2f} |")
    print(f"| all, again | | {cpu_per_query(handle, queries, args.repeat):.2f} |")
    if args.profile:
        profile = cProfile.Profile()
        profile.runcall(lambda: [handle(query, False, PEER) for query in queries])
        pstats.Stats(profile).sort_stats("tottime").print_stats(20)


if __name__ == "__main__":
    main()
