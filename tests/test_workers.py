"""`serve --workers N`: N processes answer on one port (SO_REUSEPORT) and stop together."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import dns.message
import dns.query
import dns.rcode

from tests.conftest import DEMO, TEST_COREFILE, ServerProcess, start_server, stop_server
from tests.test_operations import address, get, metrics, value


def children(pid: int) -> list[int]:
    return [
        int(child)
        for task in Path(f"/proc/{pid}/task").glob("*/children")
        for child in task.read_text().split()
    ]


def wait_for(condition, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def start_workers(corefile: Path, count: int) -> ServerProcess:
    server = start_server(["--conf", str(corefile), "--snapshot", str(DEMO), "--workers", str(count)])
    wait_for(lambda: sum("serving DNS on" in line for line in server.log) == count)
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
            msg = dns.message.make_query("nginx.demo.svc.cluster.local.", "A")
            send = dns.query.tcp if i % 4 == 0 else dns.query.udp
            response = send(msg, server.host, port=server.port, timeout=3)
            assert response.rcode() == dns.rcode.NOERROR
            assert [rd.to_text() for rrset in response.answer for rd in rrset] == ["10.96.12.34"]
    finally:
        stop_server(server)
    assert server.process.returncode == 0
    wait_for(lambda: all(gone(pid) for pid in workers))


def test_a_worker_that_dies_takes_the_others_down(test_corefile):
    server = start_workers(test_corefile, 2)
    try:
        first, second = children(server.process.pid)
        os.kill(first, signal.SIGKILL)
        server.process.wait(timeout=15)
    finally:
        stop_server(server)
    assert server.process.returncode == 1
    wait_for(lambda: gone(second))
    assert any("exited" in line for line in server.log)


def test_metrics_and_readiness_cover_every_worker(tmp_path):
    corefile = tmp_path / "Corefile"
    http = "    errors\n    prometheus 127.0.0.1:0\n    ready 127.0.0.1:0\n"
    corefile.write_text(TEST_COREFILE.replace("    errors\n", http))
    server = start_workers(corefile, 3)
    try:
        asked = 60
        for i in range(asked):  # a new source port each time: the kernel spreads them
            msg = dns.message.make_query(f"svc-{i}.demo.svc.cluster.local.", "A")
            assert dns.query.udp(msg, server.host, port=server.port, timeout=3).rcode() == 3
        first = metrics(server)
        requests = value(first, "coredns_dns_requests_total", proto="udp")
        assert requests == asked  # not a third of them: the first worker adds the others'
        assert value(first, "coredns_dns_responses_total", rcode="NXDOMAIN") == asked
        assert value(first, "coredns_dns_request_duration_seconds_count") == asked
        msg = dns.message.make_query("nginx.demo.svc.cluster.local.", "A")
        dns.query.udp(msg, server.host, port=server.port, timeout=3)
        assert value(metrics(server), "coredns_dns_requests_total", proto="udp") == asked + 1
        assert get(address(server, "/ready")) == (200, "OK")  # every worker has synced
    finally:
        stop_server(server)
