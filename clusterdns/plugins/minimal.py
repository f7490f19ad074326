"""CoreDNS's `minimal`: a successful reply that is no delegation keeps only its answer
section (and the server's OPT); denials, errors and delegations pass as they are.

"Successful" is CoreDNS's response.Typify: NOERROR with answers, or NOERROR whose authority
holds neither SOA (NODATA) nor NS (a delegation).
"""

from __future__ import annotations

from clusterdns.config.checks import Origins, switch
from clusterdns.config.corefile import Directive
from clusterdns.config.registry import Plugin
from clusterdns.dns.packet import TYPE_OPT, PacketError, scan
from clusterdns.dns.request import OPT_HEAD

_TYPE_NS, _TYPE_SOA = 2, 6


def setup(node: Directive, block: Origins) -> bool:
    """No arguments, no options."""
    return switch(node)


MINIMAL = Plugin("minimal", setup)


def minimal(reply: bytes) -> bytes:
    if reply[3] & 0xF:
        return reply  # failed or denied
    if reply[8:10] == b"\x00\x00" and (
        reply[10:12] == b"\x00\x00" or (reply[10:12] == b"\x00\x01" and reply[-11:-8] == OPT_HEAD)
    ):
        return reply  # answers alone, and an OPT (most cluster replies)
    try:
        layout = scan(reply)
    except PacketError:
        return reply
    records = layout.records
    answers = [record for record in records if record.section == 0]
    if not answers and any(r.section == 1 and r.rtype in (_TYPE_NS, _TYPE_SOA) for r in records):
        return reply  # NODATA or a delegation
    opt = next((r for r in records if r.rtype == TYPE_OPT and r.section == 2), None)
    end = answers[-1].end if answers else layout.question_end
    head = reply[:8] + b"\x00\x00" + (b"\x00\x01" if opt else b"\x00\x00")
    return head + reply[12:end] + (reply[opt.start : opt.end] if opt else b"")
