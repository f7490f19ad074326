"""A fake Kubernetes API server that the real `kubernetes` client talks to, and the harness
that feeds a ClusterState from it the way the server does (an asyncio loop owning the state).

The fake keeps a global resourceVersion counter and an event log, answers paged LISTs of
services, endpointslices, namespaces and pods (cluster-wide and per namespace), streams
WATCHes as chunked JSON lines with periodic BOOKMARKs, and answers 410 for versions older than
its compaction point. A `labelSelector` filters LISTs and WATCHes as the API server does: an
object whose labels change into the selection is ADDED to the watch, out of it DELETED. Test
hooks break it on demand: `compact`, `drop_watches`, `stall_watches`, `fail_with`.
"""

from __future__ import annotations

import asyncio
import bisect
import concurrent.futures
import json
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from kubernetes.client import ApiClient

from clusterdns.plugins.kubernetes.informer import Informer
from clusterdns.plugins.kubernetes.selector import Selector, parse_selector
from clusterdns.plugins.kubernetes.state import ClusterState

T = TypeVar("T")

# resource → (kind, apiVersion, group-version path)
RESOURCES = {
    "services": ("Service", "v1", "/api/v1"),
    "endpointslices": ("EndpointSlice", "discovery.k8s.io/v1", "/apis/discovery.k8s.io/v1"),
    "namespaces": ("Namespace", "v1", "/api/v1"),
    "pods": ("Pod", "v1", "/api/v1"),
}
RESOURCE_OF_KIND = {kind: resource for resource, (kind, _, _) in RESOURCES.items()}
PATH = re.compile(r"^(/api/v1|/apis/discovery\.k8s\.io/v1)(?:/namespaces/([^/]+))?/([a-z]+)$")

# Informer settings for tests: faults are seen within a second or two, yet a loaded machine
# (bookmarks come every bookmark_interval) does not make a healthy watch look stalled.
FAST = {
    "watch_timeout": 30,
    "read_timeout": 5.0,
    "stall_timeout": 3.0,
    "backoff_base": 0.05,
    "backoff_max": 0.2,
}


def selector_in(query: dict[str, str]) -> Selector | None:
    text = query.get("labelSelector")
    return parse_selector(text) if text else None


def status_body(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


Labels = dict[str, str]


def labels_of(obj: dict[str, Any]) -> Labels:
    return obj.get("metadata", {}).get("labels") or {}


@dataclass(eq=False)
class _Watch:
    resource: str
    namespace: str | None
    selector: Selector | None
    position: int  # resourceVersion of the last event sent
    deadline: float
    bookmarks: bool
    next_bookmark: float
    dropped: bool = False
    expired: bool = False


@dataclass
class _Log:
    """The event log: encoded watch lines by resourceVersion, in order."""

    versions: list[int] = field(default_factory=list)
    events: list[_Event] = field(default_factory=list)

    def after(self, version: int, watch: _Watch) -> list[bytes]:
        start = bisect.bisect_right(self.versions, version)
        lines = []
        for event in self.events[start:]:
            if event.resource == watch.resource and watch.namespace in (None, event.namespace):
                if event.raw is not None:
                    lines.append(event.raw)
                    continue
                kind = event.seen_as(watch.selector)
                if kind is not None:
                    lines.append(b'{"type":"%s","object":%s}\n' % (kind.encode(), event.encoded))
        return lines


@dataclass(frozen=True)
class _Event:
    resource: str
    namespace: str
    kind: str  # ADDED, MODIFIED, DELETED
    encoded: bytes  # the object as it is after the event (as it was, when DELETED)
    before: Labels | None  # its labels before the event (None: it did not exist)
    after: Labels | None  # and after (None: it no longer exists)
    raw: bytes | None = None  # sent as it is instead (a broken stream: see `break_stream`)

    def seen_as(self, selector: Selector | None) -> str | None:
        """The event a watch with `selector` gets: moving into the selection is ADDED, out
        of it DELETED, as the API server's watch cache sends them; None: not at all."""
        if selector is None:
            return self.kind
        was = self.before is not None and selector.matches(self.before)
        is_ = self.after is not None and selector.matches(self.after)
        if was and is_:
            return "MODIFIED"
        if is_:
            return "ADDED"
        return "DELETED" if was else None


class FakeKubeAPI:
    """The fake API server on 127.0.0.1 (plain HTTP). Use as a context manager."""

    def __init__(self, *, bookmark_interval: float = 0.5, token: str | None = "fake-token"):
        self.bookmark_interval = bookmark_interval
        self.token = token
        # A WATCH at a compacted version gets HTTP 410 instead of 200 + an ERROR event.
        self.expired_as_status = False
        # Called (resource, continued) before each LIST page is served: faults mid-list.
        self.on_list_page: Callable[[str, bool], None] | None = None
        self.requests: Counter[tuple[str, str]] = Counter()  # (resource, "list" | "watch")
        self._cond = threading.Condition()
        self._version = 100
        self._compacted = 0
        # resource → key → (object, its JSON): encoded once, so LIST pages are cheap joins
        self._objects: dict[str, dict[tuple[str, str], tuple[dict[str, Any], bytes]]] = {
            r: {} for r in RESOURCES
        }
        self._continues: dict[str, tuple[int, list[bytes], int]] = {}
        self._log = _Log()
        self._watches: set[_Watch] = set()
        self._connections: set[socket.socket] = set()
        self._stalled = False
        self._failure: int | None = None
        self._retry_after = 1
        self._closing = False
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.api = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def resource_version(self) -> int:
        return self._version

    def __enter__(self) -> FakeKubeAPI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._server.shutdown()
        with self._cond:
            connections = list(self._connections)
        for conn in connections:  # unblock handlers waiting for a next keep-alive request
            with suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._server.server_close()

    def write_kubeconfig(self, path: Path, context: str = "fake") -> Path:
        user: dict[str, Any] = {"token": self.token} if self.token else {}
        path.write_text(json.dumps({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": context, "cluster": {"server": self.url}}],
            "users": [{"name": context, "user": user}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
            "current-context": context,
        }))
        return path

    # -- test hooks: the cluster changes ------------------------------------------------

    def add(self, obj: dict[str, Any]) -> None:
        self._commit("ADDED", obj)

    def update(self, obj: dict[str, Any]) -> None:
        self._commit("MODIFIED", obj)

    def delete(self, obj: dict[str, Any]) -> None:
        self._commit("DELETED", obj)

    def break_stream(self, obj: dict[str, Any], line: bytes) -> None:
        """Add `obj`, but send watches `line` in place of its event (garbage, an ERROR): the
        change is in the store and in LISTs, and only a re-list finds it."""
        self._commit("ADDED", obj, raw=line.rstrip(b"\n") + b"\n")

    def _commit(self, event: str, obj: dict[str, Any], raw: bytes | None = None) -> None:
        resource = RESOURCE_OF_KIND[obj["kind"]]
        meta = obj["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        table = self._objects[resource]
        with self._cond:
            if (key in table) != (event != "ADDED"):
                raise KeyError(f"{event} {resource} {key}: " +
                               ("already exists" if key in table else "not found"))
            self._version += 1
            before = labels_of(table[key][0]) if key in table else None
            source = table.pop(key)[0] if event == "DELETED" else obj
            stored = {**source, "metadata": {**source["metadata"],
                                             "resourceVersion": str(self._version)}}
            encoded = json.dumps(stored).encode()
            after = None
            if event != "DELETED":
                table[key] = (stored, encoded)
                after = labels_of(stored)
            self._log.versions.append(self._version)
            self._log.events.append(
                _Event(resource, key[0], event, encoded, before, after, raw)
            )
            self._cond.notify_all()

    # -- test hooks: the API misbehaves -------------------------------------------------

    def compact(self) -> None:
        """Forget all history up to now. Open watches end with an ERROR 410 (as when the
        API server's watch cache is re-initialised); older versions and continue tokens get
        410 from now on."""
        with self._cond:
            self._compacted = self._version
            self._log = _Log()
            self._continues.clear()
            for watch in self._watches:
                watch.expired = True
            self._cond.notify_all()

    def drop_watches(self) -> None:
        """Cut every open watch connection mid-stream (no final chunk)."""
        with self._cond:
            for watch in self._watches:
                watch.dropped = True
            self._cond.notify_all()

    def stall_watches(self, on: bool) -> None:
        """While on, watches (open and new) keep their socket open and send nothing at all."""
        with self._cond:
            self._stalled = on
            self._cond.notify_all()

    def fail_with(self, status: int | None, retry_after: int = 1) -> None:
        """Answer every new request with this HTTP status and a Retry-After, until None."""
        with self._cond:
            self._failure = status
            self._retry_after = retry_after

    # -- HTTP side, called by the handler threads ------------------------------------------

    def list_page(
        self,
        resource: str,
        namespace: str | None,
        limit: int,
        token: str | None,
        selector: Selector | None = None,
    ) -> tuple[int, bytes]:
        kind, api_version, _ = RESOURCES[resource]
        with self._cond:
            if token:
                if token not in self._continues:
                    return 410, json.dumps(status_body(
                        410, "Expired", "The provided continue parameter is too old to "
                        "display a consistent list result.")).encode()
                version, items, offset = self._continues.pop(token)
            else:
                version, offset = self._version, 0
                items = [encoded for key, (obj, encoded) in sorted(self._objects[resource].items())
                         if namespace in (None, key[0])
                         and (selector is None or selector.matches(labels_of(obj)))]
            end = offset + limit if limit > 0 else len(items)
            metadata: dict[str, Any] = {"resourceVersion": str(version)}
            if end < len(items):
                token = f"{version}-{end}-{len(self._continues)}-{time.monotonic_ns()}"
                self._continues[token] = (version, items, end)
                metadata.update(**{"continue": token, "remainingItemCount": len(items) - end})
        head = {"kind": f"{kind}List", "apiVersion": api_version, "metadata": metadata}
        return 200, b"%s,\"items\":[%s]}" % (json.dumps(head)[:-1].encode(),
                                              b",".join(items[offset:end]))

    def open_watch(
        self, resource: str, namespace: str | None, query: dict[str, str]
    ) -> _Watch | None:
        """Register a watch; None when its resourceVersion is older than the compaction."""
        version = query.get("resourceVersion", "")
        now = time.monotonic()
        with self._cond:
            start = int(version) if version not in ("", "0") else self._version
            if start < self._compacted:
                return None
            watch = _Watch(
                resource, namespace, selector_in(query), start,
                deadline=now + int(query.get("timeoutSeconds", "1800")),
                bookmarks=query.get("allowWatchBookmarks") == "true",
                next_bookmark=now + self.bookmark_interval,
            )
            self._watches.add(watch)
            return watch

    def watching(self, resource: str) -> int:
        """How many watches of `resource` are open."""
        with self._cond:
            return sum(w.resource == resource for w in self._watches)

    def close_watch(self, watch: _Watch) -> None:
        with self._cond:
            self._watches.discard(watch)

    def next_for(self, watch: _Watch) -> tuple[str, list[bytes]]:
        """Block until something is due on `watch`: ("lines", [...]), ("end", []),
        ("drop", []) or ("expired", [])."""
        with self._cond:
            while True:
                if self._closing or watch.dropped:
                    return "drop", []
                if watch.expired:
                    return "expired", []
                if self._stalled:
                    self._cond.wait()
                    continue
                lines = self._log.after(watch.position, watch)
                watch.position = self._version
                if lines:
                    return "lines", lines
                now = time.monotonic()
                if now >= watch.deadline:
                    return "end", []
                if watch.bookmarks and now >= watch.next_bookmark:
                    watch.next_bookmark = now + self.bookmark_interval
                    return "lines", [self._bookmark(watch.resource)]
                wake = min(watch.deadline, watch.next_bookmark) if watch.bookmarks \
                    else watch.deadline
                self._cond.wait(wake - now)

    def _bookmark(self, resource: str) -> bytes:
        kind, api_version, _ = RESOURCES[resource]
        obj = {"kind": kind, "apiVersion": api_version,
               "metadata": {"resourceVersion": str(self._version)}}
        return json.dumps({"type": "BOOKMARK", "object": obj}).encode() + b"\n"

    def expired_line(self) -> bytes:
        message = f"too old resource version (compacted at {self._compacted})"
        event = {"type": "ERROR", "object": status_body(410, "Expired", message)}
        return json.dumps(event).encode() + b"\n"

    def count(self, resource: str, verb: str) -> tuple[int, int] | None:
        """Count a request; the (status, retry after) to fail it with, if any."""
        with self._cond:
            self.requests[(resource, verb)] += 1
            return None if self._failure is None else (self._failure, self._retry_after)

    def track(self, conn: socket.socket, open_: bool) -> None:
        with self._cond:
            if open_:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked watch streams, like the real API
    disable_nagle_algorithm = True  # no delayed-ACK stall between headers and body

    @property
    def api(self) -> FakeKubeAPI:
        return self.server.api  # type: ignore[attr-defined]

    def setup(self) -> None:
        super().setup()
        self.api.track(self.connection, True)

    def finish(self) -> None:
        self.api.track(self.connection, False)
        with suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the informer's own logs tell the story

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        watching = query.get("watch") == "true"
        route = PATH.match(url.path)
        resource = route.group(3) if route else "?"
        failure = self.api.count(resource, "watch" if watching else "list")
        if failure is not None:
            status, retry_after = failure
            reason = HTTPStatus(status).phrase.replace(" ", "")
            self._send_json(status, status_body(status, reason, "injected by the test"),
                            {"Retry-After": str(retry_after)})
        elif self.api.token and self.headers.get("Authorization", "").lower() != \
                f"bearer {self.api.token}".lower():
            self._send_json(401, status_body(401, "Unauthorized", "bad or missing token"))
        elif (route is None or resource not in RESOURCES
              or RESOURCES[resource][2] != route.group(1)
              or (resource == "namespaces" and route.group(2))):
            self._send_json(404, status_body(404, "NotFound", f"no route for {url.path}"))
        elif watching:
            self._watch(resource, route.group(2), query)
        else:
            if self.api.on_list_page is not None:
                self.api.on_list_page(resource, "continue" in query)
            limit = int(query.get("limit", "0"))
            self._send(*self.api.list_page(resource, route.group(2), limit,
                                           query.get("continue"), selector_in(query)))

    def _send_json(self, status: int, body: dict[str, Any],
                   headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(body).encode(), headers)

    def _send(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _watch(self, resource: str, namespace: str | None, query: dict[str, str]) -> None:
        watch = self.api.open_watch(resource, namespace, query)
        if watch is None and self.api.expired_as_status:
            self._send_json(410, status_body(410, "Expired", "too old resource version"))
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            if watch is None:
                self._chunk(self.api.expired_line())
            elif not self._stream(watch):
                self.close_connection = True  # cut without the final chunk
                return
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            self.close_connection = True  # the client went away
        finally:
            if watch is not None:
                self.api.close_watch(watch)

    def _stream(self, watch: _Watch) -> bool:
        """Send what comes due until the watch ends (True) or is dropped (False)."""
        while True:
            what, lines = self.api.next_for(watch)
            if what == "drop":
                return False
            if what == "expired":
                self._chunk(self.api.expired_line())
                return True
            if what == "end":
                return True
            for line in lines:
                self._chunk(line)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))


# -- the consumer side: a state owned by an asyncio loop, as in the server ------------------


class StateLoop:
    """An asyncio loop on its own thread that owns a ClusterState: `submit` is the loop's
    call_soon_threadsafe (what the server passes to the informer), `read` runs a function
    of the state on the loop and returns its result. Errors raised by submitted changes are
    collected in `errors` instead of being only logged."""

    def __init__(self) -> None:
        self.state = ClusterState()
        self.loop = asyncio.new_event_loop()
        self.errors: list[dict[str, Any]] = []
        self.loop.set_exception_handler(lambda _loop, context: self.errors.append(context))
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def submit(self, change: Callable[[], None]) -> None:
        self.loop.call_soon_threadsafe(change)

    def read(self, query: Callable[[ClusterState], T], timeout: float = 5.0) -> T:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(query(self.state))
            except Exception as exc:
                future.set_exception(exc)

        self.loop.call_soon_threadsafe(run)
        return future.result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


@contextmanager
def running_informer(api: ApiClient, loop: StateLoop, **options: Any) -> Iterator[Informer]:
    """An Informer feeding `loop.state`, with FAST timeouts unless overridden; stopped on exit."""
    informer = Informer(api, loop.state, loop.submit, **{**FAST, **options})
    informer.start()
    try:
        yield informer
    finally:
        informer.stop()
