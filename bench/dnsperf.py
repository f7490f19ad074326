"""Run dnsperf against a server and read back QPS, latency percentiles and CPU use."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.servers import Server, machine_busy_seconds, pinned


@dataclass(frozen=True)
class Load:
    """How dnsperf sends: `qps=None` is as fast as answers come back (saturation) with at
    most `outstanding` queries in flight."""

    seconds: float
    qps: int | None = None
    passes: int | None = None  # stop after going through the query file this many times
    clients: int = 32  # source ports: SO_REUSEPORT spreads workers' load by them
    outstanding: int = 64
    edns: bool = False


@dataclass(frozen=True)
class Result:
    qps: float
    sent: int
    lost: int
    p50_ms: float
    p99_ms: float
    rcodes: str
    server_cpu: float  # CPU seconds the server used per wall second (1.0 = one core busy)
    loader_cpu: float  # the same for dnsperf
    other_cpu: float  # the same for everything else on the machine (noise)


def run_dnsperf(server: Server, queries: Path, load: Load, cores: str) -> Result:
    cmd = [
        "dnsperf", "-s", "127.0.0.1", "-p", str(server.port), "-d", str(queries),
        "-l", str(load.seconds), "-c", str(load.clients), "-q", str(load.outstanding),
        "-t", "2", "-v",
    ]
    if load.qps is not None:
        cmd += ["-Q", str(load.qps)]
    if load.passes is not None:
        cmd += ["-n", str(load.passes)]
    if load.edns:
        cmd += ["-e"]
    output = queries.with_suffix(".dnsperf.log")
    server_before, machine_before = server.cpu_seconds(), machine_busy_seconds()
    with output.open("w") as out:  # to a file: parsing as it runs would steal CPU
        process = subprocess.Popen(pinned(cores, cmd), stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)  # its rusage: dnsperf's own CPU time
        process.returncode = os.waitstatus_to_exitcode(status)
    latencies: list[float] = []
    summary: list[str] = []
    with output.open() as lines:
        for line in lines:
            if line.startswith("> "):
                latencies.append(float(line.rsplit(" ", 1)[1]))
            else:
                summary.append(line)
    text = "".join(summary)
    if process.returncode != 0:
        raise RuntimeError(f"dnsperf failed ({process.returncode}):\n{text}")
    loader_cpu = usage.ru_utime + usage.ru_stime
    server_cpu = server.cpu_seconds() - server_before
    machine_cpu = machine_busy_seconds() - machine_before
    run_time = _number(text, r"Run time \(s\):\s+([\d.]+)")
    latencies.sort()
    return Result(
        qps=_number(text, r"Queries per second:\s+([\d.]+)"),
        sent=int(_number(text, r"Queries sent:\s+(\d+)")),
        lost=int(_number(text, r"Queries lost:\s+(\d+)")),
        p50_ms=_percentile(latencies, 0.50) * 1000,
        p99_ms=_percentile(latencies, 0.99) * 1000,
        rcodes=_match(text, r"Response codes:\s+(.*)"),
        server_cpu=server_cpu / run_time,
        loader_cpu=loader_cpu / run_time,
        other_cpu=max(0.0, machine_cpu - server_cpu - loader_cpu) / run_time,
    )


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(fraction * len(values)))]


def _match(text: str, pattern: str) -> str:
    found = re.search(pattern, text)
    if found is None:
        raise RuntimeError(f"dnsperf output lacks {pattern!r}:\n{text}")
    return found.group(1)


def _number(text: str, pattern: str) -> float:
    return float(_match(text, pattern))
