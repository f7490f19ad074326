"""`serve --workers N`: N processes answer on one port (SO_REUSEPORT) and stop together."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import dns.rcode

from harness.http import Samples, address, get, metrics, value
from harness.paths import DEMO
from harness.query import query, rdatas
from harness.server import TEST_COREFILE, ServerProcess, start_server, stop_server
from harness.wait import wait_for


def children(pid: int) -> list[int]:
    return [
        int(child)
        for task in Path(f"/proc/{pid}/task").glob("*/children")
        for child in task.read_text().split()
    ]


def start_workers(corefile: Path, count: int) -> ServerProcess:
    server = start_server(["--conf", str(corefile), "--snapshot", str(DEMO), "--workers", str(count)])
    wait_for(lambda: sum("serving DNS on" in line for line in server.log) == count,
             what=f"{count} workers to listen")
    return server


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_workers_share_the_port_and_stop_together(test_corefile):
    server = start_workers(test_corefile, 2)
    try:
        workers = children(server.process.pid)
        assert len(workers) == 2
        for i in range(20):  # a new source port each time: the kernel spreads them
            response = query(server, "nginx.demo.svc.cluster.local.", tcp=i % 4 == 0)
            assert response.rcode() == dns.rcode.NOERROR
            assert [rd.to_text() for rrset in response.answer for rd in rrset] == ["10.96.12.34"]
    finally:
        stop_server(server)
    assert server.process.returncode == 0
    wait_for(lambda: all(gone(pid) for pid in workers), what="every worker to exit")


def test_a_worker_that_dies_takes_the_others_down(test_corefile):
    server = start_workers(test_corefile, 2)
    try:
        first, second = children(server.process.pid)
        os.kill(first, signal.SIGKILL)
        server.process.wait(timeout=30)  # generous: only a failure waits
    finally:
        stop_server(server)
    assert server.process.returncode == 1
    wait_for(lambda: gone(second), what="the other worker to exit")
    assert any("exited" in line for line in server.log)


def every_worker_counted(server: ServerProcess, requests: int) -> Samples:
    """A scrape whose UDP request count is `requests`; none may count more."""

    def scrape() -> Samples | None:
        samples = metrics(server)
        counted = value(samples, "coredns_dns_requests_total", proto="udp")
        assert counted <= requests
        return samples if counted == requests else None

    return wait_for(scrape, what=f"a scrape that counts all {requests} requests")


def test_metrics_and_readiness_cover_every_worker(tmp_path):
    corefile = tmp_path / "Corefile"
    http = "    errors\n    prometheus 127.0.0.1:0\n    ready 127.0.0.1:0\n"
    corefile.write_text(TEST_COREFILE.replace("    errors\n", http))
    server = start_workers(corefile, 3)
    try:
        asked = 60
        for i in range(asked):  # a new source port each time: the kernel spreads them
            reply = query(server, f"svc-{i}.demo.svc.cluster.local.")
            assert reply.rcode() == dns.rcode.NXDOMAIN
        # not a third of them: the first worker adds the others' (a scrape skips a worker
        # late to report on a loaded machine, so ask until one has them all; never more)
        first = every_worker_counted(server, asked)
        assert value(first, "coredns_dns_responses_total", rcode="NXDOMAIN") == asked
        assert value(first, "coredns_dns_request_duration_seconds_count") == asked
        assert rdatas(query(server, "nginx.demo.svc.cluster.local.")) == {"10.96.12.34"}
        every_worker_counted(server, asked + 1)
        ready = address(server, "/ready")  # 200 only once every worker says it has synced
        wait_for(lambda: get(ready) == (200, "OK"), what="/ready to cover every worker")
    finally:
        stop_server(server)
