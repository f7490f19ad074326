"""`acl` over real sockets, queries sent from loopback addresses standing for clients:
CoreDNS README's actions (allow, block, filter, drop; by type and source; per zone), on
cluster names the wire answers hold and on forwarded names, REFUSED with EDE 15 (Blocked),
filtered NOERROR with EDE 17, no reply for a dropped query, and CoreDNS's counts."""

from __future__ import annotations

import dns.edns
import dns.exception
import dns.rcode
import pytest

from clusterdns.config.corefile import CorefileError
from clusterdns.server.directives import load_config
from harness.http import metrics, value
from harness.paths import DEMO
from harness.query import query, rdatas
from harness.server import serving
from harness.snapshots import namespace, pod, service, write_snapshot

# 127.0.0.1: allowed; .2: A blocked, AAAA filtered in demo.svc.cluster.local (the rest, as
# a stranger, blocked by the second rule); .3: dropped there; .4: a stranger; 127.0.1.0/24
# allowed but for what the first rule says of .2 and .3 (not in it)
ACLS = """
    acl demo.svc.cluster.local {
        block type A net 127.0.0.2/32
        filter type AAAA net 127.0.0.2
        drop net 127.0.0.3/32
    }
    acl {
        allow net 127.0.0.1 127.0.1.0/24
        block
    }
"""
NGINX = "nginx.demo.svc.cluster.local."


@pytest.fixture(scope="module")
def server(tmp_path_factory, upstream):
    corefile = tmp_path_factory.mktemp("acl") / "Corefile"
    corefile.write_text(
        ".:53 {\n" + ACLS + "    kubernetes cluster.local in-addr.arpa ip6.arpa\n"
        f"    forward . {upstream.address}\n    prometheus 127.0.0.1:0\n}}\n"
    )
    with serving(["--conf", str(corefile), "--snapshot", str(DEMO)]) as process:
        yield process


def rcode(reply) -> str:
    return dns.rcode.to_text(reply.rcode())


def test_allowed_clients_are_answered(server):
    for source in ("127.0.0.1", "127.0.1.9"):
        for _ in range(2):  # the second from the wire answers
            reply = query(server, NGINX, source=source)
            assert (rcode(reply), rdatas(reply)) == ("NOERROR", {"10.96.12.34"})
    assert rdatas(query(server, "example.org.", source="127.0.0.1")) == {"192.0.2.1"}


@pytest.mark.parametrize("tcp", [False, True])
def test_blocked_is_refused_with_extended_error_15(server, tcp):
    query(server, NGINX, source="127.0.0.1")  # the name's reply is kept: not for .2
    for _ in range(2):
        reply = query(server, NGINX, source="127.0.0.2", tcp=tcp, use_edns=0)
        assert (rcode(reply), reply.answer) == ("REFUSED", [])
        assert not reply.flags & dns.flags.AA
        assert [error.code for error in reply.extended_errors()] == [dns.edns.EDECode.BLOCKED]
    plain = query(server, NGINX, source="127.0.0.2", tcp=tcp)  # no EDNS: no OPT, no EDE
    assert (rcode(plain), plain.edns) == ("REFUSED", -1)


def test_filtered_is_noerror_without_records_and_extended_error_17(server):
    query(server, "api.demo.svc.cluster.local.", "AAAA", source="127.0.0.1")
    reply = query(server, "api.demo.svc.cluster.local.", "AAAA", source="127.0.0.2", use_edns=0)
    assert (rcode(reply), reply.answer, reply.authority) == ("NOERROR", [], [])
    assert [error.code for error in reply.extended_errors()] == [dns.edns.EDECode.FILTERED]


def test_dropped_gets_no_reply(server):
    query(server, NGINX, source="127.0.0.1")
    for _ in range(2):
        with pytest.raises(dns.exception.Timeout):
            query(server, NGINX, source="127.0.0.3", timeout=0.5)


def test_the_first_rule_holding_the_name_that_matches_decides(server):
    """.2 outside demo.svc.cluster.local: the first rule does not hold the name, the second
    blocks it; .2's MX in it matches no policy of the first, so the second decides too."""
    assert rcode(query(server, "kubernetes.default.svc.cluster.local.", source="127.0.0.2")) == (
        "REFUSED")
    assert rcode(query(server, NGINX, "MX", source="127.0.0.2")) == "REFUSED"
    assert rcode(query(server, "example.org.", source="127.0.0.4")) == "REFUSED"
    assert rcode(query(server, NGINX, "MX", source="127.0.1.2")) == "NOERROR"


def test_counts_by_zone_as_coredns_names_them(server):
    query(server, NGINX, source="127.0.0.2")
    query(server, "example.org.", source="127.0.0.4")
    query(server, "api.demo.svc.cluster.local.", "AAAA", source="127.0.0.2")
    with pytest.raises(dns.exception.Timeout):
        query(server, NGINX, source="127.0.0.3", timeout=0.5)
    query(server, NGINX, source="127.0.0.1")
    samples = metrics(server)
    demo = "demo.svc.cluster.local."
    assert value(samples, "coredns_acl_blocked_requests_total", zone=demo) >= 1
    assert value(samples, "coredns_acl_blocked_requests_total", zone=".") >= 1
    assert value(samples, "coredns_acl_filtered_requests_total", zone=demo) >= 1
    assert value(samples, "coredns_acl_dropped_requests_total", zone=demo) >= 1
    assert value(samples, "coredns_acl_allowed_requests_total", view="") >= 1


def test_a_pod_whose_search_path_autopath_walks_is_judged_too(tmp_path, upstream):
    """acl comes after autopath: each name of the walk goes through it, the wire answers
    holding them or not (a blocked pod's lookup is REFUSED, not answered from the walk)."""
    pods = [namespace("demo"), service("demo", "nginx", ["10.96.12.34"], [("http", "TCP", 80)]),
            pod("demo", "a-0", "127.0.0.5"), pod("demo", "b-0", "127.0.0.6")]  # fmt: skip
    snapshot = write_snapshot(tmp_path / "cluster.yaml", pods)
    corefile = tmp_path / "Corefile"
    corefile.write_text(
        ".:53 {\n    autopath @kubernetes\n    acl {\n        block net 127.0.0.5\n    }\n"
        "    kubernetes cluster.local {\n        pods verified\n    }\n"
        f"    forward . {upstream.address}\n}}\n"
    )
    with serving(["--conf", str(corefile), "--snapshot", str(snapshot)]) as server:
        for name in (NGINX, "nginx.demo.demo.svc.cluster.local."):  # (the second: a CNAME)
            for _ in range(2):
                assert "10.96.12.34" in rdatas(query(server, name, source="127.0.0.6"))
                assert rcode(query(server, name, source="127.0.0.5")) == "REFUSED"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("acl {\n    deny net 10.0.0.0/8\n  }", "expect 'allow', 'block', 'filter' or 'drop'"),
        ("acl {\n    block net 10.0.0.0/33\n  }", "illegal CIDR notation '10.0.0.0/33'"),
        ("acl {\n    block type AXFER\n  }", "expect legal QTYPE"),
        ("acl {\n    block type\n  }", "no token specified in 'type' section"),
        ("acl {\n    block from 10.0.0.1\n  }", "expect 'type | net'"),
    ],
)
def test_setup_errors_name_the_line(body, message):
    with pytest.raises(CorefileError, match=message) as caught:
        load_config(f".:53 {{\n  {body}\n}}\n")
    assert caught.value.line == 3
