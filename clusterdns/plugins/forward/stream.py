"""One upstream's TCP or TLS connections, kept for reuse as CoreDNS's proxy keeps them.

A query takes the connection that has been idle longest (FIFO, as CoreDNS), or dials a new
one (from `source` when given); it has the connection to itself until the reply is read,
then gives it back, unless `max_idle` connections are idle already (0: no limit): then it is
closed. A connection idle for longer than `expire`, or open for longer than `max_age` (0: no
limit), is closed: when a query would take it, or by a sweep when it is due. One the
upstream closed while it was idle is dropped and
the query goes on with the next (CoreDNS's "cached connection was closed by peer"). Every
other failure closes the connection. Each query carries a random ID; the reply must carry it
and repeat the question. `coredns_proxy_conn_cache_{hits,misses}_total` count reused and
dialled connections with proto "tcp" or "tcp-tls".
"""

from __future__ import annotations

import asyncio
import random
import ssl
import struct
import time
from collections import deque

from clusterdns.dns.message import HEADER, QR_BIT
from clusterdns.dns.packet import question_end
from clusterdns.errors import ServeError
from clusterdns.plugins.forward import metrics
from clusterdns.plugins.forward.metrics import PROXY_NAME
from clusterdns.plugins.forward.tls import reason

_LENGTH = struct.Struct("!H")


class UpstreamError(ServeError):
    """No usable reply from an upstream (timeout, refused, closed, garbage)."""

    def __init__(self, message: str, timeout: bool = False) -> None:
        super().__init__(message)
        self.timeout = timeout  # no reply in time: unlike a refusal, worth asking again


class _PeerClosed(ServeError):
    """The upstream closed the connection before the reply (maybe while it was idle)."""


class _Connection:
    __slots__ = ("created", "reader", "used", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.created = self.used = time.monotonic()

    def due(self, expire: float, max_age: float) -> float:
        """When it is to be closed if it stays idle."""
        idle_until = self.used + expire
        return min(idle_until, self.created + max_age) if max_age else idle_until

    def usable(self, expire: float, max_age: float, now: float) -> bool:
        """Not due yet, and not closed by the upstream meanwhile."""
        return now <= self.due(expire, max_age) and not (
            self.reader.at_eof() or self.writer.is_closing()
        )

    def close(self) -> None:
        self.writer.close()


class StreamPool:
    """The TCP connections to one upstream, or its TLS connections when `tls` is given
    (`server_name` then is what its certificate must name, and the SNI when not an IP)."""

    def __init__(
        self,
        host: str,
        port: int,
        label: str,
        *,
        expire: float,
        max_age: float = 0.0,
        max_idle: int = 0,
        source: str | None = None,
        tls: ssl.SSLContext | None = None,
        server_name: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.label = label
        self.expire = expire
        self.max_age = max_age
        self.max_idle = max_idle
        self.source = source
        self.tls = tls
        self.server_name = (server_name or host) if tls is not None else None
        self.proto = "tcp" if tls is None else "tcp-tls"
        self._idle: deque[_Connection] = deque()  # oldest first: by the time each went idle
        self._sweep: asyncio.TimerHandle | None = None
        self._closed = False

    async def exchange(self, query: bytes) -> bytes:
        """The reply to `query` on a kept connection or a new one. Raises UpstreamError."""
        while True:
            connection = self._take()
            cached = connection is not None
            labels = (PROXY_NAME, self.label, self.proto)
            if connection is None:
                metrics.CONN_CACHE_MISSES.inc(labels)
                connection = await self._dial()
            else:
                metrics.CONN_CACHE_HITS.inc(labels)
            try:
                reply = await self._ask(connection, query)
            except _PeerClosed:
                connection.close()
                if cached:
                    continue  # closed while idle: the query was not answered, ask anew
                raise UpstreamError(f"read {self.proto} {self.label}: EOF") from None
            except BaseException:  # a failure, or the caller's timeout mid-exchange
                connection.close()
                raise
            self._give_back(connection)
            return reply

    async def exchange_once(self, query: bytes) -> bytes:
        """The reply to `query` on a connection of its own, closed after (a health check,
        which dials as CoreDNS's does: it tests that the upstream takes connections)."""
        connection = await self._dial()
        try:
            return await self._ask(connection, query)
        except _PeerClosed:
            raise UpstreamError(f"read {self.proto} {self.label}: EOF") from None
        finally:
            connection.close()

    def close(self) -> None:
        """Close the idle connections; those in use close when their query is done."""
        self._closed = True
        if self._sweep is not None:
            self._sweep.cancel()
        while self._idle:
            self._idle.popleft().close()

    def _take(self) -> _Connection | None:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.popleft()
            if connection.usable(self.expire, self.max_age, now):
                return connection
            connection.close()
        return None

    def _give_back(self, connection: _Connection) -> None:
        if self._closed or (self.max_idle and len(self._idle) >= self.max_idle):
            connection.close()
            return
        connection.used = time.monotonic()
        self._idle.append(connection)
        if self._sweep is None:
            self._sweep = asyncio.get_running_loop().call_later(
                connection.due(self.expire, self.max_age) - connection.used, self._swept
            )

    def _swept(self) -> None:
        """Close the connections that are due; come back when the next one will be."""
        self._sweep = None
        now = time.monotonic()
        idle = self._idle
        for _ in range(len(idle)):  # (max_age: one in the middle may be due)
            connection = idle.popleft()
            if connection.usable(self.expire, self.max_age, now):
                idle.append(connection)
            else:
                connection.close()
        if idle:
            due = min(connection.due(self.expire, self.max_age) for connection in idle) - now
            self._sweep = asyncio.get_running_loop().call_later(max(due, 0.0), self._swept)

    async def _dial(self) -> _Connection:
        try:
            reader, writer = await asyncio.open_connection(
                self.host,
                self.port,
                ssl=self.tls,
                server_hostname=self.server_name,
                local_addr=None if self.source is None else (self.source, 0),
            )
        except ssl.SSLCertVerificationError as exc:
            message = f"tls: failed to verify certificate: {exc.verify_message}"
            raise UpstreamError(f"dial {self.proto} {self.label}: {message}") from None
        except OSError as exc:
            raise UpstreamError(f"dial {self.proto} {self.label}: {reason(exc)}") from None
        return _Connection(reader, writer)

    async def _ask(self, connection: _Connection, query: bytes) -> bytes:
        ident = random.getrandbits(16).to_bytes(2, "big")
        try:
            connection.writer.write(_LENGTH.pack(len(query)) + ident + query[2:])
            await connection.writer.drain()
            (length,) = _LENGTH.unpack(await connection.reader.readexactly(2))
            reply = await connection.reader.readexactly(length)
        except asyncio.IncompleteReadError as exc:
            if exc.partial:
                raise UpstreamError(f"read {self.proto} {self.label}: short reply") from None
            raise _PeerClosed from None
        except ConnectionError:
            raise _PeerClosed from None
        except OSError as exc:
            raise UpstreamError(f"read {self.proto} {self.label}: {reason(exc)}") from None
        question = query[HEADER.size : question_end(query)].lower()
        if (
            reply[:2] != ident
            or len(reply) < HEADER.size
            or not reply[2] << 8 & QR_BIT
            or reply[HEADER.size : HEADER.size + len(question)].lower() != question
        ):
            raise UpstreamError(f"{self.proto} {self.label}: reply does not match the query")
        return reply
