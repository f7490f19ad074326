"""CoreDNS's `log`: one line per query in its default format,

    {remote}:{port} - {>id} "{type} {class} {name} {proto} {size} {>do} {>bufsize}"
    {rcode} {>rflags} {rsize} {duration}

(one line), e.g.

    127.0.0.1:55336 - 3401 "A IN example.org. udp 41 false 4096" NOERROR qr,rd,ra 68 0.000362s
"""

from __future__ import annotations

import logging

from dnslib import CLASS, QTYPE, RCODE

from clusterdns.config.checks import Origins, switch
from clusterdns.config.corefile import Directive
from clusterdns.config.registry import Plugin
from clusterdns.dns.request import Request

log = logging.getLogger("clusterdns.log")

_FLAGS = (
    (0x8000, "qr"),
    (0x0400, "aa"),
    (0x0200, "tc"),
    (0x0100, "rd"),
    (0x0080, "ra"),
    (0x0040, "z"),
    (0x0020, "ad"),
    (0x0010, "cd"),
)


def log_query(request: Request, reply: bytes, seconds: float) -> None:
    peer = request.peer
    host, port = peer[:2] if peer else ("-", 0)
    remote = f"[{host}]" if ":" in host else host
    qclass = "ANY" if request.qclass == 255 else CLASS.get(request.qclass)
    flags = reply[2] << 8 | reply[3]
    rflags = ",".join(label for bit, label in _FLAGS if flags & bit)
    duration = f"{seconds:.9f}".rstrip("0").rstrip(".")
    log.info(
        '%s:%s - %d "%s %s %s %s %d %s %d" %s %s %d %ss',
        remote,
        port,
        request.id,
        QTYPE.get(request.qtype),
        qclass,
        request.name,
        request.proto,
        len(request.data),
        str(request.do).lower(),
        request.size,  # CoreDNS's state.Size(): 64K over TCP, else the EDNS buffer or 512
        RCODE.get(flags & 0xF),
        rflags,
        len(reply),
        duration,
    )



def setup(node: Directive, block: Origins) -> bool:
    """No arguments, no options."""
    return switch(node)


LOG = Plugin("log", setup)
