"""`log` over real sockets: the names and reply classes it logs, and its formats."""

from __future__ import annotations

import re

import dns.exception
import dns.message
import dns.query
import pytest

from harness.paths import DEMO
from harness.query import ask, query
from harness.server import start_server, stop_server
from harness.wait import wait_for


def serve(tmp_path, log: str):
    corefile = tmp_path / "Corefile"
    corefile.write_text(f".:53 {{\n    {log}\n    kubernetes cluster.local\n}}\n")
    return start_server(["--conf", str(corefile), "--snapshot", str(DEMO)])


def logged(server) -> list[str]:
    return [line.removeprefix("[INFO] ").strip()
            for line in server.log if line.startswith("[INFO] ")]


def test_class_denial_logs_nxdomain_and_nodata_only(tmp_path):
    # Talos and MicroK8s ship `log . { class error }`; denial is the class one sees here
    server = serve(tmp_path, "log . {\n        class denial\n    }")
    try:
        assert ask(server, "nginx.demo.svc.cluster.local.")[0] == "NOERROR"  # success
        assert ask(server, "nope.demo.svc.cluster.local.")[0] == "NXDOMAIN"
        assert ask(server, "nginx.demo.svc.cluster.local.", "TXT")[0] == "NOERROR"  # NODATA
        assert ask(server, "nginx.demo.svc.cluster.local.")[0] == "NOERROR"  # a cached success
        lines = wait_for(lambda: len(logged(server)) >= 2 and logged(server),
                         what="the two denials logged")
        assert [line.split('"')[1].split()[:3] for line in lines] == [
            ["A", "IN", "nope.demo.svc.cluster.local."],
            ["TXT", "IN", "nginx.demo.svc.cluster.local."],
        ]
    finally:
        stop_server(server)


def test_a_format_and_a_zone(tmp_path):
    server = serve(tmp_path, 'log demo.svc.cluster.local "{type} {name} {rcode} {>rflags}"')
    try:
        ask(server, "kubernetes.default.svc.cluster.local.")  # outside the logged zone
        ask(server, "nginx.demo.svc.cluster.local.")
        lines = wait_for(lambda: logged(server), what="the logged query")
        assert lines == ["A nginx.demo.svc.cluster.local. NOERROR qr,aa,rd"]
    finally:
        stop_server(server)


def test_the_default_line_is_coredns_s_byte_for_byte_on_stdout(tmp_path):
    server = serve(tmp_path, "log")
    try:
        ask(server, "nginx.demo.svc.cluster.local.")
        (line,) = wait_for(lambda: [x for x in server.log if x.startswith("[INFO] ")],
                           what="the query's log line")
        assert re.fullmatch(
            r'\[INFO\] 127\.0\.0\.1:\d+ - \d+ "A IN nginx\.demo\.svc\.cluster\.local\. udp \d+ '
            r'false 512" NOERROR qr,aa,rd \d+ \d+(\.\d+)?s\n', line
        ), line
    finally:
        stop_server(server)


def test_a_query_acl_drops_is_logged_as_coredns_logs_it(tmp_path):
    """CoreDNS's log records no message for a dropped query: class error (Typify of none),
    `-` for its rcode and flags, 0 bytes; `{combined}` adds the opcode as a number."""
    server = serve(tmp_path, "log . {combined} {\n        class error\n    }\n"
                             "    acl {\n        drop net 127.0.0.3\n    }")
    try:
        asked = dns.message.make_query("nginx.demo.svc.cluster.local.", "A")
        assert ask(server, "nginx.demo.svc.cluster.local.")[0] == "NOERROR"  # success: not logged
        with pytest.raises(dns.exception.Timeout):
            dns.query.udp(asked, server.host, port=server.port, timeout=0.5, source="127.0.0.3")
        (line,) = wait_for(lambda: [x for x in server.log if x.startswith("[INFO] ")],
                           what="the dropped query's log line")
        assert re.fullmatch(
            rf'\[INFO\] 127\.0\.0\.3:\d+ - {asked.id} "A IN nginx\.demo\.svc\.cluster\.local\. '
            rf'udp {len(asked.to_wire())} false 512" - - 0 \d+(\.\d+)?s "0"\n', line
        ), line
    finally:
        stop_server(server)


def test_class_denial_does_not_log_a_dropped_query(tmp_path):
    server = serve(tmp_path, "log . {\n        class denial\n    }\n"
                             "    acl {\n        drop net 127.0.0.3\n    }")
    try:
        with pytest.raises(dns.exception.Timeout):
            query(server, "nope.demo.svc.cluster.local.", source="127.0.0.3", timeout=0.5)
        assert ask(server, "nope.demo.svc.cluster.local.")[0] == "NXDOMAIN"
        (line,) = wait_for(lambda: logged(server), what="the denial's log line")
        assert line.startswith("127.0.0.1:")
    finally:
        stop_server(server)
