"""The reply to a rewritten query as the client gets it (reverter.go's ResponseReverter):
the question it asked, then the response rules run on every record (authority, answer,
additional; the OPT is the server's own), the rules in reverse order, and the rcode rules
on the message."""

from __future__ import annotations

from dnslib import QTYPE, DNSQuestion, DNSRecord

from clusterdns.dns.message import pack
from clusterdns.plugins.rewrite.rules import Rewritten


def revert(reply: bytes, asked: DNSQuestion, rewritten: Rewritten) -> bytes:
    record = DNSRecord.parse(reply)
    record.questions = [asked]
    rules = rewritten.rules[::-1]
    for rr in (*record.auth, *record.rr, *record.ar):
        if rr.rtype != QTYPE.OPT:
            for rule in rules:
                rule.on_record(record, rr)
    for rule in rules:
        rule.on_message(record)
    return pack(record)
