"""Every worker on the first worker's /metrics and /ready (`serve --workers N`).

Only the first worker serves HTTP. Before the fork a socket pair is made per other worker;
on a scrape or a readiness probe the first asks each of them for a report (`Report`: a
snapshot of its metrics, its process's CPU, memory and descriptors, and whether it is ready;
pickled: the same program on both ends of a socket pair nobody else holds). /metrics serves
the sum; /ready is 200 only when every worker is ready (each syncs its own informer). A
worker that does not answer within ASK_TIMEOUT is left out of that scrape and makes the pod
not ready, and the log says so; its late answer is recognised by its number and skipped.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import socket
import struct
from collections.abc import Callable
from typing import Any, NamedTuple

from clusterdns.metrics.registry import METRICS, exposition_of, process_values
from clusterdns.plugins.health import TEXT
from clusterdns.transport.http import Response, Route

log = logging.getLogger("clusterdns.workers")

ASK = struct.Struct("!I")  # a request: its number
ANSWER = struct.Struct("!II")  # an answer: the request's number, the snapshot's length
ASK_TIMEOUT = 1.0


class Report(NamedTuple):
    counts: dict[str, Any]  # Metrics.snapshot()
    process: dict[str, float]  # metrics.process_values()
    ready: bool


class WorkerLinks:
    """The socket pairs, made in the parent; each worker keeps its own ends (`kept_by`)."""

    def __init__(self, workers: int) -> None:
        self._pairs = [socket.socketpair() for _ in range(workers - 1)]

    def kept_by(self, worker: int) -> MetricsGatherer | MetricsReporter:
        """In worker `worker` after the fork: its ends, the rest closed."""
        keep: list[socket.socket] = []
        for index, (first, other) in enumerate(self._pairs, start=1):
            mine, theirs = (first, other) if worker == 0 else (other, first)
            theirs.close()
            if worker in (0, index):
                keep.append(mine)
            else:
                mine.close()
        if worker == 0:
            return MetricsGatherer(keep)
        return MetricsReporter(keep[0])


class MetricsReporter:
    """In a worker but the first: answers each request with its `Report`."""

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.ready: Callable[[], bool] = lambda: False  # set by the server when it starts
        self._asked = b""  # a request's bytes, as they arrive
        self._outbox = bytearray()  # answers in order, written by one task
        self._writer: asyncio.Task[None] | None = None

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_reader(self.sock.fileno(), self._read, loop)

    def _read(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            data = self.sock.recv(4096)
        except BlockingIOError:
            return
        if not data:  # the first worker is gone: the runner stops this one too
            loop.remove_reader(self.sock.fileno())
            return
        self._asked += data
        while len(self._asked) >= ASK.size:
            (number,) = ASK.unpack_from(self._asked)
            self._asked = self._asked[ASK.size :]
            report = Report(METRICS.snapshot(), process_values(), self.ready())
            payload = pickle.dumps(tuple(report))
            self._outbox += ANSWER.pack(number, len(payload)) + payload
        if self._writer is None or self._writer.done():
            self._writer = loop.create_task(self._write(loop))

    async def _write(self, loop: asyncio.AbstractEventLoop) -> None:
        while self._outbox:
            data = bytes(self._outbox)
            self._outbox.clear()
            try:
                await loop.sock_sendall(self.sock, data)
            except OSError as exc:
                log.warning("cannot send metrics to the first worker: %s", exc)
                return


class MetricsGatherer:
    """In the first worker: the /metrics and /ready routes, for every worker."""

    def __init__(self, peers: list[socket.socket]) -> None:
        for peer in peers:
            peer.setblocking(False)
        self.peers = peers
        self._received = {peer: b"" for peer in peers}  # what a timed-out read left
        self._asked = 0
        self._lock = asyncio.Lock()  # one request at a time on the pairs

    async def exposition(self) -> Response:
        found = [report for report in await self._reports() if report is not None]
        return exposition_of([r.counts for r in found], [r.process for r in found])

    def ready(self, own: Route) -> Route:
        """/ready: this worker's answer, then 503 unless every other worker is ready."""

        async def route() -> Response:
            response = own()
            if not isinstance(response, tuple):
                response = await response
            if response[0] != 200:
                return response
            reports = await self._reports()
            if all(report is not None and report.ready for report in reports):
                return response
            return 503, TEXT, b"workers"

        return route

    async def _reports(self) -> list[Report | None]:
        async with self._lock:
            self._asked += 1
            return await asyncio.gather(*(self._ask(peer, self._asked) for peer in self.peers))

    async def _ask(self, peer: socket.socket, number: int) -> Report | None:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(ASK_TIMEOUT):
                await loop.sock_sendall(peer, ASK.pack(number))
                while True:
                    answered, size = ANSWER.unpack(await self._read(peer, ANSWER.size))
                    payload = await self._read(peer, ANSWER.size + size)
                    self._received[peer] = self._received[peer][ANSWER.size + size :]
                    if answered == number:  # else a late answer to an earlier scrape
                        return Report(*pickle.loads(payload[ANSWER.size :]))
        except (TimeoutError, OSError, EOFError) as exc:
            log.warning("a worker did not report: %s", exc or "timeout")
            return None

    async def _read(self, peer: socket.socket, size: int) -> bytes:
        """The first `size` bytes of what `peer` sent and nobody has taken yet."""
        loop = asyncio.get_running_loop()
        while len(self._received[peer]) < size:
            chunk = await loop.sock_recv(peer, 65536)
            if not chunk:
                raise EOFError("the worker closed its end")
            self._received[peer] += chunk
        return self._received[peer][:size]
