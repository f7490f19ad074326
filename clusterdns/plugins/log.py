"""CoreDNS's `log`: a line per query, for the names and reply classes asked.

    log [NAMES...] [FORMAT] {
        class success|denial|error|all...
    }

NAMES are the zones logged (default `.`), FORMAT a line with placeholders (default
`{common}`), the classes those of CoreDNS's response.Classify: success (NOERROR with
records, delegations), denial (NXDOMAIN, or NODATA: a SOA and no records), error (the rest).
Written, as CoreDNS's default, e.g.

    127.0.0.1:55336 - 3401 "A IN example.org. udp 41 false 4096" NOERROR qr,rd,ra 68 0.000362s

`{/LABEL}` writes the metadata LABEL (the `metadata` plugin's; an empty value empty, a value
not set `-`), among them log's own `{/log/type}` (CoreDNS's response.Typify: NOERROR,
NXDOMAIN, NODATA, ...) and `{/log/class}`; the server checks that a plugin of the block
provides each. Values are found only for a line written.

A placeholder we do not fill is an error naming the line, never a silent `-`. Lines go to
standard output as CoreDNS writes them, `[INFO] ` and the line, flushed one by one, so the log
pipelines that parse CoreDNS's query log read ours unchanged.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import add

from dnslib import CLASS, QTYPE, RCODE

from clusterdns.config.checks import METADATA_LABEL, Origins, arguments, choice, fail, zone_name
from clusterdns.config.corefile import Directive
from clusterdns.config.registry import Plugin
from clusterdns.dns.names import in_zone
from clusterdns.dns.packet import PacketError, scan
from clusterdns.dns.request import Request

COMMON = (
    '{remote}:{port} - {>id} "{type} {class} {name} {proto} {size} {>do} {>bufsize}" '
    "{rcode} {>rflags} {rsize} {duration}"
)
COMBINED = COMMON + ' "{>opcode}"'
CLASSES = ("all", "success", "denial", "error")
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")
TYPE_LABEL, CLASS_LABEL = "log/type", "log/class"  # the metadata log provides itself
LABELS = (TYPE_LABEL, CLASS_LABEL)
_FLAGS = (
    (0x8000, "qr"),
    (0x0400, "aa"),
    (0x0200, "tc"),
    (0x0100, "rd"),
    (0x0080, "ra"),
    (0x0040, "z"),
    (0x0020, "ad"),
    (0x0010, "cd"),
)
_SOA, _NS, _IXFR, _AXFR = 6, 2, 251, 252
_NOTIFY, _UPDATE = 4, 5  # opcodes
# CoreDNS's response.Classify of each type; every other type is an error
_CLASS_OF = {"NOERROR": "success", "DELEGATION": "success", "NXDOMAIN": "denial",
             "NODATA": "denial"}  # fmt: skip
_NOT_WRITTEN = "-"  # CoreDNS's replacer.EmptyValue: what a dropped query's rcode and flags are
Collect = Callable[[Request], dict[str, str]]  # a block's metadata of a query
Field = Callable[[Request, bytes, float], str]  # a placeholder's value: query, reply, seconds


@dataclass(frozen=True, slots=True)
class LogRule:
    zone: str
    format: str
    classes: frozenset[str]  # of CLASSES; "all" takes every reply
    labels: tuple[str, ...] = ()  # the metadata its format writes ({/LABEL})
    file: str = field(default="", compare=False)  # where the directive is, for the server
    line: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class LogConfig:
    rules: tuple[LogRule, ...]
    metadata: Collect | None = field(default=None, compare=False)  # the server sets it

    def rule_for(self, name: str) -> LogRule | None:
        """The first rule whose zone holds `name`: CoreDNS logs by that one alone."""
        return next((rule for rule in self.rules if in_zone(name, rule.zone)), None)


def log_query(
    config: LogConfig, request: Request, reply: bytes, seconds: float, size: int | None = None
) -> None:
    """Write the line of a query answered with `reply`; b"" for one dropped (acl), which
    CoreDNS logs too: no message recorded, so of class error, `-` for its rcode and flags,
    size 0. `size`: the bytes written, when more than `reply` (a zone transfer's messages,
    `reply` the last: what CoreDNS's recorder keeps)."""
    rule = config.rule_for(request.name)
    if rule is None or ("all" not in rule.classes and classify(reply, request) not in rule.classes):
        return
    fields = _FIELDS if size is None else {**_FIELDS, "{rsize}": lambda *_: str(size)}
    if rule.labels:
        values = _metadata(config.metadata, rule, request, reply)
        line = _PLACEHOLDER.sub(
            lambda m: _fill(fields, m.group(0), request, reply, seconds, values), rule.format
        )
    else:  # (the common case, without a call more per placeholder)
        line = _PLACEHOLDER.sub(lambda m: fields[m.group(0)](request, reply, seconds),
                                rule.format)
    sys.stdout.write(f"[INFO] {line}\n")
    sys.stdout.flush()


def classify(reply: bytes, request: Request) -> str:
    """CoreDNS's response.Classify: success, denial or error."""
    return _CLASS_OF.get(typify(reply, request.qtype), "error")


def typify(reply: bytes, qtype: int) -> str:
    """CoreDNS's response.Typify of a reply to a query of `qtype` (but for the expired
    RRSIGs it finds in a DNSSEC answer, which are NOERROR here). No reply (dropped): an
    error, as Typify(nil)."""
    if not reply:
        return "OTHERERROR"
    opcode = reply[2] >> 3 & 0xF
    if opcode == _UPDATE:
        return "UPDATE"
    if opcode == _NOTIFY or qtype in (_AXFR, _IXFR):
        return "META"
    rcode = reply[3] & 0xF
    answers, authority = reply[6] << 8 | reply[7], reply[8] << 8 | reply[9]
    if answers and rcode == RCODE.NOERROR:
        return "NOERROR"
    if answers and rcode == RCODE.NXDOMAIN:
        return "OTHERERROR"
    soa, ns = _authority(reply) if authority and rcode == RCODE.NOERROR else (False, False)
    if soa:
        return "NODATA"
    if rcode == RCODE.NXDOMAIN:
        return "NXDOMAIN"
    if rcode in (RCODE.SERVFAIL, RCODE.NOTIMP):
        return "SERVERERROR"
    if ns:
        return "DELEGATION"
    return "NOERROR" if rcode == RCODE.NOERROR else "OTHERERROR"


def _authority(reply: bytes) -> tuple[bool, bool]:
    """Whether the authority section holds a SOA, and an NS."""
    try:
        types = {r.rtype for r in scan(reply).records if r.section == 1}
    except PacketError:
        return False, False
    return _SOA in types, _NS in types


def _metadata(
    collect: Collect | None, rule: LogRule, request: Request, reply: bytes
) -> dict[str, str]:
    """The metadata of a query for a line of `rule`: the block's, and log's own."""
    values = collect(request) if collect is not None else {}
    if TYPE_LABEL in rule.labels or CLASS_LABEL in rule.labels:
        kind = typify(reply, request.qtype)
        values[TYPE_LABEL] = kind
        values[CLASS_LABEL] = _CLASS_OF.get(kind, "error")
    return values


def _fill(
    fields: dict[str, Field],
    placeholder: str,
    request: Request,
    reply: bytes,
    seconds: float,
    values: dict[str, str],
) -> str:
    fill = fields.get(placeholder)
    if fill is not None:
        return fill(request, reply, seconds)
    return values.get(placeholder[2:-1], "-")  # {/LABEL}: not set, as CoreDNS writes it


def _host(request: Request) -> str:
    host = request.peer[0] if request.peer else "-"
    return f"[{host}]" if ":" in host else host


def _rcode(reply: bytes) -> str:
    return RCODE.get(reply[3] & 0xF) if reply else _NOT_WRITTEN


def _flags(reply: bytes) -> str:
    if not reply:
        return _NOT_WRITTEN
    flags = reply[2] << 8 | reply[3]
    return ",".join(label for bit, label in _FLAGS if flags & bit)


# Each placeholder and how it is filled from the query, the reply and the time taken.
_FIELDS: dict[str, Field] = {
    "{remote}": lambda request, reply, seconds: _host(request),
    "{port}": lambda request, reply, seconds: str(request.peer[1] if request.peer else 0),
    "{>id}": lambda request, reply, seconds: str(request.id),
    "{type}": lambda request, reply, seconds: QTYPE.get(request.qtype),
    "{class}": lambda request, reply, seconds: (
        "ANY" if request.qclass == 255 else CLASS.get(request.qclass)
    ),
    "{name}": lambda request, reply, seconds: request.name,
    "{proto}": lambda request, reply, seconds: request.proto,
    "{size}": lambda request, reply, seconds: str(len(request.data)),
    "{>do}": lambda request, reply, seconds: str(request.do).lower(),
    # CoreDNS's state.Size(): 64K over TCP, else the EDNS buffer or 512
    "{>bufsize}": lambda request, reply, seconds: str(request.size),
    "{rcode}": lambda request, reply, seconds: _rcode(reply),
    "{>rflags}": lambda request, reply, seconds: _flags(reply),
    "{rsize}": lambda request, reply, seconds: str(len(reply)),
    "{duration}": lambda request, reply, seconds: f"{seconds:.9f}".rstrip("0").rstrip(".") + "s",
    "{>opcode}": lambda request, reply, seconds: str(request.data[2] >> 3 & 0xF),  # a number
}


def setup(node: Directive, block: Origins) -> LogConfig:
    args = list(node.args)
    text = COMMON
    if len(args) > 1 and "{" in args[-1]:
        text = args.pop().replace("{common}", COMMON).replace("{combined}", COMBINED)
        for placeholder in _PLACEHOLDER.findall(text):
            if placeholder.startswith("{/") and not METADATA_LABEL.fullmatch(placeholder[2:-1]):
                raise fail(node, f"log: {placeholder} names no metadata label (plugin/NAME)")
            if placeholder not in _FIELDS and not placeholder.startswith("{/"):
                raise fail(node, f"log: placeholder {placeholder} is not supported")
    zones = [zone_name(node, arg) for arg in args] or ["."]
    classes: set[str] = set()
    for option in node.block:
        if option.name != "class":
            raise fail(option, f"unknown log option '{option.name}'")
        classes.update(choice(option, each, CLASSES) for each in arguments(option, 1, None))
    frozen = frozenset(classes or {"all"})
    labels = tuple(dict.fromkeys(p[2:-1] for p in _PLACEHOLDER.findall(text) if p[1] == "/"))
    return LogConfig(
        tuple(LogRule(zone, text, frozen, labels, node.file, node.line) for zone in zones)
    )


def _merge(first: LogConfig, second: LogConfig) -> LogConfig:
    return LogConfig(add(first.rules, second.rules))


LOG = Plugin("log", setup, merge=_merge)
