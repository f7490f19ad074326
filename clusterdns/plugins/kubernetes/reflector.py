"""The list/watch loop of one kind (CoreDNS's and client-go's reflector), over raw JSON.

- paged LIST (`limit`/`continue`) → `ClusterState.replace` with the difference;
- WATCH from the list's resourceVersion with bookmarks, a server `timeoutSeconds` and a
  client read timeout; events are applied in order, bookmarks only move the resourceVersion;
- 410 Gone / Expired (an ERROR event or an HTTP status) → re-list;
- a dropped connection or a server-side timeout → watch again from the last resourceVersion;
- a watch silent for `stall_timeout` (not even a bookmark; the API server sends one about
  every minute) is the watchdog firing → re-list, since the stream can no longer be trusted;
- other API and connection errors → capped exponential backoff with jitter, then retry.

A reflector never touches ClusterState itself: every change is a closure handed to the sink's
`submit`, so the state is only mutated on its owner's thread, in the order the API sent them.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes.client import ApiClient

from clusterdns.plugins.kubernetes.api import (
    TRANSPORT_ERRORS,
    ApiError,
    Resource,
    StreamBroken,
    WatchStalled,
    backoff_delay,
    retry_after_seconds,
)
from clusterdns.plugins.kubernetes.metrics import SKIPPED
from clusterdns.plugins.kubernetes.objects import (
    KINDS,
    KubeObject,
    Namespace,
    ObjectError,
    parse_object,
)
from clusterdns.plugins.kubernetes.sink import Sink
from clusterdns.plugins.kubernetes.state import Key

log = logging.getLogger("clusterdns.informer")



@dataclass(frozen=True)
class Settings:
    page_size: int
    watch: int  # server-side timeoutSeconds of one watch request
    read: float  # connect, and each read of a LIST response
    stall: float  # each read of a WATCH response: silence this long is a stall
    backoff_base: float
    backoff_max: float
    namespaces: frozenset[str] | None  # None: all
    labels: str | None = None  # labelSelector of Services, EndpointSlices and Pods
    namespace_labels: str | None = None  # labelSelector of Namespaces


class Reflector:
    """The list/watch loop of one kind."""

    def __init__(
        self,
        api: ApiClient,
        resource: Resource,
        settings: Settings,
        sink: Sink,
        stopping: threading.Event,
    ) -> None:
        self.kind = resource.kind
        self._api = api
        self._resource = resource
        self._record = KINDS[resource.kind]
        self._t = settings
        # the API server filters by labels: an object whose labels stop matching is DELETED
        selector = settings.namespace_labels if resource.kind == "Namespace" else settings.labels
        self._selector = [("labelSelector", selector)] if selector else []
        self._sink = sink
        self._stopping = stopping
        self._response: urllib3.BaseHTTPResponse | None = None
        self._failures = 0  # consecutive, for the backoff
        self._doing = "listing"
        self.resource_version: str | None = None
        self.listed = False
        self.objects = 0
        self.last_event: float | None = None
        self.relists = 0
        self.reconnects = 0
        self.errors = 0
        self.last_error: str | None = None

    def status(self) -> dict[str, Any]:
        return {
            "synced": self.listed,
            "resource_version": self.resource_version,
            "objects": self.objects,
            "last_event": self.last_event,
            "relists": self.relists,
            "reconnects": self.reconnects,
            "errors": self.errors,
            "last_error": self.last_error,
        }

    def interrupt(self) -> None:
        """Unblock a read in progress (from another thread, on stop)."""
        response = self._response
        if response is not None:
            with contextlib.suppress(OSError, ValueError, RuntimeError):  # closed or released
                response.shutdown()

    def run(self) -> None:
        need_list = True
        while not self._stopping.is_set():
            try:
                if need_list:
                    self._list()
                    need_list = False
                self._watch()
            except ApiError as exc:
                if exc.expired and self._doing == "watching":
                    log.info("%s: %s at resourceVersion %s: re-listing",
                             self.kind, exc, self.resource_version)
                    need_list = True
                elif isinstance(exc, StreamBroken):
                    self._back_off(exc)
                    log.warning("%s: the watch stream broke: re-listing", self.kind)
                    need_list = True
                else:  # an expired continue token too: the list restarts after a pause
                    self._back_off(exc)
            except WatchStalled:
                log.warning("%s: watch silent for %.0f s (no event, no bookmark): re-listing",
                            self.kind, self._t.stall)
                need_list = True
            except TRANSPORT_ERRORS as exc:
                self._back_off(exc)
            except Exception as exc:  # a bug must not silently end the kind's updates
                log.exception("%s: unexpected error in the list/watch loop", self.kind)
                self._back_off(exc)

    def _back_off(self, exc: Exception) -> None:
        if self._stopping.is_set():
            return
        self._failures += 1
        self.errors += 1
        self.last_error = str(exc) or type(exc).__name__
        delay = self._delay()
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self._t.backoff_max))
        log.warning("%s: %s: %s; retrying in %.1f s (failure %d)", self.kind, self._doing,
                    self.last_error, delay, self._failures)
        if isinstance(exc, ApiError) and exc.status in (401, 403):
            log.error("%s: check the credentials and RBAC: list and watch on %s are needed",
                      self.kind, self._resource.path)
        self._stopping.wait(delay)

    def _delay(self) -> float:
        return backoff_delay(self._failures, self._t.backoff_base, self._t.backoff_max,
                             random.random)

    # -- LIST --------------------------------------------------------------------------

    def _list(self) -> None:
        self._doing = "listing"
        started = time.monotonic()
        objects: list[KubeObject] = []
        pages = 0
        token: str | None = None
        while True:
            query: list[tuple[str, Any]] = [("limit", self._t.page_size)]
            if token:
                query.append(("continue", token))
            page = self._get_page(query)
            pages += 1
            # parse page by page: the raw JSON of one page is all we hold at a time
            for raw in page.get("items") or ():
                obj = self._parse(raw)
                if obj is not None and self._wanted(obj):
                    objects.append(obj)
            metadata = page.get("metadata") or {}
            token = metadata.get("continue")
            del page
            if not token:
                break
        if self._stopping.is_set():
            return
        self._sink.replace(self._record, objects)
        self.resource_version = metadata.get("resourceVersion")
        self.objects = len(objects)
        self._failures = 0
        if self.listed:
            self.relists += 1
        log.info("%s: listed %d objects in %d pages at resourceVersion %s (%.2f s)", self.kind,
                 len(objects), pages, self.resource_version, time.monotonic() - started)
        self.listed = True
        self._sink.on_listed(self.kind)

    def _get_page(self, query: list[tuple[str, Any]]) -> dict[str, Any]:
        response = self._request(query, (self._t.read, self._t.read))
        try:
            body = response.read()
        finally:
            self._release(response)
        try:
            page = json.loads(body)
        except ValueError as exc:
            raise ApiError(200, "InvalidJSON", f"list response: {exc}") from exc
        if not isinstance(page, dict):
            raise ApiError(200, "InvalidJSON", "list response is not an object")
        return page

    # -- WATCH -------------------------------------------------------------------------

    def _watch(self) -> None:
        self._doing = "watching"
        query: list[tuple[str, Any]] = [
            ("watch", True),
            ("allowWatchBookmarks", True),
            ("timeoutSeconds", self._t.watch),
        ]
        if self.resource_version:
            query.append(("resourceVersion", self.resource_version))
        try:
            response = self._request(query, (self._t.read, self._t.stall))
        except urllib3.exceptions.ReadTimeoutError as exc:
            raise WatchStalled() from exc
        received = 0
        try:
            for event in self._events(response):
                self._handle(event)
                received += 1
                self._failures = 0
        except urllib3.exceptions.ReadTimeoutError as exc:
            raise WatchStalled() from exc
        except (urllib3.exceptions.ProtocolError, http.client.HTTPException, OSError) as exc:
            if self._stopping.is_set():
                return
            self.reconnects += 1
            log.info("%s: watch connection dropped after %d events (%s): resuming from "
                     "resourceVersion %s", self.kind, received, exc, self.resource_version)
            if not received:  # cut before its first event: pace the reconnects
                self._failures += 1
                self._stopping.wait(self._delay())
        finally:
            self._release(response)

    def _events(self, response: urllib3.BaseHTTPResponse) -> Iterator[dict[str, Any]]:
        """The JSON lines of a watch response, as they arrive."""
        pending = bytearray()
        for chunk in response.stream(None):
            pending += chunk
            start = 0
            while (end := pending.find(b"\n", start)) >= 0:
                line = bytes(pending[start:end])
                start = end + 1
                if line.strip():
                    yield self._decode_event(line)
            del pending[:start]
        if pending.strip():
            yield self._decode_event(bytes(pending))

    @staticmethod
    def _decode_event(line: bytes) -> dict[str, Any]:
        try:
            event = json.loads(line)
        except ValueError as exc:
            raise StreamBroken(200, "InvalidJSON", f"watch line {line[:200]!r}: {exc}") from exc
        if not isinstance(event, dict) or not isinstance(event.get("object"), dict):
            raise StreamBroken(200, "InvalidJSON", f"watch line without object: {line[:200]!r}")
        return event

    def _handle(self, event: dict[str, Any]) -> None:
        kind, raw = event.get("type"), event["object"]
        if kind == "ERROR":
            error = ApiError.from_status(500, raw)
            raise error if error.expired else StreamBroken.from_status(500, raw)
        if kind in ("ADDED", "MODIFIED", "DELETED"):
            log.debug("plugin/kubernetes: watch event: %s %s %s", kind, self.kind, _name(raw))
        if kind in ("ADDED", "MODIFIED"):
            obj = self._parse(raw)
            if obj is not None and self._wanted(obj):
                self._sink.upsert(obj)
        elif kind == "DELETED":
            key = self._key(raw)
            namespace = key[1] if self._record is Namespace else key[0]
            if self._wanted_namespace(namespace):
                self._sink.delete(self._record, key)
        elif kind != "BOOKMARK":
            log.warning("%s: ignoring watch event of unknown type %r", self.kind, kind)
        version = _metadata(raw).get("resourceVersion")
        if version:
            self.resource_version = version
        self.last_event = time.time()

    # -- HTTP --------------------------------------------------------------------------

    def _request(
        self, query: list[tuple[str, Any]], timeout: tuple[float, float]
    ) -> urllib3.BaseHTTPResponse:
        """GET the collection with `query`; the raw urllib3 response, status 200."""
        request = self._api.param_serialize(
            method="GET",
            resource_path=self._resource.path,
            query_params=query + self._selector,
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
        )
        response = self._api.call_api(*request, _request_timeout=timeout).response
        if response.status != 200:
            raise self._error(response)
        self._response = response
        if self._stopping.is_set():  # stop() ran before the response was registered
            self.interrupt()
        return response

    @staticmethod
    def _error(response: urllib3.BaseHTTPResponse) -> ApiError:
        try:
            body = response.read()
        finally:
            response.release_conn()
        try:
            status = json.loads(body)
        except ValueError:
            status = None
        if not isinstance(status, dict):  # not a Status: a proxy's page, say
            text = body.decode("utf-8", "replace").strip()[:200]
            status = {"reason": response.reason, "message": text}
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        return ApiError.from_status(response.status, status, retry_after)

    def _release(self, response: urllib3.BaseHTTPResponse) -> None:
        self._response = None
        response.release_conn()

    # -- objects -----------------------------------------------------------------------

    def _parse(self, raw: Any) -> KubeObject | None:
        """The compact record, or None (logged) when the object is unusable."""
        try:
            return parse_object(self.kind, raw)
        except Exception as exc:  # not only ObjectError: one object must never block a stream
            reason = exc if isinstance(exc, ObjectError) else repr(exc)
            log.warning("%s %s: skipped: %s", self.kind, _name(raw), reason)
            SKIPPED.inc((self.kind,))
            return None

    def _key(self, raw: dict[str, Any]) -> Key:
        """The state key of a deleted object, from its metadata alone: a deletion must not
        depend on the last state being a valid object."""
        metadata = _metadata(raw)
        name = str(metadata.get("name") or "")
        if self._record is Namespace:
            return ("", name)
        return (str(metadata.get("namespace") or "default"), name)

    def _wanted(self, obj: KubeObject) -> bool:
        return self._wanted_namespace(obj.name if isinstance(obj, Namespace) else obj.namespace)

    def _wanted_namespace(self, namespace: str) -> bool:
        return self._t.namespaces is None or namespace in self._t.namespaces

    # -- changes, applied on the state's thread ---------------------------------------


def _metadata(raw: Any) -> dict[str, Any]:
    metadata = raw.get("metadata") if isinstance(raw, dict) else None
    return metadata if isinstance(metadata, dict) else {}


def _name(raw: Any) -> str:
    metadata = _metadata(raw)
    if not metadata:
        return "<no metadata>"
    namespace, name = metadata.get("namespace"), metadata.get("name")
    return f"{namespace}/{name}" if namespace else str(name)
