"""CoreDNS's `whoami` plugin: any question it gets is answered with the asker's address and
port, in the additional section: an A or AAAA record at the name asked, and an SRV record at
`_udp.` or `_tcp.` before it whose port is the client's (target `.`), TTL 0. Last in the
plugin order: it answers what no plugin before it did."""

from __future__ import annotations

from dnslib import AAAA, QTYPE, RR, SRV, A, DNSLabel

from clusterdns.config.checks import Origins, switch
from clusterdns.config.corefile import Directive
from clusterdns.config.registry import Plugin
from clusterdns.dns.message import Answer, FixedAnswers
from clusterdns.dns.request import Request


def setup(node: Directive, block: Origins) -> bool:
    """No arguments, no options."""
    return switch(node)


WHOAMI = Plugin("whoami", setup)


class Whoami(FixedAnswers):
    name = "whoami"

    def passes(self, name: str, qtype: int) -> bool:
        return False  # it answers every query it is asked

    def answer(self, request: Request) -> Answer | None:
        if request.peer is None:
            return None
        host, port = request.peer[0], request.peer[1]
        owner = request.query.question.qname
        address = RR(owner, QTYPE.AAAA if ":" in host else QTYPE.A, ttl=0,
                     rdata=AAAA(host) if ":" in host else A(host))
        srv_owner = DNSLabel((f"_{request.proto}".encode(), *owner.label))
        srv = RR(srv_owner, QTYPE.SRV, ttl=0, rdata=SRV(0, 0, port, "."))
        return Answer(additional=[address, srv])
