"""Propagation delay: from a write on the (fake) API server to the new answer over DNS.

Starts the fake API server (harness/fakeapi.py) in this process and the real `clusterdns
serve --kubeconfig` as a child on loopback, then makes N changes one at a time: each adds
an endpoint to a headless service, and the clock runs until a UDP query for the new
endpoint name answers it. The query loop polls as fast as the server answers, so the
measured delay includes one query round trip (~0.1 ms). Loopback only; no forward.

    .venv/bin/python bench/informer_propagation.py --changes 100
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import dns.message  # noqa: E402
import dns.query  # noqa: E402
import dns.rcode  # noqa: E402

from harness.fakeapi import FakeKubeAPI  # noqa: E402
from harness.server import start_server, stop_server  # noqa: E402
from harness.snapshots import endpoint, endpoint_slice, namespace, service  # noqa: E402

TARGET_P99_MS = 50.0
COREFILE = ".:53 {\n    kubernetes cluster.local {\n        ttl 5\n    }\n}\n"


def answered(host: str, port: int, name: str) -> bool:
    query = dns.message.make_query(name, "A")
    response = dns.query.udp(query, host, port=port, timeout=1)
    return response.rcode() == dns.rcode.NOERROR and bool(response.answer)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--changes", type=int, default=100, help="changes to time (default 100)")
    parser.add_argument(
        "--timeout", type=float, default=5.0, help="give up on one change after this many s"
    )
    args = parser.parse_args()

    with FakeKubeAPI(bookmark_interval=1.0) as fake, tempfile.TemporaryDirectory() as tmp:
        fake.add(namespace("bench"))
        fake.add(service("bench", "web", ["None"], [("http", "TCP", 80)]))
        endpoints = [endpoint("10.200.0.1", hostname="web-0")]
        slice_ = endpoint_slice("bench", "web", "web-abc", endpoints, [("http", "TCP", 80)])
        fake.add(slice_)
        conf = Path(tmp) / "Corefile"
        conf.write_text(COREFILE)
        kubeconfig = fake.write_kubeconfig(Path(tmp) / "kubeconfig")
        server = start_server(["--conf", str(conf), "--kubeconfig", str(kubeconfig)])
        try:
            deadline = time.monotonic() + 30
            while not answered(server.host, server.port, "web-0.web.bench.svc.cluster.local."):
                if time.monotonic() > deadline:
                    raise SystemExit("the server never synced")
            delays = []
            for i in range(1, args.changes + 1):
                endpoints = [
                    *endpoints,
                    endpoint(f"10.200.{i // 250}.{i % 250 + 2}", hostname=f"web-{i}"),
                ]
                name = f"web-{i}.web.bench.svc.cluster.local."
                started = time.perf_counter()
                fake.update({**slice_, "endpoints": endpoints})
                while not answered(server.host, server.port, name):
                    if time.perf_counter() - started > args.timeout:
                        raise SystemExit(f"change {i} did not reach DNS within {args.timeout} s")
                delays.append((time.perf_counter() - started) * 1000)
        finally:
            stop_server(server)

    delays.sort()
    p50 = statistics.median(delays)
    p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
    print(f"changes: {len(delays)}  endpoints at the end: {len(endpoints)}")
    print(
        f"write → answer  p50 {p50:.1f} ms  p99 {p99:.1f} ms  max {delays[-1]:.1f} ms  "
        f"(target p99 ≤ {TARGET_P99_MS:.0f} ms: {'met' if p99 <= TARGET_P99_MS else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
