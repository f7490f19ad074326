"""How a plugin asks the server itself (CoreDNS's plugin/pkg/upstream): a name and type
asked again of the whole server, through its own chain (a CNAME target of template, of
k8s_external, of a kubernetes ExternalName outside its zones, of rewrite's `cname` rule).
The server gives a plugin a `Lookup` bound to the query it is answering; the reply is that
query's flags and EDNS with the other question, as a client would get it, or None when
there is none (dropped, or too deep in lookups of lookups)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from dnslib import QTYPE, RR, DNSRecord

Lookup = Callable[[str, int], Awaitable[bytes | None]]


async def answer_records(lookup: Lookup, name: str, qtype: int) -> tuple[list[RR], bool] | None:
    """The answer records of the server's reply to `name` `qtype`, and whether it was
    truncated (TC); None when there is no reply."""
    return records_of(await lookup(name, qtype))


def records_of(reply: bytes | None) -> tuple[list[RR], bool] | None:
    """What CoreDNS's plugins take of a lookup's reply (`resp.Answer`, `resp.Truncated`),
    whatever its rcode; None for no reply."""
    if reply is None:
        return None
    record = DNSRecord.parse(reply)
    return record.rr, bool(record.header.tc)


async def cnames_followed(
    records: Iterable[RR], qtype: int, lookup: Lookup
) -> tuple[list[RR], list[bool]]:
    """`records` with the answer records of each CNAME's target (asked with `qtype`) after
    it, and the TC bit of each reply; a target that gets no reply adds nothing."""
    followed: list[RR] = []
    truncated: list[bool] = []
    for rr in records:
        followed.append(rr)
        if rr.rtype == QTYPE.CNAME:
            found = await answer_records(lookup, str(rr.rdata.label), qtype)
            if found is not None:
                followed += found[0]
                truncated.append(found[1])
    return followed, truncated
