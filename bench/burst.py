"""What a server answers per second with every core to itself: queued queries, drained.

    python -m bench.burst [--rounds 3] [--bursts 3] [--queries 80000] [--workdir DIR]   (root)

On a 2-core machine a load generator takes a core, so `--workers 2` never gets two free
ones in bench/run.py. Here no client runs while the server works: the
server's processes are stopped (SIGSTOP), the mixed load's queries are queued in its UDP
sockets from 256 client sockets (SO_REUSEPORT spreads them over workers by source port),
then the server continues and the time until its sockets are empty is measured. QPS =
queries / that time. Each server is sent the same burst once first, so it is measured warm,
then --bursts times; the table gives medians over every burst of every round.

The same is done for Knot DNS (`udp-workers` 1 and 2): its one-core figure is the C
reference per core, free of any client's limit; 2 cores / 1 core is the scaling.

Queuing 80,000 queries needs socket buffers far above net.core.rmem_max: this script
enlarges the servers' sockets from outside (pidfd_getfd(2) and SO_RCVBUFFORCE), which
needs root, as does the `nice` the servers run at. Linux only; loopback only.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import random
import signal
import socket
import statistics
import struct
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from dnslib import DNSRecord

from bench import servers
from bench.cluster import write_cluster
from bench.queries import mixed

CLIENTS = 256
BUFFER = 1 << 30  # bytes asked for each socket; the kernel caps it at INT_MAX / 2
POLL = 0.001  # seconds between looks at the server's queues
PIDFD_GETFD = 438  # the syscall's number (the same on every Linux architecture)
SO_RCVBUFFORCE, SO_MEMINFO = 33, 55  # Linux's values; Python's socket lacks them

Starter = Callable[[], AbstractContextManager[servers.Server]]


def udp_inodes(port: int) -> set[int]:
    """The inodes of the UDP sockets bound to `port` on 127.0.0.1."""
    lines = Path("/proc/net/udp").read_text().splitlines()[1:]
    return {int(f[9]) for f in map(str.split, lines) if f[1] == f"0100007F:{port:04X}"}


def server_sockets(server: servers.Server) -> list[socket.socket]:
    """Duplicates of the server's UDP sockets (pidfd_getfd), each given a BUFFER-sized
    receive buffer: through them this script reads the server's queues."""
    syscall = ctypes.CDLL(None, use_errno=True).syscall
    wanted = {f"socket:[{inode}]" for inode in udp_inodes(server.port)}
    found: dict[str, socket.socket] = {}
    for pid in servers.process_tree(server.process.pid):
        with contextlib.suppress(OSError):
            fds = os.listdir(f"/proc/{pid}/fd")
            pidfd = os.pidfd_open(pid)
            try:
                for fd in fds:
                    with contextlib.suppress(OSError):
                        target = os.readlink(f"/proc/{pid}/fd/{fd}")
                        if target not in wanted or target in found:
                            continue
                        copy = syscall(PIDFD_GETFD, pidfd, int(fd), 0)
                        if copy < 0:
                            raise OSError(ctypes.get_errno(), "pidfd_getfd")
                        found[target] = socket.socket(fileno=copy)
                        found[target].setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, BUFFER)
            finally:
                os.close(pidfd)
    return list(found.values())


def queued(sock: socket.socket) -> tuple[int, int]:
    """Bytes waiting in the socket's receive queue and datagrams it dropped (SO_MEMINFO)."""
    info = struct.unpack("9I", sock.getsockopt(socket.SOL_SOCKET, SO_MEMINFO, 36))
    return info[0], info[8]


@dataclass(frozen=True)
class Drain:
    seconds: float  # from SIGCONT until the server's sockets were empty
    replies: int
    shares: list[int]  # about how many queries each of the server's sockets got
    server_cpu: float  # cores the server kept busy meanwhile
    other_cpu: float  # cores everything else on the machine kept busy (noise)


def burst(
    server: servers.Server,
    sockets: list[socket.socket],
    queries: list[bytes],
    clients: list[socket.socket],
) -> Drain:
    """Queue `queries` while the server is stopped, then let it drain them."""
    pids = servers.process_tree(server.process.pid)
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        drops_before = sum(queued(sock)[1] for sock in sockets)
        address = ("127.0.0.1", server.port)
        for i, data in enumerate(queries):
            clients[i % len(clients)].sendto(data, address)
        filled = [queued(sock) for sock in sockets]
        dropped = sum(drops for _, drops in filled) - drops_before
        if dropped:
            raise RuntimeError(f"{dropped} queries dropped while queuing: buffers too small")
    finally:
        server_before, machine_before = server.cpu_seconds(), servers.machine_busy_seconds()
        started = time.perf_counter()
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    while any(queued(sock)[0] for sock in sockets):
        time.sleep(POLL)
    seconds = time.perf_counter() - started
    server_cpu = server.cpu_seconds() - server_before
    other_cpu = servers.machine_busy_seconds() - machine_before - server_cpu
    time.sleep(0.2)  # the last batch's replies
    replies = 0
    for client in clients:
        with contextlib.suppress(BlockingIOError):
            while client.recv(65535):
                replies += 1
    total = sum(size for size, _ in filled) or 1
    shares = sorted(round(len(queries) * size / total) for size, _ in filled)
    return Drain(seconds, replies, shares, server_cpu / seconds, max(other_cpu, 0) / seconds)


def client_sockets() -> list[socket.socket]:
    clients = []
    for _ in range(CLIENTS):
        client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        client.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, BUFFER // 64)
        client.bind(("127.0.0.1", 0))
        client.setblocking(False)
        clients.append(client)
    return clients


def encoded(lines: list[str], count: int) -> list[bytes]:
    rng = random.Random(7)
    queries = []
    for line in lines[:count]:
        name, qtype = line.split()
        query = DNSRecord.question(name, qtype)
        query.header.id = rng.randrange(65536)
        queries.append(bytes(query.pack()))
    return queries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--queries", type=int, default=80_000, help="queries per burst")
    parser.add_argument("--bursts", type=int, default=3, help="measured bursts per server start")
    parser.add_argument("--workdir", type=Path, help="keep inputs and logs here")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench.burst: needs root (socket buffers beyond rmem_max, nice)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop the servers on the way out
    os.sched_setaffinity(0, {1})  # off the one-core servers' core
    with contextlib.ExitStack() as stack:
        workdir = args.workdir or Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="clusterdns-burst-"))
        )
        workdir.mkdir(parents=True, exist_ok=True)
        cluster = write_cluster(workdir)
        queries = encoded(mixed(cluster, lookups=50_000).lines, args.queries)
        starters: dict[str, Starter] = {
            "knot, 1 core": lambda: servers.knot(cluster, workdir, "0"),
            "clusterdns, 1 core": lambda: servers.clusterdns(cluster, workdir, "0"),
            "knot udp-workers 2, 2 cores": lambda: servers.knot(cluster, workdir, "0,1", 2),
            "clusterdns --workers 2, 2 cores": lambda: servers.clusterdns(
                cluster, workdir, "0,1", ("--workers", "2")
            ),
        }
        results: dict[str, list[float]] = {name: [] for name in starters}
        for index in range(args.rounds):
            order = list(starters) if index % 2 == 0 else list(reversed(starters))
            for name in order:
                for qps in measure(starters[name], queries, args.bursts, name, index):
                    results[name].append(qps)
        print()
        print(table(results))


def measure(
    start: Starter, queries: list[bytes], bursts: int, name: str, index: int
) -> Iterator[float]:
    """Start the server, warm it with one burst, then QPS of `bursts` more."""
    with start() as server:
        if name.startswith("clusterdns --workers"):
            _wait_for_workers(server)
        sockets, clients = server_sockets(server), client_sockets()
        try:
            burst(server, sockets, queries, clients)  # warm: every question, every worker
            for _ in range(bursts):
                drain = burst(server, sockets, queries, clients)
                qps = len(queries) / drain.seconds
                print(
                    f"round {index} | {name:32} | {qps:9.0f} QPS | {drain.seconds:6.3f} s | "
                    f"replies {drain.replies}/{len(queries)} | per socket {drain.shares} | "
                    f"cpu server {drain.server_cpu:.2f} other {drain.other_cpu:.2f}",
                    flush=True,
                )
                yield qps
        finally:
            for each in [*sockets, *clients]:
                each.close()


def _wait_for_workers(server: servers.Server, timeout: float = 60) -> None:
    """Until both workers' sockets are bound (the first may answer before the second)."""
    deadline = time.monotonic() + timeout
    while len(udp_inodes(server.port)) < 2:
        if time.monotonic() > deadline:
            raise RuntimeError("the second worker did not bind")
        time.sleep(0.1)


def table(results: dict[str, list[float]]) -> str:
    """Medians; clusterdns against Knot on the same cores, and 2 cores against 1."""
    median = {name: statistics.median(runs) for name, runs in results.items() if runs}
    rows = [
        "| server | QPS (median) | runs | ×knot, same cores | ×1 core, same server |",
        "|---|---:|---|---:|---:|",
    ]
    for name, runs in results.items():
        if not runs:
            continue
        server, cores = name.split(" ")[0].rstrip(","), name.rsplit(", ", 1)[1]
        knot = next((q for n, q in median.items() if n.startswith("knot") and cores in n), 0)
        one = median.get(f"{server}, 1 core", 0)
        shown = ", ".join(f"{qps:.0f}" for qps in runs)
        against_knot = f"{median[name] / knot:.2f}" if knot and server != "knot" else ""
        scaling = f"{median[name] / one:.2f}" if one else ""
        rows.append(f"| {name} | {median[name]:.0f} | {shown} | {against_knot} | {scaling} |")
    return "\n".join(rows)


if __name__ == "__main__":
    main()
