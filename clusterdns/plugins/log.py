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
from clusterdns.dns.message import TCP_MAX_SIZE, UDP_DEFAULT_SIZE, Peer, Query

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


def log_query(
    peer: Peer | None,
    query: Query,
    name: str,
    proto: str,
    request_size: int,
    reply: bytes,
    seconds: float,
) -> None:
    host, port = peer[:2] if peer else ("-", 0)
    remote = f"[{host}]" if ":" in host else host
    qtype = QTYPE.get(query.question.qtype)
    qclass = "ANY" if query.question.qclass == 255 else CLASS.get(query.question.qclass)
    # CoreDNS's state.Size(): 64K over TCP, else the EDNS buffer or 512
    size = TCP_MAX_SIZE if proto == "tcp" else query.edns_size or UDP_DEFAULT_SIZE
    flags = reply[2] << 8 | reply[3]
    rflags = ",".join(label for bit, label in _FLAGS if flags & bit)
    duration = f"{seconds:.9f}".rstrip("0").rstrip(".")
    log.info(
        '%s:%s - %d "%s %s %s %s %d %s %d" %s %s %d %ss',
        remote,
        port,
        query.id,
        qtype,
        qclass,
        name,
        proto,
        request_size,
        str(query.do_bit).lower(),
        size,
        RCODE.get(flags & 0xF),
        rflags,
        len(reply),
        duration,
    )



def setup(node: Directive, block: Origins) -> bool:
    """No arguments, no options."""
    return switch(node)


LOG = Plugin("log", setup)
