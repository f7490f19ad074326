"""The compact records: an EndpointSlice keeps its endpoints by column (Endpoints), and reads
them back exactly as they were given."""

from __future__ import annotations

import dataclasses

import pytest

from clusterdns.plugins.kubernetes.objects import (
    Endpoint,
    Endpoints,
    EndpointSlice,
    parse_endpoint_slice,
    parse_service,
)
from harness.snapshots import service

EXAMPLES = [
    (),
    (Endpoint(("10.0.0.1",), True, None, "web-1"),),
    (Endpoint(("10.0.0.1",), True, None, None),),
    (
        Endpoint(("10.0.0.1",), True, "web-0", "web-0"),
        Endpoint(("10.0.0.2", "10.0.0.3"), False, None, None),  # several addresses, not ready
        Endpoint((), True, None, "no-address"),  # an FQDN slice's endpoints keep none
        Endpoint(("10.0.0.4",), False, None, "web-3"),
    ),
    # pod names kept as a common prefix and the rest of each: one the prefix of another,
    # one character, nothing in common, a None among them
    tuple(Endpoint((f"10.0.0.{i}",), True, None, pod) for i, pod in enumerate(["web", "web-1"])),
    tuple(Endpoint((f"10.0.0.{i}",), True, None, pod) for i, pod in enumerate(["a", "a", "b"])),
    tuple(Endpoint((f"10.0.0.{i}",), True, None, pod) for i, pod in enumerate(["x-1", None, "x-2"])),
    # pod names the joined column cannot hold: kept as they are
    (Endpoint(("10.0.0.1",), True, None, ""), Endpoint(("10.0.0.2",), True, None, None)),
    (Endpoint(("10.0.0.1",), True, None, "a\nb"), Endpoint(("10.0.0.2",), True, None, "c")),
    (Endpoint(("10.0.0.1",), True, "", None),),  # an empty hostname is not None either
    tuple(Endpoint((f"10.0.{i}.1",), i % 7 != 3, None, f"big-{i}") for i in range(300)),
]


@pytest.mark.parametrize("endpoints", EXAMPLES)
def test_endpoints_read_back_as_given(endpoints):
    kept = Endpoints(endpoints)
    assert tuple(kept) == endpoints
    assert len(kept) == len(endpoints)
    assert [kept[i] for i in range(len(endpoints))] == list(endpoints)
    assert kept[1:] == endpoints[1:]
    assert kept == Endpoints(list(endpoints)) and hash(kept) == hash(Endpoints(endpoints))


def test_endpoints_differ_when_any_field_does():
    base = EXAMPLES[3]
    kept = Endpoints(base)
    for i, ep in enumerate(base):
        for change in (
            {"ready": not ep.ready},
            {"hostname": "other"},
            {"pod_name": None if ep.pod_name else "other"},
            {"addresses": ("10.9.9.9",)},
        ):
            changed = (*base[:i], dataclasses.replace(ep, **change), *base[i + 1 :])
            assert Endpoints(changed) != kept, (i, change)


def test_a_slice_keeps_any_sequence_of_endpoints_as_endpoints():
    endpoints = EXAMPLES[3]
    sl = EndpointSlice("ns", "web-x", "web", "IPv4", endpoints, (), None)
    assert isinstance(sl.endpoints, Endpoints) and tuple(sl.endpoints) == endpoints
    fewer = dataclasses.replace(sl, endpoints=sl.endpoints[:2])
    assert isinstance(fewer.endpoints, Endpoints) and tuple(fewer.endpoints) == endpoints[:2]
    assert sl == EndpointSlice("ns", "web-x", "web", "IPv4", list(endpoints), (), None)
    assert hash(sl) == hash(dataclasses.replace(sl))


def test_parsed_endpoints_keep_one_string_per_address():
    """An address is the one string object parsing made, at every read: the index keys its
    endpoint owners by it, so reads must not copy it."""
    raw = {
        "metadata": {"namespace": "ns", "name": "web-x"},
        "addressType": "IPv4",
        "endpoints": [
            {"addresses": ["10.0.0.1"], "targetRef": {"kind": "Pod", "name": "web-0"}},
            {"addresses": ["10.0.0.2"], "conditions": {"ready": False}},
        ],
    }
    sl = parse_endpoint_slice(raw)
    assert tuple(sl.endpoints) == (
        Endpoint(("10.0.0.1",), True, None, "web-0"),
        Endpoint(("10.0.0.2",), False, None, None),
    )
    assert sl.endpoints[0].addresses[0] is next(iter(sl.endpoints)).addresses[0]


def test_a_service_keeps_its_external_ips_then_its_load_balancers_as_coredns_does():
    """spec.externalIPs, then each ingress's ip, else its hostname (absolute, lower case);
    an ingress with neither is left out; most services share the one empty tuple."""
    svc = parse_service(service(
        "a", "s", ["10.96.0.1"], external_ips=["192.0.2.1", "2001:DB8::1"],
        ingress=[{"ip": "198.51.100.7", "hostname": "ignored.example"},
                 {"hostname": "LB-1.Elb.Example.com"}, {}],
    ))  # fmt: skip
    assert svc.external_ips == (
        "192.0.2.1", "2001:db8::1", "198.51.100.7", "lb-1.elb.example.com."
    )  # fmt: skip
    plain = [parse_service(service("a", f"s{i}", ["10.96.0.2"])) for i in range(2)]
    assert plain[0].external_ips is plain[1].external_ips == ()
    headless = parse_service(service("a", "h", ["None"], external_ips=["192.0.2.2"]))
    assert headless.external_ips == ("192.0.2.2",)
