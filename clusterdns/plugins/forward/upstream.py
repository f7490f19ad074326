"""One upstream nameserver: exchanges over UDP and TCP, and its health (CoreDNS's proxy).

UDP queries share one connected socket per upstream, told apart by a random ID; the socket is
replaced after `expire` seconds so the source port moves on. A reply counts only if it comes
from the upstream (connected socket), carries a pending ID and repeats the question we asked.
After a failed exchange a health check (`. IN NS`) runs every `health_interval` until one
succeeds; every failed check adds to `fails`, and past `max_fails` the upstream is down.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import struct
import time

from clusterdns.config.addresses import address_label
from clusterdns.dns.message import HEADER, QR_BIT
from clusterdns.dns.packet import question_end
from clusterdns.errors import ServeError
from clusterdns.plugins.forward import metrics
from clusterdns.plugins.forward.metrics import PROXY_NAME

log = logging.getLogger("clusterdns.forward")

READ_TIMEOUT = 2.0  # CoreDNS: the read timeout is static at 2s
HEALTH_TIMEOUT = 1.0
_HEALTH_QUERY = HEADER.pack(0, 0x0100, 1, 0, 0, 0) + b"\x00" + struct.pack("!HH", 2, 1)  # . NS IN
_LENGTH = struct.Struct("!H")


class UpstreamError(ServeError):
    """No usable reply from an upstream (timeout, refused, closed, garbage)."""

    def __init__(self, message: str, timeout: bool = False) -> None:
        super().__init__(message)
        self.timeout = timeout  # no reply in time: unlike a refusal, worth asking again


class _UdpChannel:
    """A connected UDP socket with the queries waiting on it, by ID."""

    def __init__(self, host: str, port: int) -> None:
        self.loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self.sock.connect((host, port))
        self.opened = time.monotonic()
        self.retired = False
        self.pending: dict[int, tuple[asyncio.Future[bytes], bytes]] = {}
        self.loop.add_reader(self.sock.fileno(), self._readable)

    def send(self, query: bytes) -> tuple[int, asyncio.Future[bytes]]:
        ident = random.getrandbits(16)
        while ident in self.pending:
            ident = random.getrandbits(16)
        future: asyncio.Future[bytes] = self.loop.create_future()
        question = query[HEADER.size : question_end(query)].lower()
        self.pending[ident] = (future, question)
        try:
            self.sock.send(ident.to_bytes(2, "big") + query[2:])
        except OSError as exc:
            del self.pending[ident]
            raise UpstreamError(f"send: {exc.strerror or exc}") from None
        return ident, future

    def done(self, ident: int) -> None:
        self.pending.pop(ident, None)
        if self.retired and not self.pending:
            self.close()

    def retire(self) -> None:
        """Take no new queries; close once the pending ones are answered."""
        self.retired = True
        if not self.pending:
            self.close()

    def close(self) -> None:
        if self.sock.fileno() >= 0:
            self.loop.remove_reader(self.sock.fileno())
            self.sock.close()
        self._fail(UpstreamError("connection closed"))

    def _readable(self) -> None:
        while True:
            try:
                data = self.sock.recv(65535)
            except BlockingIOError:
                return
            except OSError as exc:  # ICMP port unreachable and the like: the upstream is gone
                self._fail(UpstreamError(exc.strerror or str(exc)))
                return
            if len(data) < HEADER.size or not data[2] << 8 & QR_BIT:
                continue
            waiting = self.pending.get(data[0] << 8 | data[1])
            if waiting is None:
                continue
            future, question = waiting
            end = HEADER.size + len(question)
            if data[HEADER.size : end].lower() == question and not future.done():
                future.set_result(data)

    def _fail(self, error: Exception) -> None:
        for future, _ in self.pending.values():
            if not future.done():
                future.set_exception(error)


class Upstream:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        expire: float = 10.0,
        health_interval: float = 0.5,
        max_fails: int = 2,
        health_over_tcp: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.label = address_label(host, port)
        self.expire = expire
        self.health_interval = health_interval
        self.max_fails = max_fails
        self.health_over_tcp = health_over_tcp
        self.fails = 0
        self._udp: _UdpChannel | None = None
        self._checking: asyncio.Task[None] | None = None

    def down(self) -> bool:
        return self.max_fails > 0 and self.fails > self.max_fails

    async def exchange(self, query: bytes, tcp: bool, timeout: float = READ_TIMEOUT) -> bytes:
        """The upstream's reply to `query` (its ID replaced by ours, the reply carries ours).
        Raises UpstreamError."""
        try:
            async with asyncio.timeout(timeout):
                if tcp:
                    return await self._exchange_tcp(query)
                return await self._exchange_udp(query)
        except TimeoutError:
            proto = "tcp" if tcp else "udp"
            raise UpstreamError(f"read {proto} {self.label}: i/o timeout", timeout=True) from None

    def check_health(self) -> None:
        """Start health checking, unless it is running (or disabled by max_fails 0)."""
        if self.max_fails > 0 and (self._checking is None or self._checking.done()):
            self._checking = asyncio.ensure_future(self._probe())

    def close(self) -> None:
        if self._checking is not None:
            self._checking.cancel()
        if self._udp is not None:
            self._udp.retire()

    async def _exchange_udp(self, query: bytes) -> bytes:
        channel = self._udp
        if channel is None or time.monotonic() - channel.opened > self.expire:
            if channel is not None:
                channel.retire()
            try:
                channel = self._udp = _UdpChannel(self.host, self.port)
            except OSError as exc:
                raise UpstreamError(f"dial udp {self.label}: {exc.strerror or exc}") from None
            metrics.CONN_CACHE_MISSES.inc((PROXY_NAME, self.label, "udp"))
        else:
            metrics.CONN_CACHE_HITS.inc((PROXY_NAME, self.label, "udp"))
        ident, future = channel.send(query)
        try:
            return await future
        finally:
            channel.done(ident)

    async def _exchange_tcp(self, query: bytes) -> bytes:
        metrics.CONN_CACHE_MISSES.inc((PROXY_NAME, self.label, "tcp"))
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port)
        except OSError as exc:
            raise UpstreamError(f"dial tcp {self.label}: {exc.strerror or exc}") from None
        try:
            ident = random.getrandbits(16).to_bytes(2, "big")
            writer.write(_LENGTH.pack(len(query)) + ident + query[2:])
            await writer.drain()
            (length,) = _LENGTH.unpack(await reader.readexactly(2))
            reply = await reader.readexactly(length)
        except (OSError, asyncio.IncompleteReadError) as exc:
            raise UpstreamError(f"read tcp {self.label}: {exc}") from None
        finally:
            writer.close()
        question = query[HEADER.size : question_end(query)].lower()
        if (
            reply[:2] != ident
            or len(reply) < HEADER.size
            or not reply[2] << 8 & QR_BIT
            or reply[HEADER.size : HEADER.size + len(question)].lower() != question
        ):
            raise UpstreamError(f"tcp {self.label}: reply does not match the query")
        return reply

    async def _probe(self) -> None:
        while True:
            try:
                await self.exchange(_HEALTH_QUERY, self.health_over_tcp, HEALTH_TIMEOUT)
            except UpstreamError as exc:
                self.fails += 1
                metrics.HEALTHCHECK_FAILURES.inc((PROXY_NAME, self.label))
                if self.fails == self.max_fails + 1:
                    log.warning("plugin/forward: upstream %s is down: %s", self.label, exc)
                await asyncio.sleep(self.health_interval)
            else:
                if self.down():
                    log.info("plugin/forward: upstream %s is healthy again", self.label)
                self.fails = 0
                return
