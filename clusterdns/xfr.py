"""Zone transfers of the cluster zones (AXFR, RFC 5936; IXFR, RFC 1995), both ways.

Serving: over TCP only, to clients that a `transfer ZONE { to ADDR|CIDR|* }` block allows;
anyone else is REFUSED. The records are the dump's (SOA; NS and glue; services in SPEC §10
order; SOA), packed into as many messages as they need, none over 16 KiB. An IXFR from our
current serial gets the SOA alone; from any other a full transfer, as RFC 1995 allows (we keep
no history of changes).

Fetching: `clusterdns dump --from-server` reads a zone from any server by AXFR.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from collections.abc import Callable, Iterable, Iterator

from dnslib import (
    AAAA,
    CNAME,
    NS,
    QTYPE,
    RCODE,
    RR,
    SOA,
    SRV,
    TXT,
    A,
    DNSError,
    DNSHeader,
    DNSRecord,
)

from clusterdns.config import TransferConfig
from clusterdns.dump import Record, record_from_rr, zone_records
from clusterdns.names import in_zone
from clusterdns.resolver import Answer, Resolver
from clusterdns.wire import HEADER, TCP_MAX_SIZE, Query, Reject, encode, parse_query

_TRANSFER_TYPES = (QTYPE.AXFR, QTYPE.IXFR)
# Wire size of one record is at most its owner and rdata text plus this much: 10 bytes of
# type, class, TTL and length, 2 for the names' length bytes, and the rest for rdata whose
# text is shorter than its wire form (an AAAA of "::1" is 16 bytes).
_RECORD_OVERHEAD = 30
# dnslib compresses a name into a pointer to any earlier copy, but a pointer holds only 14
# bits of offset: a message must stay within 16 KiB before compression, or names past that
# point to the wrong place. Well under the 64 KiB a TCP message may hold.
MESSAGE_BUDGET = 0x3FFF

_RDATA: dict[str, Callable[[list[str]], object]] = {
    "A": lambda f: A(f[0]),
    "AAAA": lambda f: AAAA(f[0]),
    "CNAME": lambda f: CNAME(f[0]),
    "NS": lambda f: NS(f[0]),
    "SRV": lambda f: SRV(int(f[0]), int(f[1]), int(f[2]), f[3]),
    "SOA": lambda f: SOA(f[0], f[1], tuple(int(n) for n in f[2:7])),
    "TXT": lambda f: TXT(" ".join(f).strip('"')),  # ours is one string without escapes
}


class TransferError(Exception):
    """A zone could not be fetched; the message says from where and why."""


def is_transfer(data: bytes) -> bool:
    """Whether a message asks AXFR or IXFR, read from the bytes without parsing them all."""
    pos = HEADER.size
    while pos < len(data) and data[pos]:
        if data[pos] & 0xC0:
            return False  # a compression pointer in a question: not a transfer we answer
        pos += data[pos] + 1
    if pos + 3 > len(data):
        return False
    return struct.unpack_from("!H", data, pos + 1)[0] in _TRANSFER_TYPES


class ZoneTransfer:
    def __init__(self, resolver: Resolver, config: Iterable[TransferConfig]) -> None:
        self.resolver = resolver
        self.rules = [
            (rule.zones, [None if to == "*" else ipaddress.ip_network(to) for to in rule.to])
            for rule in config
        ]

    def allowed(self, zone: str, client: str) -> bool:
        try:
            address = ipaddress.ip_address(client.split("%", 1)[0])
        except ValueError:
            return False
        return any(
            any(in_zone(zone, z) for z in zones)
            and any(net is None or address in net for net in networks)
            for zones, networks in self.rules
        )

    def replies(self, data: bytes, client: str) -> Iterator[bytes]:
        """The messages answering a transfer request `data` from `client` (over TCP)."""
        try:
            query = parse_query(data)
        except Reject as reject:
            yield from [reject.reply] if reject.reply is not None else []
            return
        zone = str(query.question.qname).lower()
        if zone not in self.resolver.settings.zones or not self.allowed(zone, client):
            yield encode(query, Answer(rcode=RCODE.REFUSED), TCP_MAX_SIZE)
            return
        if query.question.qtype == QTYPE.IXFR and self._client_serial(query) == (
            self.resolver.index.serial
        ):
            yield self._message(query, [record_from_rr(self.resolver.soa(zone))])
            return
        yield from self._messages(query, zone_records(self.resolver, zone))

    @staticmethod
    def _client_serial(query: Query) -> int | None:
        for rr in query.record.auth:
            if rr.rtype == QTYPE.SOA:
                return rr.rdata.times[0]
        return None

    def _messages(self, query: Query, records: Iterable[Record]) -> Iterator[bytes]:
        question = len(str(query.question.qname)) + 5  # its name, type and class on the wire
        budget = MESSAGE_BUDGET - HEADER.size - question
        batch: list[Record] = []
        size = 0
        for record in records:
            cost = len(record.name) + len(record.rdata) + _RECORD_OVERHEAD
            if batch and size + cost > budget:
                yield self._message(query, batch)
                batch, size = [], 0
            batch.append(record)
            size += cost
        yield self._message(query, batch)

    @staticmethod
    def _message(query: Query, records: list[Record]) -> bytes:
        header = DNSHeader(id=query.id, qr=1, aa=1, rd=query.record.header.rd)
        return DNSRecord(header, q=query.question, rr=[to_rr(r) for r in records]).pack()


def to_rr(record: Record) -> RR:
    rdata = _RDATA[record.rtype](record.rdata.split())
    return RR(record.name, getattr(QTYPE, record.rtype), ttl=record.ttl, rdata=rdata)


def fetch_zone(host: str, port: int, zone: str, timeout: float = 30.0) -> list[Record]:
    """Every record of `zone` from the server at host:port by AXFR, both SOAs included."""
    where = f"{host}:{port}"
    query = DNSRecord.question(zone, "AXFR")
    wire = query.pack()
    records: list[Record] = []
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(struct.pack("!H", len(wire)) + wire)
            while len(records) < 2 or records[-1].rtype != "SOA":
                (length,) = struct.unpack("!H", _read(sock, 2))
                reply = DNSRecord.parse(_read(sock, length))
                if reply.header.id != query.header.id:
                    raise TransferError(f"{where}: a reply to another query")
                if reply.header.rcode != RCODE.NOERROR:
                    rcode = RCODE.get(reply.header.rcode)
                    raise TransferError(f"{where}: transfer of {zone} refused ({rcode})")
                if not reply.rr:
                    raise TransferError(f"{where}: an empty message in the transfer of {zone}")
                records += [record_from_rr(rr) for rr in reply.rr]
                if records[0].rtype != "SOA":
                    raise TransferError(f"{where}: the transfer of {zone} does not start with SOA")
    except OSError as exc:
        raise TransferError(f"{where}: {exc.strerror or exc}") from exc
    except (struct.error, DNSError) as exc:
        raise TransferError(f"{where}: malformed reply: {exc}") from exc
    return records


def _read(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError("the server closed the connection mid-transfer")
        data += chunk
    return data
