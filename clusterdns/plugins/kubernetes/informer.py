"""The informer: keep ClusterState true to the Kubernetes API through every API fault.

One daemon thread per watched kind runs a list/watch loop over the official client's
ApiClient, reading raw JSON (no pydantic models on this path):

- paged LIST (`limit`/`continue`) → `ClusterState.replace` with the difference;
- WATCH from the list's resourceVersion with bookmarks, a server `timeoutSeconds` and a
  client read timeout; events are applied in order, bookmarks only move the resourceVersion;
- 410 Gone / Expired (an ERROR event or an HTTP status) → re-list;
- a dropped connection or a server-side timeout → watch again from the last resourceVersion;
- a watch silent for `stall_timeout` (not even a bookmark; the API server sends one about
  every minute) is the watchdog firing → re-list, since the stream can no longer be trusted;
- other API and connection errors → capped exponential backoff with jitter, then retry.

The threads never touch ClusterState: every change is a closure handed to `submit`
(the server passes `loop.call_soon_threadsafe`), so the state is only mutated on its
owner's thread, in the order the API sent the events.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from clusterdns.plugins.kubernetes.objects import (
    KINDS,
    EndpointSlice,
    KubeObject,
    Namespace,
    ObjectError,
    parse_object,
)
from clusterdns.plugins.kubernetes.state import ClusterState, Key

log = logging.getLogger("clusterdns.informer")

Submit = Callable[[Callable[[], None]], None]
SliceHook = Callable[[EndpointSlice], None]


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


class ApiError(Exception):
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


class WatchStalled(Exception):
    """The watch sent nothing, not even a bookmark, for stall_timeout seconds."""


# Errors of the connection, not of the API: refused, reset, timed out, cut mid-stream.
# ApiException is only raised by the client's REST layer for TLS failures (status 0).
TRANSPORT_ERRORS = (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError, ApiException)


def backoff_delay(failures: int, base: float, cap: float, rand: Callable[[], float]) -> float:
    """Exponential backoff with equal jitter: half of the capped delay fixed, half random,
    so that many clients recovering from one outage do not reconnect in lockstep."""
    ceiling = min(cap, base * 2 ** min(failures - 1, 32))
    return ceiling / 2 + rand() * ceiling / 2


@dataclass(frozen=True)
class Settings:
    page_size: int
    watch: int  # server-side timeoutSeconds of one watch request
    read: float  # connect, and each read of a LIST response
    stall: float  # each read of a WATCH response: silence this long is a stall
    backoff_base: float
    backoff_max: float
    namespaces: frozenset[str] | None  # None: all


@dataclass(frozen=True)
class Sink:
    """Where the reflectors' changes go."""

    state: ClusterState  # only touched by closures handed to `submit`
    submit: Submit
    on_slice_change: SliceHook | None
    on_listed: Callable[[str], None]  # a kind completed a full LIST (reflector thread)


class Informer:
    def __init__(
        self,
        api: ApiClient,
        state: ClusterState,
        submit: Submit,
        *,
        watch_pods: bool = False,
        namespaces: Collection[str] | None = None,
        page_size: int = 500,
        watch_timeout: int = 300,
        read_timeout: float = 60.0,
        stall_timeout: float = 150.0,
        backoff_base: float = 0.8,
        backoff_max: float = 30.0,
        on_slice_change: SliceHook | None = None,
    ) -> None:
        """`namespaces`: keep only objects of these namespaces (CoreDNS `namespaces` option).
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
        )
        sink = Sink(state, submit, on_slice_change, self._kind_listed)
        kinds = ["Service", "EndpointSlice", "Namespace"] + (["Pod"] if watch_pods else [])
        self._reflectors = [
            Reflector(api, RESOURCES[kind], settings, sink, self._stopping) for kind in kinds
        ]

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
        self._submit_replace(objects)
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
            raise ApiError(200, "InvalidJSON", f"watch event: {exc}") from exc
        if not isinstance(event, dict) or not isinstance(event.get("object"), dict):
            raise ApiError(200, "InvalidJSON", f"watch event without object: {line[:200]!r}")
        return event

    def _handle(self, event: dict[str, Any]) -> None:
        kind, raw = event.get("type"), event["object"]
        if kind == "ERROR":
            raise ApiError.from_status(500, raw)
        if kind in ("ADDED", "MODIFIED"):
            obj = self._parse(raw)
            if obj is not None and self._wanted(obj):
                self._submit_upsert(obj)
        elif kind == "DELETED":
            key = self._key(raw)
            namespace = key[1] if self._record is Namespace else key[0]
            if self._wanted_namespace(namespace):
                self._submit_delete(key)
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
            query_params=query,
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
        retry_after = _retry_after(response.headers.get("Retry-After"))
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

    def _submit_replace(self, objects: list[KubeObject]) -> None:
        state, record, hook = self._sink.state, self._record, self._sink.on_slice_change

        def replace() -> None:
            changed = []
            if hook is not None and record is EndpointSlice:
                changed = [s for s in objects if state.slices.get(s.key) != s]
            state.replace(record, objects)
            for slice_ in changed:
                hook(slice_)  # type: ignore[arg-type]

        self._sink.submit(replace)

    def _submit_upsert(self, obj: KubeObject) -> None:
        state, hook = self._sink.state, self._sink.on_slice_change

        def upsert() -> None:
            changed = isinstance(obj, EndpointSlice) and state.slices.get(obj.key) != obj
            state.upsert(obj)
            if changed and hook is not None:
                hook(obj)  # type: ignore[arg-type]

        self._sink.submit(upsert)

    def _submit_delete(self, key: Key) -> None:
        state, record = self._sink.state, self._record
        self._sink.submit(lambda: state.delete(record, key))


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None  # an HTTP date: rare from the API server, the backoff covers it


def _metadata(raw: Any) -> dict[str, Any]:
    metadata = raw.get("metadata") if isinstance(raw, dict) else None
    return metadata if isinstance(metadata, dict) else {}


def _name(raw: Any) -> str:
    metadata = _metadata(raw)
    if not metadata:
        return "<no metadata>"
    namespace, name = metadata.get("namespace"), metadata.get("name")
    return f"{namespace}/{name}" if namespace else str(name)
