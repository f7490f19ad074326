"""Asking a DNS server on loopback over real UDP and TCP sockets (dnspython; zone transfers
with dnslib)."""

from __future__ import annotations

import socket
import struct
from typing import Any, Protocol

import dns.exception
import dns.message
import dns.query
import dns.rcode
from dnslib import QTYPE, DNSRecord


class Address(Protocol):
    """Where a server listens: a ServerProcess, a FakeUpstream."""

    host: str
    port: int


def query(
    server: Address, name: str, qtype: str = "A", *, tcp: bool = False, timeout: float = 5.0,
    source: str | None = None, **make_query: Any,
) -> dns.message.Message:
    """The server's reply to `name` `qtype`, asked from the address `source` if given (any
    127.0.0.0/8 address is one of loopback's: a pod's IP in a test snapshot). Keywords go to
    dns.message.make_query: use_edns, payload, want_dnssec, ..."""
    message = dns.message.make_query(name, qtype, **make_query)
    send = dns.query.tcp if tcp else dns.query.udp
    return send(message, server.host, port=server.port, timeout=timeout, source=source)


def rdatas(response: dns.message.Message) -> set[str]:
    """Every answer record's rdata as text."""
    return {rd.to_text() for rrset in response.answer for rd in rrset}


def ask(server: Address, name: str, qtype: str = "A", *, tcp: bool = False) -> tuple[str, set[str]]:
    """(rcode as text, the answers' rdata): what most checks of an answer compare."""
    response = query(server, name, qtype, tcp=tcp)
    return dns.rcode.to_text(response.rcode()), rdatas(response)


def raw_udp(server: Address, payload: bytes, timeout: float = 5.0) -> bytes | None:
    """Send any bytes in one datagram: the reply datagram, or None if none came in time."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(payload, (server.host, server.port))
        try:
            return sock.recv(65535)
        except TimeoutError:
            return None


PROBE = "probe.invalid."  # a name no server of ours answers but with a reply


def replies_before_probe(server: Address, payload: bytes, timeout: float = 5.0) -> list[bytes]:
    """Every datagram the server sent back for `payload`, known without waiting out a
    timeout: `payload` goes first, then a valid query from the same socket, and whatever
    arrives before the reply to that query is the reply to `payload` (the server answers one
    socket's datagrams in the order they came, and loopback does not reorder them)."""
    probe = dns.message.make_query(PROBE, "A")
    while payload[:2] == probe.id.to_bytes(2, "big"):
        probe.id = (probe.id + 1) % 65536
    before: list[bytes] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(payload, (server.host, server.port))
        sock.sendto(probe.to_wire(), (server.host, server.port))
        while True:
            data = sock.recv(65535)  # TimeoutError: not even the probe was answered
            if _answers(data, probe):
                return before
            before.append(data)


def _answers(data: bytes, probe: dns.message.Message) -> bool:
    try:
        return probe.is_response(dns.message.from_wire(data))
    except dns.exception.DNSException:
        return False


def transfer(server: Address, request: DNSRecord, timeout: float = 10.0) -> list[DNSRecord]:
    """The messages answering a zone transfer `request` (dnslib) over one TCP connection:
    until the closing SOA, the SOA alone of an IXFR that is up to date, or an error. Each
    message's size on the wire is in its `wire_size`."""
    wire = request.pack()
    messages: list[DNSRecord] = []
    with socket.create_connection((server.host, server.port), timeout=timeout) as sock:
        sock.sendall(struct.pack("!H", len(wire)) + wire)
        stream = sock.makefile("rb")
        while True:
            (length,) = struct.unpack("!H", stream.read(2))
            messages.append(DNSRecord.parse(stream.read(length)))
            messages[-1].wire_size = length
            records = [rr for m in messages for rr in m.rr]
            if messages[-1].header.rcode or (len(records) > 1 and records[-1].rtype == QTYPE.SOA):
                return messages
            if len(records) == 1 and request.q.qtype == QTYPE.IXFR:
                return messages  # up to date: the SOA alone
