"""CoreDNS's `autopath`: the server walks a client's search path for it.

    autopath [ZONE...] RESOLV-CONF

A query in ZONES (default: the server block's) whose name is the first element of the
client's search path or below it (`<name>.<podns>.svc.<zone>` from a pod) is asked again with
each element in turn in place of the first (`<name>.svc.<zone>`, `<name>.<zone>`, the host's
domains, then `<name>.` alone) through the rest of the block's chain; the first reply that is
not NXDOMAIN answers, with a CNAME from the asked name to the name found and the asked
question. When every one is NXDOMAIN the first reply answers, as it would have.

RESOLV-CONF is a file whose `search` line is the path for every client, or `@kubernetes`: the
kubernetes plugin's path for the pod that sent the query (its namespace's, then the host's
domains), which needs `pods verified` to know the pods by their IPs (the server checks).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dnslib import CNAME, QTYPE, RR, DNSBuffer, DNSLabel, DNSRecord

from clusterdns.config.checks import Origins, arguments, fail, no_block, zone_origins_or
from clusterdns.config.corefile import Directive
from clusterdns.config.registry import Plugin
from clusterdns.config.resolvconf import read_resolv_conf
from clusterdns.dns.message import pack
from clusterdns.dns.names import in_zone
from clusterdns.dns.packet import OPT_SIZE
from clusterdns.metrics.registry import METRICS

FROM_KUBERNETES = "@kubernetes"  # the one plugin that gives search paths
_A, _AAAA = 1, 28

SUCCESS = METRICS.counter(
    "coredns_autopath_success_total",
    "Counter of requests that did autopath.",
    ("server",),
)


@dataclass(frozen=True, slots=True)
class AutopathConfig:
    zones: tuple[str, ...]
    search: tuple[str, ...] | None  # a file's search path; None: the kubernetes plugin's
    file: str  # where the directive is, for the server's checks
    line: int

    def serves(self, name: str) -> bool:
        return any(in_zone(name, zone) for zone in self.zones)


def setup(node: Directive, block: Origins) -> AutopathConfig:
    args = arguments(node, 1, None)
    no_block(node)
    *zones, resolv_conf = args
    search: tuple[str, ...] | None = None
    if resolv_conf.startswith("@"):
        if resolv_conf != FROM_KUBERNETES:
            raise fail(node, f"autopath: {resolv_conf}: only @kubernetes gives search paths")
    else:
        try:
            search = read_resolv_conf(resolv_conf).search
        except OSError as exc:
            message = f"autopath: cannot read {resolv_conf}: {exc.strerror or exc}"
            raise fail(node, message) from None
        if not search:
            raise fail(node, f"autopath: {resolv_conf} has no search line")
    zones_served = zone_origins_or(node, tuple(zones), block).zones
    return AutopathConfig(zones_served, search, node.file, node.line)


AUTOPATH = Plugin("autopath", setup)


def candidates(name: str, asked: str, search: Sequence[str]) -> list[str] | None:
    """The names to ask in order for `name` (absolute, lower case; `asked`: as asked) along
    `search` (absolute domains, "." for the root): None unless `name` is below the first of
    them (CoreDNS's firstInSearchPath; the first domain itself has no name to search for).
    The part before the domain keeps the asked case; the last candidate is it alone."""
    first = search[0]
    if name == first or not in_zone(name, first):
        return None
    base = asked[: len(asked) - len(first)] if first != "." else asked  # ends with its dot
    return [base + domain if domain != "." else base for domain in search] + [base]


def rename_question(query: bytes, question_end: int, name: str) -> bytes:
    """`query` (one question ending at `question_end`) asking for `name` instead: the same
    ID, flags, type, class and additional records (OPT)."""
    wire = b"".join(bytes([len(label)]) + label for label in DNSLabel(name).label) + b"\x00"
    name_end = question_end - 4
    return query[:12] + wire + query[name_end:]


def answered_for(reply: bytes, question: bytes) -> bytes:
    """`reply` (to a search candidate) as the reply to the asked question (`question`: its
    bytes, the name as asked with type and class): CoreDNS's cnamer puts a CNAME from it to
    the first answer owner that is another name in front, with that record's TTL; the
    question becomes the asked one."""
    fast = _addresses_for(reply, question)
    if fast is not None:
        return fast
    original = DNSBuffer(question).decode_name()
    record = DNSRecord.parse(reply)
    for rr in record.rr:
        if rr.rname != original:  # (DNSLabel compares case-insensitively)
            cname = RR(original, QTYPE.CNAME, ttl=rr.ttl, rdata=CNAME(rr.rname))
            record.rr.insert(0, cname)
            break
    record.q.qname = original
    return pack(record)


def _addresses_for(reply: bytes, question: bytes) -> bytes | None:
    """`answered_for` written as bytes for the common reply, addresses of the question's
    own name (each owner a pointer to it) and at most our OPT after them; None for any
    other. The candidate's name is written once, as the CNAME's target, and the addresses
    point to it there."""
    if reply[8:10] != b"\x00\x00" or reply[10] or reply[11] > 1:
        return None  # an authority section, or more than an OPT in the additional one
    at = 12
    while length := reply[at]:
        at += length + 1
    candidate, at = reply[12 : at + 1], at + 5
    records = []
    for _ in range(reply[6] << 8 | reply[7]):
        if reply[at : at + 2] != b"\xc0\x0c" or reply[at + 3] not in (_A, _AAAA) or reply[at + 2]:
            return None
        end = at + 12 + (reply[at + 10] << 8 | reply[at + 11])
        records.append(reply[at + 2 : end])  # all but the owner
        at = end
    rest = reply[at:]
    ends_with_opt = len(rest) == OPT_SIZE and rest[:3] == b"\x00\x00\x29"
    if not records or (reply[11] == 1) != ends_with_opt:
        return None
    if candidate == question[:-4]:  # the asked name's own: no CNAME
        return reply[:12] + question + reply[12 + len(question) :]
    if candidate.lower() == question[:-4].lower():
        return None  # its own in another spelling: owners keep the candidate's (as written)
    ttl = records[0][4:8]
    cname = b"\xc0\x0c\x00\x05\x00\x01" + ttl + len(candidate).to_bytes(2) + candidate
    target = (0xC000 | (12 + len(question) + 12)).to_bytes(2)  # the CNAME's target
    answers = (len(records) + 1).to_bytes(2)
    return b"".join(
        (reply[:6], answers, reply[8:12], question, cname, *(target + r for r in records), rest)
    )
