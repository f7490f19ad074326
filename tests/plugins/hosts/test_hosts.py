"""The `hosts` plugin: its Corefile syntax, the hosts-file format, and its answers over real
sockets as CoreDNS's README and source give them (minikube's inline entry, k3s's NodeHosts
file, reloads, wildcards, fallthrough to the cluster, SERVFAIL without it)."""

from __future__ import annotations

import pytest

from clusterdns.config.corefile import CorefileError
from clusterdns.plugins.hosts.hostsfile import parse_hosts
from clusterdns.plugins.hosts.setup import HOSTS, HostsConfig
from clusterdns.server.directives import load_config
from harness.paths import DEMO
from harness.query import ask
from harness.server import start_server, stop_server
from harness.wait import wait_for


def hosts(body: str) -> HostsConfig:
    (server,) = load_config(f".:53 {{\n{body}\n}}\n")
    config = server.get(HOSTS)
    assert config is not None
    return config


def test_setup_reads_file_zones_inline_entries_and_options():
    config = hosts("hosts /etc/coredns/NodeHosts example.org {\n  10.0.0.1 a.example.org\n"
                   "  ttl 60\n  reload 10s\n  no_reverse\n  fallthrough\n}")
    assert config == HostsConfig("/etc/coredns/NodeHosts", ("example.org.",),
                                 ("10.0.0.1 a.example.org",), 60, 10.0, False, (".",), False)
    assert hosts("hosts") == HostsConfig("/etc/hosts", (".",))


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        ("hosts {\n  ttl 0\n}", 3, "ttl must be in range 1..65535"),
        ("hosts {\n  fallthrough\n  10.0.0.1 late\n}", 4, "after fallthrough, no entries"),
        ("hosts {\n  fallthrough_unsupported\n}", 2, "requires fallthrough"),
        ("hosts {\n  reload soon\n}", 3, "invalid duration 'soon'"),
        ("hosts\nhosts", 3, "only be used once per server block"),
    ],
)
def test_setup_errors_name_the_line(body, line, message):
    with pytest.raises(CorefileError) as caught:
        load_config(f".:53 {{\n{body}\n}}\n")
    assert (caught.value.line, message in caught.value.message) == (line, True)


def test_the_hosts_format():
    data = parse_hosts(
        ["127.0.0.1 localhost  # a comment", "fe80::1%eth0 router", "not-an-ip name",
         "10.0.0.9 other.zone", "192.168.1.10 *.example.com", "192.168.1.11 a.example.com",
         "onlyone"],
        ("example.com.", "localhost.", "router."),
        reverse=True,
    )
    assert data.addresses("localhost.", False) == ["127.0.0.1"]
    assert data.addresses("router.", True) == ["fe80::1"]
    assert data.addresses("other.zone.", False) == []  # outside the zones
    assert data.addresses("a.example.com.", False) == ["192.168.1.11"]
    assert data.addresses("apps.example.com.", False) == ["192.168.1.10"]
    assert data.addresses("example.com.", False) == []  # the apex is not the wildcard's
    assert data.addresses("deep.apps.example.com.", False) == []  # one label only
    assert data.names == {"127.0.0.1": ["localhost."], "fe80::1": ["router."],
                          "192.168.1.11": ["a.example.com."]}  # no PTR for a wildcard


@pytest.fixture
def node_hosts(tmp_path):
    path = tmp_path / "NodeHosts"
    path.write_text("172.18.0.2 k3d-server-0\n172.18.0.3 k3d-agent-0\nfd00::3 k3d-agent-0\n")
    return path


def serve(tmp_path, hosts_block: str):
    corefile = tmp_path / "Corefile"
    corefile.write_text(".:53 {\n" + hosts_block + "\n    kubernetes cluster.local in-addr.arpa "
                        "ip6.arpa {\n        pods insecure\n        fallthrough in-addr.arpa "
                        "ip6.arpa\n    }\n}\n")
    return start_server(["--conf", str(corefile), "--snapshot", str(DEMO)])


def test_answers_as_coredns_with_fallthrough_to_the_cluster(tmp_path, node_hosts):
    server = serve(tmp_path, f"    hosts {node_hosts} {{\n        192.168.49.1 host.minikube.internal"
                             "\n        ttl 60\n        fallthrough\n    }")
    try:
        assert ask(server, "k3d-agent-0.") == ("NOERROR", {"172.18.0.3"})
        assert ask(server, "K3D-Agent-0.", "AAAA") == ("NOERROR", {"fd00::3"})
        assert ask(server, "k3d-server-0.", "AAAA") == ("NOERROR", set())  # NODATA: the other family
        assert ask(server, "k3d-server-0.", "TXT") == ("NOERROR", set())  # NODATA: held name
        assert ask(server, "host.minikube.internal.") == ("NOERROR", {"192.168.49.1"})
        assert ask(server, "2.0.18.172.in-addr.arpa.", "PTR") == ("NOERROR", {"k3d-server-0."})
        # not held: the next plugin, the cluster (and its reverse zone)
        assert ask(server, "nginx.demo.svc.cluster.local.") == ("NOERROR", {"10.96.12.34"})
        assert ask(server, "34.12.96.10.in-addr.arpa.", "PTR") == (
            "NOERROR", {"nginx.demo.svc.cluster.local."})
    finally:
        stop_server(server)


def test_without_fallthrough_a_name_it_does_not_hold_is_servfail(tmp_path, node_hosts):
    server = serve(tmp_path, f"    hosts {node_hosts}")
    try:
        assert ask(server, "k3d-agent-0.")[0] == "NOERROR"
        assert ask(server, "nope.")[0] == "SERVFAIL"  # no SOA to deny with
        # the cluster's names are the hosts plugin's too (its zone is the block's, "."),
        # so without fallthrough they never reach kubernetes, as in CoreDNS
        assert ask(server, "nginx.demo.svc.cluster.local.")[0] == "SERVFAIL"
    finally:
        stop_server(server)


def test_a_changed_file_is_read_again_and_kept_cluster_replies_give_way(tmp_path, node_hosts):
    server = serve(tmp_path, f"    hosts {node_hosts} {{\n        reload 1s\n        fallthrough\n    }}")
    try:
        cluster = "nginx.demo.svc.cluster.local."
        assert ask(server, cluster) == ("NOERROR", {"10.96.12.34"})
        assert ask(server, cluster) == ("NOERROR", {"10.96.12.34"})  # now from the wire cache
        node_hosts.write_text(node_hosts.read_text() + f"10.9.9.9 k3d-new-0 {cluster}\n")
        wait_for(lambda: ask(server, "k3d-new-0.") == ("NOERROR", {"10.9.9.9"}),
                 what="the new entry after the reload")
        assert ask(server, cluster) == ("NOERROR", {"10.9.9.9"})  # hosts answers first now
    finally:
        stop_server(server)
