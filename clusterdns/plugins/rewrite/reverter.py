"""The reply to a rewritten query as the client gets it (reverter.go's ResponseReverter):
the question it asked, then the response rules run on every record (authority, answer,
additional; the OPT is the server's own), the rules in reverse order, and the rcode rules
on the message. Our OPT then echoes the options the rules put in the query (as CoreDNS's
server reuses the query's OPT for a reply that has none); not on a reply from upstream
(forward, cache), whose OPT CoreDNS relays and ours replaces."""

from __future__ import annotations

from dnslib import QTYPE, DNSQuestion, DNSRecord, EDNSOption

from clusterdns.dns.message import pack
from clusterdns.plugins.rewrite.rules import Rewritten

_UPSTREAM = frozenset(("forward", "cache"))  # the plugins whose replies are upstream's


def revert(reply: bytes, asked: DNSQuestion, rewritten: Rewritten, plugin: str) -> bytes:
    """`reply` (written by `plugin`) as the client gets it."""
    echo = rewritten.echo if plugin not in _UPSTREAM else ()
    if not (rewritten.revert or echo):
        return reply
    record = DNSRecord.parse(reply)
    if rewritten.revert:
        record.questions = [asked]
        rules = rewritten.rules[::-1]
        for rr in (*record.auth, *record.rr, *record.ar):
            if rr.rtype != QTYPE.OPT:
                for rule in rules:
                    rule.on_record(record, rr)
        for rule in rules:
            rule.on_message(record)
    opt = next((rr for rr in record.ar if rr.rtype == QTYPE.OPT), None)
    if opt is not None:
        opt.rdata.extend(EDNSOption(code, data) for code, data in echo)
    return pack(record)
