"""asyncio UDP and TCP listeners around a query handler (SPEC §8)."""

from __future__ import annotations

import errno
import logging
import socket
from typing import Generic, TypeVar

from clusterdns.errors import ServeError
from clusterdns.transport.protocols import Handler, Transfers
from clusterdns.transport.tcp import TcpServer
from clusterdns.transport.udp import UdpListener

log = logging.getLogger("clusterdns.transport")

H = TypeVar("H", bound=Handler)

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
        transfer: Transfers | None = None,
        reuse_port: bool = False,
        udp_buffer: int | None = None,
    ) -> None:
        self.handler = handler
        self.udp_buffer = udp_buffer  # SO_RCVBUF for the UDP socket; None: the kernel's
        self.host = host
        self.port = port
        self.reuse_port = reuse_port  # worker processes share the address (workers.py)
        self.tcp = TcpServer(handler, transfer)
        self._udp: UdpListener | None = None

    @property
    def transfer(self) -> Transfers | None:
        """AXFR/IXFR when a `transfer` block allows any client (TCP only)."""
        return self.tcp.transfer

    @transfer.setter
    def transfer(self, transfer: Transfers | None) -> None:
        self.tcp.transfer = transfer

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
            udp_sock = self._socket(family, socket.SOCK_DGRAM, self.port)
            port = udp_sock.getsockname()[1]
            try:
                tcp_sock = self._socket(family, socket.SOCK_STREAM, port)
            except OSError as exc:
                udp_sock.close()
                if exc.errno != errno.EADDRINUSE or attempt == attempts:
                    raise
                continue
            await self.tcp.start(tcp_sock)
            self.port = port
            self._udp = UdpListener(udp_sock, self.handler)
            self._udp.start()
            break

    def _socket(self, family: socket.AddressFamily, kind: int, port: int) -> socket.socket:
        sock = socket.socket(family, kind)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if self.reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if kind == socket.SOCK_DGRAM and self.udp_buffer is not None:
                set_receive_buffer(sock, self.udp_buffer)
            if kind == socket.SOCK_STREAM and family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)  # as asyncio's
            sock.bind((self.host, port))
        except OSError:
            sock.close()
            raise
        return sock

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
        await self.tcp.stop()
