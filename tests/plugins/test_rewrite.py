"""`rewrite` over real sockets: CoreDNS README's examples as a table (name exact, substring,
regex, suffix with `answer auto`, `answer name`, `answer value`, type, class, ttl, rcode,
edns0 local/nsid/subnet with the option asserted at the loopback upstream, edns0 `revert` in
what the reply echoes, cname targets rewritten and looked up), a cluster name asked by
another name (first and repeated, which the wire answers must leave to the chain), rewrite
in front of cache and forward, and its setup errors naming the line."""

from __future__ import annotations

import socket

import dns.edns
import dns.message
import dns.query
import dns.rcode
import dns.rdataclass
import pytest
from dnslib import DNSRecord

from clusterdns.config.corefile import CorefileError
from clusterdns.server.directives import load_config
from harness.paths import DEMO
from harness.query import query, raw_udp, rdatas
from harness.server import serving
from harness.upstream import FakeUpstream

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
        ("rewrite edns0", "too few arguments for an EDNS0 rule"),
        ("rewrite edns0 local foo 0xffee abcd", "invalid action: 'foo'"),
        ("rewrite edns0 unknown-rule-type set", "invalid rule type 'unknown-rule-type'"),
        ("rewrite edns0 local set 0xffee", "EDNS0 local rules require three or four args"),
        ("rewrite edns0 local set invalid-uint abcd", "invalid number 'invalid-uint'"),
        ("rewrite edns0 local set 0x10000 abcd", "invalid number '0x10000'"),
        ("rewrite edns0 local set 0xffee 0xabcdefg", "invalid hex data"),
        ("rewrite edns0 local set 0xffee {dummy}", "unsupported variable name"),
        ("rewrite edns0 local set 0xffee {server_ip}", "{server_ip} is not supported"),
        ("rewrite edns0 local set 0xffee {kubernetes/client-namespace}", "metadata labels"),
        ("rewrite edns0 local unset 0xffee revert", "requires exactly two arguments"),
        ("rewrite edns0 nsid set junk", "EDNS0 NSID rules can accept no more than one arg"),
        ("rewrite edns0 nsid unset revert", "requires exactly one argument"),
        ("rewrite edns0 subnet set 33 56", "invalid IPv4 bit mask length 33"),
        ("rewrite edns0 subnet set 24 129", "invalid IPv6 bit mask length 129"),
        ("rewrite edns0 subnet set -1 56", "invalid number '-1'"),
        ("rewrite edns0 subnet append 24 56 72", "EDNS0 subnet rules require three or four"),
        ("rewrite edns0 subnet unset 24 56", "requires exactly one argument"),
        ("rewrite cname a.example.", "too few \\(1\\) arguments for a cname rule"),
        ("rewrite cname fuzzy a.example. b.example.", "unknown cname rewrite type: fuzzy"),
        ("rewrite cname regex (unclosed b.example.", "invalid cname rewrite regex pattern"),
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


# -- edns0 and cname (CoreDNS README's examples; every query they meet is theirs) -----------

EDNS0_BLOCKS = {
    # README: "rewrites the first local option with code 0xffee, setting the data to abcd"
    "hex.test": "rewrite edns0 local set 0xffee 0x61626364",
    "text.test": "rewrite edns0 local set 0xffee abcd",
    "vars.test": """rewrite continue edns0 local set 0xff01 {qname}
    rewrite continue edns0 local set 0xff02 {qtype}
    rewrite continue edns0 local set 0xff03 {client_ip}
    rewrite continue edns0 local set 0xff04 {client_port}
    rewrite continue edns0 local set 0xff05 {protocol}""",
    "nsid.test": "rewrite edns0 nsid set",
    "subnet.test": "rewrite edns0 subnet set 24 56",
    "unset.test": "rewrite edns0 local unset 0xffee",
    "append.test": "rewrite edns0 local append 0xffee abcd",
    "replace.test": "rewrite edns0 local replace 0xffee abcd",
}
ECHO_BLOCKS = {  # answered by whoami: the reply's OPT echoes what the query got
    "echo.test": "rewrite edns0 local set 0xffee abcd",
    # README: "This example sets option, but response will not contain it"
    "revert.test": "rewrite edns0 local set 0xffee abcd revert",
    # README: "the response will contain `abcd` data at `0xffee`"
    "partial.test": """rewrite continue {
        edns0 local set 0xffee abcd
    }
    rewrite edns0 local replace 0xffee bcde revert""",
}
# README's CNAME example: my-app.com → my-app.example → my-app.com.cdn.example.net
CNAMES = {"my-app.com.": "my-app.example.", "my-app.example.": "my-app.com.cdn.example.net.",
          "loop.other.cdn.com.": "loop.cdn.example.net."}  # (retargeted back to itself)
ADDRESSES = {"my-app.com.cdn.example.net.": ["20.2.0.1", "20.2.0.2"],
             "my-app.com.other.cdn.com.": ["30.3.1.2"]}  # fmt: skip


@pytest.fixture(scope="module")
def recording():
    """A loopback upstream with the README's CNAME chain; it keeps every query's bytes."""
    with FakeUpstream(cnames=CNAMES, records=ADDRESSES) as fake:
        yield fake


@pytest.fixture(scope="module")
def edns_server(tmp_path_factory, recording):
    forward = f"forward . {recording.address}"
    blocks = [f"{zone}:53 {{\n    {rules}\n    {forward}\n}}\n" for zone, rules in EDNS0_BLOCKS.items()]
    blocks += [f"{zone}:53 {{\n    {rules}\n    whoami\n}}\n" for zone, rules in ECHO_BLOCKS.items()]
    blocks.append(".:53 {\n    rewrite cname regex (.*).cdn.example.net. {1}.other.cdn.com.\n"
                  f"    {forward}\n    prometheus 127.0.0.1:0\n}}\n")  # fmt: skip
    corefile = tmp_path_factory.mktemp("rewrite-edns0") / "Corefile"
    corefile.write_text("".join(blocks))
    with serving(["--conf", str(corefile), "--snapshot", str(DEMO)]) as process:
        yield process


def options(message: dns.message.Message) -> list[tuple[int, bytes]]:
    """A message's EDNS options as (code, data)."""
    return [(int(option.otype), option.to_wire()) for option in message.options]


def sent_upstream(upstream: FakeUpstream, name: str) -> dns.message.Message:
    """The last query for `name` the upstream got."""
    return dns.message.from_wire(upstream.asked(name)[-1].data)


MINE = dns.edns.GenericOption(0xFFEE, b"mine")  # an option the client sends itself
EDNS0_TABLE = [
    # (name, the client's own options, the options the upstream gets)
    ("a.hex.test.", [], [(0xFFEE, b"abcd")]),
    ("a.text.test.", [], [(0xFFEE, b"abcd")]),
    ("b.text.test.", [MINE], [(0xFFEE, b"abcd")]),  # set: the client's changed
    ("a.nsid.test.", [], [(3, b"")]),
    ("a.subnet.test.", [], [(8, b"\x00\x01\x18\x00\x7f\x00\x00")]),  # 127.0.0.0/24
    ("a.unset.test.", [MINE], []),
    ("a.append.test.", [], [(0xFFEE, b"abcd")]),
    ("b.append.test.", [MINE], [(0xFFEE, b"mine")]),  # there is one: kept
    ("a.replace.test.", [], []),  # there is none: nothing to replace
    ("b.replace.test.", [MINE], [(0xFFEE, b"abcd")]),
]  # fmt: skip


@pytest.mark.parametrize("tcp", [False, True])
@pytest.mark.parametrize(("name", "own", "upstream_gets"), EDNS0_TABLE)
def test_edns0_options_reach_the_upstream(edns_server, recording, tcp, name, own, upstream_gets):
    reply = query(edns_server, name, tcp=tcp, use_edns=0, options=own)
    assert reply.rcode() == dns.rcode.NOERROR
    assert rdatas(reply) == {"192.0.2.1"}
    assert options(sent_upstream(recording, name)) == upstream_gets
    assert options(reply) == []  # a forwarded reply's OPT is ours: nothing echoed


@pytest.mark.parametrize("tcp", [False, True])
def test_edns0_variables_are_the_querys(edns_server, recording, tcp):
    with socket.socket() if tcp else socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    message = dns.message.make_query("Mixed.Vars.Test.", "AAAA", use_edns=0)
    send = dns.query.tcp if tcp else dns.query.udp
    send(message, edns_server.host, port=edns_server.port, timeout=5, source="127.0.0.1",
         source_port=port)  # fmt: skip
    assert options(sent_upstream(recording, "mixed.vars.test.")) == [
        (0xFF01, b"Mixed.Vars.Test."),  # as asked
        (0xFF02, (28).to_bytes(2)),
        (0xFF03, bytes((127, 0, 0, 1))),
        (0xFF04, port.to_bytes(2)),
        (0xFF05, b"tcp" if tcp else b"udp"),
    ]


def test_a_query_without_edns_gets_an_opt_for_the_option(edns_server, recording):
    """As CoreDNS's setupEdns0Opt: a 4096-byte OPT is made for it (and the reply has one)."""
    reply = query(edns_server, "plain.text.test.")
    sent = sent_upstream(recording, "plain.text.test.")
    assert (sent.edns, sent.payload, options(sent)) == (0, 4096, [(0xFFEE, b"abcd")])
    assert reply.edns == 0


@pytest.mark.parametrize(
    ("name", "echoed"),
    [("a.echo.test.", [(0xFFEE, b"abcd")]), ("a.revert.test.", []),
     ("a.partial.test.", [(0xFFEE, b"abcd")])],
)  # fmt: skip
def test_revert_takes_the_option_out_of_the_reply(edns_server, name, echoed):
    """A reply our plugins write echoes the options the rules set in the query (CoreDNS's
    server reuses the query's OPT for it); `revert` undoes its rule's change there."""
    reply = query(edns_server, name, use_edns=0)
    assert reply.rcode() == dns.rcode.NOERROR
    assert options(reply) == echoed


@pytest.mark.parametrize("tcp", [False, True])
def test_cname_target_rewritten_and_looked_up(edns_server, recording, tcp):
    """README: the CNAMEs up to the target kept, the target rewritten, the rest replaced by
    the new target's records, which the server asked itself (and so its upstream)."""
    reply = query(edns_server, "my-app.com.", tcp=tcp)
    assert answers(reply) == [
        ("my-app.com.", "CNAME", "my-app.example."),
        ("my-app.example.", "CNAME", "my-app.com.other.cdn.com."),
        ("my-app.com.other.cdn.com.", "A", "30.3.1.2"),
    ]
    assert question(reply) == ("my-app.com.", "A", "IN")
    assert recording.asked("my-app.com.other.cdn.com.")
    plain = query(edns_server, "elsewhere.example.")  # no CNAME: as it came
    assert answers(plain) == [("elsewhere.example.", "A", "192.0.2.1")]


def test_a_cname_rewritten_back_to_itself_ends(edns_server, recording):
    """Each lookup's reply is retargeted again by the same rule: the server's lookups nest
    at most 8 deep (CoreDNS has no bound), then the innermost reply stands."""
    before = len(recording.asked("loop.other.cdn.com."))
    data = raw_udp(edns_server, DNSRecord.question("loop.other.cdn.com.").pack())
    assert data is not None
    reply = DNSRecord.parse(data)  # (dnspython would keep one CNAME of an owner)
    assert reply.header.rcode == dns.rcode.NOERROR
    assert [str(rr.rdata) for rr in reply.rr] == ["loop.other.cdn.com."] * 8 + [
        "loop.cdn.example.net.", "192.0.2.1"]  # each level's CNAME retargeted  # fmt: skip
    assert len(recording.asked("loop.other.cdn.com.")) - before == 9  # the query and 8 lookups
