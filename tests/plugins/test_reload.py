"""`reload` over real sockets: a change to a file the Corefile imports is applied too."""

from __future__ import annotations

from harness.query import query
from harness.server import start_server, stop_server
from harness.wait import wait_for

NAME = "nginx.demo.svc.cluster.local."


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
        options.write_text("ttl 7\n")  # the Corefile itself is unchanged
        wait_for(lambda: ttl(server) == 7, what="the imported ttl applied by reload")
    finally:
        stop_server(server)
