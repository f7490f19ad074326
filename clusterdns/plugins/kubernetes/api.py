"""What the Kubernetes API serves us and how it fails: the collections the informer watches,
its error answers, the connection errors, and how long to wait after one."""

from __future__ import annotations

import http.client
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes.client.exceptions import ApiException

from clusterdns.errors import SourceError


@dataclass(frozen=True)
class Resource:
    kind: str
    path: str  # the cluster-wide collection


RESOURCES = {
    "Service": Resource("Service", "/api/v1/services"),
    "EndpointSlice": Resource("EndpointSlice", "/apis/discovery.k8s.io/v1/endpointslices"),
    "Namespace": Resource("Namespace", "/api/v1/namespaces"),
    "Pod": Resource("Pod", "/api/v1/pods"),
}


class ApiError(SourceError):
    """A non-200 answer, an ERROR watch event, or a body that is not the JSON we expect."""

    def __init__(self, status: int, reason: str, message: str, retry_after: float | None = None):
        super().__init__(f"{status} {reason}: {message}" if message else f"{status} {reason}")
        self.status = status
        self.reason = reason
        self.retry_after = retry_after

    @property
    def expired(self) -> bool:
        """The resourceVersion (or continue token) is gone from the server's history."""
        return self.status == 410 or self.reason in ("Expired", "Gone")

    @classmethod
    def from_status(
        cls, status: int, body: dict[str, Any], retry_after: float | None = None
    ) -> ApiError:
        """From a Kubernetes `Status` object (body of an error, or of an ERROR event)."""
        code = body.get("code")
        return cls(
            code if isinstance(code, int) and code else status,
            str(body.get("reason") or "Error"),
            str(body.get("message") or ""),
            retry_after,
        )


class WatchStalled(SourceError):
    """The watch sent nothing, not even a bookmark, for stall_timeout seconds."""


class StreamBroken(ApiError):
    """A watch stream that can no longer be trusted to hold every change: an ERROR event
    other than 410, or a line that is not an event. Only a new LIST recovers what it lost."""


# Errors of the connection, not of the API: refused, reset, timed out, cut mid-stream.
# ApiException is only raised by the client's REST layer for TLS failures (status 0).
TRANSPORT_ERRORS = (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError, ApiException)


def backoff_delay(failures: int, base: float, cap: float, rand: Callable[[], float]) -> float:
    """Exponential backoff with equal jitter: half of the capped delay fixed, half random,
    so that many clients recovering from one outage do not reconnect in lockstep."""
    ceiling = min(cap, base * 2 ** min(failures - 1, 32))
    return ceiling / 2 + rand() * ceiling / 2


def retry_after_seconds(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None  # an HTTP date: rare from the API server, the backoff covers it
