"""Datagrams by the batch: recvmmsg(2) and sendmmsg(2) through ctypes (Linux).

Python's socket module has neither, and per datagram `recvfrom` and `sendto` cost two
system calls, a bytes object, and an address tuple built by formatting the peer's IP (and
parsed back for the reply). Here one call reads up to `SLOTS` datagrams into fixed buffers
and one call sends their replies to the peers' addresses as the kernel wrote them. The peer
tuple a query is handled with comes from a small cache of senders.

A socket bound to every address (0.0.0.0, ::) asks the kernel which address each query was
sent to (IP_PKTINFO, IPV6_PKTINFO) and sends the reply from that address: otherwise it
leaves from whatever address the route picks, and a client that asked another one of the
host's addresses drops it (as miekg/dns, and so CoreDNS, do).
"""

from __future__ import annotations

import ctypes
import errno
import logging
import mmap
import os
import socket
import sys
from collections.abc import Callable

from clusterdns.dns.request import Peer

log = logging.getLogger("clusterdns.udp")

SLOTS = 64  # datagrams per system call
SLOT_SIZE = 65536  # any UDP datagram fits: none is ever cut short
NAME_SIZE = 32  # a sockaddr_in6 (28 bytes), rounded up
MSG_DONTWAIT = 0x40
CONTROL_SIZE = 64  # room for the one IP_PKTINFO or IPV6_PKTINFO message asked for
IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)  # Linux's value; some Pythons lack the name
_CMSG_HEADER = ctypes.sizeof(ctypes.c_size_t) + 8  # cmsg_len, cmsg_level, cmsg_type
V4_MAPPED = bytes(10) + b"\xff\xff"
PEERS_KEPT = 4096  # client addresses kept; the cache starts over when it is full
SOURCES_KEPT = 256  # the host's addresses queries were sent to, the same way


class _IoVec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


class _MsgHdr(ctypes.Structure):
    _fields_ = [
        ("msg_name", ctypes.c_void_p),
        ("msg_namelen", ctypes.c_uint32),
        ("msg_iov", ctypes.c_void_p),
        ("msg_iovlen", ctypes.c_size_t),
        ("msg_control", ctypes.c_void_p),
        ("msg_controllen", ctypes.c_size_t),
        ("msg_flags", ctypes.c_int),
    ]


class _MMsgHdr(ctypes.Structure):
    _fields_ = [("msg_hdr", _MsgHdr), ("msg_len", ctypes.c_uint)]


def _libc_calls() -> tuple[Callable[..., int], Callable[..., int]] | None:
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    if not (hasattr(libc, "recvmmsg") and hasattr(libc, "sendmmsg")):
        return None
    recvmmsg, sendmmsg = libc.recvmmsg, libc.sendmmsg
    int_, pointer, uint = ctypes.c_int, ctypes.c_void_p, ctypes.c_uint
    recvmmsg.argtypes = [int_, pointer, uint, int_, pointer]  # fd, messages, count, flags, timeout
    sendmmsg.argtypes = [int_, pointer, uint, int_]
    recvmmsg.restype = sendmmsg.restype = ctypes.c_int
    return recvmmsg, sendmmsg


_CALLS = _libc_calls()
AVAILABLE = _CALLS is not None

def _ask_destinations(sock: socket.socket) -> bool:
    """Have the kernel tell each datagram's destination address; False where it cannot."""
    try:
        if sock.family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
        else:
            sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
    except OSError as exc:
        log.warning("replies leave from the routed address, not the one asked: %s", exc)
        return False
    return True


# Where each slot's fields sit in the mmsghdr arrays, in units of the memoryview casts
# (4- or 8-byte words) that reach them.
_STRIDE = ctypes.sizeof(_MMsgHdr)
_NAME_WORD = [(i * _STRIDE + _MsgHdr.msg_name.offset) // 8 for i in range(SLOTS)]
_CONTROLLEN_WORD = [(i * _STRIDE + _MsgHdr.msg_controllen.offset) // 8 for i in range(SLOTS)]
_LEN_WORD = [(i * _STRIDE + _MMsgHdr.msg_len.offset) // 4 for i in range(SLOTS)]
_IOV_LEN_WORD = [(i * ctypes.sizeof(_IoVec) + _IoVec.iov_len.offset) // 8 for i in range(SLOTS)]


class DatagramBatch:
    """Receive buffers, reply buffers and the message headers that point into them, for
    one non-blocking UDP socket. `receive`, then `reply` to datagrams by their position,
    then `send`: replies go out in one call before the next receive reuses the buffers."""

    def __init__(self, sock: socket.socket) -> None:
        assert _CALLS is not None, "recvmmsg/sendmmsg need Linux"
        self._recvmmsg, self._sendmmsg = _CALLS
        self._fd = sock.fileno()
        self._ipv6 = sock.family == socket.AF_INET6
        # mmap: zero pages the kernel commits only where datagrams are written
        self._received = mmap.mmap(-1, SLOTS * SLOT_SIZE)
        self._replies = mmap.mmap(-1, SLOTS * SLOT_SIZE)
        self._names = (ctypes.c_char * (SLOTS * NAME_SIZE))()
        self._in = (_MMsgHdr * SLOTS)()
        self._out = (_MMsgHdr * SLOTS)()
        self._in_iovecs = (_IoVec * SLOTS)()
        self._out_iovecs = (_IoVec * SLOTS)()
        received = ctypes.addressof(ctypes.c_char.from_buffer(self._received))
        replies = ctypes.addressof(ctypes.c_char.from_buffer(self._replies))
        names = ctypes.addressof(self._names)
        self._name_addresses = [names + i * NAME_SIZE for i in range(SLOTS)]
        for i in range(SLOTS):
            self._in_iovecs[i].iov_base = received + i * SLOT_SIZE
            self._in_iovecs[i].iov_len = SLOT_SIZE
            self._out_iovecs[i].iov_base = replies + i * SLOT_SIZE
            for headers, iovecs in ((self._in, self._in_iovecs), (self._out, self._out_iovecs)):
                header = headers[i].msg_hdr
                header.msg_name = self._name_addresses[i]
                header.msg_namelen = NAME_SIZE
                header.msg_iov = ctypes.addressof(iovecs[i])
                header.msg_iovlen = 1
        # bound to every address: learn each query's destination, to reply from it
        self._pktinfo = sock.getsockname()[0] in ("0.0.0.0", "::") and _ask_destinations(sock)
        if self._pktinfo:
            self._controls_in = (ctypes.c_char * (SLOTS * CONTROL_SIZE))()
            self._controls_out = (ctypes.c_char * (SLOTS * CONTROL_SIZE))()
            self._sources: dict[bytes, bytes] = {}  # received control → reply's
            controls_in = ctypes.addressof(self._controls_in)
            controls_out = ctypes.addressof(self._controls_out)
            for i in range(SLOTS):
                self._in[i].msg_hdr.msg_control = controls_in + i * CONTROL_SIZE
                self._in[i].msg_hdr.msg_controllen = CONTROL_SIZE
                self._out[i].msg_hdr.msg_control = controls_out + i * CONTROL_SIZE
        self._in_pointers = memoryview(self._in).cast("B").cast("Q")
        self._in_words = memoryview(self._in).cast("B").cast("I")
        self._out_pointers = memoryview(self._out).cast("B").cast("Q")
        self._reply_lengths = memoryview(self._out_iovecs).cast("B").cast("Q")
        self._reply_view = memoryview(self._replies)
        self._address_in = ctypes.addressof(self._in)
        self._address_out = ctypes.addressof(self._out)
        # senders by sockaddr: a client asks from one port for a while (dnsperf, NodeLocal
        # DNSCache, glibc's A and AAAA of one lookup), and formatting its address costs
        self._peers: dict[bytes, Peer] = {}
        self._name_size = 28 if self._ipv6 else 16  # what the kernel writes of a sockaddr
        # reply j goes to the sender of datagram j unless one before it was not answered at
        # once (forwarded, dropped): its address is set in `reply` only then
        for i in range(SLOTS):
            self._out[i].msg_hdr.msg_namelen = self._name_size
        self._queued = 0
        self._misaddressed = False  # a reply slot was pointed at another slot's sender
        self._count = 0  # datagrams the last receive got

    def close(self) -> None:
        self._reply_view.release()
        self._received.close()
        self._replies.close()

    def receive(self) -> list[tuple[bytes, Peer]]:
        """Read up to SLOTS datagrams without blocking, each with its sender as
        `socket.recvfrom` gives them; raises BlockingIOError when none is waiting, OSError
        for an error the socket reports (e.g. ICMP for an earlier reply)."""
        # The kernel writes back each sockaddr's length (always the family's: room enough
        # for the next one) and each control messages' length (room again, to be safe).
        if self._pktinfo:
            for i in range(self._count):
                self._in_pointers[_CONTROLLEN_WORD[i]] = CONTROL_SIZE
        count = self._count = self._recvmmsg(self._fd, self._address_in, SLOTS, MSG_DONTWAIT, None)
        if count < 0:
            self._count = 0
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code))
        names = ctypes.string_at(self._names, count * NAME_SIZE)
        received, peers, size = self._received, self._peers, self._name_size
        datagrams = []
        for i, length in enumerate(self._in_words[_LEN_WORD[0] :: _STRIDE // 4][:count]):
            name = names[i * NAME_SIZE : i * NAME_SIZE + size]
            at = i * SLOT_SIZE
            datagrams.append((received[at : at + length], peers.get(name) or self._peer(name)))
        return datagrams

    def reply(self, i: int, reply: bytes) -> None:
        """Queue `reply` to the sender of datagram `i`."""
        j = self._queued
        at = j * SLOT_SIZE
        self._reply_view[at : at + len(reply)] = reply
        self._reply_lengths[_IOV_LEN_WORD[j]] = len(reply)
        if i != j:
            self._out_pointers[_NAME_WORD[j]] = self._name_addresses[i]
            self._misaddressed = True
        if self._pktinfo:
            self._reply_from(i, j)
        self._queued = j + 1

    def _reply_from(self, i: int, j: int) -> None:
        """Make reply `j` leave from the address datagram `i` was sent to."""
        received = self._received_control(i)
        control = self._sources.get(received)
        if control is None:
            if len(self._sources) >= SOURCES_KEPT:
                self._sources.clear()
            control = self._sources[received] = self._source_control(received)
        at = j * CONTROL_SIZE
        self._controls_out[at : at + len(control)] = control  # type: ignore[call-overload]
        self._out_pointers[_CONTROLLEN_WORD[j]] = len(control)

    def source(self, i: int) -> list[tuple[int, int, bytes]]:
        """The ancillary data that makes a reply to datagram `i` sent later (with
        `socket.sendmsg`) leave from the address it was sent to; none when not needed."""
        if not self._pktinfo:
            return []
        control = self._source_control(self._received_control(i))
        if not control:
            return []
        if self._ipv6:  # (in6_pktinfo: 20 bytes, in_pktinfo: 12; the rest is padding)
            return [(socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, control[_CMSG_HEADER:][:20])]
        return [(socket.IPPROTO_IP, IP_PKTINFO, control[_CMSG_HEADER:][:12])]

    def _received_control(self, i: int) -> bytes:
        """The control message datagram `i` came with (its destination address)."""
        at = i * CONTROL_SIZE
        # a c_char array slices to bytes and takes bytes (typeshed says lists)
        received: bytes = self._controls_in[at : at + self._in_pointers[_CONTROLLEN_WORD[i]]]  # type: ignore[assignment]
        return received

    def _source_control(self, received: bytes) -> bytes:
        """The control message that sends from the destination in `received` (one of the
        host's addresses, so there are few: they are kept)."""
        if not self._ipv6 and len(received) >= _CMSG_HEADER + 12:
            # in_pktinfo: ifindex, spec_dst, addr. Sent, spec_dst is the source: the
            # address asked (addr); no interface, so the route decides where it goes.
            asked = received[_CMSG_HEADER + 8 : _CMSG_HEADER + 12]
            return received[:_CMSG_HEADER] + bytes(4) + asked + received[_CMSG_HEADER + 8 :]
        if not self._ipv6 or received[_CMSG_HEADER : _CMSG_HEADER + 12] == V4_MAPPED:
            return b""  # nothing to go by, or IPv4 through an IPv6 socket: as routed
        return received  # in6_pktinfo: the address asked is the source to send from

    def send(self) -> tuple[int, list[OSError]]:
        """Send the queued replies: how many the kernel had no room for (the clients ask
        again), and the errors it gave for others (each costs that one reply)."""
        count, self._queued = self._queued, 0
        sent, dropped, errors = 0, 0, []
        while sent < count:
            done = self._sendmmsg(self._fd, self._address_out + sent * _STRIDE, count - sent, 0)
            if done >= 0:
                sent += done
                continue
            code = ctypes.get_errno()
            if code in (errno.EAGAIN, errno.ENOBUFS):
                dropped += count - sent
                break
            errors.append(OSError(code, os.strerror(code)))
            sent += 1  # the first one failed: skip it, send the rest
        if self._misaddressed:  # each reply slot back to the sender of its own datagram
            for j in range(count):
                self._out_pointers[_NAME_WORD[j]] = self._name_addresses[j]
            self._misaddressed = False
        return dropped, errors

    def _peer(self, name: bytes) -> Peer:
        """The sender in `name` (a sockaddr) as a tuple, kept for its next datagram."""
        if len(self._peers) >= PEERS_KEPT:
            self._peers.clear()
        port = int.from_bytes(name[2:4])
        if self._ipv6:
            host = socket.inet_ntop(socket.AF_INET6, name[8:24])
            flow, scope = int.from_bytes(name[4:8]), int.from_bytes(name[24:28], sys.byteorder)
            peer: Peer = (host, port, flow, scope)
        else:
            peer = (socket.inet_ntop(socket.AF_INET, name[4:8]), port)
        self._peers[name] = peer
        return peer
