"""A tiny HTTP/1.1 server on the event loop for /health, /ready and /metrics.

One GET per connection, answered by a route's function with (status, content type, body), or
an awaitable of it. It runs on the DNS loop, so routes read the server's state without locks.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus

from clusterdns.config.addresses import parse_listen
from clusterdns.errors import ServeError

log = logging.getLogger("clusterdns.http")

Response = tuple[int, str, bytes]  # status, content type, body
Route = Callable[[], Response | Awaitable[Response]]
READ_TIMEOUT = 5.0


class HttpServer:
    def __init__(self, address: str, routes: dict[str, Route]) -> None:
        self.address = address
        self.host, self.port = parse_listen(address)
        self.routes = routes  # path → handler; may be replaced while running (reload)
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        try:
            self._server = await asyncio.start_server(
                self._serve, self.host, self.port, reuse_address=True
            )
        except OSError as exc:
            where = f"{self.host} port {self.port}"
            raise ServeError(f"cannot listen on {where}: {exc.strerror or exc}") from exc
        self.port = self._server.sockets[0].getsockname()[1]
        for path in self.routes:
            log.info("serving %s on %s port %d", path, self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(READ_TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
            method, target, *_ = head.decode("latin-1").split(" ", 2)
            route = self.routes.get(target.partition("?")[0])
            if method not in ("GET", "HEAD"):
                status, kind, body = 405, "text/plain", b"method not allowed\n"
            elif route is None:
                status, kind, body = 404, "text/plain", b"not found\n"
            else:
                response = route()
                if inspect.isawaitable(response):  # e.g. metrics gathered from workers
                    response = await response
                status, kind, body = response
            header = (
                f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
                f"Content-Type: {kind}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(header.encode() + (body if method != "HEAD" else b""))
            await writer.drain()
        except (
            TimeoutError,
            ValueError,
            ConnectionError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
        ):
            pass  # a client that does not speak HTTP: just hang up
        finally:
            writer.close()
