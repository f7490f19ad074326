"""What changed between two dumps, record by record, grouped by the service that owns each name.

Records are compared as RRsets (name and type): a set only in NEW is added, only in OLD
removed, in both with other data or TTL changed. The SOA serial is the dump time, not served
data, so it is left out of the comparison.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

from clusterdns.audit.zonefile import Dump
from clusterdns.dns.zone import Record, with_serial

ZONE_GROUP = "(zone)"  # the zone's own records: SOA, NS and glue, dns-version

RRsetKey = tuple[str, str]  # (name, type)
Data = tuple[int, str]  # (ttl, rdata)


@dataclass(frozen=True)
class Change:
    kind: str  # added | removed | changed
    group: str  # "namespace/service" or ZONE_GROUP
    name: str
    rtype: str
    old: tuple[Data, ...]
    new: tuple[Data, ...]


def diff_dumps(old: Dump, new: Dump) -> list[Change]:
    """Every RRset that differs, by group (services by namespace/name), name and type."""
    old_sets, new_sets = _rrsets(old), _rrsets(new)
    zone = new.zone or old.zone or ""
    changes = []
    for key in old_sets.keys() | new_sets.keys():
        before, after = old_sets.get(key, ()), new_sets.get(key, ())
        if before == after:
            continue
        kind = "changed" if before and after else "added" if after else "removed"
        changes.append(Change(kind, service_of(key[0], zone), key[0], key[1], before, after))
    changes.sort(key=lambda c: (c.group != ZONE_GROUP, c.group, _tree_order(c.name), c.rtype))
    return changes


def _tree_order(name: str) -> list[str]:
    """Labels from the root down: a service's own name first, then the names below it."""
    return name.split(".")[::-1]


def service_of(name: str, zone: str) -> str:
    """`namespace/service` for names under <svc>.<ns>.svc.<zone>, else the zone group."""
    relative = name[: -len(zone) - 1] if zone and name.endswith("." + zone) else ""
    labels = relative.split(".")
    if len(labels) >= 3 and labels[-1] == "svc":
        return f"{labels[-2]}/{labels[-3]}"
    return ZONE_GROUP


def _rrsets(dump: Dump) -> dict[RRsetKey, tuple[Data, ...]]:
    sets: dict[RRsetKey, set[Data]] = {}
    for record in dump.records:
        if record.rtype == "SOA":
            record = with_serial(record, 0)
        sets.setdefault((record.name, record.rtype), set()).add((record.ttl, record.rdata))
    return {key: tuple(sorted(data)) for key, data in sets.items()}


def summary(changes: list[Change]) -> dict[str, int]:
    counts = {"added": 0, "removed": 0, "changed": 0}
    for change in changes:
        counts[change.kind] += 1
    return counts


def text_lines(changes: list[Change]) -> Iterator[str]:
    """The human-readable report: per group, `+` added, `-` removed, `~` changed RRsets."""
    group = None
    for change in changes:
        if change.group != group:
            group = change.group
            yield f"{group}\n" if group == ZONE_GROUP else f"service {group}\n"
        sign = {"added": "+", "removed": "-", "changed": "~"}[change.kind]
        yield f"  {sign} {change.name} {change.rtype}\n"
        if change.kind == "changed":
            gone = (f"- {_data_text(change, d)}" for d in change.old if d not in change.new)
            came = (f"+ {_data_text(change, d)}" for d in change.new if d not in change.old)
            yield from (f"      {line}\n" for line in (*gone, *came))
        else:
            yield from (f"      {_data_text(change, d)}\n" for d in change.old or change.new)
    counts = summary(changes)
    yield (
        f"{counts['added']} added, {counts['removed']} removed, {counts['changed']} changed "
        "RRsets\n"
    )


def _data_text(change: Change, data: Data) -> str:
    return Record(change.name, data[0], change.rtype, data[1]).text()


def json_text(old: Dump, new: Dump, changes: list[Change]) -> str:
    doc = {
        "equal": not changes,
        "summary": summary(changes),
        "old": old.meta,
        "new": new.meta,
        "changes": [
            {
                "change": c.kind,
                "service": None if c.group == ZONE_GROUP else c.group,
                "name": c.name,
                "type": c.rtype,
                "old": [{"ttl": ttl, "rdata": rdata} for ttl, rdata in c.old],
                "new": [{"ttl": ttl, "rdata": rdata} for ttl, rdata in c.new],
            }
            for c in changes
        ],
    }
    return json.dumps(doc, indent=2) + "\n"
