"""The real server as a child process on a free loopback port, and the Corefiles for it."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO

from clusterdns.server.directives import DEFAULT_COREFILE
from harness.paths import REPO

# A Corefile for tests: no `forward`, so nothing ever leaves the machine.
TEST_COREFILE = """\
.:53 {
    errors
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        pods insecure
        ttl 30
    }
}
"""


def kubeadm_corefile(edits: dict[str, str]) -> str:
    """The built-in kubeadm Corefile with its HTTP listeners (health, ready, prometheus) on
    free loopback ports, and `edits` (text → replacement, each of which must be there)."""
    text = DEFAULT_COREFILE
    loopback = {
        "    health {": "    health 127.0.0.1:0 {",
        "    ready\n": "    ready 127.0.0.1:0\n",
        "prometheus :9153": "prometheus 127.0.0.1:0",
    }
    for old, new in (loopback | edits).items():
        assert old in text, old
        text = text.replace(old, new)
    return text


@dataclass
class ServerProcess:
    process: subprocess.Popen[str]
    host: str
    port: int
    log: list[str]


def start_server(
    args: list[str], timeout: float = 30.0, launcher: tuple[str, ...] = ("-m", "clusterdns")
) -> ServerProcess:
    """Start `clusterdns serve ARGS --listen 127.0.0.1:0` and wait for its listening line.
    `launcher`: what Python runs instead of `-m clusterdns` (a wrapper taking its arguments)."""
    cmd = [sys.executable, *launcher, "serve", "--listen", "127.0.0.1:0", *args]
    process = subprocess.Popen(
        cmd, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    log: list[str] = []
    lines: queue.Queue[str | None] = queue.Queue()
    # threads drain stderr (the server's log) and stdout (its query log, as CoreDNS writes
    # it) for the whole run, so a chatty server never blocks on a pipe; `log` holds both
    threading.Thread(target=_drain, args=(process.stderr, log, lines), daemon=True).start()
    threading.Thread(target=_drain, args=(process.stdout, log, None), daemon=True).start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            continue
        if line is None:
            break
        found = re.search(r"serving DNS on (\S+) port (\d+)", line)
        if found:
            return ServerProcess(process, found.group(1), int(found.group(2)), log)
    process.kill()
    process.wait()
    raise AssertionError("server did not start:\n" + "".join(log))


def _drain(
    stream: IO[str] | None, log: list[str], lines: queue.Queue[str | None] | None
) -> None:
    assert stream is not None
    for line in stream:
        log.append(line)
        if lines is not None:
            lines.put(line)
    if lines is not None:
        lines.put(None)


def stop_server(server: ServerProcess) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@contextmanager
def serving(args: list[str]) -> Iterator[ServerProcess]:
    """start_server for a `with` block, stopped when it ends."""
    server = start_server(args)
    try:
        yield server
    finally:
        stop_server(server)
