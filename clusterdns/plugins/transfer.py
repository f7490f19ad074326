"""CoreDNS's `transfer` plugin: zone transfers (AXFR, RFC 5936; IXFR, RFC 1995) served.

Over TCP only, to clients that a `transfer ZONE { to ADDR|CIDR|* }` block allows; anyone else
is REFUSED. The records come from the `Transferer` of the zone (the kubernetes plugin: CoreDNS's
k.Transfer stream, SOA first and last; k8s_external: its zones), packed into as many messages
as they need, none over 16 KiB.
An IXFR from the current serial gets the SOA alone; from any other a full transfer, as
RFC 1995 allows (no history of changes is kept); one whose authority section is not one SOA
(RFC 1995 §3) is SERVFAIL, as in CoreDNS. Every message carries the query's ID, RD and CD
bits (miekg's SetReply); the transfer's messages are authoritative, the errors and an
up-to-date IXFR's lone SOA not, as CoreDNS writes them.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from operator import add
from typing import Protocol

from dnslib import QTYPE, RCODE, DNSHeader, DNSRecord

from clusterdns.config.addresses import split_ip_port, valid_port
from clusterdns.config.checks import Origins, arguments, fail, no_block, zone_origins_or
from clusterdns.config.corefile import Directive
from clusterdns.config.registry import Plugin
from clusterdns.dns.message import (
    HEADER,
    TCP_MAX_SIZE,
    Answer,
    FixedAnswers,
    Query,
    Reject,
    encode,
    pack,
    parse_query,
)
from clusterdns.dns.names import in_zone
from clusterdns.dns.request import Request
from clusterdns.dns.zone import Record, to_rr


@dataclass(frozen=True, slots=True)
class TransferConfig:
    zones: tuple[str, ...]
    to: tuple[str, ...]  # "*" or networks in CIDR form ("192.0.2.1/32")


def _transfer_peer(node: Directive, peer: str) -> str:
    """A `to` entry as "*" or a network; a port, if given, does not matter for access."""
    if peer == "*":
        return peer
    host, port = split_ip_port(peer)
    try:
        network = ipaddress.ip_network(host, strict=False)
    except ValueError:
        network = None
    if network is None or not valid_port(port):
        raise fail(node, f"transfer: '{peer}' is not '*', an IP address or a CIDR")
    return str(network)


def setup(node: Directive, block: Origins) -> tuple[TransferConfig, ...]:
    zones = zone_origins_or(node, node.args, block).zones
    peers: list[str] = []
    for option in node.block:
        if option.name != "to":
            raise fail(option, f"unknown transfer option '{option.name}'")
        no_block(option)
        peers.extend(_transfer_peer(option, peer) for peer in arguments(option, 1, None))
    if not peers:
        raise fail(node, "transfer needs a 'to' option naming who may transfer")
    return (TransferConfig(zones, tuple(peers)),)


TRANSFER = Plugin("transfer", setup, merge=add)  # each `transfer` adds its rules


class Transferer(Protocol):
    """A plugin whose zones can be transferred (CoreDNS's transfer.Transferer)."""

    @property
    def zones(self) -> tuple[str, ...]: ...

    @property
    def serial(self) -> int: ...

    def soa(self, zone: str) -> Record: ...

    def records(self, zone: str) -> Iterator[Record]:
        """Every record of `zone`, starting and ending with its SOA."""
        ...


_TRANSFER_TYPES = (QTYPE.AXFR, QTYPE.IXFR)
# Wire size of one record is at most its owner and rdata text plus this much: 10 bytes of
# type, class, TTL and length, 2 for the names' length bytes, and the rest for rdata whose
# text is shorter than its wire form (an AAAA of "::1" is 16 bytes).
_RECORD_OVERHEAD = 30
# dnslib compresses a name into a pointer to any earlier copy, but a pointer holds only 14
# bits of offset: a message must stay within 16 KiB before compression, or names past that
# point to the wrong place. Well under the 64 KiB a TCP message may hold.
MESSAGE_BUDGET = 0x3FFF


class UdpTransfers(FixedAnswers):
    """transfer in its block's chain (after template, before hosts): a zone transfer asked
    over UDP is REFUSED whatever its name, as CoreDNS's transfer plugin returns before it
    looks at its zones; every other query passes on. Over TCP the listener hands zone
    transfers to `ZoneTransfer`."""

    name = ""  # (CoreDNS's server writes the rcode a plugin returns: no plugin's reply)

    def passes(self, name: str, qtype: int) -> bool:
        return qtype not in _TRANSFER_TYPES

    def answer(self, request: Request) -> Answer | None:
        if request.over_tcp or request.qtype not in _TRANSFER_TYPES:
            return None
        return Answer(rcode=RCODE.REFUSED, authoritative=False)


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
    def __init__(self, sources: Iterable[Transferer], config: Iterable[TransferConfig]) -> None:
        self.sources = tuple(sources)  # each zone's records come from the first that has it
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
        source = next((each for each in self.sources if zone in each.zones), None)
        if source is None or not self.allowed(zone, client):
            yield encode(query, Answer(rcode=RCODE.REFUSED, authoritative=False), TCP_MAX_SIZE)
            return
        if query.question.qtype == QTYPE.IXFR:
            serial = self._client_serial(query)
            if serial is None:
                failed = Answer(rcode=RCODE.SERVFAIL, authoritative=False)
                yield encode(query, failed, TCP_MAX_SIZE)
                return
            if serial == source.serial:  # (CoreDNS writes it with SetReply alone: no AA)
                yield self._message(query, [source.soa(zone)], authoritative=False)
                return
        yield from self._messages(query, source.records(zone))

    @staticmethod
    def _client_serial(query: Query) -> int | None:
        """The serial of the client's SOA, the one record of an IXFR's authority section."""
        auth = query.record.auth
        if len(auth) != 1 or auth[0].rtype != QTYPE.SOA:
            return None
        serial: int = auth[0].rdata.times[0]
        return serial

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
    def _message(query: Query, records: list[Record], authoritative: bool = True) -> bytes:
        """One message of the transfer, as miekg's Transfer.Out writes it: SetReply (the
        query's ID, RD and CD) and AA."""
        flags = query.record.header
        header = DNSHeader(id=query.id, qr=1, aa=int(authoritative), rd=flags.rd, cd=flags.cd)
        return pack(DNSRecord(header, q=query.question, rr=[to_rr(r) for r in records]))
