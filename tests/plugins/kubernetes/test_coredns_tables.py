"""CoreDNS's own kubernetes-plugin behaviour tables (tests/data/coredns_cases.yaml), replayed
against our resolver with the same fixture cluster and options: each case's rcode and
sections, its TC bit and CNAME order where the Go test checks them, and the AXFR/IXFR streams
through the transfer plugin. Every case shows in the report: one the table says not to replay
(or a Go-internal result) is a skip with the reason, one we answer otherwise a strict xfail."""

from __future__ import annotations

from typing import Any

import dns.rdata
import dns.rdataclass
import dns.rdatatype
import pytest
import yaml
from dnslib import QTYPE, RCODE, RR, SOA, DNSRecord

from clusterdns.plugins.kubernetes.index import RecordIndex
from clusterdns.plugins.kubernetes.objects import Endpoint, endpoint_name
from clusterdns.plugins.kubernetes.records import BuildOptions
from clusterdns.plugins.kubernetes.resolver import Resolver, ResolverSettings
from clusterdns.plugins.kubernetes.setup import KUBERNETES
from clusterdns.plugins.kubernetes.xfr import ClusterZones
from clusterdns.plugins.transfer import TransferConfig, ZoneTransfer
from clusterdns.server.directives import load_config
from harness.paths import TEST_DATA
from harness.resolvers import handler_for, state_from_items

TABLES = yaml.safe_load((TEST_DATA / "coredns_cases.yaml").read_text())
DEFAULT_CLUSTER = yaml.safe_load((TEST_DATA / TABLES["default_cluster"]).read_text())["items"]
IGNORED_TTL = 303  # the Go tests' "any TTL" marker
GO_SERIAL = 3  # the SOA serial of the Go fixture (its fake API's Modified())


def groups(*kinds: str) -> list[dict[str, Any]]:
    return [group for group in TABLES["groups"] if group.get("kind", "dns") in kinds]


def why_not_replayed(group: dict[str, Any], case: dict[str, Any]) -> str | None:
    """The table's own reason not to replay a case (its group's, or the case's), if any."""
    if group.get("skip"):
        return f"{group['name']}: {group['skip']}"
    if case.get("skip"):
        return case["skip"]
    if group.get("enforced") is False:
        return "CoreDNS's own test ignores this comparison (its expectation is stale)"
    return None


# Cases where our server answers otherwise than CoreDNS, by "group[case number]": the
# difference, for an xfail that must keep failing (strict) until one of the two changes.
DIFFERS: dict[str, str] = {}
# Go-internal results that a DNS message shows all the same, by "group[case number]": these
# run although the table says no message is checked. nsAddrs(external=false) is what the
# zone's NS answer is made of (CoreDNS's Services and plugin.NS): its glue, in order.
SEEN_IN_A_MESSAGE = {"ns_test.nsAddrs[0]"}


def params(kinds: tuple[str, ...], case_id) -> list[Any]:
    """Every case of these kinds; one the table says not to replay is a visible skip, one we
    know we answer otherwise a strict xfail saying how."""
    found = []
    for group in groups(*kinds):
        for i, case in enumerate(group["cases"]):
            where = f"{group['name']}[{i}]"
            reason = None if where in SEEN_IN_A_MESSAGE else why_not_replayed(group, case)
            marks = [pytest.mark.skip(reason=reason)] if reason else []
            if where in DIFFERS:
                marks.append(pytest.mark.xfail(strict=True, reason=DIFFERS[where]))
            found.append(pytest.param(group, case, id=f"{where}-{case_id(case)}", marks=marks))
    return found


def dns_cases() -> list[Any]:
    return params(("dns",), lambda case: f"{case['qname']}-{case['qtype']}")


_resolvers: dict[str, Resolver] = {}
SYNTHESIZED = "clusterdns.test/synthesized"


def synthesized(item: dict[str, Any]) -> bool:
    """A Service the fixture added where Go has only EndpointSlices (reverse_test's svc2, svca,
    svcb): left out, as CoreDNS answers their endpoints' PTRs from the slices alone."""
    return SYNTHESIZED in (item.get("metadata", {}).get("annotations") or {})


def resolver_for(group: dict[str, Any], local_ips: list[str] | None = None) -> Resolver:
    key = f"{group['name']} {local_ips}"
    if key not in _resolvers:
        (server,) = load_config(".:53 {\n" + group["corefile"] + "}\n", group["name"])
        k8s = server.get(KUBERNETES)
        assert k8s is not None
        items = group["cluster"]["items"] if "cluster" in group else DEFAULT_CLUSTER
        items = [item for item in items if not synthesized(item)]
        state = state_from_items(items, synced=group.get("api_synced", True))
        options = BuildOptions(k8s.endpoint_pod_names, k8s.noendpoints, k8s.ignore_empty_service)
        index = RecordIndex(state, k8s.zones, options, k8s.namespaces)
        own = tuple(local_ips or group.get("local_ips") or ("127.0.0.1",))
        settings = ResolverSettings(
            k8s.zones, k8s.reverse_zones, k8s.ttl, k8s.pods, k8s.fallthrough, own
        )
        _resolvers[key] = Resolver(index, settings)
    return _resolvers[key]


def normalise(text: str) -> tuple[str, int | None, str, str]:
    """(owner exactly as written, TTL, type, rdata) — SOA rdata reduced to its MNAME."""
    owner, ttl, rdclass, rdtype, rdata = text.split(None, 4)
    parsed = dns.rdata.from_text(dns.rdataclass.from_text(rdclass), dns.rdatatype.from_text(rdtype), rdata)
    value = parsed.mname.to_text() if rdtype == "SOA" else parsed.to_text()
    if rdtype in ("SRV", "CNAME", "PTR", "NS"):
        value = rdata.split()[-1]  # keep the target's case exactly as written
    return owner, None if int(ttl) == IGNORED_TTL else int(ttl), rdtype, value


def ours(records) -> list[tuple[str, int | None, str, str]]:
    return sorted(normalise(" ".join(rr.toZone().split())) for rr in records)


def expected(lines: list[str]) -> list[tuple[str, int | None, str, str]]:
    return sorted(normalise(line) for line in lines)


def without_ignored_ttls(got, want):
    return [(o, None if w[1] is None else t, ty, v) for (o, t, ty, v), w in zip(got, want, strict=True)]


def reply_over_tcp(resolver: Resolver, case: dict[str, Any]) -> DNSRecord:
    """The reply on the wire, as the Go test's recorder sees it: a plain query (no EDNS), no
    size limit but the message's own (TCP), so TC is set only if the answer itself says so."""
    query = DNSRecord.question(case["qname"], case["qtype"])
    reply = handler_for(resolver).handle(bytes(query.pack()), over_tcp=True)
    assert isinstance(reply, bytes), reply
    return DNSRecord.parse(reply)


def cname_after_its_target(records: list[RR]) -> list[str]:
    """Go's test.CNAMEOrder: each CNAME that comes after a record owned by its target."""
    return [
        f"{rr.rname} CNAME {rr.rdata.label} after {earlier.rname} {QTYPE.get(earlier.rtype)}"
        for i, rr in enumerate(records) if rr.rtype == QTYPE.CNAME
        for earlier in records[:i] if str(earlier.rname) == str(rr.rdata.label)
    ]


@pytest.mark.parametrize(("group", "case"), dns_cases())
def test_coredns_case(group, case):
    resolver = resolver_for(group)
    answer = resolver.resolve(case["qname"], getattr(QTYPE, case["qtype"]))
    checks = case["checks"]
    got_rcode = "FORWARD" if answer.forward else RCODE.get(answer.rcode)
    if "rcode" in checks:
        assert got_rcode == case["rcode"]
    for section, records in (("answer", answer.answer), ("ns", answer.authority), ("extra", answer.additional)):
        if section not in checks:
            continue
        want = expected(case.get(section) or [])
        got = ours(records)
        assert len(got) == len(want), (section, got, want)
        assert without_ignored_ttls(got, want) == want, section
    if "truncated" in checks:
        assert bool(reply_over_tcp(resolver, case).header.tc) == case.get("truncated", False)
    if "cname_order" in checks:
        assert cname_after_its_target(answer.answer) == []
        assert cname_after_its_target(reply_over_tcp(resolver, case).rr) == []


def hostname_cases() -> list[Any]:
    (group,) = [g for g in TABLES["groups"] if g.get("kind") == "endpoint_hostname"]
    return [pytest.param(case, id=f"{case['ip']}-{case['hostname']}-{case['target_ref_pod']}-{case['endpoint_pod_names']}") for case in group["cases"]]


@pytest.mark.parametrize("case", hostname_cases())
def test_coredns_endpoint_hostname(case):
    ep = Endpoint((case["ip"],), True, case["hostname"], case["target_ref_pod"])
    assert endpoint_name(ep, case["ip"], case["endpoint_pod_names"]) == case["expected"]


# -- zone transfers: xfr_test.go's AXFR and IXFR streams ----------------------------------


# Go's hdls1 is one Endpoints object whose one subset holds its four IPv4 and two IPv6
# addresses, so k.Transfer weighs each of its SRV records floor(100/6) = 16. An EndpointSlice
# holds one address family, so the fixture has two (tests/data/README.md), and CoreDNS 1.14
# transfers each slice as an Endpoints object of its own (object.EndpointSliceToEndpoints),
# weighing its SRV records over its own addresses: floor(100/4) = 25 in the IPv4 slice,
# floor(100/2) = 50 in the IPv6 one. The weight CoreDNS sends for each target in these slices:
SLICED_HDLS1_WEIGHTS = {
    "172-0-0-2": 25, "172-0-0-3": 25, "dup-name": 25, "5678-abcd--1": 50, "5678-abcd--2": 50,
}


def as_sliced(line: str) -> str:
    """A record of Go's expected stream as CoreDNS sends it for the translated fixture."""
    owner, ttl, rdclass, rdtype, rdata = line.split(None, 4)
    if owner != "_http._tcp.hdls1.testns.svc.cluster.local." or rdtype != "SRV":
        return line
    priority, weight, port, target = rdata.split()
    assert weight == "16", line
    weight = str(SLICED_HDLS1_WEIGHTS[target.split(".", 1)[0]])
    return " ".join((owner, ttl, rdclass, rdtype, priority, weight, port, target))


def transfer_cases() -> list[Any]:
    return params(("transfer",), lambda case: f"{case['qtype']}-{case['qname']}")


def transfer_request(case: dict[str, Any], serial: int | None) -> bytes:
    request = DNSRecord.question(case["qname"], case["qtype"])
    if serial is not None:  # IXFR: the client's SOA in the authority section
        zone = case["qname"]
        soa = SOA(f"ns.dns.{zone}", f"hostmaster.{zone}", (serial, 0, 0, 0, 0))
        request.add_auth(RR(zone, QTYPE.SOA, rdata=soa))
    return bytes(request.pack())


def duplicate_key(text: str, serial: int | None = None) -> tuple[str, str, str]:
    """What miekg/dns's IsDuplicate compares: owner (any case), type and the whole rdata;
    not the TTL. A SOA's serial becomes `serial` when given."""
    owner, _ttl, rdclass, rdtype, rdata = text.split(None, 4)
    parsed = dns.rdata.from_text(dns.rdataclass.from_text(rdclass),
                                 dns.rdatatype.from_text(rdtype), rdata)
    if rdtype == "SOA" and serial is not None:
        parsed = parsed.replace(serial=serial)
    return owner.lower(), rdtype, parsed.to_text().lower()


@pytest.mark.parametrize(("group", "case"), transfer_cases())
def test_coredns_transfer(group, case):
    """The Go test calls k.Transfer(zone, serial) directly; here the transfer plugin asks
    the kubernetes plugin's zones (ClusterZones) for a client it allows (`to *`). The Go
    fixture's serial is its fake API's Modified() (3): ours is the index's. So the expected
    SOAs carry our serial, an IXFR that is "current" asks from ours, and one from 1 (older
    than either) falls back to the full zone."""
    resolver = resolver_for(group)
    zones = ClusterZones(resolver)
    transfer = ZoneTransfer((zones,), [TransferConfig(tuple(group["zones"]), tuple(group["transfer_to"]))])
    current = zones.serial
    asked = case.get("ixfr_serial")
    if asked == GO_SERIAL:
        asked = current  # "the client is current"
    elif asked is not None:
        assert asked != current  # the client is behind
    messages = [DNSRecord.parse(m) for m in transfer.replies(transfer_request(case, asked), "127.0.0.1")]
    assert [RCODE.get(m.header.rcode) for m in messages] == [case["rcode"]] * len(messages)
    records = [" ".join(rr.toZone().split()) for m in messages for rr in m.rr]
    assert records and records[0].split()[3] == "SOA"  # first_is_soa (validateAXFR too)
    if "record_count" in case["checks"]:
        assert len(records) == len(case["records"])
    if "records_in_order" in case["checks"]:
        want = [duplicate_key(as_sliced(line), current) for line in case["records"]]
        got = [duplicate_key(line) for line in records]
        assert got[: len(want)] == want


# -- what cannot be replayed: Go-internal results -----------------------------------------

NOT_A_MESSAGE = {
    "internal": "a Go-internal function's result, not a DNS message",
    "parse_request": "Go's parseRequest() result (a recordRequest string), not a DNS message; "
                     "the same names are asked as DNS queries in the dns groups",
}


def internal_cases(seen_in_a_message: bool) -> list[Any]:
    found = params(tuple(NOT_A_MESSAGE), lambda case: case.get("qname") or case.get("function"))
    return [p for p in found if (where(*p.values) in SEEN_IN_A_MESSAGE) == seen_in_a_message]


def where(group: dict[str, Any], case: dict[str, Any]) -> str:
    return f"{group['name']}[{group['cases'].index(case)}]"


@pytest.mark.parametrize(("group", "case"), internal_cases(seen_in_a_message=False))
def test_coredns_internal_result(group, case):
    """Listed so that every case in the tables shows in the report: none is left out quietly."""
    pytest.skip(NOT_A_MESSAGE[group["kind"]])


@pytest.mark.parametrize(("group", "case"), internal_cases(seen_in_a_message=True))
def test_coredns_ns_addrs_are_the_apex_glue(group, case):
    """nsAddrs(external=false, headless=false, zone) with the case's local IPs: the glue of
    the zone's NS answer, record by record in order (count, order, owner, address)."""
    assert case["function"].startswith("nsAddrs(external=false, headless=false, ")
    (zone,) = group["zones"]
    answer = resolver_for(group, case["local_ips"]).resolve(zone, QTYPE.NS)
    got = [(str(rr.rname), QTYPE.get(rr.rtype), str(rr.rdata)) for rr in answer.additional]
    assert got == [(want["name"], want["type"], want["address"]) for want in case["expect"]]
