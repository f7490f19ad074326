"""The UDP listener: on each wakeup, read every datagram waiting and answer it at once.

asyncio's DatagramProtocol costs a callback, a transport method and an address tuple per
datagram on top of the two system calls; under load most of a query's time went there.
Here the loop only says "readable" and one callback drains the socket until it would block
(or DRAIN_LIMIT datagrams, so TCP, timers and the informer still get their turn): on Linux
a batch of datagrams per system call each way (`mmsg`), elsewhere `recvfrom`/`sendto`.
Answers that need the network (forwarding) are awaited in tasks and sent on their own.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Awaitable

from clusterdns.metrics.panics import PanicLog
from clusterdns.transport import mmsg
from clusterdns.transport.protocols import Handler, Peer

log = logging.getLogger("clusterdns.udp")
PANIC_LOG = PanicLog(log)

DRAIN_LIMIT = 512  # datagrams per wakeup
UNSUPPORTED = (errno.ENOSYS, errno.EPERM, errno.EOPNOTSUPP)  # batch calls refused outright
MAX_DATAGRAM = 65535
# (level, type, data) control messages for sendmsg: the address a reply leaves from
Ancillary = list[tuple[int, int, bytes]] | tuple[()]


class UdpListener:
    def __init__(
        self, sock: socket.socket, handler: Handler, batched: bool = mmsg.AVAILABLE
    ) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.handler = handler
        self.dropped = 0  # replies the kernel had no room for (the client asks again)
        self._batch = mmsg.DatagramBatch(sock) if batched else None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        drain = self._drain if self._batch is None else self._drain_batches
        self._loop.add_reader(self.sock.fileno(), drain)

    def close(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self.sock.fileno())
        for task in self._pending:
            task.cancel()
        self.sock.close()
        if self._batch is not None:
            self._batch.close()

    def _drain_batches(self) -> None:
        batch, handle = self._batch, self.handler.handle
        assert batch is not None
        for _ in range(DRAIN_LIMIT // mmsg.SLOTS):
            try:
                datagrams = batch.receive()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. an ICMP error for an earlier reply
                if exc.errno in UNSUPPORTED:
                    return self._unbatch(exc)
                log.debug("UDP receive error: %s", exc)
                continue
            for i, (data, addr) in enumerate(datagrams):
                try:  # (here, not in a method: a call per datagram is a tenth of its time)
                    reply = handle(data, False, addr)
                except Exception:  # a bug must cost one query, never the listener
                    PANIC_LOG.record("query from %s failed", addr[0])
                    continue
                if isinstance(reply, bytes):
                    batch.reply(i, reply)
                elif reply is not None:  # from the address it was asked at, when ready
                    self._later(reply, addr, batch.source(i))
            dropped, errors = batch.send()
            self.dropped += dropped
            for error in errors:
                if error.errno in UNSUPPORTED:  # this batch's replies are lost: clients retry
                    return self._unbatch(error)
                log.debug("UDP send failed: %s", error)
            if len(datagrams) < mmsg.SLOTS:
                return

    def _unbatch(self, exc: OSError) -> None:
        """The batch calls are refused here (a seccomp profile, an old or emulated
        kernel): one datagram per system call from now on."""
        log.warning("recvmmsg/sendmmsg refused (%s): answering one datagram at a time", exc)
        assert self._loop is not None and self._batch is not None
        self._batch.close()
        self._batch = None
        self._loop.remove_reader(self.sock.fileno())
        self._loop.add_reader(self.sock.fileno(), self._drain)

    def _drain(self) -> None:
        recvfrom, handle = self.sock.recvfrom, self.handler.handle
        for _ in range(DRAIN_LIMIT):
            try:
                data, addr = recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. an ICMP error for an earlier reply
                log.debug("UDP receive error: %s", exc)
                continue
            try:
                reply = handle(data, False, addr)
            except Exception:  # a bug must cost one query, never the listener
                PANIC_LOG.record("query from %s failed", addr[0])
                continue
            if isinstance(reply, bytes):
                self._send(reply, addr)
            elif reply is not None:
                self._later(reply, addr)

    def _send(self, reply: bytes, addr: Peer, source: Ancillary = ()) -> None:
        try:
            if source:
                self.sock.sendmsg([reply], source, 0, addr)
            else:
                self.sock.sendto(reply, addr)
        except BlockingIOError:
            self.dropped += 1
        except OSError as exc:
            log.debug("UDP send to %s failed: %s", addr[0], exc)

    def _later(self, reply: Awaitable[bytes | None], addr: Peer, source: Ancillary = ()) -> None:
        task = asyncio.ensure_future(self._send_when_done(reply, addr, source))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _send_when_done(
        self, reply: Awaitable[bytes | None], addr: Peer, source: Ancillary
    ) -> None:
        try:
            data = await reply
        except Exception:
            PANIC_LOG.record("query from %s failed", addr[0])
            return
        if data is not None and self.sock.fileno() != -1:  # not closed meanwhile
            self._send(data, addr, source)
