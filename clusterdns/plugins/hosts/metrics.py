"""The `hosts` plugin's families, as CoreDNS's plugin/hosts/metrics.go names them."""

from __future__ import annotations

from clusterdns.metrics.registry import METRICS

ENTRIES = METRICS.gauge(
    "coredns_hosts_entries",
    "The combined number of entries in hosts and Corefile.",
    ["hostsfile"],
    summed=False,
)
RELOAD_TIMESTAMP = METRICS.gauge(
    "coredns_hosts_reload_timestamp_seconds",
    "The timestamp of the last reload of hosts file.",
    summed=False,
)
