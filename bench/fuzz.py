"""Fuzz the real server: mutated queries over loopback UDP until a packet or time bound.

    python -m bench.fuzz [--packets 1000000] [--seconds 900] [--seed 1] [--forward]
    (or: make fuzz ARGS="...")

The server runs on the demo cluster (`clusterdns serve --snapshot zones/demo-cluster.yaml`)
with the test Corefile and `prometheus` (nothing is forwarded: nothing leaves the machine);
with --forward, kubeadm's Corefile instead (cache, loop, loadbalance...) forwarding to the
loopback test upstream (harness/upstream.py), which reads only the names clients normally
send: a mutated forwarded query it cannot read is never answered, so the server answers
SERVFAIL after its 5 s deadline and logs it (the errors plugin), and those slow the run.

Packets are real queries of the demo names (harness/wire.py) mutated by harness/mutate.py
(header, names, labels, pointers, records, OPT), sent by harness/fuzz.py with --window
outstanding; control queries every --control-every packets must be answered as before the
run. At the end a summary; the exit status is 1 if any check failed: a reply to a packet
with QR set, a reply without QR or to no packet outstanding, a UDP reply over 1232 bytes or
that does not parse, a control query answered otherwise, a traceback in the server's log,
more than LOG_BOUND log lines in 10 s, the server gone; without --forward also a packet
owed a reply that got none.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from harness.fuzz import Totals, corefile, run, seeds
from harness.mutate import Mutator
from harness.paths import DEMO
from harness.server import start_server, stop_server
from harness.upstream import FakeUpstream


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--packets", type=int, default=1_000_000, help="stop after so many")
    parser.add_argument("--seconds", type=float, default=900.0, help="or after so long")
    parser.add_argument("--seed", type=int, default=1, help="same seed, same packets")
    parser.add_argument("--window", type=int, default=64, help="packets outstanding at most")
    parser.add_argument("--timeout", type=float, default=10.0, help="s to wait for a reply")
    parser.add_argument("--control-every", type=int, default=1000, help="packets between controls")
    parser.add_argument("--forward", action="store_true", help="kubeadm Corefile, forwarding")
    parser.add_argument("--workers", type=int, default=1, help="the server's --workers")
    args = parser.parse_args()
    with ExitStack() as stack:
        upstream = None
        if args.forward:
            upstream = stack.enter_context(FakeUpstream())
            # the test upstream's own failures to read a mutated query are its, not ours
            logging.getLogger("asyncio").setLevel(logging.CRITICAL)
        conf = Path(tempfile.mkdtemp(prefix="fuzz-")) / "Corefile"
        conf.write_text(corefile(upstream.address if upstream is not None else None))
        server = start_server([
            "--conf", str(conf), "--snapshot", str(DEMO), "--workers", str(args.workers),
        ])  # fmt: skip
        stack.callback(stop_server, server)
        mutator = Mutator(seeds(DEMO, forwarded=args.forward), random.Random(args.seed))
        print(f"fuzzing clusterdns on {server.host} port {server.port} (pid "
              f"{server.process.pid}): {args.packets:,} packets or {args.seconds:g} s, seed "
              f"{args.seed}, {len(mutator.seeds)} seed queries", flush=True)  # fmt: skip
        totals = run(
            server, mutator, packets=args.packets, seconds=args.seconds,
            forwarded=args.forward, window=args.window, timeout=args.timeout,
            control_every=args.control_every,
            progress=_progress, progress_every=10.0,
        )  # fmt: skip
    print()
    width = max(len(label) for label, _ in totals.table())
    for label, text in totals.table():
        print(f"{label:<{width}}  {text}")
    print(
        f"{'server coredns_dns_responses_total':<{width}}  "
        + ", ".join(f"{rc} {n:,.0f}" for rc, n in sorted(totals.server_rcodes.items()))
    )
    print(
        f"{'mutations applied':<{width}}  "
        + ", ".join(f"{name} {n:,}" for name, n in mutator.used.most_common())
    )
    failures = totals.failures(args.forward)
    for kind, examples in totals.examples.items():
        print(f"\n{kind} (first {len(examples)}):")
        for example in examples:
            print(f"  {example}")
    if failures:
        print("\nthe server's last log lines:\n" + "".join(server.log[-20:]))
        print("FAILED: " + "; ".join(failures))
        return 1
    print("\nOK: every check held")
    return 0


def _progress(totals: Totals) -> None:
    rate = totals.sent / max(totals.seconds, 1e-9)
    print(f"{time.strftime('%H:%M:%S')} {totals.sent:>10,} sent ({rate:,.0f}/s), "
          f"{sum(totals.replies.values()):,} replies, {totals.no_reply:,} without, "
          f"{totals.violations} violations, server RSS {totals.rss_end_kib / 1024:.0f} MiB",
          flush=True)  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
