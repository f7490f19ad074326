"""RecordIndex: ClusterState turned into DNS names, rebuilt one service at a time.

Follows the state as a listener: a change to a Service or its EndpointSlices rebuilds that
service's names only; a namespace appearing or going rebuilds the services in it.
`generation` moves on every change of served data (the wire cache keys on it) and `serial`
is the unix time of the last such change (the SOA serial).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from clusterdns.objects import ServiceKind
from clusterdns.records import BuildOptions, Node, ServiceRecords, build_service
from clusterdns.state import ClusterState, Key, StateListener


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
        self.by_service: dict[Key, ServiceRecords] = {}
        # IP → {service key: relative PTR targets}
        self.service_ptrs: dict[str, dict[Key, str]] = {}
        self.endpoint_ptrs: dict[str, dict[Key, tuple[str, ...]]] = {}
        self.generation = 0
        self.serial = int(time.time())
        state.subscribe(self)
        self.services_changed(set(state.services) | set(state.slices_by_service))

    # -- StateListener -------------------------------------------------------------

    def services_changed(self, keys: set[Key]) -> None:
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
        """Zone-relative PTR targets for a canonical IP: a cluster IP's service, else every
        ready endpoint with that IP (one per selecting service)."""
        services = self.service_ptrs.get(ip)
        if services:
            return [min(services.values())]
        endpoints = self.endpoint_ptrs.get(ip, {})
        return [target for key in sorted(endpoints) for target in endpoints[key]]

    def services_sorted(self) -> Iterator[tuple[Key, ServiceRecords]]:
        """Services by name then namespace (the dump order, SPEC §10)."""
        for key in sorted(self.by_service, key=lambda k: (k[1], k[0])):
            yield key, self.by_service[key]

    # -- internals -------------------------------------------------------------------

    def _bump(self) -> None:
        self.generation += 1
        self.serial = max(int(time.time()), self.serial + 1)

    def _rebuild(self, key: Key) -> bool:
        """Rebuild one service's names; True when what it serves changed."""
        old = self.by_service.pop(key, None)
        new = self._build(key)
        if old is not None:
            for name in old.nodes:
                del self.nodes[name]
            self._unlink_ptrs(key, old)
        if new is not None:
            self.nodes.update(new.nodes)
            self._link_ptrs(key, new)
            self.by_service[key] = new
        return old != new

    def _build(self, key: Key) -> ServiceRecords | None:
        svc = self.state.services.get(key)
        if svc is None or not self.namespace_exposed(svc.namespace):
            return None
        slices = [] if svc.kind is ServiceKind.EXTERNAL_NAME else self.state.slices_of(key)
        records = build_service(svc, slices, self.zones, self.options)
        return records if records.nodes else None

    def _link_ptrs(self, key: Key, records: ServiceRecords) -> None:
        for ip, target in records.service_ptrs.items():
            self.service_ptrs.setdefault(ip, {})[key] = target
        for ip, targets in records.endpoint_ptrs.items():
            self.endpoint_ptrs.setdefault(ip, {})[key] = targets

    def _unlink_ptrs(self, key: Key, records: ServiceRecords) -> None:
        for table, ips in (
            (self.service_ptrs, records.service_ptrs),
            (self.endpoint_ptrs, records.endpoint_ptrs),
        ):
            for ip in ips:
                owners = table[ip]
                del owners[key]
                if not owners:
                    del table[ip]
