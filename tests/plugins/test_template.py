"""`template` over real sockets: CoreDNS README's examples and AKS's own snippet, and its
setup errors naming the line."""

from __future__ import annotations

import pytest

from clusterdns.config.corefile import CorefileError
from clusterdns.server.directives import load_config
from harness.paths import DEMO
from harness.query import ask, query
from harness.server import start_server, stop_server

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
        ("template IN A {\n  upstream\n}", "unknown template option 'upstream'"),
        ("template XX A", "unknown class 'XX'"),
    ],
)
def test_setup_errors_name_the_line(body, message):
    with pytest.raises(CorefileError, match=message) as caught:
        load_config(f".:53 {{\n{body}\n}}\n")
    assert caught.value.line >= 2
