"""ClusterState: the Kubernetes objects DNS needs, keyed by (namespace, name).

Sources (snapshot loader, informer) call `upsert`/`delete`/`replace`; each change that
alters a stored object tells the listeners which services it touches, so the record
index rebuilds only those. All mutation must happen on one thread (the server's loop).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable

from clusterdns.plugins.kubernetes.objects import EndpointSlice, KubeObject, Namespace, Pod, Service

Key = tuple[str, str]


class StateListener:
    """What the record index implements to follow the state."""

    def services_changed(self, keys: set[Key]) -> None: ...

    def namespaces_changed(self, names: set[str]) -> None: ...

    def pods_changed(self) -> None: ...


class ClusterState:
    def __init__(self) -> None:
        self.services: dict[Key, Service] = {}
        self.slices: dict[Key, EndpointSlice] = {}
        self.namespaces: dict[Key, Namespace] = {}
        self.pods: dict[Key, Pod] = {}
        # service key → keys of the slices labelled with that service, sorted (a tuple: a
        # set each would cost 10k services 2 MB)
        self.slices_by_service: dict[Key, tuple[Key, ...]] = {}
        # (namespace, ip) → number of running pods with that IP (for `pods verified`)
        self.pod_ips: dict[Key, int] = defaultdict(int)
        # ip → the running pods with that IP, oldest first (clients: autopath, metadata)
        self.pods_at: dict[str, list[Key]] = {}
        self.synced = False
        self._listeners: list[StateListener] = []

    def subscribe(self, listener: StateListener) -> None:
        self._listeners.append(listener)

    def unsubscribe(self, listener: StateListener) -> None:
        """Stop telling `listener` (an index replaced on reload) about changes."""
        self._listeners.remove(listener)

    def _table(self, kind: type) -> dict[Key, KubeObject]:
        return {
            Service: self.services,
            EndpointSlice: self.slices,
            Namespace: self.namespaces,
            Pod: self.pods,
        }[kind]  # type: ignore[return-value]

    # -- single-object changes -------------------------------------------------

    def upsert(self, obj: KubeObject) -> None:
        self._apply([(type(obj), obj.key, obj)])

    def delete(self, kind: type, key: Key) -> None:
        self._apply([(kind, key, None)])

    def replace(self, kind: type, objects: Iterable[KubeObject]) -> None:
        """Make the stored `kind` objects exactly `objects` (a re-list): apply the difference."""
        table = self._table(kind)
        fresh = {obj.key: obj for obj in objects}
        changes: list[tuple[type, Key, KubeObject | None]] = [
            (kind, key, None) for key in table if key not in fresh
        ]
        changes += [(kind, key, obj) for key, obj in fresh.items() if table.get(key) != obj]
        self._apply(changes)

    def ready(self) -> bool:
        """For the `ready` plugin: synced once (from then on it serves, outages or not)."""
        return self.synced

    def mark_synced(self) -> None:
        self.synced = True

    # -- queries -----------------------------------------------------------------

    def slices_of(self, service: Key) -> list[EndpointSlice]:
        return [self.slices[k] for k in self.slices_by_service.get(service, ())]

    def has_namespace(self, name: str) -> bool:
        return ("", name) in self.namespaces

    def pod_ip_running(self, namespace: str, ip: str) -> bool:
        return self.pod_ips.get((namespace, ip), 0) > 0

    def pod_with_ip(self, ip: str) -> Pod | None:
        """The running pod with this IP (the first seen, if several share it: host
        network), as CoreDNS's podWithIP finds a client's pod; None if none."""
        keys = self.pods_at.get(ip)
        return self.pods[keys[0]] if keys else None

    # -- internals ---------------------------------------------------------------

    def _apply(self, changes: list[tuple[type, Key, KubeObject | None]]) -> None:
        services: set[Key] = set()
        namespaces: set[str] = set()
        pods = False
        for kind, key, obj in changes:
            table = self._table(kind)
            old = table.get(key)
            if old == obj:
                continue
            if obj is None:
                del table[key]
            else:
                table[key] = obj
            if kind is Service:
                services.add(key)
            elif kind is EndpointSlice:
                services.update(self._relink_slice(key, old, obj))  # type: ignore[arg-type]
            elif kind is Namespace:
                namespaces.add(key[1])
            else:
                self._count_pod_ips(old, -1)  # type: ignore[arg-type]
                self._count_pod_ips(obj, +1)  # type: ignore[arg-type]
                pods = True
        for listener in self._listeners:
            if services:
                listener.services_changed(services)
            if namespaces:
                listener.namespaces_changed(namespaces)
            if pods:
                listener.pods_changed()

    def _relink_slice(
        self, key: Key, old: EndpointSlice | None, new: EndpointSlice | None
    ) -> set[Key]:
        touched = set()
        if old is not None:
            service = old.service_key
            rest = tuple(k for k in self.slices_by_service[service] if k != key)
            if rest:
                self.slices_by_service[service] = rest
            else:
                del self.slices_by_service[service]
            touched.add(service)
        if new is not None:
            service = new.service_key
            keys = self.slices_by_service.get(service, ())
            at = bisect_left(keys, key)
            self.slices_by_service[service] = (*keys[:at], key, *keys[at:])
            touched.add(service)
        return touched

    def _count_pod_ips(self, pod: Pod | None, delta: int) -> None:
        if pod is None or not pod.running:
            return
        for ip in pod.ips:
            self.pod_ips[(pod.namespace, ip)] += delta
            if self.pod_ips[(pod.namespace, ip)] <= 0:
                del self.pod_ips[(pod.namespace, ip)]
            at = self.pods_at.setdefault(ip, [])
            if delta > 0:
                at.append(pod.key)
            else:
                at.remove(pod.key)
                if not at:
                    del self.pods_at[ip]
