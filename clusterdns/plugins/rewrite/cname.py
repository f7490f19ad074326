"""rewrite's `cname` rule as CoreDNS 1.14 runs it (cname_target.go):

    cname [exact|prefix|suffix|substring|regex] FROM TO

It acts on every query (so a `stop` one ends the rules) and on the reply: a CNAME whose
target it matches gets the new target, which is looked up through the server itself with
the query's type (CoreDNS's upstream); the answer keeps the CNAMEs up to that one and the
lookup's answer records follow it (other records are dropped), and the reply is truncated
when the lookup's was. A failed lookup leaves the reply as it was.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from dnslib import CNAME, QTYPE, DNSLabel, DNSRecord

from clusterdns.dns.lookup import Lookup
from clusterdns.dns.message import pack
from clusterdns.dns.request import Request
from clusterdns.plugins.rewrite.rules import Applied, Question, Retarget, State, expand

log = logging.getLogger("clusterdns.rewrite")


@dataclass(frozen=True, slots=True)
class CnameRule:
    stop: bool
    kind: str  # exact, prefix, suffix, substring or regex
    source: str  # lower case; absolute for exact
    target: str  # lower case; absolute for exact; a regex's with {N} groups
    pattern: re.Pattern[str] | None = None

    def matches(self, question: Question) -> bool:
        return True

    def apply(self, state: State, request: Request) -> Applied:
        return Applied(state, targets=(self,))

    def new_target(self, target: str) -> str | None:
        """getFromAndToTarget: the new target of a CNAME to `target` (as the reply spells
        it), or None when the rule does not match it."""
        kind, source = self.kind, self.source
        if kind == "exact":
            return self.target if target == source else None
        if kind == "prefix":
            return self.target + target[len(source) :] if target.startswith(source) else None
        if kind == "suffix":
            return target[: -len(source)] + self.target if target.endswith(source) else None
        if kind == "substring":
            return target.replace(source, self.target) if source in target else None
        assert self.pattern is not None
        found = self.pattern.search(target)
        return None if found is None else expand(found, self.target)


async def retarget(
    reply: bytes, targets: tuple[Retarget, ...], qtype: int, lookup: Lookup
) -> bytes:
    """`reply` with its CNAMEs retargeted by `targets` (each record of the authority, answer
    and additional sections as the reply had them, the rules the last first: as the
    reverter runs them); `qtype` is the type the chain was asked."""
    record = DNSRecord.parse(reply)
    changed = False
    for rr in (*record.auth, *record.rr, *record.ar):
        if rr.rtype != QTYPE.CNAME:
            continue
        for rule in reversed(targets):
            old = str(rr.rdata.label)
            new = rule.new_target(old)
            if new is None:
                continue
            found = await lookup(new, qtype)
            if found is None:
                log.error("rewrite: upstream lookup of %s failed", new)
                continue
            answer = DNSRecord.parse(found)
            kept = []
            for each in record.rr:  # the CNAMEs up to the retargeted one
                if each.rtype == QTYPE.CNAME:
                    kept.append(each)
                    if str(each.rdata.label) == old:
                        each.rdata = CNAME(DNSLabel(new))
                        break
            record.rr = kept + answer.rr
            record.header.tc = answer.header.tc
            changed = True
    return pack(record) if changed else reply
