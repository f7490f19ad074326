"""`metadata` and the kubernetes plugin's metadata in `log` lines, over real sockets: clients
sending from pod addresses on loopback (127.0.0.x as pod IPs in the snapshot) and from an
address no pod holds; the parts of cluster names; the blocks that would write `-`, refused;
client attribution on /metrics."""

from __future__ import annotations

import pytest
from dnslib import DNSRecord

from clusterdns.config.corefile import CorefileError
from clusterdns.dns.request import Request
from clusterdns.plugins.metadata import METADATA, Metadata
from clusterdns.server.directives import load_config
from harness.http import metrics, value
from harness.query import query
from harness.server import serving
from harness.snapshots import endpoint, endpoint_slice, namespace, pod, service, write_snapshot
from harness.wait import wait_for

CART, FRONT, NOBODY = "127.0.0.11", "127.0.0.21", "127.0.0.99"
ITEMS = [
    namespace("shop"),
    namespace("web"),
    service("shop", "cart", ["10.96.0.11"], [("http", "TCP", 80)]),
    endpoint_slice("shop", "cart", "cart-a", [endpoint(CART)], [("http", "TCP", 80)]),
    service("web", "db", ["None"], [("pg", "TCP", 5432)]),
    endpoint_slice("web", "db", "db-a", [endpoint("10.244.0.5", hostname="db-0")],
                   [("pg", "TCP", 5432)]),
    pod("shop", "cart-0", CART),
    pod("web", "front-0", FRONT),
]
FIELDS = (
    "client={/kubernetes/client-namespace}/{/kubernetes/client-pod-name} "
    "kind={/kubernetes/kind} namespace={/kubernetes/namespace} service={/kubernetes/service} "
    "endpoint={/kubernetes/endpoint} port={/kubernetes/port-name} "
    "protocol={/kubernetes/protocol} error={/kubernetes/parse-error} "
    "{/log/type} {/log/class}"
)
COREFILE = f"""\
.:53 {{
    metadata
    log . "{{remote}} {{type}} {{name}} {{rcode}} {FIELDS}"
    hosts {{
        192.0.2.10 api.example.com
        fallthrough
    }}
    kubernetes cluster.local in-addr.arpa {{
        pods verified
    }}
    prometheus 127.0.0.1:0
}}
corp.example:53 {{
    template IN A {{
        rcode NXDOMAIN
    }}
}}
"""
HOST_SEARCH = "corp.example"  # the host's search domain (--resolv-conf), after the cluster's


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory):
    return write_snapshot(tmp_path_factory.mktemp("metadata") / "cluster.yaml", ITEMS)


@pytest.fixture(scope="module")
def server(snapshot, tmp_path_factory):
    directory = tmp_path_factory.mktemp("corefile")
    corefile, resolv_conf = directory / "Corefile", directory / "resolv.conf"
    corefile.write_text(COREFILE)
    resolv_conf.write_text(f"search {HOST_SEARCH}\n")
    args = ["--conf", str(corefile), "--snapshot", str(snapshot), "--resolv-conf", str(resolv_conf)]
    with serving(args) as running:
        yield running


def logged(server, count: int) -> list[str]:
    """The server's last `count` query lines (without `[INFO] `), once they are written."""
    lines = wait_for(
        lambda: (found := [x for x in server.log if x.startswith("[INFO] ")])
        and len(found) >= count and found,
        what=f"{count} query lines",
    )
    return [line.removeprefix("[INFO] ").rstrip("\n") for line in lines[-count:]]


def test_the_client_pod_and_the_name_s_parts(server):
    asked = [
        (CART, "cart.shop.svc.cluster.local.", "A"),
        (CART, "cart.shop.svc.cluster.local.", "A"),  # from the wire answers this time
        (FRONT, "_http._tcp.cart.shop.svc.cluster.local.", "SRV"),
        (FRONT, "db-0.db.web.svc.cluster.local.", "A"),
        (FRONT, "10-244-0-9.web.pod.cluster.local.", "A"),  # verified: no such pod
        (NOBODY, "shop.svc.cluster.local.", "A"),
    ]
    for source, name, qtype in asked:
        query(server, name, qtype, source=source)
    assert logged(server, len(asked)) == [
        f"{CART} A cart.shop.svc.cluster.local. NOERROR client=shop/cart-0 kind=svc "
        "namespace=shop service=cart endpoint= port= protocol= error=- NOERROR success",
        f"{CART} A cart.shop.svc.cluster.local. NOERROR client=shop/cart-0 kind=svc "
        "namespace=shop service=cart endpoint= port= protocol= error=- NOERROR success",
        f"{FRONT} SRV _http._tcp.cart.shop.svc.cluster.local. NOERROR client=web/front-0 "
        "kind=svc namespace=shop service=cart endpoint= port=http protocol=tcp error=- "
        "NOERROR success",
        f"{FRONT} A db-0.db.web.svc.cluster.local. NOERROR client=web/front-0 kind=svc "
        "namespace=web service=db endpoint=db-0 port= protocol= error=- NOERROR success",
        f"{FRONT} A 10-244-0-9.web.pod.cluster.local. NXDOMAIN client=web/front-0 kind=pod "
        "namespace=web service=10-244-0-9 endpoint= port= protocol= error=- NXDOMAIN denial",
        f"{NOBODY} A shop.svc.cluster.local. NOERROR client=-/- kind=svc namespace=shop "
        "service= endpoint= port= protocol= error=- NODATA denial",
    ]


def test_names_no_rule_reads_and_names_outside_the_cluster(server):
    asked = [
        (CART, "a.b.c.d.shop.svc.cluster.local.", "A"),  # too long: parse-error
        (CART, "api.example.com.cluster.local.", "A"),  # neither svc nor pod
        (CART, "11.0.0.127.in-addr.arpa.", "PTR"),  # a reverse zone of the plugin
        (CART, "api.example.com.", "A"),  # not the kubernetes plugin's
    ]
    for source, name, qtype in asked:
        query(server, name, qtype, source=source)
    no_parts = "kind=- namespace=- service=- endpoint=- port=- protocol=-"
    assert logged(server, len(asked)) == [
        f"{CART} A a.b.c.d.shop.svc.cluster.local. NXDOMAIN client=shop/cart-0 {no_parts} "
        "error=invalid query name NXDOMAIN denial",
        f"{CART} A api.example.com.cluster.local. NXDOMAIN client=shop/cart-0 {no_parts} "
        "error=invalid query name NXDOMAIN denial",
        f"{CART} PTR 11.0.0.127.in-addr.arpa. NOERROR client=shop/cart-0 {no_parts} "
        "error=invalid query name NOERROR success",
        f"{CART} A api.example.com. NOERROR client=shop/cart-0 {no_parts} error=- "
        "NOERROR success",
    ]


def walk(server, source: str, name: str, search: list[str]) -> list[int]:
    """Ask `name` A along `search` then as it is, as a pod's resolver does: the rcodes."""
    rcodes = []
    for candidate in [f"{name}.{domain}." for domain in search] + [f"{name}."]:
        rcodes.append(query(server, candidate, "A", source=source).rcode())
        if rcodes[-1] == 0:
            break
    return rcodes


def test_queries_and_missed_expansions_per_client_namespace(server):
    before = metrics(server)
    shop = ["shop.svc.cluster.local", "svc.cluster.local", "cluster.local", HOST_SEARCH]
    web = ["web.svc.cluster.local", "svc.cluster.local", "cluster.local", HOST_SEARCH]
    for _ in range(2):  # the second time from the wire answers
        assert walk(server, CART, "api.example.com", shop) == [3, 3, 3, 3, 0]
        assert walk(server, CART, "cart", shop) == [0]
        assert walk(server, FRONT, "cart.shop", web) == [3, 0]
        assert walk(server, NOBODY, "nope", shop) == [3, 3, 3, 3, 2]  # SERVFAIL: no forward
        query(server, "99.0.0.10.in-addr.arpa.", "PTR", source=FRONT)  # NXDOMAIN, reverse
        query(server, "nope.example.", "A", source=FRONT)  # SERVFAIL, not under a search domain
    after = metrics(server)

    def added(metric: str, namespace: str) -> float:
        return value(after, metric, namespace=namespace) - value(before, metric, namespace=namespace)

    requests = "clusterdns_kubernetes_client_requests_total"
    missed = "clusterdns_kubernetes_client_search_nxdomain_total"
    assert [added(requests, ns) for ns in ("shop", "web", "-")] == [12, 8, 10]
    assert [added(missed, ns) for ns in ("shop", "web", "-")] == [8, 2, 8]


def test_collected_for_the_metadata_zones_only():
    class Provider:
        def metadata(self, request: Request) -> dict[str, str]:
            return {"test/name": request.name}

    metadata = Metadata(("shop.svc.cluster.local.",), "Corefile", 2, (Provider(),))
    inside = Request.read(bytes(DNSRecord.question("cart.shop.svc.cluster.local.").pack()))
    outside = Request.read(bytes(DNSRecord.question("db.web.svc.cluster.local.").pack()))
    assert metadata.collect(inside) == {"test/name": "cart.shop.svc.cluster.local."}
    assert metadata.collect(outside) == {}


LOG_CLIENT = '    log . "{/kubernetes/client-namespace}"'


@pytest.mark.parametrize(
    ("body", "where", "message"),
    [
        (f"{LOG_CLIENT}\n    kubernetes cluster.local {{\n        pods verified\n    }}", 2,
         "log: {/kubernetes/client-namespace} needs the metadata plugin in this server block"),
        (f"    metadata\n{LOG_CLIENT}\n    kubernetes cluster.local {{\n        pods insecure\n"
         "    }", 3, "log: {/kubernetes/client-namespace} needs 'pods verified' in the "
         "kubernetes directive (it is 'pods insecure')"),
        (f"    metadata\n{LOG_CLIENT}\n    kubernetes cluster.local", 3,
         "needs 'pods verified' in the kubernetes directive (it is 'pods disabled')"),
        (f"    metadata\n{LOG_CLIENT}\n    hosts", 3, "log: {/kubernetes/client-namespace} is "
         "provided by no plugin of this server block (these are: log/type, log/class)"),
        ('    metadata\n    log . "{/kubernetes/client-label/app}"\n    kubernetes cluster.local',
         3, "{/kubernetes/client-label/app} is not supported: pods are kept without their labels"),
        ('    metadata\n    log . "{/kubernetes/cluster}"\n    kubernetes cluster.local', 3,
         "{/kubernetes/cluster} is provided by no plugin of this server block"),
        ('    metadata\n    log . "{/cluster}"', 3, "log: {/cluster} names no metadata label"),
        ("    metadata\n    log\n    kubernetes cluster.local", 2,
         "metadata: nothing in this server block reads it"),
        ('    metadata {\n        zones a.local\n    }\n    log . "{/log/type}"', 3,
         "unknown metadata option 'zones'"),
    ],
)
def test_what_coredns_would_write_as_dashes_is_refused(body, where, message):
    with pytest.raises(CorefileError) as caught:
        load_config(f".:53 {{\n{body}\n}}\n")
    assert str(caught.value).startswith(f"Corefile:{where}: ")
    assert message in caught.value.message


def test_metadata_takes_zones_and_log_its_own_labels_without_kubernetes():
    (config,) = load_config(
        '.:53 {\n    metadata shop.svc.cluster.local\n    log . "{/log/type} {/log/class}"\n}\n'
    )
    metadata = config.get(METADATA)
    assert metadata is not None and metadata.zones == ("shop.svc.cluster.local.",)
