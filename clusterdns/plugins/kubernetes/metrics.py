"""The `kubernetes` plugin's family: DNS programming latency, as CoreDNS measures it."""

from __future__ import annotations

from datetime import UTC, datetime

from clusterdns.metrics.registry import METRICS
from clusterdns.plugins.kubernetes.objects import EndpointSlice, Service, ServiceKind

# 1 ms to ~17 minutes, as CoreDNS's kubernetes plugin
PROGRAMMING_BUCKETS = tuple(0.001 * 2**i for i in range(20))

PROGRAMMING_DURATION = METRICS.histogram(
    "coredns_kubernetes_dns_programming_duration_seconds",
    "Histogram of the time (in seconds) it took to program a dns instance.",
    ["service_kind"],
    PROGRAMMING_BUCKETS,
)


SKIPPED = METRICS.counter(
    "clusterdns_kubernetes_objects_skipped_total",
    "Objects from the Kubernetes API that DNS cannot use (a field missing or malformed), "
    "skipped; the log names each.",
    ["kind"],
)


def on_slice_change(endpoint_slice: EndpointSlice, service: Service | None) -> None:
    """Observe the DNS programming latency of a slice the informer has just applied.

    As CoreDNS: only slices the EndpointSlice controller stamped with a trigger time, of a
    service we know (ClusterIP or headless), measured from that time to now.
    """
    if endpoint_slice.trigger_time is None or service is None:
        return
    if service.kind is ServiceKind.EXTERNAL_NAME:
        return
    try:
        triggered = datetime.fromisoformat(endpoint_slice.trigger_time)
    except ValueError:
        return
    if triggered.tzinfo is None:
        return
    kind = "headless_with_selector" if service.kind is ServiceKind.HEADLESS else "cluster_ip"
    PROGRAMMING_DURATION.observe((kind,), (datetime.now(UTC) - triggered).total_seconds())

# Client attribution (`pods verified`): per namespace of the pod that asked, by its IP;
# UNKNOWN_CLIENT for an address no running pod holds (no namespace is named "-").
UNKNOWN_CLIENT = "-"
CLIENT_REQUESTS = METRICS.counter(
    "clusterdns_kubernetes_client_requests_total",
    "Queries answered, by the namespace of the pod that sent them ('-': no pod).",
    ["namespace"],
)
CLIENT_SEARCH_NXDOMAIN = METRICS.counter(
    "clusterdns_kubernetes_client_search_nxdomain_total",
    "NXDOMAIN answers to names under the search domains of the pod that asked (the cluster "
    "zone, the host's), by its namespace ('-': no pod): search-path expansions that missed.",
    ["namespace"],
)
