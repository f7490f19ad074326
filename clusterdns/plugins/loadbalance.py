"""CoreDNS's `loadbalance`: shuffle the A and AAAA records of every successful reply.

Works on the encoded reply, so cluster answers, forwarded answers and cache hits are treated
alike. Records swap places only when they have the same length and their owner name is one
compression pointer (as every compressing encoder writes a repeated name): then no pointer can
lead into them and no other record moves.
"""

from __future__ import annotations

import random
import struct

from clusterdns.config.checks import Origins, switch
from clusterdns.config.corefile import Directive
from clusterdns.config.registry import Plugin
from clusterdns.dns.packet import TYPE_A, TYPE_AAAA, PacketError, rcode, scan

_COUNTS = struct.Struct("!HHH")  # answer, authority, additional


def shuffle_addresses(reply: bytes) -> bytes:
    if rcode(reply) != 0 or max(_COUNTS.unpack_from(reply, 6)) < 2:
        return reply  # failed, or no section with two records (most cluster answers)
    try:
        layout = scan(reply)
    except PacketError:
        return reply
    buf: bytearray | None = None
    for section in range(3):
        slots = [
            r for r in layout.records if r.section == section and r.rtype in (TYPE_A, TYPE_AAAA)
        ]
        if len(slots) < 2 or not all(r.pointer_owner for r in slots):
            continue
        if len({r.end - r.start for r in slots}) != 1:
            continue  # mixed A and AAAA: moving them would move everything between
        if buf is None:
            buf = bytearray(reply)
        contents = [reply[r.start : r.end] for r in slots]
        random.shuffle(contents)
        for record, content in zip(slots, contents, strict=True):
            buf[record.start : record.end] = content
    return reply if buf is None else bytes(buf)


def setup(node: Directive, block: Origins) -> bool:
    return switch(node, ("round_robin",))


LOADBALANCE = Plugin("loadbalance", setup)
