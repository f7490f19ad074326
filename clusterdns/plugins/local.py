"""CoreDNS's `local` plugin: answers for names that must never leave the host (RFC 6761's
localhost, and the loopback, `this network` and broadcast reverse zones) without asking
anyone.

    local {
        localhost_prefix on|off
    }

`localhost.` is 127.0.0.1 and ::1; names under it (`x.localhost.`) too, and with
`localhost_prefix on` (the default) so are names that start with it (`localhost.example.`).
`1.0.0.127.in-addr.arpa.` is a PTR to `localhost.`. The apexes of `localhost.`,
`0.in-addr.arpa.`, `127.in-addr.arpa.` and `255.in-addr.arpa.` have an SOA and an NS; any
other name in them is NXDOMAIN, any other type NODATA. TTL one week, as CoreDNS.
"""

from __future__ import annotations

import logging

from dnslib import AAAA, NS, PTR, QTYPE, RCODE, RR, SOA, A, DNSLabel

from clusterdns.config.checks import Origins, arguments, choice, fail
from clusterdns.config.corefile import Directive
from clusterdns.config.registry import Plugin
from clusterdns.dns.message import Answer, FixedAnswers
from clusterdns.dns.request import Request
from clusterdns.metrics.registry import METRICS

TTL = 604800
LOCALHOST = "localhost."
ZONES = (LOCALHOST, "0.in-addr.arpa.", "127.in-addr.arpa.", "255.in-addr.arpa.")
LOOPBACK_PTR = "1.0.0.127.in-addr.arpa."
log = logging.getLogger("clusterdns.local")

LOCALHOST_REQUESTS = METRICS.counter(
    "coredns_local_localhost_requests_total",
    "Counter of special localhost subdomain requests.",
)


def setup(node: Directive, block: Origins) -> bool:
    """Whether names starting with `localhost.` are answered (`localhost_prefix`)."""
    arguments(node, 0, 0)
    prefix = True
    for option in node.block:
        if option.name != "localhost_prefix":
            raise fail(option, f"unknown local option '{option.name}'")
        (value,) = arguments(option, 1, 1)
        prefix = choice(option, value, ("on", "off")) == "on"
    return prefix


LOCAL = Plugin("local", setup)


class Local(FixedAnswers):
    name = "local"

    def __init__(self, localhost_prefix: bool) -> None:
        self.localhost_prefix = localhost_prefix

    def passes(self, name: str, qtype: int) -> bool:
        return not self._localhost(name) and _zone(name) is None

    def _localhost(self, name: str) -> bool:
        """A subdomain of localhost, or (`localhost_prefix`) a name starting `localhost.`."""
        if len(name) <= len(LOCALHOST):
            return False
        return name.endswith("." + LOCALHOST) or (
            self.localhost_prefix and name.startswith(LOCALHOST)
        )

    def answer(self, request: Request) -> Answer | None:
        name, qtype = request.name, request.qtype
        owner = request.query.question.qname
        if self._localhost(name):
            peer = request.peer[0] if request.peer is not None else "-"
            log.debug('plugin/local: Intercepting localhost query for "%s" %s, from %s',
                      name, QTYPE.get(qtype, qtype), peer)  # fmt: skip
            LOCALHOST_REQUESTS.inc()
            return _loopback(owner, qtype) or Answer(authority=[_soa(owner)], authoritative=False)
        zone = _zone(name)
        if zone is None:
            return None
        apex = DNSLabel(owner.label[len(owner.label) - zone.count("."):])
        if name in ZONES:
            if name == LOCALHOST and (found := _loopback(owner, qtype)) is not None:
                return found
            if qtype == QTYPE.SOA:
                return Answer(answer=[_soa(owner)], authoritative=False)
            if qtype == QTYPE.NS:
                ns = RR(owner, QTYPE.NS, ttl=TTL, rdata=NS(LOCALHOST))
                return Answer(answer=[ns], authoritative=False)
            return Answer(authority=[_soa(owner)], authoritative=False)
        if name == LOOPBACK_PTR:
            if qtype == QTYPE.PTR:
                ptr = RR(owner, QTYPE.PTR, ttl=TTL, rdata=PTR(LOCALHOST))
                return Answer(answer=[ptr], authoritative=False)
            return Answer(authority=[_soa(apex)], authoritative=False)
        return Answer(RCODE.NXDOMAIN, authority=[_soa(apex)], authoritative=False)


def _zone(name: str) -> str | None:
    """The zone of ZONES that holds `name`, if any."""
    return next((zone for zone in ZONES if name == zone or name.endswith("." + zone)), None)


def _loopback(owner: DNSLabel, qtype: int) -> Answer | None:
    """127.0.0.1 or ::1 for an A or AAAA question, else None."""
    if qtype == QTYPE.A:
        return Answer(answer=[RR(owner, QTYPE.A, ttl=TTL, rdata=A("127.0.0.1"))],
                      authoritative=False)
    if qtype == QTYPE.AAAA:
        return Answer(answer=[RR(owner, QTYPE.AAAA, ttl=TTL, rdata=AAAA("::1"))],
                      authoritative=False)
    return None


def _soa(origin: DNSLabel) -> RR:
    rdata = SOA(LOCALHOST, "root.localhost.", (1, 0, 0, 0, TTL))
    return RR(origin, QTYPE.SOA, ttl=TTL, rdata=rdata)
