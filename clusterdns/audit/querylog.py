"""Query lines of CoreDNS's `log` plugin in its default (common or combined) format, as CoreDNS
writes them and as our `log` writes them:

    [INFO] 10.244.0.5:4567 - 12 "AAAA IN db.web.svc.cluster.local. udp 4 false 512" NXDOMAIN qr 9 1s
    [INFO] [fd00::5]:53 - 7 "A IN example.org. udp 41 false 4096" NOERROR qr,rd,ra 68 0.037990251s

Whatever comes before the query (`[INFO] `, a timestamp from `kubectl logs --timestamps` or
a log collector) or after it (`{combined}`'s opcode) is passed over; any other line is not a
query line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from clusterdns.dns.names import canonical_ip, fqdn
from clusterdns.plugins.log import COMMON

# What each placeholder of the common format can be, as CoreDNS's replacer fills it; the
# fields read are named groups.
_FIELDS = {
    "{remote}": r"(?P<remote>\[[0-9A-Za-z:.%_-]+\]|[0-9.]+)",  # IPv6 in brackets
    "{port}": r"\d+",
    "{>id}": r"\d+",
    "{type}": r"(?P<type>\S+)",
    "{class}": r"\S+",
    "{name}": r"(?P<name>(?:[^\s\\]|\\.)+)",  # a character escaped with \ may be a space
    "{proto}": r"[a-z]+",
    "{size}": r"\d+",
    "{>do}": r"(?:true|false)",
    "{>bufsize}": r"\d+",
    "{rcode}": r"(?P<rcode>[A-Za-z0-9]+|-)",
    "{>rflags}": r"[a-z,]*",  # empty when no flag is set
    "{rsize}": r"(?:\d+|-)",
    "{duration}": r"(?:[0-9.e+-]+s|-)",
}
_LINE = re.compile(
    "".join(
        _FIELDS[part] if part in _FIELDS else re.escape(part)
        for part in re.split(r"(\{[^{}]*\})", COMMON)
    )
)


@dataclass(frozen=True, slots=True)
class Query:
    client: str  # the IP, canonical (RFC 5952 for IPv6)
    qtype: str  # A, AAAA, TYPE65, ...
    name: str  # absolute, lower case
    rcode: str  # NOERROR, NXDOMAIN, ..., or - when the reply was not recorded


def parse_line(line: str) -> Query | None:
    """The query a log line records, or None for any other line."""
    found = _LINE.search(line)
    if found is None:
        return None
    client = canonical_ip(found["remote"].strip("[]").partition("%")[0])
    if client is None:
        return None
    return Query(client, found["type"], fqdn(found["name"]), found["rcode"])
