"""The metrics store as Prometheus reads it: histogram buckets, and the informer's hook."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client.parser import text_string_to_metric_families

from clusterdns.metrics.registry import Histogram, exposition
from clusterdns.plugins.kubernetes.metrics import PROGRAMMING_DURATION, on_slice_change
from clusterdns.plugins.kubernetes.objects import EndpointSlice, Service, ServiceKind


def samples(name: str) -> dict[frozenset, float]:
    _, content_type, body = exposition()
    assert content_type.startswith("text/plain")
    return {
        frozenset(sample.labels.items()): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
        if sample.name == name
    }


def test_histogram_buckets_are_cumulative():
    histogram = Histogram("x_seconds", "help", ["label"], (0.1, 1.0))
    for value in (0.05, 0.1, 0.5, 3.0):
        histogram.observe(("a",), value)
    family = histogram.collect()
    buckets = {s.labels["le"]: s.value for s in family.samples if s.name == "x_seconds_bucket"}
    assert buckets == {"0.1": 2, "1.0": 3, "+Inf": 4}
    assert {s.name: s.value for s in family.samples if s.name != "x_seconds_bucket"} == {
        "x_seconds_count": 4,
        "x_seconds_sum": 3.65,
    }


def slice_of(service: str, trigger: str | None) -> EndpointSlice:
    return EndpointSlice("demo", f"{service}-1", service, "IPv4", (), (), trigger)


def service(name: str, kind: ServiceKind) -> Service:
    return Service("demo", name, kind, (), "", ())


def test_programming_latency_from_the_trigger_time():
    name = "coredns_kubernetes_dns_programming_duration_seconds_count"
    before = samples(name)
    two_seconds_ago = (datetime.now(UTC) - timedelta(seconds=2)).isoformat().replace("+00:00", "Z")
    on_slice_change(slice_of("web", two_seconds_ago), service("web", ServiceKind.HEADLESS))
    on_slice_change(slice_of("api", two_seconds_ago), service("api", ServiceKind.CLUSTER_IP))
    on_slice_change(slice_of("api", None), service("api", ServiceKind.CLUSTER_IP))  # no trigger
    on_slice_change(slice_of("gone", two_seconds_ago), None)  # informer lag: no service yet
    on_slice_change(slice_of("ext", "not a time"), service("ext", ServiceKind.CLUSTER_IP))
    after = samples(name)
    for kind in ("headless_with_selector", "cluster_ip"):
        labels = frozenset({("service_kind", kind)})
        assert after[labels] == before.get(labels, 0) + 1
    seconds = PROGRAMMING_DURATION.series[("headless_with_selector",)][-1]
    assert seconds >= 2
