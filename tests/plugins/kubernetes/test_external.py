"""What the kubernetes plugin gives k8s_external (plugins/kubernetes/external.py): the
nameserver's addresses as CoreDNS's nsAddrs(external=true) finds them (ns_test.go's
TestNsAddrsExternal*), names read as CoreDNS's External reads them, the PTR index and the
external zones' serial following the state."""

from __future__ import annotations

from dnslib import RCODE

from clusterdns.plugins.kubernetes.external import External
from clusterdns.plugins.kubernetes.objects import Service, parse_object
from harness.resolvers import make_resolver, state_from_items
from harness.snapshots import endpoint, endpoint_slice, namespace, service

DNS = [("dns", "UDP", 53)]
POD_IP = "10.244.0.20"
ZONE = "example.com."


def cluster(external_ips: list[str] = ()) -> list[dict]:  # type: ignore[assignment]
    """ns_test.go's fixture: our pod IP is an endpoint of a ClusterIP and a headless Service."""
    return [
        namespace("kube-system"),
        service("kube-system", "dns-service", ["10.0.0.111"], DNS, external_ips=external_ips),
        endpoint_slice("kube-system", "dns-service", "dns-service-a", [endpoint(POD_IP)], DNS),
        service("kube-system", "hdls-dns-service", ["None"], DNS),
        endpoint_slice("kube-system", "hdls-dns-service", "hdls-a", [endpoint(POD_IP)], DNS),
    ]


def external(items: list[dict], headless: bool = False, **options) -> External:
    state = state_from_items(items)
    return External(make_resolver(state, own_ips=(POD_IP,), **options), headless)


def test_nameserver_addresses_as_coredns_ns_addrs_external():
    # TestNsAddrsExternalHeadless: the headless Service's endpoint
    assert external(cluster(), headless=True).addresses() == [POD_IP]
    # TestNsAddrsExternal: none until the Service has an external IP; then that one
    source = external(cluster())
    assert source.addresses() == []
    source.state.upsert(parse_object("Service", cluster(["1.2.3.4"])[1]))
    assert source.addresses() == ["1.2.3.4"]
    # TestNsAddrsExternalWithPreexistingExternalIP
    assert external(cluster(["1.2.3.4"])).addresses() == ["1.2.3.4"]
    # no EndpointSlice holds our IP: our own address
    alone = External(make_resolver(state_from_items(cluster()), own_ips=("192.0.2.53",)), False)
    assert alone.addresses() == ["192.0.2.53"]


def test_names_are_read_as_coredns_external_reads_them():
    source = external(cluster(["1.2.3.4"]), headless=True)
    base = "dns-service.kube-system.example.com."
    assert source.external(base, ZONE) == ([("1.2.3.4", 53, base)], RCODE.NOERROR)
    assert source.external("_dns._udp." + base, ZONE)[0] == [("1.2.3.4", 53, base)]
    assert source.external("dns._udp." + base, ZONE)[0] == [("1.2.3.4", 53, base)]  # no _
    assert source.external("_dns._tcp." + base, ZONE) == ([], RCODE.NXDOMAIN)
    assert source.external("kube-system.example.com.", ZONE) == ([], RCODE.NOERROR)
    assert source.external("nothing.example.com.", ZONE) == ([], RCODE.NXDOMAIN)
    assert source.external("a.b.c." + base, ZONE) == ([], RCODE.NXDOMAIN)
    headless = "hdls-dns-service.kube-system.example.com."
    ep = f"10-244-0-20.{headless}"
    assert source.external(headless, ZONE) == ([(POD_IP, 53, ep)], RCODE.NOERROR)
    assert source.external(ep, ZONE) == ([(POD_IP, 53, ep)], RCODE.NOERROR)
    assert source.external("other." + headless, ZONE) == ([], RCODE.NXDOMAIN)
    # without `headless` a headless Service without external IPs has no name here
    assert external(cluster()).external(headless, ZONE) == ([], RCODE.NXDOMAIN)
    # the root zone
    assert source.external("dns-service.kube-system.", ".")[0] == [
        ("1.2.3.4", 53, "dns-service.kube-system.")]


def test_the_ptr_index_and_the_serial_follow_the_state():
    source = external(cluster(["1.2.3.4", "1.2.3.5"]))
    changed: list[int] = []
    source.subscribe(lambda: changed.append(source.serial))
    assert source.reverse("1.2.3.4") == ["dns-service.kube-system"]
    serial = source.serial
    source.state.upsert(parse_object("EndpointSlice", endpoint_slice(
        "kube-system", "dns-service", "dns-service-a", [endpoint("10.244.0.21")], DNS)))
    assert source.serial == serial and not changed  # endpoints are not served here
    source.state.upsert(parse_object("Service", cluster(["1.2.3.5"])[1]))
    assert source.reverse("1.2.3.4") == [] and source.reverse("1.2.3.5") == ["dns-service.kube-system"]
    assert source.serial > serial and changed == [source.serial]
    source.state.delete(Service, ("kube-system", "dns-service"))
    assert source.reverse("1.2.3.5") == [] and len(changed) == 2
    source.close()
    source.state.upsert(parse_object("Service", cluster(["1.2.3.6"])[1]))
    assert source.reverse("1.2.3.6") == [] and len(changed) == 2  # closed: no longer follows
