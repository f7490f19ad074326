"""`minimal` over real sockets: a successful reply keeps only its answer section (and OPT),
from the wire answers too; denials keep their SOA; its setup takes nothing."""

from __future__ import annotations

import dns.rcode
import pytest

from clusterdns.config.corefile import CorefileError
from clusterdns.server.directives import load_config
from harness.paths import DEMO
from harness.query import query
from harness.server import serving

SRV = "_http._tcp.web.demo.svc.cluster.local."


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    corefile = tmp_path_factory.mktemp("minimal") / "Corefile"
    corefile.write_text(".:53 {\n    kubernetes cluster.local\n    minimal\n}\n")
    with serving(["--conf", str(corefile), "--snapshot", str(DEMO)]) as process:
        yield process


@pytest.mark.parametrize("tcp", [False, True])
def test_srv_glue_is_left_out_first_and_from_the_wire_answers(server, demo_server, tcp):
    assert query(demo_server, SRV, "SRV", tcp=tcp).additional  # (without minimal: A glue)
    for _ in range(3):
        reply = query(server, SRV, "SRV", tcp=tcp, use_edns=0)
        assert reply.answer and not reply.additional and not reply.authority
        assert reply.edns == 0  # our OPT stays


def test_denials_keep_their_soa(server):
    nxdomain = query(server, "nothing.demo.svc.cluster.local.")
    assert nxdomain.rcode() == dns.rcode.NXDOMAIN and nxdomain.authority
    nodata = query(server, "nginx.demo.svc.cluster.local.", "MX")
    assert nodata.rcode() == dns.rcode.NOERROR and nodata.authority and not nodata.answer


def test_takes_no_arguments():
    with pytest.raises(CorefileError, match="'minimal' takes no arguments") as caught:
        load_config(".:53 {\n  minimal yes\n}\n")
    assert caught.value.line == 2
