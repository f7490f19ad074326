"""`reload` over real sockets: a change to a file the Corefile imports is applied too."""

from __future__ import annotations

import socket

from dnslib import QTYPE

from harness.query import query
from harness.server import start_server, stop_server
from harness.upstream import FakeUpstream
from harness.wait import wait_for

NAME = "nginx.demo.svc.cluster.local."


def replace(path, text: str) -> None:
    """Write `path` whole at once, as a ConfigMap update does (the watcher never reads half)."""
    part = path.with_suffix(".new")
    part.write_text(text)
    part.replace(path)


def ttl(server) -> int:
    (rrset,) = query(server, NAME).answer
    return rrset.ttl


def test_a_changed_imported_file_is_reloaded(tmp_path):
    options = tmp_path / "conf.d" / "kubernetes.conf"
    options.parent.mkdir()
    options.write_text("ttl 30\n")
    corefile = tmp_path / "Corefile"
    corefile.write_text(
        ".:53 {\n    reload 2s 1s\n    kubernetes cluster.local {\n"
        "        import conf.d/*.conf\n    }\n}\n"
    )
    server = start_server(["--conf", str(corefile)])
    try:
        assert ttl(server) == 30
        replace(options, "ttl 7\n")  # the Corefile itself is unchanged
        wait_for(lambda: ttl(server) == 7, what="the imported ttl applied by reload")
    finally:
        stop_server(server)


def test_a_reload_that_cannot_listen_keeps_the_running_listeners(tmp_path):
    """The new Corefile adds a server block on a port another socket holds: the reload
    fails, says why, and what was serving keeps serving (nothing half-switched)."""
    corefile = tmp_path / "Corefile"
    corefile.write_text(".:53 {\n    reload 2s 1s\n    kubernetes cluster.local\n}\n")
    server = start_server(["--conf", str(corefile)])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        try:
            replace(corefile,
                ".:53 {\n    reload 2s 1s\n    kubernetes cluster.local {\n        ttl 9\n    }\n}\n"
                f"example.org:{port} {{\n    bind 127.0.0.1\n}}\n"
            )
            wait_for(lambda: any("reload failed" in line for line in server.log),
                     what="the failed reload, in the log:\n" + "".join(server.log))
            failed = next(line for line in server.log if "reload failed" in line)
            assert f"cannot listen on 127.0.0.1 port {port}" in failed
            assert ttl(server) == 5  # still the running Corefile's (the default TTL)
        finally:
            stop_server(server)


def test_the_loop_probe_goes_out_again_after_a_reload(tmp_path):
    """As CoreDNS runs `loop`'s start-up again on reload: the new block's probe is sent and
    stands down once answered (a probe left waiting had every query shown to it, off the
    wire answers: a tenth of the speed)."""
    with FakeUpstream() as upstream:
        corefile = tmp_path / "Corefile"
        text = (".:53 {{\n    reload 2s 1s\n    kubernetes cluster.local {{\n        ttl {ttl}\n"
                "    }}\n    forward . {upstream}\n    loop\n}}\n")  # fmt: skip
        corefile.write_text(text.format(ttl=30, upstream=upstream.address))
        server = start_server(["--conf", str(corefile)])
        try:

            def probes() -> int:
                return sum(asked.qtype == QTYPE.HINFO for asked in list(upstream.queries))

            wait_for(lambda: probes() == 1, what="the probe at start")
            replace(corefile, text.format(ttl=7, upstream=upstream.address))
            wait_for(lambda: ttl(server) == 7, what="the reload")
            wait_for(lambda: probes() == 2, what="the probe after the reload")
        finally:
            stop_server(server)
