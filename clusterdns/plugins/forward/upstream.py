"""One upstream nameserver: exchanges over UDP, TCP or TLS, and its health (CoreDNS's proxy).

UDP queries share one connected socket per upstream, told apart by a random ID; the socket is
replaced after `expire` seconds so the source port moves on. A reply counts only if it comes
from the upstream (connected socket), carries a pending ID and repeats the question we asked.
TCP and TLS connections are kept for reuse (`stream`). A tls:// upstream takes every query
over TLS, whatever the client used. With `source_address` every socket (health checks' too)
is bound to that address. After a failed exchange a health check (`NS` of the
`health_check` domain, `.` by default, RD set unless `no_rec`; over TLS to a tls://
upstream, over TCP with `force_tcp`, each on a new connection) runs every `health_check`
interval until one succeeds; every failed check adds to `fails`, and past `max_fails` the
upstream is down.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import ssl
import struct
import time
from collections.abc import Awaitable

from clusterdns.config.addresses import address_label
from clusterdns.dns.message import HEADER, QR_BIT
from clusterdns.dns.packet import name_wire, question_end
from clusterdns.plugins.forward import metrics
from clusterdns.plugins.forward.metrics import PROXY_NAME
from clusterdns.plugins.forward.setup import ForwardConfig
from clusterdns.plugins.forward.stream import StreamPool, UpstreamError

log = logging.getLogger("clusterdns.forward")

HEALTH_TIMEOUT = 1.0
_RD = 0x0100


def health_query(domain: str, recursion_desired: bool) -> bytes:
    """The health check's query: `domain` NS IN, with RD or without (`no_rec`)."""
    header = HEADER.pack(0, _RD if recursion_desired else 0, 1, 0, 0, 0)
    return header + name_wire(domain) + struct.pack("!HH", 2, 1)


class _UdpChannel:
    """A connected UDP socket with the queries waiting on it, by ID."""

    def __init__(self, host: str, port: int, source: str | None) -> None:
        self.loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self.sock.setblocking(False)
            if source is not None:
                self.sock.bind((source, 0))
            self.sock.connect((host, port))
        except OSError:
            self.sock.close()
            raise
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
    """One of `config`'s upstreams. `tls` makes it a DNS-over-TLS upstream, whose certificate
    must name `server_name` (else its IP address)."""

    def __init__(
        self,
        host: str,
        port: int,
        config: ForwardConfig,
        *,
        tls: ssl.SSLContext | None = None,
        server_name: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.label = address_label(host, port)
        self.expire = config.expire
        self.source = config.source_address
        self.health_interval = config.health_check
        self.health_query = health_query(config.health_check_domain, config.health_check_rd)
        self.max_fails = config.max_fails
        self.tls = tls is not None
        self.health_over_stream = config.force_tcp or self.tls
        self.fails = 0
        self.stream = StreamPool(
            host,
            port,
            self.label,
            expire=config.expire,
            max_age=config.max_age,
            max_idle=config.max_idle_conns,
            source=config.source_address,
            tls=tls,
            server_name=server_name,
        )
        self._udp: _UdpChannel | None = None
        self._checking: asyncio.Task[None] | None = None

    def down(self) -> bool:
        return self.max_fails > 0 and self.fails > self.max_fails

    async def exchange(self, query: bytes, tcp: bool, timeout: float) -> bytes:
        """The upstream's reply to `query` (its ID replaced by ours, the reply carries ours):
        over TCP when `tcp`, over TLS always to a tls:// upstream. Raises UpstreamError."""
        if tcp or self.tls:
            return await self._within(timeout, self.stream.proto, self.stream.exchange(query))
        return await self._within(timeout, "udp", self._exchange_udp(query))

    def check_health(self) -> None:
        """Start health checking, unless it is running (or disabled by max_fails 0)."""
        if self.max_fails > 0 and (self._checking is None or self._checking.done()):
            self._checking = asyncio.ensure_future(self._probe())

    def close(self) -> None:
        if self._checking is not None:
            self._checking.cancel()
        if self._udp is not None:
            self._udp.retire()
        self.stream.close()

    async def _within(self, timeout: float, proto: str, exchange: Awaitable[bytes]) -> bytes:
        try:
            async with asyncio.timeout(timeout):
                return await exchange
        except TimeoutError:
            raise UpstreamError(f"read {proto} {self.label}: i/o timeout", timeout=True) from None

    async def _exchange_udp(self, query: bytes) -> bytes:
        channel = self._udp
        if channel is None or time.monotonic() - channel.opened > self.expire:
            if channel is not None:
                channel.retire()
            try:
                channel = self._udp = _UdpChannel(self.host, self.port, self.source)
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

    async def _health_check(self) -> None:
        if self.health_over_stream:
            proto, check = self.stream.proto, self.stream.exchange_once(self.health_query)
        else:
            proto, check = "udp", self._exchange_udp(self.health_query)
        await self._within(HEALTH_TIMEOUT, proto, check)

    async def _probe(self) -> None:
        while True:
            try:
                await self._health_check()
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
