"""The informer: keep ClusterState true to the Kubernetes API through every API fault.

One daemon thread per watched kind (Services, EndpointSlices, Namespaces, and Pods for
`pods verified`) runs a `Reflector` over the official client's ApiClient. The threads never
touch ClusterState: every change is a closure handed to `submit` (the server passes
`loop.call_soon_threadsafe`), so the state is only mutated on its owner's thread. The state
is marked synced once every kind has completed its first LIST.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection
from typing import Any

from kubernetes.client import ApiClient

from clusterdns.plugins.kubernetes.api import RESOURCES
from clusterdns.plugins.kubernetes.reflector import Reflector, Settings
from clusterdns.plugins.kubernetes.selector import Selector
from clusterdns.plugins.kubernetes.setup import KubernetesConfig
from clusterdns.plugins.kubernetes.sink import Sink, SliceHook, Submit
from clusterdns.plugins.kubernetes.state import ClusterState

log = logging.getLogger("clusterdns.informer")

# A watch silent this long (no event, not even a bookmark) is taken for dead and re-listed.
# The API server sends a bookmark about once a minute on a quiet watch, so 90 s tolerates one
# late bookmark; client-go's HTTP/2 health check (ping after 30 s idle, 15 s to answer) finds a
# dead connection sooner, but not a live connection whose watch stopped sending.
STALL_TIMEOUT = 90.0

# Objects per LIST page. A page is decoded whole before its objects are parsed, so its JSON
# (with each object's metadata: labels, managedFields) is what a list holds beyond the state;
# client-go's 500 EndpointSlices of 10 endpoints are ~9 MB with their body, and the arenas
# that held them stay partly used after. 100 keeps that under 2 MB for a few more requests.
PAGE_SIZE = 100


class Informer:
    def __init__(
        self,
        api: ApiClient,
        state: ClusterState,
        submit: Submit,
        *,
        watch_pods: bool = False,
        namespaces: Collection[str] | None = None,
        labels: Selector | None = None,
        namespace_labels: Selector | None = None,
        page_size: int = PAGE_SIZE,
        watch_timeout: int = 300,
        read_timeout: float = 60.0,
        stall_timeout: float = STALL_TIMEOUT,
        backoff_base: float = 0.8,
        backoff_max: float = 30.0,
        on_slice_change: SliceHook | None = None,
    ) -> None:
        """`namespaces`: keep only objects of these namespaces (CoreDNS `namespaces` option);
        `labels`, `namespace_labels`: only the Services, EndpointSlices and Pods, and the
        Namespaces, these select (CoreDNS's options of those names).
        `on_slice_change`: called on the submit thread for every EndpointSlice that an event
        or a list adds or changes, the first list included (`state.synced` is still False
        then): the hook of the DNS programming latency metric."""
        self.synced = threading.Event()
        self._state = state
        self._submit = submit
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._listed: set[str] = set()
        settings = Settings(
            page_size, watch_timeout, read_timeout, stall_timeout, backoff_base, backoff_max,
            frozenset(namespaces) if namespaces is not None else None,
            labels.query if labels is not None else None,
            namespace_labels.query if namespace_labels is not None else None,
        )
        sink = Sink(state, submit, on_slice_change, self._kind_listed)
        kinds = ["Service", "EndpointSlice", "Namespace"] + (["Pod"] if watch_pods else [])
        self._reflectors = [
            Reflector(api, RESOURCES[kind], settings, sink, self._stopping) for kind in kinds
        ]

    @classmethod
    def watching(
        cls,
        api: ApiClient,
        state: ClusterState,
        submit: Submit,
        k8s: KubernetesConfig,
        on_slice_change: SliceHook | None = None,
        stall_timeout: float = STALL_TIMEOUT,
    ) -> Informer:
        """An informer for what the `kubernetes` directive asks: pods when `pods verified`,
        the namespaces and labels it selects."""
        return cls(
            api,
            state,
            submit,
            watch_pods=k8s.pods == "verified",
            namespaces=k8s.namespaces or None,
            labels=k8s.labels,
            namespace_labels=k8s.namespace_labels,
            on_slice_change=on_slice_change,
            stall_timeout=stall_timeout,
        )

    def start(self) -> None:
        if self._threads:
            raise RuntimeError("informer already started")
        for reflector in self._reflectors:
            thread = threading.Thread(
                target=reflector.run, name=f"informer-{reflector.kind}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop every loop, interrupting blocked reads; wait up to `timeout` in total."""
        self._stopping.set()
        for reflector in self._reflectors:
            reflector.interrupt()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                log.warning("%s did not stop within %.1f s", thread.name, timeout)

    def status(self) -> dict[str, dict[str, Any]]:
        """Per kind: synced, resourceVersion, objects at the last list, last event time
        (unix seconds), relists, reconnects, errors and the last error — for diagnostics."""
        return {r.kind: r.status() for r in self._reflectors}

    def _kind_listed(self, kind: str) -> None:
        """A kind completed a full LIST; its `replace` is already submitted, so a
        `mark_synced` submitted after it runs after every kind's first list."""
        with self._lock:
            first_sync = kind not in self._listed and len(self._listed) + 1 == len(
                self._reflectors
            )
            self._listed.add(kind)
        if first_sync:
            self._submit(self._mark_synced)

    def _mark_synced(self) -> None:
        self._state.mark_synced()
        self.synced.set()
        log.info("synced: %s", ", ".join(f"{r.kind} {r.objects}" for r in self._reflectors))
