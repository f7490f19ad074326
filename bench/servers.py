"""Start the servers under test on loopback, each pinned to CPU cores, and account their CPU."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from dnslib import DNSRecord

from bench.cluster import Cluster

REPO = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

KNOT_CONF = """\
server:
    rundir: "{dir}"
    listen: 127.0.0.1@{port}
    udp-workers: {workers}
    tcp-workers: 1
    background-workers: 1
database:
    storage: "{dir}/db"
template:
  - id: default
    storage: "{dir}"
    zonefile-sync: -1
    journal-content: none
log:
  - target: stderr
    any: warning
zone:
  - domain: cluster.local
    file: "{zone}"
"""


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes] | subprocess.Popen[str]
    port: int

    def cpu_seconds(self) -> float:
        """CPU time of the server's process and its children (worker processes) so far."""
        return sum(process_cpu(pid) for pid in process_tree(self.process.pid))


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            with socket.socket() as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port


NICE = "-15"  # ahead of whatever else runs on this machine, the same for every server


def pinned(cores: str, cmd: list[str]) -> list[str]:
    return ["taskset", "-c", cores, "nice", "-n", NICE, *cmd]


@contextlib.contextmanager
def knot(cluster: Cluster, workdir: Path, cores: str, workers: int = 1) -> Iterator[Server]:
    """Knot DNS serving the dumped zone: the C reference."""
    run = workdir / "knot"
    run.mkdir(exist_ok=True)
    port = free_port()
    conf = run / "knot.conf"
    conf.write_text(
        KNOT_CONF.format(dir=run, port=port, workers=workers, zone=cluster.zone_file.resolve())
    )
    with _running("knot", pinned(cores, ["knotd", "-c", str(conf)]), port, run) as server:
        yield server


@contextlib.contextmanager
def clusterdns(
    cluster: Cluster, workdir: Path, cores: str, extra: tuple[str, ...] = ()
) -> Iterator[Server]:
    """`clusterdns serve` on the benchmark snapshot; `extra` adds flags (e.g. --workers)."""
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "clusterdns",
        "serve",
        "--conf",
        str(cluster.corefile),
        "--snapshot",
        str(cluster.snapshot),
        "--listen",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        *extra,
    ]
    with _running("clusterdns", pinned(cores, cmd), port, workdir) as server:
        yield server


@contextlib.contextmanager
def null_server(workdir: Path, cores: str) -> Iterator[Server]:
    """clusterdns's UDP listener with a handler that does nothing (bench/null_server.py)."""
    port = free_port()
    cmd = [sys.executable, "-m", "bench.null_server", str(port)]
    with _running("null-server", pinned(cores, cmd), port, workdir) as server:
        yield server


@contextlib.contextmanager
def churning_clusterdns(
    cluster: Cluster, workdir: Path, cores: str, interval: float
) -> Iterator[Server]:
    """clusterdns whose index changes every `interval` seconds (bench/churn.py)."""
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "bench.churn",
        str(cluster.corefile),
        str(cluster.snapshot),
        f"127.0.0.1:{port}",
        str(interval),
    ]
    with _running("clusterdns+churn", pinned(cores, cmd), port, workdir) as server:
        yield server


@contextlib.contextmanager
def _running(name: str, cmd: list[str], port: int, workdir: Path) -> Iterator[Server]:
    log = (workdir / f"{name}.log").open("ab")
    process = subprocess.Popen(cmd, stdout=log, stderr=log, cwd=REPO)
    try:
        _wait_answering(process, port)
        yield Server(name, process, port)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_answering(process: subprocess.Popen[bytes], port: int, timeout: float = 60) -> None:
    probe = DNSRecord.question("cluster.local", "SOA")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        try:
            probe.send("127.0.0.1", port, timeout=0.5)
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{process.args!r} did not answer on port {port}")


def process_tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                todo += [int(child) for child in task.read_text().split()]
    return pids


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of one process (all its threads)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_busy_seconds() -> float:
    """CPU seconds spent by the whole machine (every core, not idle) so far."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / CLOCK_TICKS
