"""A zone as records in presentation form: what AXFR carries, `dump` writes and `diff` reads.

A record may carry its `Origin`, the Kubernetes objects it comes from, for audit dumps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from dnslib import AAAA, CNAME, NS, QTYPE, RR, SOA, SRV, TXT, A


class Origin(NamedTuple):
    namespace: str
    service: str
    slice: str | None = None
    endpoint: str | None = None  # the name it answers to (hostname, pod name or dashed IP)
    pod: str | None = None  # the endpoint's targetRef


class Record(NamedTuple):
    name: str  # absolute
    ttl: int
    rtype: str  # "A", "SRV", ...
    rdata: str  # presentation format, as in a zone file
    origin: Origin | None = None  # the Kubernetes objects it comes from, when known

    def text(self) -> str:
        """The record as one zone-file line."""
        return f"{self.name}\t{self.ttl}\tIN\t{self.rtype}\t{self.rdata}"


def record_from_rr(rr: RR) -> Record:
    return Record(str(rr.rname), rr.ttl, QTYPE.get(rr.rtype), rr.rdata.toZone())


def with_serial(soa: Record, serial: int) -> Record:
    fields = soa.rdata.split()
    fields[2] = str(serial)
    return soa._replace(rdata=" ".join(fields))


_RDATA: dict[str, Callable[[list[str]], object]] = {
    "A": lambda f: A(f[0]),
    "AAAA": lambda f: AAAA(f[0]),
    "CNAME": lambda f: CNAME(f[0]),
    "NS": lambda f: NS(f[0]),
    "SRV": lambda f: SRV(int(f[0]), int(f[1]), int(f[2]), f[3]),
    "SOA": lambda f: SOA(f[0], f[1], tuple(int(n) for n in f[2:7])),
    "TXT": lambda f: TXT(" ".join(f).strip('"')),  # ours is one string without escapes
}


def to_rr(record: Record) -> RR:
    rdata = _RDATA[record.rtype](record.rdata.split())
    return RR(record.name, getattr(QTYPE, record.rtype), ttl=record.ttl, rdata=rdata)
