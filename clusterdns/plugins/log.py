"""CoreDNS's `log`: a line per query, for the names and reply classes asked.

    log [NAMES...] [FORMAT] {
        class success|denial|error|all...
    }

NAMES are the zones logged (default `.`), FORMAT a line with placeholders (default
`{common}`), the classes those of CoreDNS's response.Classify: success (NOERROR with
records, delegations), denial (NXDOMAIN, or NODATA: a SOA and no records), error (the rest).
Written, as CoreDNS's default, e.g.

    127.0.0.1:55336 - 3401 "A IN example.org. udp 41 false 4096" NOERROR qr,rd,ra 68 0.000362s

A placeholder we do not fill is an error naming the line, never a silent `-`. Lines go to
standard output as CoreDNS writes them, `[INFO] ` and the line, flushed one by one, so the log
pipelines that parse CoreDNS's query log read ours unchanged.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from operator import add

from dnslib import CLASS, OPCODE, QTYPE, RCODE

from clusterdns.config.checks import Origins, arguments, choice, fail, zone_name
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
_SOA = 6


@dataclass(frozen=True, slots=True)
class LogRule:
    zone: str
    format: str
    classes: frozenset[str]  # of CLASSES; "all" takes every reply


@dataclass(frozen=True, slots=True)
class LogConfig:
    rules: tuple[LogRule, ...]

    def rule_for(self, name: str) -> LogRule | None:
        """The first rule whose zone holds `name`: CoreDNS logs by that one alone."""
        return next((rule for rule in self.rules if in_zone(name, rule.zone)), None)


def log_query(config: LogConfig, request: Request, reply: bytes, seconds: float) -> None:
    rule = config.rule_for(request.name)
    if rule is None or ("all" not in rule.classes and classify(reply) not in rule.classes):
        return
    line = _PLACEHOLDER.sub(lambda m: _FIELDS[m.group(0)](request, reply, seconds), rule.format)
    sys.stdout.write(f"[INFO] {line}\n")
    sys.stdout.flush()


def classify(reply: bytes) -> str:
    """CoreDNS's response.Classify of a reply (its Typify, for the replies we write)."""
    rcode = reply[3] & 0xF
    answers, authority = reply[6] << 8 | reply[7], reply[8] << 8 | reply[9]
    if answers and rcode == RCODE.NOERROR:
        return "success"
    if answers:
        return "error"  # records with an error rcode
    if rcode == RCODE.NXDOMAIN:
        return "denial"
    if rcode != RCODE.NOERROR:
        return "error"
    return "denial" if authority and _has_soa(reply) else "success"


def _has_soa(reply: bytes) -> bool:
    try:
        return any(r.section == 1 and r.rtype == _SOA for r in scan(reply).records)
    except PacketError:
        return False


def _host(request: Request) -> str:
    host = request.peer[0] if request.peer else "-"
    return f"[{host}]" if ":" in host else host


def _flags(reply: bytes) -> str:
    flags = reply[2] << 8 | reply[3]
    return ",".join(label for bit, label in _FLAGS if flags & bit)


# Each placeholder and how it is filled from the query, the reply and the time taken.
_FIELDS: dict[str, Callable[[Request, bytes, float], str]] = {
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
    "{rcode}": lambda request, reply, seconds: RCODE.get(reply[3] & 0xF),
    "{>rflags}": lambda request, reply, seconds: _flags(reply),
    "{rsize}": lambda request, reply, seconds: str(len(reply)),
    "{duration}": lambda request, reply, seconds: f"{seconds:.9f}".rstrip("0").rstrip(".") + "s",
    "{>opcode}": lambda request, reply, seconds: OPCODE.get(request.data[2] >> 3 & 0xF),
}


def setup(node: Directive, block: Origins) -> LogConfig:
    args = list(node.args)
    text = COMMON
    if len(args) > 1 and "{" in args[-1]:
        text = args.pop().replace("{common}", COMMON).replace("{combined}", COMBINED)
        unknown = [p for p in _PLACEHOLDER.findall(text) if p not in _FIELDS]
        if unknown:
            raise fail(node, f"log: placeholder {unknown[0]} is not supported")
    zones = [zone_name(node, arg) for arg in args] or ["."]
    classes: set[str] = set()
    for option in node.block:
        if option.name != "class":
            raise fail(option, f"unknown log option '{option.name}'")
        classes.update(choice(option, each, CLASSES) for each in arguments(option, 1, None))
    frozen = frozenset(classes or {"all"})
    return LogConfig(tuple(LogRule(zone, text, frozen) for zone in zones))


def _merge(first: LogConfig, second: LogConfig) -> LogConfig:
    return LogConfig(add(first.rules, second.rules))


LOG = Plugin("log", setup, merge=_merge)
