"""CoreDNS's `any` plugin (RFC 8482): a query of type ANY gets one HINFO record,
`"ANY obsoleted" "See RFC 8482"` with TTL 8482, instead of everything the name has (a large
reply for a small query); other types pass to the next plugin."""

from __future__ import annotations

from dnslib import QTYPE, RD, RR

from clusterdns.config.checks import Origins, switch
from clusterdns.config.corefile import Directive
from clusterdns.config.registry import Plugin
from clusterdns.dns.message import Answer, FixedAnswers
from clusterdns.dns.request import Request

TTL = 8482
# HINFO's data: two character-strings, CPU and OS (dnslib has no HINFO type of its own)
_HINFO = b"\x0dANY obsoleted" + b"\x0cSee RFC 8482"


def setup(node: Directive, block: Origins) -> bool:
    """No arguments, no options."""
    return switch(node)


ANY = Plugin("any", setup)


class Any(FixedAnswers):
    name = "any"

    def passes(self, name: str, qtype: int) -> bool:
        return qtype != QTYPE.ANY

    def answer(self, request: Request) -> Answer | None:
        if request.qtype != QTYPE.ANY:
            return None
        owner = request.query.question.qname
        hinfo = RR(owner, QTYPE.HINFO, ttl=TTL, rdata=RD(_HINFO))
        return Answer(answer=[hinfo], authoritative=False)
