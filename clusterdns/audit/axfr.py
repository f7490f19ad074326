"""AXFR as a client: `clusterdns dump --from-server` reads a zone from any server."""

from __future__ import annotations

import socket
import struct

from dnslib import RCODE, DNSError, DNSRecord

from clusterdns.dns.zone import Record, record_from_rr
from clusterdns.errors import AuditError

# What a dump read by AXFR holds, said in its header: the transfer of clusterdns (or CoreDNS)
# leaves out names it answers that CoreDNS's k.Transfer does not send (plugins/kubernetes/xfr.py)
AXFR_CARRIES = "from clusterdns or CoreDNS, the names CoreDNS transfers, fewer than are answered"


class TransferError(AuditError):
    """A zone could not be fetched; the message says from where and why."""


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
