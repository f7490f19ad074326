"""UDP amplification: the size of each kind of query against the size of its reply.

    python -m bench.amplification [--endpoints 400]

`clusterdns serve --snapshot` on a cluster of a ClusterIP service (`web.demo`) and a
headless service of --endpoints ready endpoints (`big.demo`), with the test Corefile (no
`forward`) and with the same plus `bufsize 4096`. Each query goes over UDP without EDNS
(the 512-byte limit), with EDNS 4096 (the server's cap, 1232 bytes by default, DNS Flag
Day 2020), and over TCP for the whole answer. A table (markdown) of query bytes → reply bytes,
TC, the records in the reply and reply/query; the exit status is 1 when a UDP reply passes
the cap of its server.
"""

from __future__ import annotations

import argparse
import socket
import struct
import sys
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import dns.flags
import dns.message
import dns.rcode

from harness.query import raw_udp
from harness.server import TEST_COREFILE, ServerProcess, serving
from harness.snapshots import endpoint, endpoint_slice, namespace, service, write_snapshot

UDP_CAP = 1232  # clusterdns.dns.message.UDP_MAX_SIZE
BUFSIZE = 4096
ZONE = "svc.cluster.local."
QUESTIONS = (
    ("web.demo", "A"), ("big.demo", "A"), ("_http._tcp.big.demo", "SRV"), ("big.demo", "ANY"),
)  # fmt: skip


@dataclass(frozen=True)
class Case:
    corefile: str  # "default" or "bufsize 4096"
    transport: str  # "UDP" or "TCP"
    edns: int | None  # the query's EDNS buffer size; None: no OPT


CASES = (
    Case("default", "UDP", None),
    Case("default", "UDP", BUFSIZE),
    Case(f"bufsize {BUFSIZE}", "UDP", BUFSIZE),
    Case("default", "TCP", None),
)


def cluster(directory: Path, endpoints: int) -> Path:
    big = [endpoint(f"10.1.{i // 250}.{i % 250 + 1}") for i in range(endpoints)]
    http = [("http", "TCP", 80)]
    return write_snapshot(directory / "cluster.yaml", [
        namespace("demo"),
        service("demo", "web", ["10.96.0.10"], http),
        endpoint_slice("demo", "web", "web-1", [endpoint("10.244.0.10")], http),
        service("demo", "big", ["None"], http),
        endpoint_slice("demo", "big", "big-1", big, http),
    ])  # fmt: skip


def exchange_tcp(server: ServerProcess, wire: bytes) -> bytes:
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(struct.pack("!H", len(wire)) + wire)
        stream = sock.makefile("rb")
        (length,) = struct.unpack("!H", stream.read(2))
        return stream.read(length)


def measure(server: ServerProcess, name: str, qtype: str, case: Case) -> list[str]:
    """The table's cells for one query: query and reply bytes, rcode, TC, records (answer
    and additional), reply/query."""
    if case.edns is None:
        query = dns.message.make_query(f"{name}.{ZONE}", qtype)
    else:
        query = dns.message.make_query(f"{name}.{ZONE}", qtype, use_edns=0, payload=case.edns)
    wire = query.to_wire()
    reply = raw_udp(server, wire) if case.transport == "UDP" else exchange_tcp(server, wire)
    assert reply is not None, f"no reply to {name} {qtype} ({case})"
    message = dns.message.from_wire(reply)
    records = sum(len(rrset) for rrset in (*message.answer, *message.additional))
    truncated = "TC" if message.flags & dns.flags.TC else ""
    rcode = dns.rcode.to_text(message.rcode())
    return [str(len(wire)), str(len(reply)), rcode, truncated, str(records),
            f"{len(reply) / len(wire):.1f}"]  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--endpoints", type=int, default=400, help="of the headless service")
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="clusterdns-amplification-"))
    snapshot = cluster(directory, args.endpoints)
    corefiles = {
        "default": TEST_COREFILE,
        f"bufsize {BUFSIZE}": TEST_COREFILE.replace(
            "    errors\n", f"    errors\n    bufsize {BUFSIZE}\n"
        ),
    }
    rows = []
    over_cap = 0
    with ExitStack() as stack:
        servers = {}
        for corefile, text in corefiles.items():
            conf = directory / f"{corefile.replace(' ', '-')}.Corefile"
            conf.write_text(text)
            serve = ["--conf", str(conf), "--snapshot", str(snapshot)]
            servers[corefile] = stack.enter_context(serving(serve))
        for name, qtype in QUESTIONS:
            for case in CASES:
                cells = measure(servers[case.corefile], name, qtype, case)
                cap = UDP_CAP if case.corefile == "default" else BUFSIZE
                over_cap += case.transport == "UDP" and int(cells[1]) > cap
                edns = "no" if case.edns is None else str(case.edns)
                rows.append([f"{name} {qtype}", case.corefile, case.transport, edns, *cells])
    print(f"web.demo: a ClusterIP service; big.demo: headless, {args.endpoints} endpoints\n")
    print("| query | Corefile | transport | EDNS | query B | reply B | rcode | TC | records | × |")
    print("|---|---|---|---:|---:|---:|---|---|---:|---:|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    if over_cap:
        print(f"\nFAILED: {over_cap} UDP replies over their server's cap")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
