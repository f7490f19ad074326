"""Cluster state for the one-shot commands (dump, explain, searchpath): a snapshot file, or
one full list of a live cluster through the informer.

Each source says what it is in words for a dump header: the file and its checksum, or the
API server and the resourceVersion of each kind's list.
"""

from __future__ import annotations

import hashlib
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from clusterdns.errors import SourceError
from clusterdns.plugins.kubernetes.client import cluster_api_client
from clusterdns.plugins.kubernetes.informer import Informer
from clusterdns.plugins.kubernetes.setup import KubernetesConfig
from clusterdns.plugins.kubernetes.snapshot import load_snapshot, populate
from clusterdns.plugins.kubernetes.state import ClusterState

LIVE_SYNC_TIMEOUT = 120.0  # seconds for every kind's first full list


@dataclass(frozen=True)
class Source:
    state: ClusterState
    description: str
    resource_version: str | None = None


def snapshot_source(path: Path, k8s: KubernetesConfig) -> Source:
    """A kubectl dump, the objects `k8s`'s label selectors select (SnapshotError on a bad
    one)."""
    state = ClusterState()
    populate(state, load_snapshot(path, k8s.labels, k8s.namespace_labels))
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise SourceError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    return Source(state, f"snapshot {path} (sha256 {digest})")


def cluster_source(
    k8s: KubernetesConfig,
    kubeconfig: str | None,
    context: str | None,
    timeout: float = LIVE_SYNC_TIMEOUT,
    *,
    pods: bool = False,
) -> Source:
    """One full list of every kind the DNS needs, as the server's informer sees it, and of
    the Pods too with `pods` (the informer lists them for `pods verified`).

    `kubeconfig`/`context` win over the Corefile's `kubeconfig` option; with neither (nor an
    `endpoint` option) the pod's service account is used. Raises KubeClientError or
    SourceError."""
    if pods:
        k8s = replace(k8s, pods="verified")
    api = cluster_api_client(k8s, kubeconfig, context)
    state = ClusterState()
    changes: queue.Queue[Callable[[], None]] = queue.Queue()
    informer = Informer.watching(api, state, changes.put, k8s)
    informer.start()
    try:
        # this thread owns the state: it applies the informer's changes until the synced mark
        deadline = time.monotonic() + timeout
        while not state.synced:
            try:
                changes.get(timeout=max(0.0, deadline - time.monotonic()))()
            except queue.Empty:
                errors = [
                    f"{kind}: {s['last_error']}"
                    for kind, s in informer.status().items()
                    if s["last_error"]
                ]
                detail = f" ({'; '.join(errors)})" if errors else ""
                raise SourceError(
                    f"no full list of the cluster within {timeout:g} s{detail}"
                ) from None
    finally:
        informer.stop()
        api.close()
    while not changes.empty():  # watch events that came in before the stop: apply them too
        changes.get()()
    versions = ", ".join(f"{kind} {s['resource_version']}" for kind, s in informer.status().items())
    return Source(state, f"cluster {api.configuration.host}", versions)
