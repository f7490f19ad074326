"""DNS over TCP as RFC 7766 asks of a server, under abuse.

- Queries on one connection are answered concurrently, each as soon as it is ready, in any
  order (§6.2.1.1): a slow forwarded query holds up nothing behind it. At most
  `PIPELINE_LIMIT` are in flight per connection; past that the connection is not read until
  one is answered (backpressure, not a drop).
- At `max_connections`, the connection idle the longest (nothing in flight, quiet the
  longest) is closed to make room (§6.2.3), rather than the newcomer refused; only when every
  connection is busy is the newcomer closed.
- Timeouts as CoreDNS's defaults: a connection quiet for `IDLE_TIMEOUT` with nothing in flight
  is closed; a message, once its length has arrived, must arrive whole within `READ_TIMEOUT`
  (slow-loris); a reply the client does not read within `WRITE_TIMEOUT` closes the connection.
- A deep listen backlog: a burst of connects is queued by the kernel, not reset.
- A message the handler does not answer (a query acl drops, a response) gets nothing, and the
  connection goes on, as CoreDNS's (miekg/dns's serveTCPConn reads the next message).

Zone transfers (`Transfers`) are answered in order on their connection, message by message.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import time
from collections.abc import Awaitable

from clusterdns.metrics.panics import PanicLog
from clusterdns.transport.protocols import Handler, Peer, Transfers

log = logging.getLogger("clusterdns.transport")
PANIC_LOG = PanicLog(log)

MAX_CONNECTIONS = 1000
IDLE_TIMEOUT = 10.0
READ_TIMEOUT = 3.0
WRITE_TIMEOUT = 5.0
PIPELINE_LIMIT = 64
BACKLOG = 4096  # capped by net.core.somaxconn
_LENGTH = struct.Struct("!H")


class _Connection:
    __slots__ = ("in_flight", "last_active", "reader", "task", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.in_flight = 0
        self.last_active = time.monotonic()
        self.task: asyncio.Task[None] | None = None

    @property
    def idle(self) -> bool:
        return self.in_flight == 0

    def close(self) -> None:
        """Let go at once: what the client has not read is dropped (a plain close would
        wait for a client that does not read)."""
        if self.task is not None:
            self.task.cancel()
        self.writer.transport.abort()


class TcpServer:
    def __init__(
        self,
        handler: Handler,
        transfer: Transfers | None = None,
        idle_timeout: float = IDLE_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.handler = handler
        self.transfer = transfer
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self.closed_for_room = 0  # idle connections closed to make room (RFC 7766 §6.2.3)
        self._connections: set[_Connection] = set()
        self._server: asyncio.Server | None = None

    async def start(self, sock: socket.socket) -> None:
        """Serve on a bound TCP socket (listening is done here)."""
        self._server = await asyncio.start_server(self._accept, sock=sock, backlog=BACKLOG)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            connection.close()
        if self._server is not None:
            await self._server.wait_closed()

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._connections) >= self.max_connections and not self._make_room():
            writer.close()  # every connection is busy: the newcomer retries
            return
        connection = _Connection(reader, writer)
        self._connections.add(connection)
        connection.task = asyncio.ensure_future(self._serve(connection))

    def _make_room(self) -> bool:
        idle = [c for c in self._connections if c.idle]
        if not idle:
            return False
        oldest = min(idle, key=lambda c: c.last_active)
        self._connections.discard(oldest)
        oldest.close()
        self.closed_for_room += 1
        return True

    async def _serve(self, connection: _Connection) -> None:
        writer = connection.writer
        peer: Peer = writer.get_extra_info("peername")
        room = asyncio.Semaphore(PIPELINE_LIMIT)
        answering: set[asyncio.Task[None]] = set()
        finished = False  # the client ended it: replies already written still go out
        try:
            while True:
                data = await self._read_message(connection)
                if data is None:
                    finished = True
                    break
                connection.last_active = time.monotonic()
                if self.transfer is not None and self.transfer.takes(data):
                    await self._transfer(connection, data, peer)
                    continue
                reply = self.handler.handle(data, over_tcp=True, peer=peer)
                if reply is None:
                    continue  # not answered (dropped, a response): the connection goes on
                if isinstance(reply, bytes):
                    await self._write(connection, reply)
                    continue
                await room.acquire()
                connection.in_flight += 1
                task = asyncio.ensure_future(self._answer_later(connection, reply, room))
                answering.add(task)
                task.add_done_callback(answering.discard)
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            pass
        except asyncio.CancelledError:
            raise
        except Exception:
            PANIC_LOG.record("TCP connection from %s failed", peer)
        finally:
            for task in answering:
                task.cancel()
            self._connections.discard(connection)
            if finished:
                writer.close()
            else:  # a timeout, an error, a stop: the client may not be reading
                writer.transport.abort()

    async def _read_message(self, connection: _Connection) -> bytes | None:
        """The next message, or None when the connection should close (idle, or EOF)."""
        reader = connection.reader
        while True:
            try:
                async with asyncio.timeout(self.idle_timeout):
                    head = await reader.readexactly(_LENGTH.size)
                break
            except TimeoutError:
                if connection.idle:
                    return None  # quiet with nothing in flight: release the slot
        async with asyncio.timeout(READ_TIMEOUT):  # the rest of the message, promptly
            (length,) = _LENGTH.unpack(head)
            return await reader.readexactly(length)

    async def _answer_later(
        self, connection: _Connection, reply: Awaitable[bytes | None], room: asyncio.Semaphore
    ) -> None:
        try:
            data = await reply
            if data is not None:
                await self._write(connection, data)
        except (TimeoutError, ConnectionError):
            connection.close()
        except Exception:
            peer = connection.writer.get_extra_info("peername")
            PANIC_LOG.record("TCP query from %s failed", peer)
        finally:
            connection.in_flight -= 1
            connection.last_active = time.monotonic()
            room.release()

    async def _write(self, connection: _Connection, data: bytes) -> None:
        writer = connection.writer
        writer.write(_LENGTH.pack(len(data)) + data)
        async with asyncio.timeout(WRITE_TIMEOUT):  # a client that does not read is let go
            await writer.drain()

    async def _transfer(self, connection: _Connection, data: bytes, peer: Peer) -> None:
        assert self.transfer is not None
        connection.in_flight += 1
        try:
            for message in self.transfer.replies(data, peer):
                await self._write(connection, message)
                await asyncio.sleep(0)  # a large zone must not hold up other queries
        finally:
            connection.in_flight -= 1
