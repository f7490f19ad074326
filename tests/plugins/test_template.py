"""`template` over real sockets: CoreDNS README's examples (among them `.invalid` with its
extended DNS error and the fabricated CNAME whose target the server asks itself) and AKS's
own snippet, and its setup errors naming the line."""

from __future__ import annotations

import dns.edns
import dns.flags
import dns.rcode
import pytest

from clusterdns.config.corefile import CorefileError
from clusterdns.server.directives import load_config
from harness.paths import DEMO
from harness.query import ask, query
from harness.server import serving, start_server, stop_server

IP_NAMES = '''    template IN A example {
        match "^ip-(?P<a>[0-9]*)-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]$"
        answer "{{ .Name }} 60 IN A {{ .Group.a }}.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}"
        fallthrough
    }'''
# AKS's coredns ConfigMap: names of five labels or more under internal.cloudapp.net are
# search-path expansions that should fail fast
AKS = '''    template ANY ANY internal.cloudapp.net {
        match "^(?:[^.]+\\.){4,}internal\\.cloudapp\\.net\\.$"
        rcode NXDOMAIN
        fallthrough
    }'''
NO_FALLTHROUGH = '''    template IN TXT example {
        match "^about[.]example[.]$"
        answer "{{ .Name }} 30 IN TXT \\"{{ .Type }} from {{ .Zone }}\\""
    }'''


@pytest.fixture
def server(tmp_path):
    corefile = tmp_path / "Corefile"
    corefile.write_text(".:53 {\n" + "\n".join((IP_NAMES, AKS, NO_FALLTHROUGH)) +
                        "\n    kubernetes cluster.local\n}\n")
    process = start_server(["--conf", str(corefile), "--snapshot", str(DEMO)])
    yield process
    stop_server(process)


def test_a_matching_name_is_answered_from_the_template(server):
    assert ask(server, "ip-10-1-2-3.example.") == ("NOERROR", {"10.1.2.3"})
    reply = query(server, "IP-10-1-2-3.Example.")
    assert [rrset.ttl for rrset in reply.answer] == [60]
    assert ask(server, "about.example.", "TXT") == ("NOERROR", {'"TXT from example."'})


def test_aks_long_names_are_nxdomain_and_the_rest_falls_through(server):
    assert ask(server, "a.b.c.d.internal.cloudapp.net.")[0] == "NXDOMAIN"
    assert ask(server, "vm-1.internal.cloudapp.net.")[0] == "SERVFAIL"  # falls to no plugin
    assert ask(server, "nginx.demo.svc.cluster.local.") == ("NOERROR", {"10.96.12.34"})


def test_a_fitting_template_whose_regex_misses_is_servfail_without_fallthrough(server):
    """(and a template whose filled text is no record answers SERVFAIL too, as CoreDNS)"""
    assert ask(server, "other.example.", "TXT")[0] == "SERVFAIL"
    assert ask(server, "ip-nothing.example.")[0] == "SERVFAIL"  # the A template falls through


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('template IN A {\n  match "(unclosed"\n}', "could not parse regex"),
        ('template IN A {\n  answer "{{ .Meta \\"x\\" }} 60 IN A 1.2.3.4"\n}', "is not supported"),
        ("template IN A {\n  rcode MAYBE\n}", "unknown rcode MAYBE"),
        ("template IN A {\n  ederror\n}", "takes 1 to 2 arguments, got 0"),
        ("template IN A {\n  ederror invalid \"Blocked\"\n}", "extended DNS error code invalid"),
        ("template IN A {\n  ederror 21 too many\n}", "takes 1 to 2 arguments, got 3"),
        ("template IN A {\n  ederror 65536\n}", "extended DNS error code 65536"),
        ("template IN A {\n  frobnicate\n}", "unknown template option 'frobnicate'"),
        ("template XX A", "unknown class 'XX'"),
    ],
)
def test_setup_errors_name_the_line(body, message):
    with pytest.raises(CorefileError, match=message) as caught:
        load_config(f".:53 {{\n{body}\n}}\n")
    assert caught.value.line >= 2


# CoreDNS README: "Resolve .invalid as NXDOMAIN" and "Fabricate a CNAME"
INVALID = """    template ANY ANY invalid {
      rcode NXDOMAIN
      authority "invalid. 60 {{ .Class }} SOA ns.invalid. hostmaster.invalid. (1 60 60 60 60)"
      ederror 21 "Blocked according to RFC2606"
    }"""
FOOGLE = """    template IN ANY foogle.com {
      match "^foogle\\.com\\.$"
      answer "foogle.com 60 IN CNAME google.com"
      upstream
    }"""
FAILING = """    template IN ANY failing.example {
      rcode SERVFAIL
      ederror 23
    }"""
# a target in a block whose `bufsize` cuts its reply to 512 bytes (40 addresses upstream)
TRUNCATED = """    template IN A many.example {
      answer "many.example 60 IN CNAME big.cut.test"
    }"""
CUT = "cut.test:53 {\n    bufsize 512\n    forward . %s\n}\n"


@pytest.fixture(scope="module")
def forwarding(tmp_path_factory, upstream):
    corefile = tmp_path_factory.mktemp("template") / "Corefile"
    corefile.write_text(".:53 {\n" + "\n".join((INVALID, FOOGLE, FAILING, TRUNCATED)) +
                        f"\n    forward . {upstream.address}\n}}\n" + CUT % upstream.address)  # fmt: skip
    with serving(["--conf", str(corefile), "--snapshot", str(DEMO)]) as process:
        yield process


@pytest.mark.parametrize("tcp", [False, True])
def test_invalid_is_nxdomain_with_its_extended_error(forwarding, tcp):
    reply = query(forwarding, "anything.invalid.", tcp=tcp, use_edns=0)
    assert reply.rcode() == dns.rcode.NXDOMAIN
    assert [str(rrset.name) for rrset in reply.authority] == ["invalid."]
    (ede,) = reply.options
    assert (ede.otype, ede.code, ede.text) == (dns.edns.EDE, 21, "Blocked according to RFC2606")
    chaos = query(forwarding, "anything.invalid.", rdclass="CH", use_edns=0)  # README's 3.
    assert chaos.rcode() == dns.rcode.NXDOMAIN
    assert "CH SOA" in chaos.authority[0].to_text()
    assert query(forwarding, "anything.invalid.").options == ()  # no OPT asked: none sent


def test_an_rcode_servfail_template_writes_no_extended_error(forwarding):
    """(CoreDNS's template returns SERVFAIL without writing: the server's bare reply)"""
    reply = query(forwarding, "failing.example.", use_edns=0)
    assert (reply.rcode(), reply.options) == (dns.rcode.SERVFAIL, ())


@pytest.mark.parametrize("tcp", [False, True])
def test_a_fabricated_cname_gets_its_targets_records(forwarding, upstream, tcp):
    """The target asked of the server itself (here: its forward) with the query's type;
    other types keep the CNAME alone, as CoreDNS follows it for A and AAAA only."""
    for qtype, address in (("A", "192.0.2.1"), ("AAAA", "2001:db8::1")):
        reply = query(forwarding, "foogle.com.", qtype, tcp=tcp)
        assert [(str(r.name), r.to_text().split()[-1]) for r in reply.answer] == [
            ("foogle.com.", "google.com."), ("google.com.", address)]  # fmt: skip
    assert upstream.asked("google.com.")
    txt = query(forwarding, "foogle.com.", "TXT", tcp=tcp)
    assert [str(rrset.name) for rrset in txt.answer] == ["foogle.com."]


def test_a_truncated_lookup_truncates_the_reply(forwarding):
    """As CoreDNS's template (`msg.Truncated = up.Truncated`): the target's reply, cut to its
    block's 512 bytes, has TC, and so has the template's, which fits the client's 1232."""
    reply = query(forwarding, "many.example.", payload=1232)
    assert reply.flags & dns.flags.TC
    assert reply.answer[0].to_text() == "many.example. 60 IN CNAME big.cut.test."
    assert 0 < len(reply.answer[1]) < 40 and reply.answer[1].name.to_text() == "big.cut.test."
    whole = query(forwarding, "many.example.", tcp=True)  # over TCP nothing is cut
    assert not whole.flags & dns.flags.TC and len(whole.answer[1]) == 40
