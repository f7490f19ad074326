"""Build blast (bench/blast.c, a batched UDP load generator) and run it against a server:
QPS, latency percentiles, reply codes and the CPU each side used."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from bench.servers import Server, machine_busy_seconds, pinned

SOURCE = Path(__file__).with_name("blast.c")


def build(directory: Path) -> Path:
    """Compile blast into `directory` with gcc (Debian's, from `make bench-deps`)."""
    binary = directory / "blast"
    subprocess.run(["gcc", "-O2", "-Wall", "-o", str(binary), str(SOURCE)], check=True)
    return binary


@dataclass(frozen=True)
class Load:
    """How blast sends: as fast as replies come back with `window` queries outstanding, or
    `qps` a second on schedule. `once`: each query of the file once (a first pass), for at
    most `seconds`."""

    seconds: float
    warm_up: float = 0.0  # sent first, not counted
    qps: int | None = None
    once: bool = False
    window: int = 128  # the servers' default socket buffers (208 KiB) hold it: none dropped

    def flags(self) -> list[str]:
        flags = ["-s", str(self.seconds), "-w", str(self.warm_up), "-o", str(self.window)]
        if self.qps is not None:
            flags += ["-r", str(self.qps)]
        if self.once:
            flags.append("-1")
        return flags


@dataclass(frozen=True)
class Result:
    qps: float
    seconds: float
    sent: int
    received: int
    lost: int  # unanswered for a second
    p50_ms: float
    p99_ms: float
    nxdomain: int
    answered: int  # NOERROR with records
    nodata: int  # NOERROR without
    other_rcodes: int
    server_cpu: float  # CPU seconds the server used per wall second (1.0 = one core busy)
    loader_cpu: float  # the same for blast
    other_cpu: float  # the same for everything else on the machine (noise)

    @property
    def per_core(self) -> float:
        """QPS per CPU-second of the server."""
        return self.qps / max(self.server_cpu, 0.01)

    def answers(self) -> str:
        """Shares of NXDOMAIN / NOERROR with records / NODATA (/ other rcodes), in %."""
        shares = [self.nxdomain, self.answered, self.nodata]
        if self.other_rcodes:
            shares.append(self.other_rcodes)
        return "/".join(f"{100 * n / max(self.received, 1):.0f}" for n in shares)


def run_blast(binary: Path, server: Server, queries: Path, load: Load, cores: str) -> Result:
    cmd = pinned(cores, [str(binary), *load.flags(), str(server.port), str(queries)])
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stderr is not None
    try:
        marker = process.stdout.readline()  # the counted part starts
        server_before, machine_before = server.cpu_seconds(), machine_busy_seconds()
        started = time.monotonic()
        process.wait(timeout=load.warm_up + load.seconds + 30)  # blast stops by itself
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    out, err = process.stdout.read(), process.stderr.read()  # err: nice's, when not root
    wall = time.monotonic() - started
    server_cpu = server.cpu_seconds() - server_before
    machine_cpu = machine_busy_seconds() - machine_before
    if process.returncode != 0 or marker != "measuring\n":
        raise RuntimeError(f"blast failed ({process.returncode}): {marker}{out}{err}")
    counts = {key: float(value) for key, value in (f.split("=") for f in out.split())}
    received = int(counts["recv"])
    return Result(
        qps=counts["qps"],
        seconds=counts["seconds"],
        sent=int(counts["sent"]),
        received=received,
        lost=int(counts["lost"]),
        p50_ms=counts["p50_us"] / 1000,
        p99_ms=counts["p99_us"] / 1000,
        nxdomain=int(counts["nxdomain"]),
        answered=int(counts["answered"]),
        nodata=int(counts["noerror"] - counts["answered"]),
        other_rcodes=int(counts["other"]),
        server_cpu=server_cpu / wall,
        loader_cpu=counts["cpu"] / wall,
        other_cpu=max(0.0, machine_cpu - server_cpu - counts["cpu"]) / wall,
    )
