"""Shared fixtures: states built from snapshot YAML, resolvers, and a real server process."""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "zones" / "demo-cluster.yaml"

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


@dataclass
class ServerProcess:
    process: subprocess.Popen[str]
    host: str
    port: int
    log: list[str]


def start_server(args: list[str], timeout: float = 15.0) -> ServerProcess:
    """Start `clusterdns serve ARGS --listen 127.0.0.1:0` and wait for its listening line."""
    cmd = [sys.executable, "-m", "clusterdns", "serve", "--listen", "127.0.0.1:0", *args]
    process = subprocess.Popen(
        cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stderr is not None
    log: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stderr], [], [], 0.2)
        if ready:
            line = process.stderr.readline()
            if not line and process.poll() is not None:
                break
            log.append(line)
            found = re.search(r"serving DNS on (\S+) port (\d+)", line)
            if found:
                return ServerProcess(process, found.group(1), int(found.group(2)), log)
        elif process.poll() is not None:
            break
    process.kill()
    raise AssertionError("server did not start:\n" + "".join(log))


def stop_server(server: ServerProcess) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture(scope="session")
def test_corefile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("conf") / "Corefile"
    path.write_text(TEST_COREFILE)
    return path


@pytest.fixture(scope="session")
def demo_server(test_corefile: Path) -> Iterator[ServerProcess]:
    """The real server on the demo cluster, on a free loopback port."""
    server = start_server(["--conf", str(test_corefile), "--snapshot", str(DEMO)])
    yield server
    stop_server(server)
