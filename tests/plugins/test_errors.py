"""`errors`: the consolidation summary names its period as CoreDNS prints a Go duration;
`stacktrace` puts a recovered internal error's traceback in the log (the real server with a
bug on one name, and the rate-limited panic log)."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from clusterdns.config.corefile import CorefileError
from clusterdns.metrics import panics
from clusterdns.metrics.panics import PanicLog
from clusterdns.plugins.errors import ERRORS, go_duration
from clusterdns.server.directives import load_config
from harness.exploding import LAUNCHER
from harness.query import ask
from harness.server import ServerProcess, start_server, stop_server
from harness.wait import wait_for


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (0.5, "500ms"), (2, "2s"), (30, "30s"), (90, "1m30s"), (300, "5m0s"),
     (3600, "1h0m0s"), (5400.5, "1h30m0.5s")],
)
def test_go_duration(seconds, text):
    assert go_duration(seconds) == text


# --- stacktrace: a recovered internal error's log line with its traceback ------------------


def boom_server(tmp_path: Path, errors: str, other: str) -> ServerProcess:
    """The real server whose kubernetes resolver raises on `boom.` names (harness.exploding),
    and another block with `other` in it."""
    conf = tmp_path / "Corefile"
    conf.write_text(f".:53 {{\n    {errors}\n    kubernetes cluster.local\n}}\n"
                    f"example.org:53 {{\n    {other}\n    whoami\n}}\n")
    return start_server(["--conf", str(conf)], launcher=LAUNCHER)


def lines(server: ServerProcess, pattern: str) -> list[str]:
    return [line for line in list(server.log) if re.search(pattern, line)]


STACKTRACE = "errors {\n        stacktrace\n    }"


@pytest.mark.parametrize(
    ("errors", "other", "traced"),
    [("errors", "errors", False), (STACKTRACE, "errors", True), ("errors", STACKTRACE, True)],
)
def test_stacktrace_puts_the_traceback_of_a_recovered_error_in_the_log(
    tmp_path, errors, other, traced
):
    """Each SERVFAIL and go on; the line names the exception, and with stacktrace (in any
    block: for the process) its traceback follows (CoreDNS: debug.Stack() after "Recovered
    from panic")."""
    server = boom_server(tmp_path, errors, other)
    try:
        assert ask(server, "boom.demo.svc.cluster.local.") == ("SERVFAIL", set())
        wait_for(lambda: lines(server, r"ERROR .*failed inside: answered SERVFAIL: "
                                       r"RuntimeError: a bug met by one query$")
                 or lines(server, r"^RuntimeError: a bug met by one query$"),
                 what="the internal error's line")
        assert ask(server, "nginx.demo.svc.cluster.local.") == ("NOERROR", {"10.96.12.34"})
        if traced:
            wait_for(lambda: lines(server, r"^RuntimeError: a bug met by one query$"),
                     what="the traceback's last line")
        assert bool(lines(server, r"^Traceback \(most recent call last\):")) is traced
        assert bool(lines(server, r'File ".*exploding\.py", line \d+, in resolve')) is traced
    finally:
        stop_server(server)


def test_stacktrace_lines_are_rate_limited_as_the_rest(caplog):
    """With stacktrace the first BURST errors of a window carry their traceback; the rest
    are summed up in one line when the window ends, as without it."""
    log = logging.getLogger("clusterdns.test.stacktrace")
    recovered = PanicLog(log, interval=3600.0, burst=2)
    panics.stacktrace(True)
    try:
        with caplog.at_level(logging.ERROR, logger="clusterdns.test.stacktrace"):
            for _ in range(50):
                try:
                    raise ValueError("again")
                except ValueError:
                    recovered.record("failed")
            recovered.interval = 0.0
            try:
                raise ValueError("last")
            except ValueError:
                recovered.record("failed")
    finally:
        panics.stacktrace(False)
    traced = [record for record in caplog.records if record.exc_info]
    assert len(traced) == 3 and "48 more internal errors" in caplog.records[2].getMessage()
    assert all(record.getMessage() == "failed" for record in traced)


def test_without_stacktrace_the_line_names_the_exception_alone(caplog):
    log = logging.getLogger("clusterdns.test.stacktrace")
    with caplog.at_level(logging.ERROR, logger="clusterdns.test.stacktrace"):
        try:
            raise KeyError("missing")
        except KeyError:
            PanicLog(log).record("query from %s failed", "127.0.0.1")
    (record,) = caplog.records
    assert (record.getMessage(), record.exc_info) == (
        "query from 127.0.0.1 failed: KeyError: 'missing'", None)  # fmt: skip


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        ("errors {\n  stacktrace on\n }", 3, "'stacktrace' takes no arguments, got 1"),
        ("errors {\n  stacktrace {\n   x\n  }\n }", 4, "unknown stacktrace option 'x'"),
    ],
)
def test_bad_stacktrace_names_the_line(body, line, message):
    with pytest.raises(CorefileError) as failure:
        load_config(f".:53 {{\n {body}\n}}\n")
    assert (failure.value.line, failure.value.message) == (line, message)


def test_stacktrace_as_written():
    servers = load_config(".:53 {\n errors\n}\nexample.org:53 {\n errors {\n  stacktrace\n"
                          "  consolidate 5m ^x\n }\n}\n")  # fmt: skip
    assert [server.get(ERRORS).stacktrace for server in servers] == [False, True]
