"""Running it like CoreDNS, on the real server process: forwarding to loopback upstreams the
tests start, stub domains, ExternalName chasing, the cache, /metrics, /health and /ready,
SIGTERM lameduck, Corefile reload, loop detection and the query log.

Every Corefile here forwards only to a FakeUpstream on 127.0.0.1 (`forward . /etc/resolv.conf`
reads a temporary file through --resolv-conf): nothing leaves the machine.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from harness.fakeapi import FakeKubeAPI
from harness.http import address, get, metrics, value
from harness.paths import DEMO, REPO
from harness.query import query
from harness.server import ServerProcess, kubeadm_corefile, start_server, stop_server
from harness.snapshots import namespace, service, write_snapshot
from harness.upstream import FakeUpstream
from harness.wait import wait_for

# kubeadm's, with `log` on, a short lameduck and reload interval
KUBEADM = kubeadm_corefile(
    {
        "    errors\n": "    errors\n    log\n",
        "lameduck 5s": "lameduck 1s",
        "    reload\n": "    reload 2s 1s\n",
    }
)


# The tests with an `upstream`: a resolv.conf `nameserver` has no port, so it listens on 53.
PORT_53 = pytest.mark.root("binds port 53 of a loopback address")


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    """An upstream on port 53 of a loopback address, so a resolv.conf can name it."""
    try:
        fake = FakeUpstream.on_port_53()
    except PermissionError:
        pytest.skip("binding port 53 needs root (CI runs as root)")
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def serve(tmp_path: Path):
    """Start the real server on a Corefile text (upstream addresses filled in by the test)."""
    started: list[ServerProcess] = []

    def start(
        corefile: str, *args: str, resolv: FakeUpstream | None = None, snapshot: Path = DEMO
    ) -> ServerProcess:
        conf = tmp_path / "Corefile"
        conf.write_text(corefile)
        extra = list(args)
        if resolv is not None:
            resolv_conf = tmp_path / "resolv.conf"
            resolv_conf.write_text(f"nameserver {resolv.host}\n")
            extra += ["--resolv-conf", str(resolv_conf)]
        server = start_server(["--conf", str(conf), "--snapshot", str(snapshot), *extra])
        started.append(server)
        return server

    yield start
    for server in started:
        if server.process.poll() is None:
            stop_server(server)


@PORT_53
def test_kubeadm_corefile_forwards_through_resolv_conf(serve, upstream):
    server = serve(KUBEADM, resolv=upstream)
    reply = query(server, "WwW.Example.COM.", use_edns=0, payload=1232)
    assert reply.rcode() == dns.rcode.NOERROR
    assert reply.answer[0].name.to_text() == "WwW.Example.COM."  # the asker's case
    assert {rd.address for rd in reply.answer[0]} == {"192.0.2.1"}
    assert reply.flags & dns.flags.RA and reply.flags & dns.flags.AD  # the upstream's flags
    assert not reply.flags & dns.flags.AA
    nx = query(server, "nx.example.com.")
    assert nx.rcode() == dns.rcode.NXDOMAIN and nx.authority[0].rdtype == 6
    cluster = query(server, "nginx.demo.svc.cluster.local.")
    assert cluster.flags & dns.flags.AA and {rd.address for rd in cluster.answer[0]} == {
        "10.96.12.34"
    }
    assert not upstream.asked("nginx.demo.svc.cluster.local.")
    # loadbalance: the headless service's addresses come in changing order (wire cache hits too)
    web = "web.demo.svc.cluster.local."
    orders = {tuple(rd.address for rd in query(server, web).answer[0]) for _ in range(20)}
    assert len(orders) > 1 and {len(order) for order in orders} == {3}


@pytest.mark.slow
def test_ready_waits_for_the_first_sync(tmp_path):
    conf = tmp_path / "Corefile"
    conf.write_text(
        ".:53 {\n    ready 127.0.0.1:0\n    kubernetes cluster.local {\n        startup_timeout 1s\n    }\n}\n"
    )
    with FakeKubeAPI() as api:
        api.fail_with(500)  # no list succeeds: the state never syncs
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
        server = start_server(["--conf", str(conf), "--kubeconfig", str(kubeconfig)])
        try:
            ready = address(server, "/ready")
            assert get(ready) == (503, "kubernetes")
            assert query(server, "nope.demo.svc.cluster.local.").rcode() == dns.rcode.SERVFAIL
            api.fail_with(None)
            wait_for(lambda: get(ready)[0] == 200, what="ready after the sync")
        finally:
            stop_server(server)


@PORT_53
def test_cache_hit_counts_down_and_is_counted(serve, upstream):
    server = serve(KUBEADM, resolv=upstream)
    before = metrics(server)
    sent = time.monotonic()  # the server's cache reads this same clock (CLOCK_MONOTONIC)
    first = query(server, "cached.example.org.")
    answered = time.monotonic()
    assert first.answer[0].ttl == 30  # capped by `cache 30`
    asked: list[float] = []
    ttls: list[int] = []

    def counted_down() -> bool:  # TTLs are whole seconds: ask until a second has gone
        asked.append(time.monotonic())
        ttls.append(query(server, "CACHED.example.org.").answer[0].ttl)
        return ttls[-1] < 30

    wait_for(counted_down, what="the cached TTL to count down", interval=0.1)
    last_answered = time.monotonic()
    assert all(ttl == 30 for ttl in ttls[:-1])
    # 30 less the whole seconds between the store and the last hit, as the clock bounds them
    assert 30 - int(last_answered - sent) <= ttls[-1] <= 30 - int(asked[-1] - answered)
    assert len(upstream.asked("cached.example.org.")) == 1
    after = metrics(server)
    success = dict(type="success", zones=".")
    name = "coredns_cache_hits_total"
    assert value(after, name, **success) == value(before, name, **success) + len(ttls)
    assert (
        value(after, "coredns_cache_requests_total")
        >= value(before, "coredns_cache_requests_total") + 1 + len(ttls)
    )
    assert value(after, "coredns_dns_responses_total", rcode="NOERROR", plugin="cache") >= 1


@PORT_53
def test_metrics_names_labels_and_values_move(serve, upstream):
    server = serve(KUBEADM, resolv=upstream)
    # the loop probe (HINFO, type "other") is a query like any other: let it be counted first
    wait_for(
        lambda: value(metrics(server), "coredns_dns_requests_total", type="other"), what="the probe"
    )
    before = metrics(server)
    for i in range(3):
        query(server, f"m{i}.example.net.")
    query(server, "nginx.demo.svc.cluster.local.")
    query(server, "nope.demo.svc.cluster.local.", tcp=True)
    after = metrics(server)
    labels = dict(server="dns://127.0.0.1:0", zone=".", view="")
    udp_a = dict(labels, proto="udp", family="1", type="A")
    assert (
        value(after, "coredns_dns_requests_total", **udp_a)
        == value(before, "coredns_dns_requests_total", **udp_a) + 4
    )
    assert (
        value(after, "coredns_dns_responses_total", rcode="NOERROR", plugin="forward", **labels)
        >= 3
    )
    assert (
        value(after, "coredns_dns_responses_total", rcode="NOERROR", plugin="kubernetes", **labels)
        >= 1
    )
    assert (
        value(after, "coredns_dns_responses_total", rcode="NXDOMAIN", plugin="kubernetes", **labels)
        >= 1
    )
    count = "coredns_dns_request_duration_seconds_count"
    assert value(after, count, **labels) == value(before, count, **labels) + 5
    assert value(
        after, "coredns_dns_request_duration_seconds_bucket", le="+Inf", **labels
    ) == value(after, count, **labels)
    assert value(after, "coredns_dns_response_size_bytes_count", proto="tcp", **labels) >= 1
    proxy = dict(proxy_name="forward", to=upstream.address, rcode="NOERROR")
    assert value(after, "coredns_proxy_request_duration_seconds_count", **proxy) >= 3
    assert value(after, "coredns_cache_entries", type="success") >= 3
    assert value(after, "coredns_build_info") == 1
    for plugin in (
        "kubernetes",
        "forward",
        "cache",
        "loop",
        "loadbalance",
        "errors",
        "log",
        "prometheus",
    ):
        assert value(after, "coredns_plugin_enabled", name=plugin, **labels) == 1, plugin
    assert value(after, "process_resident_memory_bytes") > 0


@PORT_53
@pytest.mark.slow
def test_health_ready_and_sigterm_lameduck(serve, upstream):
    # kubeadm's own `lameduck 5s`: a window no loaded machine misses
    server = serve(kubeadm_corefile({}), resolv=upstream)
    health, ready = address(server, "/health"), address(server, "/ready")
    assert get(health) == (200, "OK") and get(ready)[0] == 200
    server.process.send_signal(signal.SIGTERM)
    wait_for(lambda: get(ready)[0] == 503, what="/ready to turn 503 on SIGTERM")
    # the lameduck window: not ready, yet still healthy and answering, the cluster and upstream
    assert server.process.poll() is None
    assert get(health)[0] == 200
    assert query(server, "web-0.web.demo.svc.cluster.local.").rcode() == dns.rcode.NOERROR
    assert query(server, "during.lameduck.example.").rcode() == dns.rcode.NOERROR
    assert wait_for(lambda: server.process.poll() is not None, what="the exit after lameduck")
    assert server.process.returncode == 0
    assert any("lameduck" in line for line in server.log)


@PORT_53
@pytest.mark.slow
def test_reload_applies_a_new_corefile_and_survives_a_broken_one(serve, tmp_path, upstream):
    with FakeUpstream(records={"which.example.": ["198.51.100.2"]}) as second:
        first = KUBEADM.replace("/etc/resolv.conf", upstream.address)
        server = serve(first)
        assert query(server, "which.example.").answer[0][0].address == "192.0.2.1"
        conf = tmp_path / "Corefile"
        conf.write_text(
            first.replace(upstream.address, second.address).replace("cache 30", "cache 1")
        )

        def answered_by_second():
            reply = query(server, "which.example.")
            return reply.answer and reply.answer[0][0].address == "198.51.100.2"

        wait_for(answered_by_second, what="the reloaded forward")
        assert server.process.poll() is None  # no restart, no lameduck
        conf.write_text(first.replace("pods insecure", "pods sideways"))
        wait_for(lambda: any("reload failed" in line for line in server.log), what="the failed reload")
        assert "sideways" in next(line for line in server.log if "reload failed" in line)
        asked = len(second.asked("which.example."))

        def asked_second_again() -> bool:  # past `cache 1`: from the upstream again
            assert answered_by_second(), "the broken Corefile changed the forward"
            return len(second.asked("which.example.")) > asked

        wait_for(asked_second_again, what="the reloaded forward to ask its upstream again")
        assert value(metrics(server), "coredns_reload_failed_total") == 1


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_loop_is_detected_at_start(tmp_path):
    conf = tmp_path / "Corefile"
    for _ in range(3):  # the free port may be taken before the server binds it: try another
        port = free_port()
        conf.write_text(
            f".:53 {{\n    kubernetes cluster.local\n    forward . 127.0.0.1:{port}\n    loop\n}}\n"
        )
        result = subprocess.run(
            [sys.executable, "-m", "clusterdns", "serve", "--conf", str(conf), "--snapshot", str(DEMO),
             "--listen", f"127.0.0.1:{port}"],
            capture_output=True, text=True, timeout=30, cwd=REPO,
        )  # fmt: skip
        if "cannot listen" not in result.stderr:
            break
    assert result.returncode == 1, result.stderr
    assert re.search(
        r'Loop \(127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+\) detected for zone "\."', result.stderr
    )


@PORT_53
def test_stub_domains_route_by_longest_zone(serve, upstream):
    with FakeUpstream(records={"db.acme.local.": ["10.9.9.9"]}) as acme:
        server = serve(
            f"acme.local:53 {{\n    forward . {acme.address}\n}}\n"
            f".:53 {{\n    kubernetes cluster.local\n    forward . {upstream.address}\n}}\n"
        )
        assert query(server, "db.acme.local.").answer[0][0].address == "10.9.9.9"
        assert query(server, "www.example.com.").answer[0][0].address == "192.0.2.1"
        assert query(server, "nginx.demo.svc.cluster.local.").answer[0][0].address == "10.96.12.34"
        assert acme.asked("db.acme.local.") and not upstream.asked("db.acme.local.")
        assert not acme.asked("www.example.com.")


@PORT_53
def test_externalname_targets_are_chased_upstream(serve, upstream, tmp_path):
    snapshot = write_snapshot(
        tmp_path / "ext.yaml",
        [namespace("demo"), service("demo", "search", external_name="www.example.com"),
         service("demo", "gone", external_name="nx.example.com")],
    )  # fmt: skip
    server = serve(KUBEADM, resolv=upstream, snapshot=snapshot)
    reply = query(server, "search.demo.svc.cluster.local.")
    assert reply.rcode() == dns.rcode.NOERROR
    assert [(r.name.to_text(), r.rdtype) for r in reply.answer] == [
        ("search.demo.svc.cluster.local.", 5),
        ("www.example.com.", 1),
    ]
    gone = query(server, "gone.demo.svc.cluster.local.")
    assert gone.rcode() == dns.rcode.NOERROR  # the upstream's NXDOMAIN is not passed on
    assert [r.rdtype for r in gone.answer] == [5]


CHASED = """\
corp.test:53 {{
    hosts {{
        10.20.0.5 db.corp.test
    }}
}}
other.test:53 {{
    forward . {other}
}}
cut.test:53 {{
    bufsize 512
    forward . {upstream}
}}
.:53 {{
    log
    hosts {{
        192.0.2.50 db.hosts.example
        fallthrough
    }}
    kubernetes cluster.local
    cache 30
    forward . {upstream}
}}
"""


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_externalname_targets_are_asked_of_the_server_itself(serve, tmp_path, tcp):
    """As CoreDNS's kubernetes plugin completes an ExternalName outside its zones
    (k.Upstream.Lookup): the target routed and answered like any query, by `hosts` in the
    same block, by another server block (its hosts, its forward), through the block's cache
    (asked upstream once), logged; its NXDOMAIN or SERVFAIL leaves the CNAME alone, its TC
    (a block whose bufsize cuts the target's reply) is the reply's."""
    targets = {"local": "db.hosts.example", "corp": "db.corp.test", "other": "www.other.test",
               "search": "www.example.com", "gone": "nx.example.com",
               "failing": "servfail.example.com", "cut": "big.cut.test"}  # fmt: skip
    snapshot = write_snapshot(
        tmp_path / "ext.yaml",
        [namespace("demo"), *(service("demo", name, external_name=target)
                              for name, target in targets.items())],
    )  # fmt: skip
    with FakeUpstream() as upstream, FakeUpstream(records={"www.other.test.": ["198.51.100.7"]}) as other:
        corefile = CHASED.format(upstream=upstream.address, other=other.address)
        server = serve(corefile, snapshot=snapshot)

        def records(name: str, **options: object) -> list[tuple[str, str, str]]:
            reply = query(server, f"{name}.demo.svc.cluster.local.", tcp=tcp, **options)
            assert reply.rcode() == dns.rcode.NOERROR
            return [(str(rrset.name), dns.rdatatype.to_text(rrset.rdtype), rrset[0].to_text())
                    for rrset in reply.answer]  # fmt: skip

        def cname(name: str) -> tuple[str, str, str]:
            return (f"{name}.demo.svc.cluster.local.", "CNAME", f"{targets[name]}.")

        assert records("local") == [cname("local"), ("db.hosts.example.", "A", "192.0.2.50")]
        assert records("corp") == [cname("corp"), ("db.corp.test.", "A", "10.20.0.5")]
        assert records("other") == [cname("other"), ("www.other.test.", "A", "198.51.100.7")]
        for _ in range(2):
            assert records("search") == [cname("search"), ("www.example.com.", "A", "192.0.2.1")]
        assert len(upstream.asked("www.example.com.")) == 1  # then from the block's cache
        assert records("gone") == [cname("gone")]
        assert records("failing") == [cname("failing")]
        assert not any(upstream.asked(n) for n in ("db.hosts.example", "db.corp.test", "www.other.test"))
        assert other.asked("www.other.test.")
        proto = "tcp" if tcp else "udp"
        wait_for(lambda: any(f'"A IN db.hosts.example. {proto} ' in line for line in server.log),
                 what="the lookup's log line")  # fmt: skip
        if not tcp:
            reply = query(server, "cut.demo.svc.cluster.local.", payload=1232)
            assert reply.flags & dns.flags.TC and 0 < len(reply.answer[1]) < 40
        stop_server(server)  # (before the upstreams: its TCP connections to them close first)


@PORT_53
def test_unknown_reverse_names_fall_through_upstream(serve, upstream):
    server = serve(KUBEADM, resolv=upstream)
    known = query(server, "34.12.96.10.in-addr.arpa.", "PTR")
    assert known.answer[0][0].target.to_text() == "nginx.demo.svc.cluster.local."
    query(server, "4.3.2.1.in-addr.arpa.", "PTR")
    assert upstream.asked("4.3.2.1.in-addr.arpa.") and not upstream.asked(
        "34.12.96.10.in-addr.arpa."
    )


def test_max_concurrent_refuses_on_the_wire(serve):
    with FakeUpstream(delay=0.5) as slow:
        server = serve(
            f".:53 {{\n    forward . {slow.address} {{\n        max_concurrent 2\n    }}\n}}\n"
        )
        with ThreadPoolExecutor(6) as pool:
            replies = list(pool.map(lambda i: query(server, f"c{i}.example."), range(6)))
        codes = sorted(dns.rcode.to_text(r.rcode()) for r in replies)
        assert codes == ["NOERROR", "NOERROR", "REFUSED", "REFUSED", "REFUSED", "REFUSED"]


def test_query_log_and_errors_lines(serve):
    server = serve(f".:53 {{\n    errors\n    log\n    forward . 127.0.0.1:{free_port()}\n}}\n")
    assert query(server, "Quiet.Example.").rcode() == dns.rcode.SERVFAIL  # nobody listens there
    line = wait_for(
        lambda: next((x for x in server.log if '"A IN quiet.example. udp' in x), None),
        what="log line",
    )
    assert re.search(
        r'127\.0\.0\.1:\d+ - \d+ "A IN quiet\.example\. udp \d+ false 512" SERVFAIL qr,rd \d+ [\d.]+s',
        line,
    )
    assert any(re.search(r"plugin/errors: 2 quiet\.example\. A: ", x) for x in server.log)


def refused_past_one_in_flight(serve, upstream: FakeUpstream, consolidate: str, queries: int):
    """(the server, how many of `queries` parallel questions were REFUSED): forward lets one
    question to the slow `upstream` be in flight, and `errors` consolidates with `consolidate`."""
    server = serve(
        f".:53 {{\n    errors {{\n        consolidate {consolidate}\n    }}\n"
        f"    forward . {upstream.address} {{\n        max_concurrent 1\n    }}\n}}\n"
    )
    with ThreadPoolExecutor(queries) as pool:
        replies = list(pool.map(lambda i: query(server, f"c{i}.example."), range(queries)))
    refused = sum(r.rcode() == dns.rcode.REFUSED for r in replies)
    assert refused >= 1
    return server, refused


def test_errors_consolidate_counts_matching_errors_into_one_line(serve):
    with FakeUpstream(delay=0.5) as slow:
        server, refused = refused_past_one_in_flight(
            serve, slow, '2s "^concurrent queries" warning', 6)
        summary = wait_for(
            lambda: next((x for x in server.log if "errors like" in x), None), what="summary"
        )
        assert re.search(
            rf"WARNING .*plugin/errors: {refused} errors like '\^concurrent queries' occurred in "
            r"last 2s$", summary,
        )
        assert not any("plugin/errors: 5 c" in x for x in server.log)  # none logged one by one


def test_errors_consolidate_sums_up_an_open_period_when_the_server_stops(serve):
    with FakeUpstream(delay=0.5) as slow:
        server, refused = refused_past_one_in_flight(serve, slow, '1h "^concurrent queries"', 4)
        assert not any("errors like" in x for x in server.log)  # the hour is not over
        stop_server(server)
        wait_for(
            lambda: any(f"ERROR clusterdns.errors: plugin/errors: {refused} errors like "
                        "'^concurrent queries' occurred in last 1h0m0s" in x for x in server.log),
            what="the summary at shutdown",
        )
