"""`clusterdns searchpath`: hand-written CoreDNS log lines and the log of our own server, each
against a snapshot whose pods have loopback addresses, with exact counts."""

from __future__ import annotations

import json

import dns.rcode
import pytest

from clusterdns.audit.searchpath import Client, SearchPathAudit
from harness.dumps import cli
from harness.fakeapi import FakeKubeAPI
from harness.query import query
from harness.server import serving
from harness.snapshots import endpoint, endpoint_slice, namespace, pod, service, write_snapshot
from harness.wait import wait_for

CART0, CART1, FRONT0, SHARED = "127.0.0.11", "127.0.0.12", "fd00::21", "127.0.0.50"
ITEMS = [
    namespace("shop"),
    namespace("web"),
    service("shop", "cart", ["10.96.0.11"], [("http", "TCP", 80)]),
    endpoint_slice("shop", "cart", "cart-a", [endpoint(CART0), endpoint(CART1)]),
    service("web", "front", ["10.96.0.21"], [("http", "TCP", 80)]),
    endpoint_slice("web", "front", "front-a", [endpoint("127.0.0.21")]),
    pod("shop", "cart-0", CART0),
    pod("shop", "cart-1", CART1),
    pod("shop", "old-job", CART1, phase="Succeeded"),  # the running pod has its IP now
    pod("web", "front-0", FRONT0),
    pod("web", "front-1", "127.0.0.21"),
    pod("kube-system", "agent-a", SHARED),  # host network: one IP, several pods
    pod("kube-system", "agent-b", SHARED),
]


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory):
    return write_snapshot(tmp_path_factory.mktemp("searchpath") / "cluster.yaml", ITEMS)


def line(client: str, qtype: str, name: str, rcode: str, prefix: str = "[INFO] ") -> str:
    remote = f"[{client}]" if ":" in client else client
    flags = "qr,aa,rd" if name.endswith("cluster.local.") else "qr,rd,ra"
    return (
        f'{prefix}{remote}:40000 - 1 "{qtype} IN {name} udp 60 false 512" {rcode} '
        f"{flags} 120 0.000123s\n"
    )


NX, OK = "NXDOMAIN", "NOERROR"
LOG = "".join(
    [
        "[INFO] plugin/reload: Running configuration SHA512 = 3e5c\n",
        # cart-0 asks api.example.com, A and AAAA side by side, through its whole search path
        line(CART0, "A", "api.example.com.shop.svc.cluster.local.", NX),
        line(CART0, "AAAA", "api.example.com.shop.svc.cluster.local.", NX),
        # meanwhile cart-1 asks front.web (a service in another namespace)
        line(CART1, "A", "front.web.shop.svc.cluster.local.", NX),
        line(CART0, "A", "api.example.com.svc.cluster.local.", NX),
        line(CART0, "AAAA", "api.example.com.svc.cluster.local.", NX),
        line(CART1, "A", "front.web.svc.cluster.local.", OK, "2026-12-05T10:00:00.1Z [INFO] "),
        line(CART0, "A", "api.example.com.cluster.local.", NX),
        line(SHARED, "A", "cart.shop.svc.cluster.local.", OK),
        line(CART0, "AAAA", "api.example.com.cluster.local.", NX),
        line(CART0, "A", "api.example.com.", OK),
        line(CART0, "AAAA", "api.example.com.", OK),
        "[ERROR] plugin/errors: 2 nope.example.net. A: read udp 10.244.0.2:3945->8.8.8.8:53: i/o timeout\n",
        line(CART0, "A", "cart.shop.svc.cluster.local.", OK),  # `cart`: the first expansion
        line(CART0, "A", "front.web.shop.svc.cluster.local.", NX),
        line(CART0, "A", "front.web.svc.cluster.local.", OK),
        # cart-1: a name that does not exist anywhere walks to the bare name
        line(CART1, "A", "nope.example.net.shop.svc.cluster.local.", NX),
        line(CART1, "A", "nope.example.net.svc.cluster.local.", NX),
        line(CART1, "A", "nope.example.net.cluster.local.", NX),
        line(SHARED, "A", "nope.", NX),
        line(CART1, "A", "nope.example.net.", NX),
        "not a log line at all\n",
        # front-0 (IPv6) asks a service by its full name without the trailing dot: 4 dots < 5
        line(FRONT0, "A", "cart.shop.svc.cluster.local.web.svc.cluster.local.", NX),
        line(FRONT0, "A", "cart.shop.svc.cluster.local.svc.cluster.local.", NX),
        line(FRONT0, "A", "cart.shop.svc.cluster.local.cluster.local.", NX),
        line(FRONT0, "A", "cart.shop.svc.cluster.local.", OK),
        line(FRONT0, "A", "front.web.svc.cluster.local.", OK).rstrip("\n")
        + ' "QUERY"\n',  # {combined}
        line("127.0.0.99", "A", "cart.shop.svc.cluster.local.", OK),
    ]
)


def names(rows: list[dict]) -> list[tuple[str, int, int, int, str | None]]:
    return [(n["name"], n["lookups"], n["long_way"], n["wasted"], n["answer"]) for n in rows]


def run_json(snapshot, *args: str, stdin: str | None = None) -> dict:
    result = cli("searchpath", "--snapshot", snapshot, "--json", *args, stdin=stdin)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_counts_per_namespace_and_pod(snapshot, tmp_path):
    (tmp_path / "coredns.log").write_text(LOG)
    report = run_json(snapshot, "--top", "0", str(tmp_path / "coredns.log"))
    assert (report["lines"], report["skipped"], report["queries"], report["wasted"]) == (
        28,
        3,
        25,
        14,
    )
    assert [
        (n["namespace"], n["pods"], n["queries"], n["wasted"], n["lookups"])
        for n in report["namespaces"]
    ] == [("shop", 2, 17, 11, 6), ("web", 1, 5, 3, 2)]
    assert names(report["namespaces"][0]["long_way"]) == [
        ("api.example.com", 2, 2, 6, "api.example.com."),
        ("nope.example.net", 1, 1, 3, None),
        ("front.web", 2, 2, 2, "front.web.svc.cluster.local."),
    ]
    assert [
        (p["namespace"], p["pod"], p["ip"], p["queries"], p["wasted"], p["lookups"])
        for p in report["pods"]
    ] == [
        ("shop", "cart-0", CART0, 11, 7, 4),
        ("shop", "cart-1", CART1, 6, 4, 2),
        ("web", "front-0", FRONT0, 5, 3, 2),
    ]
    assert names(report["pods"][2]["long_way"]) == [
        ("cart.shop.svc.cluster.local", 1, 1, 3, "cart.shop.svc.cluster.local."),
    ]
    assert report["unknown"] == {
        "clients": 2,
        "queries": 3,
        "nxdomain": 1,
        "top": [
            {"ip": SHARED, "queries": 2, "nxdomain": 1},
            {"ip": "127.0.0.99", "queries": 1, "nxdomain": 0},
        ],
    }


def test_advice_and_what_each_saves(snapshot):
    advice = run_json(snapshot, "--top", "0", "-", stdin=LOG)["advice"]
    assert [
        (a["kind"], a["saves"], a.get("namespace"), a.get("pod"), a.get("ndots"), a.get("write"))
        for a in advice
    ] == [
        ("autopath", 14, None, None, None, None),
        ("trailing-dot", 6, "shop", None, None, "api.example.com."),
        ("ndots", 6, "shop", "cart-0", 2, None),  # front.web (1 dot) still walks the path
        ("trailing-dot", 3, "shop", None, None, "nope.example.net."),
        ("trailing-dot", 3, "web", None, None, "cart.shop.svc.cluster.local."),
        ("ndots", 3, "web", "front-0", 4, None),
        ("trailing-dot", 2, "shop", None, None, "front.web.svc.cluster.local."),
    ]
    assert advice[2]["names"] == ["api.example.com"]
    assert advice[3]["text"] == (
        "namespace shop: ask nope.example.net. (trailing dot), not nope.example.net "
        "(nothing answers it: is it still needed?)"
    )


def test_top_bounds_the_lists(snapshot):
    report = run_json(snapshot, "--top", "1", "-", stdin=LOG)
    assert len(report["namespaces"]) == 2  # every namespace
    assert [p["pod"] for p in report["pods"]] == ["cart-0"]
    assert [len(n["long_way"]) for n in report["namespaces"]] == [1, 1]
    assert [u["ip"] for u in report["unknown"]["top"]] == [SHARED]
    assert [a["kind"] for a in report["advice"]] == ["autopath"]


def test_text_report(snapshot):
    result = cli("searchpath", "--snapshot", snapshot, "-", stdin=LOG)
    assert result.exit_code == 0, result.output
    text = result.stdout.splitlines()
    assert text[:3] == [
        "28 lines read: 25 queries, 3 other lines skipped",
        "22 queries from 3 pods in 2 namespaces: 14 wasted on search-path expansions (64%)",
        "3 queries from 2 addresses that no pod holds",
    ]
    assert text[4:7] == [
        "NAMESPACE  PODS  QUERIES  WASTED  LOOKED UP THE LONG WAY (QUERIES WASTED)",
        "shop          2       17      11  api.example.com 6, nope.example.net 3, front.web 2",
        "web           1        5       3  cart.shop.svc.cluster.local 3",
    ]
    assert "cart-0   shop       127.0.0.11       11       7  api.example.com 6, front.web 1" in text
    assert (
        "   14  Corefile: `autopath @kubernetes` (with `pods verified`): the server walks the search path, one query per lookup from a pod"
        in text
    )


def test_pods_of_the_live_cluster(tmp_path):
    """`--kubeconfig`: the Pods are listed too, though the Corefile's are not `verified`."""
    with FakeKubeAPI() as fake:
        for item in ITEMS:
            fake.add(item)
        kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
        result = cli("searchpath", "--kubeconfig", kubeconfig, "--json", "-", stdin=LOG)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [(p["pod"], p["queries"], p["wasted"]) for p in report["pods"]] == [
        ("cart-0", 11, 7),
        ("cart-1", 6, 4),
        ("front-0", 5, 3),
    ]


def test_a_line_that_is_not_utf8_is_skipped(snapshot, tmp_path):
    log = tmp_path / "coredns.log"
    log.write_bytes(
        b"[INFO] \xff\xfe\n" + line(CART0, "A", "cart.shop.svc.cluster.local.", OK).encode()
    )
    report = run_json(snapshot, str(log))
    assert (report["lines"], report["skipped"], report["queries"]) == (2, 1, 1)


def test_a_log_that_cannot_be_read(snapshot, tmp_path):
    result = cli("searchpath", "--snapshot", snapshot, str(tmp_path / "missing.log"))
    assert result.exit_code == 2
    assert "missing.log: cannot read: No such file or directory" in result.output


def audit_of(*queries: tuple[str, str, str], host_search: tuple[str, ...] = ()) -> SearchPathAudit:
    """An audit of one pod in `shop` at CART0 asking (type, name, rcode) in that order."""
    audit = SearchPathAudit({CART0: Client("shop", "cart-0", CART0)}, "cluster.local", host_search)
    audit.read([line(CART0, *q) for q in queries])
    return audit


def stats(audit: SearchPathAudit, name: str):
    (pod,) = audit.pods.values()
    return pod.names[name]


def test_a_name_with_enough_dots_is_asked_as_it_is_first():
    audit = audit_of(
        ("A", "a.b.c.d.e.example.com.", OK),  # bare first, answered
        ("A", "x.y.z.w.v.example.com.", NX),  # bare first, then the path
        ("A", "x.y.z.w.v.example.com.shop.svc.cluster.local.", NX),
        ("A", "x.y.z.w.v.example.com.svc.cluster.local.", OK),
    )
    assert stats(audit, "a.b.c.d.e.example.com").wasted == 0
    walked = stats(audit, "x.y.z.w.v.example.com")
    assert (walked.lookups, walked.wasted, walked.autopath) == (1, 2, 0)


def test_lookups_of_one_type_interleaved_and_left_open():
    audit = audit_of(
        ("A", "a.example.com.shop.svc.cluster.local.", NX),
        ("A", "b.example.com.shop.svc.cluster.local.", NX),
        ("A", "a.example.com.svc.cluster.local.", NX),
        ("A", "b.example.com.svc.cluster.local.", OK),
        ("A", "a.example.com.cluster.local.", NX),
    )  # no reply came: the log ends
    assert (stats(audit, "b.example.com").wasted, stats(audit, "b.example.com").answer) == (
        1,
        "b.example.com.svc.cluster.local.",
    )
    given_up = stats(audit, "a.example.com")
    assert (given_up.lookups, given_up.wasted, given_up.autopath) == (1, 0, 2)


def test_a_host_search_domain_and_a_retry():
    audit = audit_of(
        ("A", "db.shop.svc.cluster.local.", NX),
        ("A", "db.svc.cluster.local.", NX),
        ("A", "db.cluster.local.", NX),
        ("A", "db.corp.example.", OK),
        ("A", "db.shop.svc.cluster.local.", NX),  # the next lookup
        ("A", "db.shop.svc.cluster.local.", NX),  # a retry: one more
        host_search=("corp.example",),
    )
    db = stats(audit, "db")
    assert (db.lookups, db.wasted, db.answer) == (3, 3, "db.corp.example.")


COREFILE = """\
.:53 {
    log
    hosts {
        192.0.2.10 api.example.com
        fallthrough
    }
    kubernetes cluster.local
}
"""


def walk(server, source: str, name: str, namespace: str, qtypes=("A", "AAAA")) -> int:
    """Ask `name` from `source` as a ClusterFirst pod's resolver does (ndots:5, A and AAAA
    side by side, the next candidate until one answers); the queries sent."""
    search = [f"{namespace}.svc.cluster.local", "svc.cluster.local", "cluster.local"]
    expansions = [f"{name}.{domain}." for domain in search]
    candidates = [f"{name}.", *expansions] if name.count(".") >= 5 else [*expansions, f"{name}."]
    sent = 0
    for candidate in candidates:
        rcodes = [query(server, candidate, qtype, source=source).rcode() for qtype in qtypes]
        sent += len(rcodes)
        if dns.rcode.NOERROR in rcodes:
            break
    return sent


def test_the_log_of_our_own_server(snapshot, tmp_path):
    corefile = tmp_path / "Corefile"
    corefile.write_text(COREFILE)
    with serving(["--conf", str(corefile), "--snapshot", str(snapshot)]) as server:
        sent = [
            walk(server, CART0, "api.example.com", "shop"),  # 6 expansions, then hosts answers
            walk(server, CART0, "cart", "shop"),  # the first expansion answers
            walk(server, CART1, "front.web", "shop", ("A",)),  # the second
            walk(server, CART1, "nope.example.net", "shop", ("A",)),  # SERVFAIL at the end
            walk(server, "127.0.0.21", "cart.shop", "web"),  # the second, A and AAAA
            walk(server, "127.0.0.99", "cart.shop.svc.cluster.local", "shop", ("A",)),
        ]
        assert sent == [8, 2, 2, 4, 4, 4]
        logged = wait_for(
            lambda: (
                (lines := [x for x in server.log if x.startswith("[INFO] ")])
                and len(lines) == sum(sent)
                and lines
            ),
            what="every query logged",
        )
    (tmp_path / "query.log").write_text("".join(logged))
    report = run_json(snapshot, str(tmp_path / "query.log"))
    assert (report["lines"], report["skipped"], report["queries"], report["wasted"]) == (
        24,
        0,
        24,
        12,
    )
    assert [
        (n["namespace"], n["pods"], n["queries"], n["wasted"]) for n in report["namespaces"]
    ] == [("shop", 2, 16, 10), ("web", 1, 4, 2)]
    assert [(p["pod"], p["queries"], p["wasted"]) for p in report["pods"]] == [
        ("cart-0", 10, 6),
        ("cart-1", 6, 4),
        ("front-1", 4, 2),
    ]
    assert report["unknown"]["top"] == [{"ip": "127.0.0.99", "queries": 4, "nxdomain": 3}]
    assert report["advice"][0] == {
        "kind": "autopath",
        "saves": 12,
        "text": "Corefile: `autopath @kubernetes` (with `pods verified`): the server walks the search path, one query per lookup from a pod",
    }
