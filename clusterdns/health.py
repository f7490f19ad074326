"""CoreDNS's `health` and `ready` probes.

/health answers 200 while the process lives, lameduck included. /ready answers 200 only when
queries are worth sending here: the cluster state has synced (informer or snapshot) and we are
not shutting down; otherwise 503 naming what is not ready, as CoreDNS's ready plugin does.
"""

from __future__ import annotations

from clusterdns.state import ClusterState

TEXT = "text/plain; charset=utf-8"


class Probes:
    def __init__(self, state: ClusterState) -> None:
        self.state = state
        self.shutting_down = False

    def health(self) -> tuple[int, str, bytes]:
        return 200, TEXT, b"OK"

    def ready(self) -> tuple[int, str, bytes]:
        if self.shutting_down:
            return 503, TEXT, b"shutting down"
        if not self.state.synced:
            return 503, TEXT, b"kubernetes"
        return 200, TEXT, b"OK"
