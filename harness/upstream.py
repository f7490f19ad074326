"""A DNS server on 127.0.0.1 to forward to in tests and benchmarks (never a real resolver).

It answers every name by a rule of its first label, over UDP and TCP (or, given a server
`tls` context, over DNS-over-TLS only), and can be told to delay, truncate UDP replies, stay
silent (a timeout) or go down and come back on its port:

- `nx.…` NXDOMAIN and `nodata.…` NODATA, both with an SOA (TTL 60, minimum 30);
- `servfail.…` SERVFAIL, `refused.…` REFUSED;
- `big.…` 40 A records (more than fits in 512 bytes);
- anything else: A 192.0.2.1 / AAAA 2001:db8::1, or the addresses set in `records`; a name
  in `cnames` (A and AAAA): a CNAME to its target, followed there (a chain), then those;
- a name in `rcodes`: that rcode and no records (this upstream's own failures).

Each query is kept with the protocol and the address it came from.

Replies set RA and AD (a validating recursive resolver) so relaying them faithfully shows.
It runs its own event loop in a thread, so it works beside a server subprocess or a test's
own loop; replies are kept by question, so it is fast enough to benchmark against.
"""

from __future__ import annotations

import asyncio
import random
import ssl
import struct
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from dnslib import AAAA, CNAME, EDNS0, QTYPE, RCODE, RR, SOA, A, DNSLabel, DNSRecord

SPECIAL = frozenset({"nx", "nodata", "servfail", "refused", "big"})  # first labels with a rule
DEFAULT_A = "192.0.2.1"
DEFAULT_AAAA = "2001:db8::1"


@dataclass
class Query:
    name: str  # as asked (case kept)
    qtype: int
    proto: str  # udp, tcp or tls
    data: bytes = b""  # the query as it came (its EDNS options, ...)
    source: str = ""  # the IP address it came from


@dataclass
class FakeUpstream:
    ttl: int = 300
    delay: float = 0.0  # seconds before each reply
    truncate: bool = False  # UDP replies are empty with TC set
    silent: bool = False  # read queries, never answer
    records: dict[str, list[str]] = field(default_factory=dict)  # lower-case name → addresses
    cnames: dict[str, str] = field(default_factory=dict)  # lower-case name → its CNAME target
    rcodes: dict[str, int] = field(default_factory=dict)  # lower-case name → rcode, no records
    host: str = "127.0.0.1"
    port: int = 0
    tls: ssl.SSLContext | None = None  # serve DNS over TLS (RFC 7858) only, with this context
    queries: deque[Query] = field(default_factory=lambda: deque(maxlen=10_000))  # latest
    asked_total: int = 0  # every query received
    connections: int = 0  # TCP (or TLS) connections accepted
    disconnections: int = 0  # of those, the ones closed since (by either side)

    def __post_init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._replies: dict[tuple[bytes, bytes, bool, bool], tuple[bytes, bytes]] = {}
        self._error: OSError | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def __enter__(self) -> FakeUpstream:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @classmethod
    def on_port_53(cls, **options: Any) -> FakeUpstream:
        """Started on port 53 of a free loopback address, as a resolv.conf `nameserver` line
        can only name one (needs root: raises PermissionError otherwise)."""
        for _ in range(20):
            upstream = cls(
                host=f"127.0.{random.randrange(1, 255)}.{random.randrange(2, 255)}",
                port=53,
                **options,
            )
            try:
                upstream.start()
            except PermissionError:
                raise
            except OSError:
                continue  # someone else's address: try another
            return upstream
        raise OSError("no free loopback address for port 53")

    def start(self) -> None:
        """Listen (again, on the same port after a `stop`). Raises OSError if it cannot."""
        started = threading.Event()
        self._error = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, args=(started,), daemon=True)
        self._thread.start()
        started.wait(5)
        if self._error is not None:
            self._thread.join(5)
            self._loop = None
            raise self._error

    def stop(self) -> None:
        """Go down: close both sockets (UDP queries then meet ICMP port unreachable)."""
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            self._loop = None

    def asked(self, name: str) -> list[Query]:
        return [q for q in self.queries if q.name.lower().rstrip(".") == name.lower().rstrip(".")]

    def _run(self, started: threading.Event) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        try:
            udp, tcp = loop.run_until_complete(self._listen())
        except OSError as exc:
            self._error = exc
            loop.close()
            started.set()
            return
        started.set()
        loop.run_forever()
        if udp is not None:
            udp.close()
        tcp.close()
        loop.run_until_complete(tcp.wait_closed())
        for task in asyncio.all_tasks(loop):
            task.cancel()
        loop.close()

    async def _listen(self) -> tuple[asyncio.DatagramTransport | None, asyncio.Server]:
        """UDP and TCP on one port: a free UDP port may be taken for TCP, so try again.
        With `tls`, TLS on TCP alone."""
        if self.tls is not None:
            tls = await asyncio.start_server(
                self._serve_tcp, self.host, self.port, ssl=self.tls, reuse_address=True
            )
            self.port = tls.sockets[0].getsockname()[1]
            return None, tls
        loop = asyncio.get_running_loop()
        for _ in range(20):
            udp, _ = await loop.create_datagram_endpoint(
                lambda: _Udp(self), local_addr=(self.host, self.port)
            )
            port = udp.get_extra_info("sockname")[1]
            try:
                tcp = await asyncio.start_server(
                    self._serve_tcp, self.host, port, reuse_address=True
                )
            except OSError:
                udp.close()
                if self.port:
                    raise
                continue
            self.port = port
            return udp, tcp
        raise OSError("no port free for both UDP and TCP")

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        proto = "tcp" if self.tls is None else "tls"
        source = writer.get_extra_info("peername")[0]
        try:
            while True:
                (length,) = struct.unpack("!H", await reader.readexactly(2))
                reply = await self.reply(await reader.readexactly(length), proto, source)
                if reply is not None:
                    writer.write(struct.pack("!H", len(reply)) + reply)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.disconnections += 1
            writer.close()

    async def reply(self, data: bytes, proto: str, source: str = "") -> bytes | None:
        try:
            end = _question_end(data)
            name = _name(data)
        except IndexError:
            return None
        qtype = int.from_bytes(data[end - 4 : end - 2])
        self.queries.append(Query(name, qtype, proto, data, source))
        self.asked_total += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.silent:
            return None
        truncated = self.truncate and proto == "udp"
        edns = data[10:12] != b"\x00\x00"  # our clients send OPT or nothing
        lower = name.lower()
        plain = (lower.split(".", 1)[0] not in SPECIAL and lower not in self.records
                 and lower not in self.cnames and lower not in self.rcodes)  # fmt: skip
        # every plain name gets the same reply but for its question: keep one per type
        key = (b"" if plain else data[12:end].lower(), data[end - 4 : end], edns, truncated)
        parts = self._replies.get(key)
        if parts is None:
            template = self._answer(DNSRecord.parse(data), edns, truncated)
            parts = self._replies[key] = (template[2:12], template[_question_end(template) :])
        return data[:2] + parts[0] + data[12:end] + parts[1]

    def _answer(self, request: DNSRecord, edns: bool, truncated: bool) -> bytes:
        question = request.q
        name = str(question.qname).lower()
        label = name.split(".", 1)[0]
        reply = request.reply(ra=1, aa=0)
        reply.header.ad = 1
        reply.ar = []
        if truncated:
            reply.header.tc = 1
        elif name in self.rcodes:
            reply.header.rcode = self.rcodes[name]
        elif label in ("nx", "nodata"):
            reply.header.rcode = RCODE.NXDOMAIN if label == "nx" else RCODE.NOERROR
            soa = SOA("ns.example.", "hostmaster.example.", (1, 7200, 1800, 86400, 30))
            reply.add_auth(RR("example.", QTYPE.SOA, ttl=60, rdata=soa))
        elif label in ("servfail", "refused"):
            reply.header.rcode = RCODE.SERVFAIL if label == "servfail" else RCODE.REFUSED
        elif question.qtype in (QTYPE.A, QTYPE.AAAA):
            owner = question.qname
            for _ in range(8):  # a CNAME chain (a loop ends)
                target = self.cnames.get(str(owner).lower())
                if target is None:
                    break
                reply.add_answer(RR(owner, QTYPE.CNAME, ttl=self.ttl, rdata=CNAME(target)))
                owner, name = DNSLabel(target), target.lower()
            if label == "big":
                addresses = [f"198.51.100.{i}" for i in range(40)]
            else:
                addresses = self.records.get(name, [DEFAULT_A, DEFAULT_AAAA])
            for address in addresses:
                rtype, rdata = (
                    (QTYPE.AAAA, AAAA(address)) if ":" in address else (QTYPE.A, A(address))
                )
                if rtype == question.qtype:
                    reply.add_answer(RR(owner, rtype, ttl=self.ttl, rdata=rdata))
        if edns:
            reply.add_ar(EDNS0(udp_len=1232))
        return bytes(reply.pack())


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, upstream: FakeUpstream) -> None:
        self.upstream = upstream
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        task = asyncio.ensure_future(self._answer(data, addr))
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def _answer(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = await self.upstream.reply(data, "udp", addr[0])
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


def _question_end(data: bytes) -> int:
    """Where the (uncompressed, as every client sends it) first question ends."""
    pos = 12
    while data[pos]:
        pos += data[pos] + 1
    return pos + 5


def _name(data: bytes) -> str:
    """The first question's name as asked (case kept)."""
    labels, pos = [], 12
    while data[pos]:
        labels.append(data[pos + 1 : pos + 1 + data[pos]].decode("latin-1"))
        pos += data[pos] + 1
    return ".".join(labels) + "."
