"""RecordIndex: ClusterState turned into DNS names, rebuilt one service at a time.

Follows the state as a listener: a change to a Service or its EndpointSlices rebuilds that
service's names only; a namespace appearing or going rebuilds the services in it.
`serial`, the SOA serial, moves on every change of served data and only then: the unix time
of the change, or one more than before when changes come faster than a second.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from cachetools import LRUCache

from clusterdns.plugins.kubernetes.objects import ServiceKind
from clusterdns.plugins.kubernetes.records import (
    BuildOptions,
    Node,
    ReadyAddress,
    build_service,
    endpoint_nodes,
    ready_addresses,
    service_key_name,
    service_name,
)
from clusterdns.plugins.kubernetes.state import ClusterState, Key, StateListener

BUILT_ENDPOINTS_KEPT = 256
# The services of one IP: a bare key in the common case of one, because a large cluster has
# 100k endpoint IPs and 10k cluster IPs.
Owners = Key | tuple[Key, ...]


class Owned(NamedTuple):
    """What the index remembers of one service: the names it owns and its cluster IPs
    (the Service's own tuple), whose PTRs point at it."""

    names: tuple[str, ...]
    cluster_ips: tuple[str, ...]


class Links(NamedTuple):
    """The ready addresses of the slices labelled with one service name."""

    ips: tuple[str, ...]
    # of the addresses with their names and ports: stands for a ClusterIP service's endpoint
    # names, which are not stored
    fingerprint: int


class RecordIndex(StateListener):
    def __init__(
        self,
        state: ClusterState,
        zones: tuple[str, ...],
        options: BuildOptions,
        namespaces: frozenset[str] = frozenset(),
    ) -> None:
        self.state = state
        self.zones = zones
        self.options = options
        self.exposed_namespaces = namespaces
        self.nodes: dict[str, Node] = {}
        self.by_service: dict[Key, Owned] = {}
        self.service_ptrs: dict[str, Owners] = {}  # cluster IP → its services
        # IP → the (namespace, kubernetes.io/service-name) keys of the EndpointSlices with a
        # ready address of that IP, whether that Service exists or its namespace is served or
        # not: CoreDNS's EpIndexReverse, which its PTR and NS answers read. Endpoint names
        # are found from the state.
        self.endpoint_owners: dict[str, Owners] = {}
        self.endpoint_links: dict[Key, Links] = {}
        self.own_ips: frozenset[str] = frozenset()  # the server's, for NS: see `follow_own_ips`
        self.serial = int(time.time())
        # endpoint names of ClusterIP services asked for lately: building them walks every
        # endpoint of the service, which random names under a big service must not repeat
        self._built_endpoints: LRUCache[tuple[Key, str], dict[str, Node]] = LRUCache(
            BUILT_ENDPOINTS_KEPT
        )
        state.subscribe(self)
        # in the state's order, so that endpoints shared by services list them as it does
        self.services_changed(dict.fromkeys([*state.services, *state.slices_by_service]))

    def follow_own_ips(self, own_ips: Iterable[str]) -> None:
        """The server's own addresses: a change to the endpoints holding one moves the serial
        wherever they are, as the NS records and their glue follow them."""
        self.own_ips = frozenset(own_ips)

    # -- StateListener -------------------------------------------------------------

    def services_changed(self, keys: Iterable[Key]) -> None:
        changed = False
        for key in keys:
            changed |= self._rebuild(key)
        if changed:
            self._bump()

    def namespaces_changed(self, names: set[str]) -> None:
        self.services_changed({key for key in self.state.services if key[0] in names})
        self._bump()  # the namespace names themselves appear or go

    def pods_changed(self) -> None:
        self._bump()  # `pods verified` answers depend on pods; nothing is stored per pod here

    # -- queries ---------------------------------------------------------------------

    def namespace_exposed(self, namespace: str) -> bool:
        """A namespace is served when it exists and passes the `namespaces` filter."""
        if self.exposed_namespaces and namespace not in self.exposed_namespaces:
            return False
        return self.state.has_namespace(namespace)

    def ptr_targets(self, ip: str) -> list[str]:
        """PTR targets (in the first cluster zone) for a canonical IP: a cluster IP's service
        (the first by name when several have it), else every ready endpoint with that IP
        (one per selecting service)."""
        services = self.cluster_ip_owners(ip)
        if services:
            return [min(service_key_name(key, self.zones[0]) for key in services)]
        return self.endpoint_names(ip)

    def cluster_ip_owners(self, ip: str) -> tuple[Key, ...]:
        """The served services with this cluster IP."""
        return _keys(self.service_ptrs.get(ip, ()))

    def endpoint_names(self, ip: str, zone: str | None = None) -> list[str]:
        """The names of the ready endpoints with this IP (in the first cluster zone unless
        `zone` says otherwise). An endpoint whose slice has no served Service is named from
        the slice alone, <endpoint>.<service label>.<namespace>.svc.<zone>, as CoreDNS's
        serviceRecordForIP (plugin/kubernetes/reverse.go) names it from its EpIndexReverse."""
        zone = zone or self.zones[0]
        names = []
        for key in self.owners_of(ip):
            nodes = self.endpoint_nodes(key, zone)
            if nodes:
                names += [name for name, node in nodes.items() if ip in node.a or ip in node.aaaa]
            else:
                base = service_key_name(key, zone)
                names += [f"{addr.name}.{base}" for addr in self.ready(key) if addr.ip == ip]
        return sorted(names)

    def owners_of(self, ip: str) -> tuple[Key, ...]:
        """The services whose ready endpoints of this IP answer its PTR: by the slices'
        service label, in a served namespace, whether the Service object exists or not."""
        return tuple(
            key
            for key in _keys(self.endpoint_owners.get(ip, ()))
            if key[1] and self.namespace_exposed(key[0])
        )

    def ready(self, key: Key) -> list[ReadyAddress]:
        """The ready addresses of the slices labelled `key`; none under `noendpoints`, with
        which CoreDNS does not watch endpoints at all."""
        if self.options.noendpoints:
            return []
        return ready_addresses(self.state.slices_of(key), self.options.endpoint_pod_names)

    def slices_holding(self, ip: str) -> list[tuple[Key, list[ReadyAddress]]]:
        """CoreDNS's EpIndexReverse: each EndpointSlice with a ready address of this IP, in
        any namespace, as its service label and its ready addresses."""
        found = []
        for key in _keys(self.endpoint_owners.get(ip, ())):
            for sl in self.state.slices_of(key):
                ready = ready_addresses([sl], self.options.endpoint_pod_names)
                if any(addr.ip == ip for addr in ready):
                    found.append((key, ready))
        return found

    def endpoint_nodes(self, key: Key, zone: str) -> dict[str, Node]:
        """The endpoint names of a served service in `zone`: stored for headless services,
        built from the state for ClusterIP ones."""
        owned = self.by_service.get(key)
        svc = self.state.services.get(key)
        if owned is None or svc is None:
            return {}
        if svc.kind is ServiceKind.HEADLESS:
            suffix = "." + service_name(svc, zone)
            dots = suffix.count(".")  # one label before the service name, not _port._proto
            return {
                name: self.nodes[name]
                for name in owned.names
                if name.endswith(suffix) and name.count(".") == dots and name[0] != "_"
            }
        built = self._built_endpoints.get((key, zone))
        if built is None:
            built = endpoint_nodes(svc, self.state.slices_of(key), zone, self.options)
            self._built_endpoints[(key, zone)] = built
        return built

    def services_sorted(self) -> Iterator[tuple[Key, tuple[str, ...]]]:
        """Services by name then namespace (the dump order, SPEC §10), with their names."""
        for key in sorted(self.by_service, key=lambda k: (k[1], k[0])):
            yield key, self.by_service[key].names

    # -- internals -------------------------------------------------------------------

    def _bump(self) -> None:
        self.serial = max(int(time.time()), self.serial + 1)

    def _rebuild(self, key: Key) -> bool:
        """Rebuild one service's names and endpoint links; True when what it serves changed."""
        old = self.by_service.pop(key, None)
        for zone in self.zones:
            self._built_endpoints.pop((key, zone), None)
        old_nodes: dict[str, Node] = {}
        if old is not None:
            old_nodes = {name: self.nodes.pop(name) for name in old.names}
            for ip in set(old.cluster_ips):
                _unlink(self.service_ptrs, ip, key)
        ready = self.ready(key)
        linked = self._relink_endpoints(key, ready)
        new = self._build(key, ready)
        if new is not None:
            self.nodes.update(new)
            owned = Owned(tuple(new), self.state.services[key].cluster_ips)
            for ip in set(owned.cluster_ips):
                _link(self.service_ptrs, ip, key)
            self.by_service[key] = owned
        if old is None or new is None:
            return linked or old is not None or new is not None
        # a change of the ready endpoints alone (unstored names) is in `linked`
        return linked or old_nodes != new or old.cluster_ips != owned.cluster_ips

    def _build(self, key: Key, ready: list[ReadyAddress]) -> dict[str, Node] | None:
        svc = self.state.services.get(key)
        if svc is None or not self.namespace_exposed(svc.namespace):
            return None
        slices = [] if svc.kind is ServiceKind.EXTERNAL_NAME else self.state.slices_of(key)
        return build_service(svc, slices, self.zones, self.options, ready) or None

    def _relink_endpoints(self, key: Key, ready: list[ReadyAddress]) -> bool:
        """Link the ready endpoint IPs of `key`'s slices to it. True when the change (to the
        Service or its slices) reaches an answer: the NS records and glue, if the slices hold
        one of our own IPs; a PTR, if the endpoints of a served namespace changed."""
        old = self.endpoint_links.pop(key, None)
        new = None
        if ready:
            new = Links(tuple(dict.fromkeys(a.ip for a in ready)), hash(tuple(ready)))
            self.endpoint_links[key] = new
        if old != new:
            for ip in old.ips if old is not None else ():
                _unlink(self.endpoint_owners, ip, key)
            for ip in new.ips if new is not None else ():
                _link(self.endpoint_owners, ip, key)
        ips = {*(old.ips if old else ()), *(new.ips if new else ())}
        if not self.own_ips.isdisjoint(ips):
            return True
        return old != new and bool(key[1]) and self.namespace_exposed(key[0])


def _keys(owners: Owners | tuple[()]) -> tuple[Key, ...]:
    """The owner keys of one IP: a bare key is a (namespace, name) pair of strings."""
    return (owners,) if owners and isinstance(owners[0], str) else owners


def _link(table: dict[str, Owners], ip: str, key: Key) -> None:
    known = table.get(ip)
    table[ip] = key if known is None else (*_keys(known), key)


def _unlink(table: dict[str, Owners], ip: str, key: Key) -> None:
    rest = tuple(k for k in _keys(table[ip]) if k != key)
    if not rest:
        del table[ip]
    else:
        table[ip] = rest[0] if len(rest) == 1 else rest
