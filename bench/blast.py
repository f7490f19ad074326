"""Build blast (bench/blast.c, a batched UDP load generator) and run it against a server:
QPS, latency percentiles, reply codes and the CPU each side used."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Callable, Iterator
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
    with blasting(binary, server, queries, load, cores) as result:
        return result()


@contextlib.contextmanager
def blasting(
    binary: Path, server: Server, queries: Path, load: Load, cores: str
) -> Iterator[Callable[[], Result]]:
    """blast sending `load` in the background, the block entered once its warm-up is over;
    the function given waits for blast to end (it stops by itself after `load.seconds`) and
    reads its Result. Killed (by its PID) if the block is left before."""
    cmd = pinned(cores, [str(binary), *load.flags(), str(server.port), str(queries)])
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stderr is not None
    stdout, stderr = process.stdout, process.stderr
    try:
        marker = stdout.readline()  # the counted part starts
        server_before, machine_before = server.cpu_seconds(), machine_busy_seconds()
        started = time.monotonic()

        def result() -> Result:
            process.wait(timeout=max(0.0, started + load.seconds - time.monotonic()) + 30)
            out, err = stdout.read(), stderr.read()  # err: nice's, when not root
            wall = time.monotonic() - started
            server_cpu = server.cpu_seconds() - server_before
            machine_cpu = machine_busy_seconds() - machine_before
            if process.returncode != 0 or marker != "measuring\n":
                raise RuntimeError(f"blast failed ({process.returncode}): {marker}{out}{err}")
            return _result(out, wall, server_cpu, machine_cpu)

        yield result
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        stdout.close()
        stderr.close()


def _result(out: str, wall: float, server_cpu: float, machine_cpu: float) -> Result:
    """blast's closing line (and the CPU seconds the server and the machine used meanwhile)."""
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
