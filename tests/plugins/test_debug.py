"""`debug` over real sockets: DEBUG lines from the plugins while a block has it (and not after
a reload takes it away), and an internal error that ends the process with its traceback, as
an unrecovered panic ends CoreDNS, where without `debug` it is a SERVFAIL."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
from dnslib import DNSRecord

from clusterdns.config.corefile import CorefileError
from clusterdns.metrics.panics import PANIC_STATUS
from clusterdns.server.directives import load_config
from harness.exploding import LAUNCHER
from harness.query import ask
from harness.server import ServerProcess, start_server, stop_server
from harness.upstream import FakeUpstream
from harness.wait import wait_for


def closed_port() -> str:
    with FakeUpstream() as gone:
        pass
    return gone.address  # nothing listens there any more: refused at once


def logged(server: ServerProcess, pattern: str) -> list[str]:
    return [line for line in list(server.log) if re.search(pattern, line)]


def failed_forward(server: ServerProcess, name: str) -> None:
    """Ask `name`, which the forward fails, and wait for the errors plugin's line: the log
    lines the query wrote before it are in by then (one stream, in order)."""
    assert ask(server, name) == ("SERVFAIL", set())
    wait_for(lambda: logged(server, rf"ERROR .*plugin/errors: 2 {re.escape(name)} A: "),
             what=f"the errors line of {name}")


def corefile(path: Path, debug: bool) -> None:
    text = (
        ".:53 {\n" + ("    debug\n" if debug else "") + "    errors\n    local\n"
        f"    reload 2s 1s\n    forward . {closed_port()}\n}}\n"
    )
    part = path.with_suffix(".new")
    part.write_text(text)
    part.replace(path)  # whole at once, as a ConfigMap update


def test_debug_lines_while_a_block_has_debug_and_not_after_a_reload_without(tmp_path):
    conf = tmp_path / "Corefile"
    corefile(conf, debug=True)
    server = start_server(["--conf", str(conf)])  # --log-level info, the default
    try:
        failed_forward(server, "first.example.org.")
        assert logged(server, r"DEBUG clusterdns\.forward: plugin/forward: Connection refused")
        assert ask(server, "a.localhost.") == ("NOERROR", {"127.0.0.1"})
        wait_for(lambda: logged(server, r'DEBUG clusterdns\.local: plugin/local: Intercepting '
                                        r'localhost query for "a\.localhost\." A, from 127\.0\.0\.1'),
                 what="local's debug line")

        corefile(conf, debug=False)
        wait_for(lambda: len(logged(server, "Running configuration SHA512")) >= 1,
                 what="the reload")
        debug_lines = len(logged(server, " DEBUG "))
        assert ask(server, "b.localhost.") == ("NOERROR", {"127.0.0.1"})
        failed_forward(server, "second.example.org.")
        assert len(logged(server, " DEBUG ")) == debug_lines
    finally:
        stop_server(server)


def test_without_debug_an_internal_error_is_servfail_and_the_server_goes_on(tmp_path):
    conf = tmp_path / "Corefile"
    conf.write_text(".:53 {\n    kubernetes cluster.local\n}\n")
    server = start_server(["--conf", str(conf)], launcher=LAUNCHER)
    try:
        for _ in range(3):
            assert ask(server, "boom.demo.svc.cluster.local.") == ("SERVFAIL", set())
        assert ask(server, "nginx.demo.svc.cluster.local.") == ("NOERROR", {"10.96.12.34"})
        assert server.process.poll() is None
    finally:
        stop_server(server)


def test_with_debug_an_internal_error_ends_the_process_with_its_traceback(tmp_path):
    conf = tmp_path / "Corefile"
    conf.write_text(".:53 {\n    debug\n    kubernetes cluster.local\n}\n")
    server = start_server(["--conf", str(conf)], launcher=LAUNCHER)
    try:
        assert ask(server, "nginx.demo.svc.cluster.local.") == ("NOERROR", {"10.96.12.34"})
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            boom = DNSRecord.question("boom.demo.svc.cluster.local.", "A")
            sock.sendto(bytes(boom.pack()), (server.host, server.port))
        wait_for(lambda: server.process.poll() is not None, what="the process to end")
        assert server.process.returncode == PANIC_STATUS
        wait_for(lambda: logged(server, r"RuntimeError: a bug met by one query"),
                 what="the traceback in the log")
        assert logged(server, r"CRITICAL .*panic \(debug: not recovered, the process exits\): query from ")
        assert logged(server, r"^Traceback \(most recent call last\):")
    finally:
        stop_server(server)


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        ("debug on", 2, "'debug' takes no arguments, got 1"),
        ("errors\n debug {\n  pcap\n }", 4, "unknown debug option 'pcap'"),
    ],
)
def test_debug_takes_nothing(body, line, message):
    with pytest.raises(CorefileError) as failure:
        load_config(f".:53 {{\n {body}\n}}\n")
    assert (failure.value.line, failure.value.message) == (line, message)
