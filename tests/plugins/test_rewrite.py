"""`rewrite` over real sockets: CoreDNS README's examples as a table (name exact, substring,
regex, suffix with `answer auto`, `answer name`, `answer value`, type, class, ttl, rcode),
a cluster name asked by another name (first and repeated, which the wire answers must leave
to the chain), rewrite in front of cache and forward, and its setup errors naming the line."""

from __future__ import annotations

import dns.rcode
import dns.rdataclass
import pytest
from dnslib import DNSRecord

from clusterdns.config.corefile import CorefileError
from clusterdns.server.directives import load_config
from harness.paths import DEMO
from harness.query import query, raw_udp, rdatas
from harness.server import serving

RULES = r"""
    rewrite name nginx.example.com nginx.demo.svc.cluster.local
    rewrite name regex (.*)\.cluster\.example {1}.svc.cluster.local answer auto
    rewrite name substring service.us-west-1.example.org service.us-west-1.consul
    rewrite continue name substring .continued.example .example
    rewrite name regex (.*)-(us-west-1)\.example\.org {1}.service.{2}.consul
    rewrite stop {
        name regex (.*)-(us-west-1)\.coredns\.rocks {1}.service.{2}.consul
        answer name (.*)\.service\.(us-west-1)\.consul {1}-{2}.coredns.rocks
    }
    rewrite stop {
        name suffix .coredns.rocks .service.consul answer auto
    }
    rewrite name suffix .schmoogle.com. .google.com.
    rewrite stop {
        name suffix .arpa .arpa
        answer name auto
        answer value (.*)\.demo\.svc\.cluster\.local\. {1}.coredns.rocks.
    }
    rewrite name exact _http._tcp.web.example.com _http._tcp.web.demo.svc.cluster.local answer value (.*)\.web\.demo\.svc\.cluster\.local\. {1}.web.example.com.
    rewrite continue {
        ttl regex (.*)\.ttl\.example 15
    }
    rewrite ttl suffix .capped.example 45-60
    rewrite rcode exact fails.example SERVFAIL NOERROR
    rewrite type MX A
    rewrite class CH IN
    rewrite name exact toolong.example {0}aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory, upstream):
    corefile = tmp_path_factory.mktemp("rewrite") / "Corefile"
    corefile.write_text(
        ".:53 {\n" + RULES + "    kubernetes cluster.local in-addr.arpa ip6.arpa\n"
        f"    cache 30\n    forward . {upstream.address}\n    prometheus 127.0.0.1:0\n}}\n"
    )
    with serving(["--conf", str(corefile), "--snapshot", str(DEMO)]) as process:
        yield process


def answers(reply) -> list[tuple[str, str, str]]:
    """Each answer record as (owner, type, data)."""
    return [(str(rrset.name), dns.rdatatype.to_text(rrset.rdtype), rd.to_text())
            for rrset in reply.answer for rd in rrset]  # fmt: skip


def question(reply) -> tuple[str, str, str]:
    (asked,) = reply.question
    return (str(asked.name), dns.rdatatype.to_text(asked.rdtype),
            dns.rdataclass.to_text(asked.rdclass))  # fmt: skip


@pytest.mark.parametrize("tcp", [False, True])
def test_a_cluster_name_asked_by_another_name_answers_the_client_name(server, tcp):
    """exact: the answer owner is mapped back (exact rules always are); asked again it is
    still the chain's (the wire answers hold the rewritten name, not the asked one)."""
    for _ in range(3):
        reply = query(server, "nginx.example.com.", tcp=tcp)
        assert question(reply) == ("nginx.example.com.", "A", "IN")
        assert answers(reply) == [("nginx.example.com.", "A", "10.96.12.34")]
        assert reply.flags & dns.flags.AA
    for _ in range(2):  # the rewritten name itself is unchanged, from the wire answers too
        reply = query(server, "nginx.demo.svc.cluster.local.", tcp=tcp)
        assert answers(reply) == [("nginx.demo.svc.cluster.local.", "A", "10.96.12.34")]


def test_the_question_keeps_the_case_it_was_asked_in(server):
    reply = query(server, "NGINX.Example.COM.")
    assert question(reply) == ("NGINX.Example.COM.", "A", "IN")
    assert rdatas(reply) == {"10.96.12.34"}


def test_regex_with_answer_auto_maps_the_answer_back(server):
    for _ in range(2):
        reply = query(server, "api.demo.cluster.example.", "AAAA")
        assert answers(reply) == [("api.demo.cluster.example.", "AAAA", "fd00:10:96::4001")]
    assert dns.rcode.to_text(query(server, "nothing.demo.cluster.example.").rcode()) == "NXDOMAIN"


# CoreDNS README: (name asked, name the upstream is asked, owner the client sees)
FORWARDED = [
    # substring (no answer rule): the answer keeps the upstream's owner
    ("ftp.service.us-west-1.example.org.", "ftp.service.us-west-1.consul.",
     "ftp.service.us-west-1.consul."),
    # regex: "ftp-us-west-1.example.org" → "ftp.service.us-west-1.consul"
    ("web-us-west-1.example.org.", "web.service.us-west-1.consul.", "web.service.us-west-1.consul."),
    # regex with an explicit `answer name`: the answer matches the question
    ("db-us-west-1.coredns.rocks.", "db.service.us-west-1.consul.", "db-us-west-1.coredns.rocks."),
    # suffix with `answer auto`: the suffixes swapped back
    ("www.coredns.rocks.", "www.service.consul.", "www.coredns.rocks."),
    # suffix without: `.schmoogle.com.` → `.google.com.`
    ("mail.schmoogle.com.", "mail.google.com.", "mail.google.com."),
]  # fmt: skip


@pytest.mark.parametrize(("asked", "upstream_name", "owner"), FORWARDED)
def test_readme_name_rewrites_through_cache_and_forward(server, upstream, asked, upstream_name, owner):
    before = len(upstream.asked(upstream_name))
    for _ in range(2):  # the second from the cache: the upstream is asked once
        reply = query(server, asked)
        assert question(reply) == (asked, "A", "IN")
        assert answers(reply) == [(owner, "A", "192.0.2.1")]
    assert len(upstream.asked(upstream_name)) == before + 1
    assert not upstream.asked(asked)


def test_continue_rules_alone_leave_the_question_they_made(server, upstream):
    """As rewrite.go: without a `stop` match or a response rule the reply is not reverted,
    so the client sees the rewritten question (and a careful client drops the reply)."""
    data = raw_udp(server, DNSRecord.question("x.continued.example.").pack())
    assert data is not None
    reply = DNSRecord.parse(data)
    assert (str(reply.q.qname), [str(rr.rname) for rr in reply.rr]) == ("x.example.", ["x.example."])


def test_answer_value_rewrites_a_ptr_target(server):
    """README's PTR example (`answer name auto` reads `auto answer` as its FROM and TO, as
    CoreDNS does) over the cluster's reverse zone."""
    reply = query(server, "34.12.96.10.in-addr.arpa.", "PTR")
    assert answers(reply) == [("34.12.96.10.in-addr.arpa.", "PTR", "nginx.coredns.rocks.")]


def test_answer_value_rewrites_srv_targets(server):
    """The owner mapped back (exact), each target by `answer value`; the glue keeps its
    owners (a value rule rewrites values only)."""
    reply = query(server, "_http._tcp.web.example.com.", "SRV")
    assert {owner for owner, _, _ in answers(reply)} == {"_http._tcp.web.example.com."}
    targets = {data.split()[-1] for _, _, data in answers(reply)}
    assert targets and all(t.endswith(".web.example.com.") for t in targets), targets
    assert all(str(rrset.name).endswith(".web.demo.svc.cluster.local.") for rrset in reply.additional)
    srv = query(server, "_http._tcp.web.demo.svc.cluster.local.", "SRV")  # not this rule's
    assert all(data.endswith(".web.demo.svc.cluster.local.") for _, _, data in answers(srv))


def test_ttl_rules_set_and_bound_ttls(server):
    """(on the cache's TTLs, capped at its 30 s: the cache comes after rewrite)"""
    assert {rrset.ttl for rrset in query(server, "a.ttl.example.").answer} == {15}
    assert {rrset.ttl for rrset in query(server, "b.capped.example.").answer} == {45}
    assert {rrset.ttl for rrset in query(server, "other.example.").answer} == {30}


def test_rcode_rule_turns_servfail_to_noerror(server, upstream):
    """(the fake upstream answers `servfail.*` with SERVFAIL: `fails.example` is NOERROR
    from it, so the rule is checked on the upstream's own words for it)"""
    assert query(server, "fails.example.").rcode() == dns.rcode.NOERROR
    assert query(server, "servfail.example.").rcode() == dns.rcode.SERVFAIL


def test_type_rule_asks_another_type_and_restores_the_question(server, upstream):
    reply = query(server, "mx.example.net.", "MX")
    assert question(reply) == ("mx.example.net.", "MX", "IN")
    assert answers(reply) == [("mx.example.net.", "A", "192.0.2.1")]
    assert [q.qtype for q in upstream.asked("mx.example.net.")] == [1]


def test_class_rule_serves_a_chaos_query_from_the_cluster(server):
    reply = query(server, "nginx.demo.svc.cluster.local.", rdclass="CH")
    assert question(reply) == ("nginx.demo.svc.cluster.local.", "A", "CH")
    assert rdatas(reply) == {"10.96.12.34"}


def test_a_name_no_message_can_carry_is_servfail(server):
    reply = query(server, "toolong.example.")
    assert reply.rcode() == dns.rcode.SERVFAIL
    assert question(reply) == ("toolong.example.", "A", "IN")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("rewrite edns0 local set 0xffee abcd", "edns0 rules are not supported"),
        ("rewrite cname exact a.example. b.example.", "cname rules are not supported"),
        ("rewrite name regex (unclosed {1}", "invalid regex matching pattern"),
        ("rewrite name regex a(.*) {1}{2}.example", "uses more subexpressions"),
        ("rewrite name fuzzy a b", "supports only exact, prefix, suffix, substring, and regex"),
        ("rewrite name suffix a b answer auto answer name x y", "cannot be combined"),
        ("rewrite name suffix a b auto", "invalid arguments for suffix rule"),
        ("rewrite name suffix a b auto x", "exceeded the number of arguments"),
        ("rewrite type A", "type rules must have exactly two arguments"),
        ("rewrite type A NOPE", "invalid type 'NOPE'"),
        ("rewrite class IN XX", "invalid class 'XX'"),
        ("rewrite ttl example.com. 30-10", "invalid TTL '30-10'"),
        ("rewrite rcode example.com. NOPE NOERROR", "invalid matching RCODE 'NOPE'"),
        ("rewrite answer name a b", "response rewrites must begin with a name rule"),
        ("rewrite stop", "stop rule must begin with a rule type"),
    ],
)
def test_setup_errors_name_the_line(body, message):
    with pytest.raises(CorefileError, match=message) as caught:
        load_config(f".:53 {{\n    errors\n    {body}\n}}\n")
    assert caught.value.line == 3
