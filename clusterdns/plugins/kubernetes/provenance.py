"""Which Kubernetes objects a record comes from: the service, and for endpoint records the
EndpointSlice, endpoint name and pod. Used by the JSON dump and by `explain`.

The record builders decide what is served; this module only labels what they built, so it
walks every address of a service's slices without filtering any out.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import NamedTuple

from clusterdns.dns.zone import Origin
from clusterdns.plugins.kubernetes.objects import Endpoint, EndpointSlice, endpoint_name


class SliceAddress(NamedTuple):
    """One address of one endpoint of a slice, with the name it would answer to."""

    slice: EndpointSlice
    endpoint: Endpoint
    address: str
    name: str


def slice_addresses(slices: Iterable[EndpointSlice], use_pod_names: bool) -> Iterator[SliceAddress]:
    for sl in slices:
        for ep in sl.endpoints:
            for address in ep.addresses:
                yield SliceAddress(sl, ep, address, endpoint_name(ep, address, use_pod_names))


class OriginFinder:
    """The origin of each record of one service, from the record's name and data."""

    def __init__(
        self,
        namespace: str,
        service: str,
        cluster_ips: Iterable[str],
        slices: Iterable[EndpointSlice],
        use_pod_names: bool,
    ) -> None:
        self.service = Origin(namespace, service)
        self._cluster_ips = frozenset(cluster_ips)
        self._base = f"{service}.{namespace}.svc.".lower()  # the service's own name, zone aside
        self._by_name_ip: dict[tuple[str, str], Origin] = {}
        self._by_ip: dict[str, Origin] = {}
        self._by_name_port: dict[tuple[str, int], Origin] = {}
        # only ready endpoints have records, and the first slice wins as in the builders
        for found in slice_addresses(slices, use_pod_names):
            if not found.endpoint.ready:
                continue
            origin = Origin(
                namespace, service, found.slice.name, found.name, found.endpoint.pod_name
            )
            self._by_name_ip.setdefault((found.name, found.address), origin)
            self._by_ip.setdefault(found.address, origin)
            for port in found.slice.ports:
                self._by_name_port.setdefault((found.name, port.port), origin)

    def address(self, name: str, ip: str) -> Origin:
        """An A/AAAA record at `name`: an endpoint's when an endpoint has that IP."""
        if ip in self._cluster_ips:
            return self.service
        label = name.split(".", 1)[0]
        return self._by_name_ip.get((label, ip)) or self._by_ip.get(ip) or self.service

    def srv(self, port: int, target: str) -> Origin:
        """An SRV record: an endpoint's when its target is an endpoint name."""
        if target.startswith(self._base):
            return self.service
        label = target.split(".", 1)[0]
        return self._by_name_port.get((label, port), self.service)
