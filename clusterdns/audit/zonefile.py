"""Dump files: written as an RFC 1035 zone file or as JSON, and read back (for `diff`).

Both formats are deterministic: the records in the order given, one per line, and a header
(source, time, resourceVersion) that is left out entirely for stable dumps. The zone-file
reader also takes what `dig AXFR` prints and ordinary zone files ($ORIGIN, $TTL, relative
names, omitted owners, parentheses).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from json.encoder import encode_basestring as _string
from pathlib import Path
from typing import Any

from clusterdns.dns.names import canonical_ip
from clusterdns.dns.zone import Origin, Record
from clusterdns.errors import AuditError

JSON_FORMAT = "clusterdns-dump/1"
# rdata fields that are domain names, by type: made absolute and compared in lower case
_NAME_FIELDS = {"CNAME": (0,), "NS": (0,), "PTR": (0,), "SRV": (3,), "SOA": (0, 1)}
_CLASSES = frozenset({"IN", "CH", "HS", "CS"})


class DumpError(AuditError):
    """A dump file cannot be read; the message names the file and line."""


@dataclass(frozen=True)
class Header:
    """What varies between two dumps of the same state (left out of stable dumps)."""

    generator: str
    source: str
    time: str  # ISO 8601, UTC
    resource_version: str | None = None


@dataclass
class Dump:
    """A dump read back: its zone (from the first SOA), records and header fields."""

    zone: str | None
    records: list[Record]
    meta: dict[str, Any] = field(default_factory=dict)


# -- writing ------------------------------------------------------------------------------


def zone_lines(records: Iterable[Record], zone: str, header: Header | None) -> Iterator[str]:
    if header is not None:
        yield f"; {header.generator} dump of {zone}\n"
        yield f"; source: {header.source}\n"
        if header.resource_version:
            yield f"; resourceVersion: {header.resource_version}\n"
        yield f"; time: {header.time}\n"
    yield f"$ORIGIN {zone}\n"
    for record in records:
        yield record.text() + "\n"


def json_lines(records: Iterable[Record], zone: str, header: Header | None) -> Iterator[str]:
    """One JSON document with one record object per line. Written by hand: json.dumps per
    record is most of the time of a large dump; strings still go through json's escaping."""
    meta: dict[str, Any] = {"format": JSON_FORMAT, "zone": zone}
    if header is not None:
        meta.update(generator=header.generator, source=header.source, time=header.time)
        if header.resource_version:
            meta["resourceVersion"] = header.resource_version
    yield json.dumps(meta)[:-1] + ', "records": [\n'
    origins: dict[Origin | None, str] = {}  # records of one endpoint share their origin
    separator = ""
    for record in records:
        origin = origins.get(record.origin)
        if origin is None:
            origin = origins[record.origin] = _origin_json(record.origin)
        yield (
            f'{separator}{{"name": {_string(record.name)}, "type": "{record.rtype}", '
            f'"ttl": {record.ttl}, "rdata": {_string(record.rdata)}, {origin}}}'
        )
        separator = ",\n"
    yield "\n]}\n"


def _origin_json(origin: Origin | None) -> str:
    fields: tuple[str | None, ...] = (None, None, None, None)
    if origin is not None:
        fields = (f"{origin.namespace}/{origin.service}", *origin[2:])
    keys = ("service", "slice", "endpoint", "pod")
    pairs = zip(keys, fields, strict=True)
    return ", ".join(f'"{key}": {"null" if v is None else _string(v)}' for key, v in pairs)


# -- reading ------------------------------------------------------------------------------


def read_dump(path: Path | None) -> Dump:
    """A zone file or JSON dump (told apart by the first character); None reads stdin."""
    where = str(path) if path is not None else "<stdin>"
    try:
        text = sys.stdin.read() if path is None else path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise DumpError(f"{where}: cannot read: {getattr(exc, 'strerror', None) or exc}") from exc
    dump = _read_json(text, where) if text.lstrip().startswith("{") else _read_zone(text, where)
    dump.records = [normalized(r) for r in dump.records]
    return dump


def normalized(record: Record) -> Record:
    """The form two dumps are compared in: lower-case names, canonical addresses."""
    rdata = record.rdata
    if record.rtype in ("A", "AAAA"):
        rdata = canonical_ip(rdata) or rdata
    elif record.rtype in _NAME_FIELDS:
        rdata = rdata.lower()
    return record._replace(name=record.name.lower(), rtype=record.rtype.upper(), rdata=rdata)


def _read_json(text: str, where: str) -> Dump:
    try:
        doc = json.loads(text)
        records = [_json_record(item) for item in doc["records"]]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DumpError(f"{where}: not a clusterdns JSON dump: {exc}") from exc
    meta = {k: v for k, v in doc.items() if k != "records"}
    return Dump(doc.get("zone") or _soa_zone(records), records, meta)


def _json_record(item: dict[str, Any]) -> Record:
    origin = None
    if item.get("service"):
        namespace, _, service = item["service"].partition("/")
        origin = Origin(
            namespace, service, item.get("slice"), item.get("endpoint"), item.get("pod")
        )
    return Record(item["name"], int(item["ttl"]), item["type"], item["rdata"], origin)


def _soa_zone(records: list[Record]) -> str | None:
    return next((r.name.lower() for r in records if r.rtype.upper() == "SOA"), None)


def _read_zone(text: str, where: str) -> Dump:
    origin, default_ttl, owner = "", None, ""
    records = []
    for number, tokens, indented in _entries(text, where):
        if tokens[0].upper() == "$ORIGIN":
            origin = _absolute(tokens[1], origin) if len(tokens) > 1 else ""
            continue
        if tokens[0].upper() == "$TTL":
            default_ttl = _ttl(tokens[1:], number, where)
            continue
        if not indented:
            owner = _absolute(tokens.pop(0), origin)
        ttl = None
        while tokens and (tokens[0].isdigit() or tokens[0].upper() in _CLASSES):
            token = tokens.pop(0)
            ttl = int(token) if token.isdigit() else ttl
        ttl = ttl if ttl is not None else default_ttl
        if not owner or not tokens or ttl is None:
            raise DumpError(f"{where}:{number}: not a record (owner, TTL, type and data)")
        rtype, fields = tokens[0].upper(), tokens[1:]
        for i in _NAME_FIELDS.get(rtype, ()):
            if i < len(fields):
                fields[i] = _absolute(fields[i], origin)
        records.append(Record(owner, ttl, rtype, " ".join(fields)))
    return Dump(_soa_zone(records) or origin or None, records)


def _entries(text: str, where: str) -> Iterator[tuple[int, list[str], bool]]:
    """(line number, tokens, starts indented) per entry; parentheses join lines."""
    tokens: list[str] = []
    depth, start, indented = 0, 0, False
    for number, line in enumerate(text.splitlines(), 1):
        content = _strip_comment(line)
        if depth == 0:
            if not content.strip():
                continue
            start, indented, tokens = number, line[0].isspace(), []
        for token in content.replace("(", " ( ").replace(")", " ) ").split():
            if token in ("(", ")"):
                depth += 1 if token == "(" else -1
                if depth < 0:
                    raise DumpError(f"{where}:{number}: ')' without '('")
            else:
                tokens.append(token)
        if depth == 0:
            yield start, tokens, indented
    if depth:
        raise DumpError(f"{where}:{start}: unclosed '('")


def _strip_comment(line: str) -> str:
    quoted = False
    for i, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == ";" and not quoted:
            return line[:i]
    return line


def _absolute(name: str, origin: str) -> str:
    if name == "@":
        return origin
    if name.endswith("."):
        return name
    return f"{name}.{origin}" if origin not in ("", ".") else name + "."


def _ttl(tokens: list[str], number: int, where: str) -> int:
    if not tokens or not tokens[0].isdigit():
        raise DumpError(f"{where}:{number}: $TTL needs a number of seconds")
    return int(tokens[0])
