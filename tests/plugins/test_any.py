"""`any` (RFC 8482) over real sockets: an ANY query gets one HINFO, TTL 8482, whatever the
name; other types are answered as ever."""

from __future__ import annotations

import dns.rdatatype

from harness.paths import DEMO
from harness.query import query, rdatas
from harness.server import start_server, stop_server


def test_any_queries_get_the_rfc_8482_hinfo(tmp_path):
    corefile = tmp_path / "Corefile"
    corefile.write_text(".:53 {\n    any\n    kubernetes cluster.local\n}\n")
    server = start_server(["--conf", str(corefile), "--snapshot", str(DEMO)])
    try:
        for name in ("nginx.demo.svc.cluster.local.", "nope.demo.svc.cluster.local."):
            reply = query(server, name, "ANY")
            (rrset,) = reply.answer
            assert rrset.rdtype == dns.rdatatype.HINFO and rrset.ttl == 8482
            assert rdatas(reply) == {'"ANY obsoleted" "See RFC 8482"'}
        assert rdatas(query(server, "nginx.demo.svc.cluster.local.")) == {"10.96.12.34"}
    finally:
        stop_server(server)
