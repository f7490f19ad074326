"""asyncio UDP and TCP listeners around a query handler (SPEC §8)."""

from __future__ import annotations

import asyncio
import errno
import inspect
import logging
import socket
import struct
from typing import Generic, TypeVar

from clusterdns.errors import ServeError
from clusterdns.metrics.requests import PANICS
from clusterdns.transport.protocols import Handler, Transfers
from clusterdns.transport.udp import UdpListener

log = logging.getLogger("clusterdns.transport")

H = TypeVar("H", bound=Handler)

TCP_IDLE_TIMEOUT = 10.0  # seconds a TCP connection may sit without a new query
TCP_MAX_CONNECTIONS = 1000
EPHEMERAL_PORT_ATTEMPTS = 20
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)  # Linux's value; Python lacks it


def set_receive_buffer(sock: socket.socket, size: int) -> None:
    """Ask for a receive buffer of `size` bytes: room for a burst of queries while the
    server is busy. Beyond net.core.rmem_max only with CAP_NET_ADMIN (SO_RCVBUFFORCE);
    without it the kernel's cap stands, and the log says so."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    granted = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) // 2  # Linux doubles it
    if granted < size:
        log.warning(
            "UDP receive buffer: %d bytes asked, %d granted (net.core.rmem_max caps it "
            "without CAP_NET_ADMIN)", size, granted,
        )  # fmt: skip


class DnsServer(Generic[H]):
    """UDP and TCP on one address; `stop` closes both and open TCP connections. Generic in
    its handler, so the server that made it can still reach that handler's own methods."""

    def __init__(
        self,
        handler: H,
        host: str,
        port: int,
        tcp_idle_timeout: float = TCP_IDLE_TIMEOUT,
        transfer: Transfers | None = None,
        reuse_port: bool = False,
        udp_buffer: int | None = None,
    ) -> None:
        self.handler = handler
        self.udp_buffer = udp_buffer  # SO_RCVBUF for the UDP socket; None: the kernel's
        self.transfer = transfer  # AXFR/IXFR when a `transfer` block allows any client
        self.host = host
        self.port = port
        self.reuse_port = reuse_port  # worker processes share the address (runner.py)
        self.tcp_idle_timeout = tcp_idle_timeout
        self._udp: UdpListener | None = None
        self._tcp: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        try:
            await self._bind()
        except OSError as exc:
            where = f"{self.host} port {self.port}"
            raise ServeError(f"cannot listen on {where}: {exc.strerror or exc}") from exc
        log.info("serving DNS on %s port %d (UDP and TCP)", self.host, self.port)

    async def _bind(self) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # Port 0 picks a free UDP port, which TCP then needs too: another process may hold
        # that TCP port, so try again with a new one rather than fail.
        attempts = EPHEMERAL_PORT_ATTEMPTS if self.port == 0 else 1
        for attempt in range(1, attempts + 1):
            udp_sock = self._udp_socket(family)
            port = udp_sock.getsockname()[1]
            try:
                self._tcp = await asyncio.start_server(
                    self._serve_tcp,
                    self.host,
                    port,
                    family=family,
                    reuse_address=True,
                    reuse_port=self.reuse_port,
                )
            except OSError as exc:
                udp_sock.close()
                if exc.errno != errno.EADDRINUSE or attempt == attempts:
                    raise
                continue
            self.port = port
            self._udp = UdpListener(udp_sock, self.handler)
            self._udp.start()
            break

    def _udp_socket(self, family: socket.AddressFamily) -> socket.socket:
        udp_sock = socket.socket(family, socket.SOCK_DGRAM)
        udp_sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if self.reuse_port:
            udp_sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if self.udp_buffer is not None:
            set_receive_buffer(udp_sock, self.udp_buffer)
        try:
            udp_sock.bind((self.host, self.port))
        except OSError:
            udp_sock.close()
            raise
        return udp_sock

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
        for task in list(self._connections):
            task.cancel()
        if self._tcp is not None:
            await self._tcp.wait_closed()

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if len(self._connections) >= TCP_MAX_CONNECTIONS:
            writer.close()
            return
        self._connections.add(task)
        peer = writer.get_extra_info("peername")
        try:
            while True:
                async with asyncio.timeout(self.tcp_idle_timeout):
                    (length,) = struct.unpack("!H", await reader.readexactly(2))
                    data = await reader.readexactly(length)
                if self.transfer is not None and self.transfer.takes(data):
                    for message in self.transfer.replies(data, peer[0]):
                        writer.write(struct.pack("!H", len(message)) + message)
                        await writer.drain()
                        await asyncio.sleep(0)  # a large zone must not hold up other queries
                    continue
                reply = self.handler.handle(data, over_tcp=True, peer=peer)
                if inspect.isawaitable(reply):
                    reply = await reply
                if reply is None:
                    break  # malformed beyond a header: close, as CoreDNS does
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            pass
        except asyncio.CancelledError:
            raise
        except Exception:
            PANICS.inc()
            log.exception("TCP connection from %s failed", peer)
        finally:
            self._connections.discard(task)
            writer.close()
