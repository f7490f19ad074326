"""`header` over real sockets: CoreDNS README's examples (`response set ra`, `response set ra
aa` with `response clear rd`, `query set rd`) on cluster answers the wire answers hold, on
forwarded answers, and not on the replies of the plugins before it (chaos); its setup errors
(CoreDNS 1.14 takes only `query` and `response` selectors)."""

from __future__ import annotations

import dns.flags
import pytest

from clusterdns.config.corefile import CorefileError
from clusterdns.server.directives import load_config
from harness.paths import DEMO
from harness.query import query, rdatas
from harness.server import serving

NGINX = "nginx.demo.svc.cluster.local."


@pytest.fixture(scope="module")
def server(tmp_path_factory, upstream):
    corefile = tmp_path_factory.mktemp("header") / "Corefile"
    corefile.write_text(f"""\
.:53 {{
    header {{
        response set ra aa
        response clear rd
    }}
    chaos clusterdns-test
    kubernetes cluster.local in-addr.arpa ip6.arpa
    forward . {upstream.address}
}}
ra.test:53 {{
    header {{
        response set ra
    }}
    forward . {upstream.address}
}}
rd.test:53 {{
    header {{
        query set rd
    }}
    forward . {upstream.address}
}}
""")
    with serving(["--conf", str(corefile), "--snapshot", str(DEMO)]) as process:
        yield process


def flags(reply) -> set[str]:
    """The flags header can change that the reply has."""
    return set(dns.flags.to_text(reply.flags).split()) & {"AA", "RA", "RD"}


@pytest.mark.parametrize("tcp", [False, True])
def test_response_flags_on_cluster_answers_first_and_from_the_wire_answers(server, tcp):
    for _ in range(3):
        reply = query(server, NGINX, tcp=tcp)
        assert rdatas(reply) == {"10.96.12.34"}
        assert flags(reply) == {"AA", "RA"}  # RD cleared, RA set
    denied = query(server, "nothing.demo.svc.cluster.local.", tcp=tcp)  # a denial template
    assert flags(denied) == {"AA", "RA"}


def test_response_flags_on_forwarded_answers(server):
    for _ in range(2):
        reply = query(server, "example.org.")
        assert flags(reply) == {"AA", "RA"}  # the upstream's reply is not authoritative
        assert rdatas(reply) == {"192.0.2.1"}


def test_response_set_ra_alone_keeps_the_rest(server):
    reply = query(server, "www.ra.test.")
    assert flags(reply) == {"RD", "RA"}


def test_query_set_rd_reaches_the_plugins_after_it(server):
    reply = query(server, "www.rd.test.", flags=0)  # asked without RD
    assert "RD" in flags(reply)
    assert "RD" not in flags(query(server, "www.ra.test.", flags=0))


def test_replies_of_plugins_before_it_are_left_alone(server):
    reply = query(server, "version.bind.", "TXT", rdclass="CH")
    assert rdatas(reply) == {'"clusterdns-test"'}
    assert flags(reply) == {"RD"}


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        ("header {\n    set ra\n  }", 3, "invalid selector=set should be query or response"),
        ("header {\n    response toggle ra\n  }", 3, "unknown flag action=toggle"),
        ("header {\n    response set cd\n  }", 3, "unknown/unsupported flag=cd"),
        ("header {\n    response set\n  }", 3, "at least one should be provided"),
        ("header", 2, "a block of rules is needed"),
    ],
)
def test_setup_errors_name_the_line(body, line, message):
    with pytest.raises(CorefileError, match=message) as caught:
        load_config(f".:53 {{\n  {body}\n}}\n")
    assert caught.value.line == line
