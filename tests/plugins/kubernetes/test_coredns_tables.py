"""CoreDNS's own kubernetes-plugin behaviour tables (tests/data/coredns_cases.yaml), replayed
against our resolver with the same fixture cluster and options."""

from __future__ import annotations

from typing import Any

import dns.rdata
import dns.rdataclass
import dns.rdatatype
import pytest
import yaml
from dnslib import QTYPE, RCODE

from clusterdns.config.servers import load_config
from clusterdns.plugins.kubernetes.index import RecordIndex
from clusterdns.plugins.kubernetes.objects import Endpoint, endpoint_name
from clusterdns.plugins.kubernetes.records import BuildOptions
from clusterdns.plugins.kubernetes.resolver import Resolver, ResolverSettings
from harness.paths import TEST_DATA
from harness.resolvers import state_from_items

TABLES = yaml.safe_load((TEST_DATA / "coredns_cases.yaml").read_text())
DEFAULT_CLUSTER = yaml.safe_load((TEST_DATA / TABLES["default_cluster"]).read_text())["items"]
IGNORED_TTL = 303  # the Go tests' "any TTL" marker


def dns_cases() -> list[Any]:
    params = []
    for group in TABLES["groups"]:
        if group.get("kind", "dns") != "dns" or group.get("skip"):
            continue
        for i, case in enumerate(group["cases"]):
            reason = case.get("skip")
            if group.get("enforced") is False:
                reason = "CoreDNS's own test ignores this comparison (its expectation is stale)"
            marks = [pytest.mark.skip(reason=reason)] if reason else []
            case_id = f"{group['name']}[{i}]-{case['qname']}-{case['qtype']}"
            params.append(pytest.param(group, case, id=case_id, marks=marks))
    return params


_resolvers: dict[str, Resolver] = {}


def resolver_for(group: dict[str, Any]) -> Resolver:
    if group["name"] not in _resolvers:
        (server,) = load_config(".:53 {\n" + group["corefile"] + "}\n", group["name"])
        k8s = server.kubernetes
        assert k8s is not None
        items = group["cluster"]["items"] if "cluster" in group else DEFAULT_CLUSTER
        state = state_from_items(items, synced=group.get("api_synced", True))
        options = BuildOptions(k8s.endpoint_pod_names, k8s.noendpoints, k8s.ignore_empty_service)
        index = RecordIndex(state, k8s.zones, options, k8s.namespaces)
        own = tuple(group.get("local_ips") or ("127.0.0.1",))
        settings = ResolverSettings(
            k8s.zones, k8s.reverse_zones, k8s.ttl, k8s.pods, k8s.fallthrough, own
        )
        _resolvers[group["name"]] = Resolver(index, settings)
    return _resolvers[group["name"]]


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


@pytest.mark.parametrize(("group", "case"), dns_cases())
def test_coredns_case(group, case):
    resolver = resolver_for(group)
    answer = resolver.resolve(case["qname"], getattr(QTYPE, case["qtype"]))
    checks = case.get("checks", ["rcode", "answer", "ns", "extra"])
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


def hostname_cases() -> list[Any]:
    (group,) = [g for g in TABLES["groups"] if g.get("kind") == "endpoint_hostname"]
    return [pytest.param(case, id=f"{case['ip']}-{case['hostname']}-{case['target_ref_pod']}-{case['endpoint_pod_names']}") for case in group["cases"]]


@pytest.mark.parametrize("case", hostname_cases())
def test_coredns_endpoint_hostname(case):
    ep = Endpoint((case["ip"],), True, case["hostname"], case["target_ref_pod"])
    assert endpoint_name(ep, case["ip"], case["endpoint_pod_names"]) == case["expected"]
