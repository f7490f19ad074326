"""`autopath`: the server walks a pod's search path, over real sockets, with clients sending
from the pod addresses of the snapshot (127.0.0.x on loopback) and a loopback upstream."""

from __future__ import annotations

import pytest
from dnslib import QTYPE, DNSRecord

from clusterdns.config.corefile import CorefileError
from clusterdns.dns.packet import question_end
from clusterdns.plugins import autopath
from clusterdns.plugins.autopath import answered_for, candidates
from clusterdns.server.directives import load_config
from harness.http import metrics, value
from harness.paths import DEMO
from harness.query import query
from harness.resolvers import handler_for, make_resolver, state_from_file
from harness.server import serving
from harness.snapshots import endpoint, endpoint_slice, namespace, pod, service, write_snapshot
from harness.wire import Variant, wire_query

SHOP_POD, WEB_POD, STRANGER = "127.0.0.11", "127.0.0.21", "127.0.0.99"
ITEMS = [
    namespace("shop"),
    namespace("web"),
    service("shop", "cart", ["10.96.0.11"], [("http", "TCP", 80)]),
    endpoint_slice("shop", "cart", "cart-a", [endpoint(SHOP_POD)]),
    service("web", "front", ["10.96.0.21"], [("http", "TCP", 80)]),
    pod("shop", "cart-0", SHOP_POD),
    pod("web", "front-0", WEB_POD),
]
SUCCESS = "coredns_autopath_success_total"


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory):
    return write_snapshot(tmp_path_factory.mktemp("autopath") / "cluster.yaml", ITEMS)


def serve(tmp_path, snapshot, upstream, search: str = "", pods: str = "verified"):
    resolv_conf = tmp_path / "resolv.conf"
    resolv_conf.write_text(f"nameserver {upstream.host}\n{search}\n")
    corefile = tmp_path / "Corefile"
    corefile.write_text(
        ".:53 {\n    prometheus 127.0.0.1:0\n    autopath @kubernetes\n"
        f"    kubernetes cluster.local in-addr.arpa {{\n        pods {pods}\n    }}\n"
        f"    forward . {upstream.address}\n}}\n"
    )
    args = ["--conf", str(corefile), "--snapshot", str(snapshot), "--resolv-conf", str(resolv_conf)]
    return serving(args)


def records(reply) -> list[tuple[str, str, str]]:
    return [(str(rr.rname), QTYPE[rr.rtype], str(rr.rdata)) for rr in DNSRecord.parse(reply.to_wire()).rr]


def test_a_pod_gets_the_first_hit_of_its_search_path_as_a_cname(tmp_path, snapshot, upstream):
    with serve(tmp_path, snapshot, upstream) as server:
        for name in ("cart.shop.web.svc.cluster.local.", "cart.shop.svc.cluster.local."):
            for _ in range(2):  # another client's answers, kept: never a pod's
                query(server, name, "A", source=STRANGER)
        # from web: cart.shop.web.svc... misses, cart.shop.svc... is the service
        reply = query(server, "cart.shop.web.svc.cluster.local.", "A", source=WEB_POD)
        assert reply.rcode() == 0
        assert str(reply.question[0].name) == "cart.shop.web.svc.cluster.local."
        assert records(reply) == [
            ("cart.shop.web.svc.cluster.local.", "CNAME", "cart.shop.svc.cluster.local."),
            ("cart.shop.svc.cluster.local.", "A", "10.96.0.11"),
        ]
        # its own namespace's first element: answered as asked (CoreDNS counts it too)
        reply = query(server, "cart.shop.svc.cluster.local.", "A", source=SHOP_POD, tcp=True)
        assert records(reply) == [("cart.shop.svc.cluster.local.", "A", "10.96.0.11")]
        # a NODATA ends the walk too (web's front has no AAAA): no record to point to; the
        # second time from the zone's NODATA template, the same reply
        replies = [query(server, "front.web.shop.svc.cluster.local.", "AAAA", source=SHOP_POD)
                   for _ in range(2)]
        for reply in replies:
            assert reply.rcode() == 0 and records(reply) == []
            assert str(reply.question[0].name) == "front.web.shop.svc.cluster.local."
            assert [str(rrset) for rrset in reply.authority] == [
                str(rrset) for rrset in replies[0].authority
            ] and "SOA" in str(reply.authority[0])
        assert value(metrics(server), SUCCESS) == 4


def test_external_names_go_through_the_host_domains_and_upstream(tmp_path, snapshot, upstream):
    with serve(tmp_path, snapshot, upstream, search="search corp.test") as server:
        reply = query(server, "www.example.com.shop.svc.cluster.local.", "A", source=SHOP_POD)
        assert records(reply) == [
            ("www.example.com.shop.svc.cluster.local.", "CNAME", "www.example.com.corp.test."),
            ("www.example.com.corp.test.", "A", "192.0.2.1"),
        ]
        # every name NXDOMAIN (the upstream denies nx.*): the asked name's own reply
        reply = query(server, "nx.example.com.shop.svc.cluster.local.", "A", source=SHOP_POD)
        assert reply.rcode() == 3 and records(reply) == []
        assert str(reply.question[0].name) == "nx.example.com.shop.svc.cluster.local."
        assert upstream.asked("nx.example.com.corp.test.") and upstream.asked("nx.example.com.")
        assert value(metrics(server), SUCCESS) == 1


def test_the_bare_name_is_the_last_candidate(tmp_path, snapshot, upstream):
    with serve(tmp_path, snapshot, upstream) as server:
        reply = query(server, "API.Example.org.web.svc.cluster.local.", "A", source=WEB_POD)
        assert records(reply) == [
            ("API.Example.org.web.svc.cluster.local.", "CNAME", "API.Example.org."),
            ("API.Example.org.", "A", "192.0.2.1"),
        ]


def test_other_clients_and_other_names_are_untouched(tmp_path, snapshot, upstream):
    with serve(tmp_path, snapshot, upstream) as server:
        for _ in range(2):  # (the second from the wire answers)
            reply = query(server, "cart.shop.web.svc.cluster.local.", "A", source=STRANGER)
            assert reply.rcode() == 3
        # not below the pod's first search element: as asked, not walked
        reply = query(server, "cart.shop.svc.cluster.local.", "A", source=WEB_POD)
        assert records(reply) == [("cart.shop.svc.cluster.local.", "A", "10.96.0.11")]
        reply = query(server, "nope.svc.cluster.local.", "A", source=WEB_POD)
        assert reply.rcode() == 3
        assert value(metrics(server), SUCCESS) == 0


@pytest.mark.parametrize(
    ("kubernetes", "message"),
    [
        ("kubernetes cluster.local {\n pods insecure\n }", "needs 'pods verified'"),
        ("kubernetes cluster.local", "needs 'pods verified'"),
        ("", "needs a kubernetes directive"),
    ],
)
def test_autopath_kubernetes_needs_pods_verified(kubernetes, message):
    with pytest.raises(CorefileError, match=message) as raised:
        load_config(f".:53 {{\n    autopath @kubernetes\n    {kubernetes}\n}}\n", "Corefile")
    assert "Corefile:2" in str(raised.value)


def test_a_resolv_conf_search_path_and_its_errors(tmp_path):
    resolv_conf = tmp_path / "resolv.conf"
    resolv_conf.write_text("search Team.Example corp.test\n")
    (server,) = load_config(f"example:53 {{\n    autopath {resolv_conf}\n}}\n", "Corefile")
    autopath = server.plugins["autopath"]
    assert autopath.search == ("team.example.", "corp.test.") and autopath.zones == ("example.",)
    assert candidates("db.team.example.", "DB.team.example.", autopath.search) == [
        "DB.team.example.", "DB.corp.test.", "DB."
    ]
    for line, error in [("@etcd", "only @kubernetes"), (str(tmp_path / "none"), "cannot read"),
                        ("", "takes at least 1 argument")]:
        with pytest.raises(CorefileError, match=error):
            load_config(f".:53 {{\n    autopath {line}\n}}\n", "Corefile")


@pytest.mark.parametrize(
    ("candidate", "asked", "variant"),
    [
        ("web.demo.svc.cluster.local.", "web.demo.demo.svc.cluster.local.", Variant()),
        ("web.demo.svc.cluster.local.", "Web.Demo.demo.svc.cluster.local.", Variant(edns=1232)),
        ("nginx.demo.svc.cluster.local.", "nginx.demo.kube-system.svc.cluster.local.", Variant(edns=4096, do_bit=True)),
        ("nginx.demo.svc.cluster.local.", "NGINX.demo.svc.cluster.local.", Variant()),  # its own
        ("_http._tcp.web.demo.svc.cluster.local.", "_http._tcp.web.demo.x.svc.cluster.local.", Variant()),  # SRV
        ("nope.demo.svc.cluster.local.", "nope.demo.x.svc.cluster.local.", Variant()),  # NXDOMAIN
    ],
)
def test_the_cname_reply_written_as_bytes_is_the_one_dnslib_writes(monkeypatch, candidate, asked, variant):
    """Addresses are put behind the CNAME as bytes; any other reply goes through dnslib:
    both read back as the same message."""
    resolver = make_resolver(state_from_file(DEMO))
    handler = handler_for(resolver)
    qtype = "SRV" if candidate.startswith("_") else "A"
    reply = handler.handle(wire_query(candidate, qtype, variant, 7), False)
    data = wire_query(asked, qtype, variant, 7)
    question = data[12 : question_end(data)]
    written = answered_for(reply, question)
    # (the asked name's own in another spelling: its owners are written out, by dnslib)
    as_bytes = qtype == "A" and not candidate.startswith("nope") and candidate != asked.lower()
    assert (autopath._addresses_for(reply, question) is not None) == as_bytes
    monkeypatch.setattr(autopath, "_addresses_for", lambda *_: None)
    expected = answered_for(reply, question)
    assert str(DNSRecord.parse(written)) == str(DNSRecord.parse(expected))
    assert str(DNSRecord.parse(written).q.qname) == asked
