"""`local` over real sockets: localhost and the loopback reverse zones are answered here and
never forwarded (CoreDNS's plugin/local tables), and its setup errors name the line."""

from __future__ import annotations

import pytest

from clusterdns.config.corefile import CorefileError
from clusterdns.server.directives import load_config
from harness.http import metrics, value
from harness.query import ask, query
from harness.server import start_server, stop_server
from harness.upstream import FakeUpstream


@pytest.fixture
def upstream():
    with FakeUpstream(records={"example.org.": ["203.0.113.7"]}) as fake:
        yield fake


def serve(tmp_path, upstream, local="local"):
    corefile = tmp_path / "Corefile"
    corefile.write_text(f".:53 {{\n    prometheus 127.0.0.1:0\n    {local}\n"
                        f"    forward . {upstream.address}\n}}\n")
    return start_server(["--conf", str(corefile)])


@pytest.mark.parametrize(
    ("name", "qtype", "rcode", "answers"),
    [
        ("localhost.", "A", "NOERROR", {"127.0.0.1"}),
        ("LocalHost.", "AAAA", "NOERROR", {"::1"}),
        ("localhost.", "NS", "NOERROR", {"localhost."}),
        ("localhost.", "MX", "NOERROR", set()),
        ("app.localhost.", "A", "NOERROR", {"127.0.0.1"}),
        ("localhost.example.org.", "AAAA", "NOERROR", {"::1"}),  # localhost_prefix on
        ("localhost.example.org.", "TXT", "NOERROR", set()),
        ("1.0.0.127.in-addr.arpa.", "PTR", "NOERROR", {"localhost."}),
        ("1.0.0.127.in-addr.arpa.", "A", "NOERROR", set()),
        ("2.0.0.127.in-addr.arpa.", "PTR", "NXDOMAIN", set()),
        ("127.in-addr.arpa.", "SOA", "NOERROR", {"localhost. root.localhost. 1 0 0 0 604800"}),
        ("255.in-addr.arpa.", "A", "NOERROR", set()),
        ("1.0.in-addr.arpa.", "PTR", "NXDOMAIN", set()),
    ],
)
def test_local_names_are_answered_here(tmp_path, upstream, name, qtype, rcode, answers):
    server = serve(tmp_path, upstream)
    try:
        assert ask(server, name, qtype) == (rcode, answers)
        if not answers:
            reply = query(server, name, qtype)
            assert [rrset.rdtype.name for rrset in reply.authority] == ["SOA"]
        assert not upstream.asked(name.lower())
        assert ask(server, "example.org.") == ("NOERROR", {"203.0.113.7"})  # the rest passes
    finally:
        stop_server(server)


def test_localhost_prefix_off_forwards_such_names_and_counts_the_answered(tmp_path, upstream):
    server = serve(tmp_path, upstream, "local {\n        localhost_prefix off\n    }")
    try:
        ask(server, "localhost.example.org.")
        assert upstream.asked("localhost.example.org.")
        assert ask(server, "db.localhost.")[1] == {"127.0.0.1"}
        samples = metrics(server)
        assert value(samples, "coredns_local_localhost_requests_total") == 1
    finally:
        stop_server(server)


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        ("local here", 2, "'local' takes no arguments, got 1"),
        ("local {\n  localhost_prefix maybe\n}", 3, "'maybe' is not one of on, off"),
        ("local {\n  localhost_prefix\n}", 3, "'localhost_prefix' takes 1 argument, got 0"),
        ("local {\n  strict\n}", 3, "unknown local option 'strict'"),
    ],
)
def test_setup_errors_name_the_line(body, line, message):
    with pytest.raises(CorefileError, match=message) as caught:
        load_config(f".:53 {{\n{body}\n}}\n")
    assert caught.value.line == line
