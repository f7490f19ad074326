"""CoreDNS's `template` plugin: answers built from a question that matches a regex (AKS ships
one to deny `*.internal.cloudapp.net` names of more than four labels).

    template CLASS TYPE [ZONE...] {
        match REGEX...
        answer|additional|authority RR...
        rcode CODE
        ederror EXTENDED_ERROR_CODE [EXTRA_REASON]
        fallthrough [ZONE...]
        upstream
    }

Templates of one block are tried in order. One whose class, type or zones do not fit the
question is skipped; one that fits but whose regexes do not match the name answers SERVFAIL,
unless `fallthrough` covers the name (then the next template, then the next plugin). A match
answers with `rcode` (NOERROR by default) and the records its templates make; a CNAME among
the answer records of an A or AAAA query is followed as CoreDNS 1.14 always follows it: its
target asked of the server itself (CoreDNS's upstream), that reply's answer records put after
it and its TC bit on the reply (`upstream` is accepted and changes nothing, as in 1.14, where
it is deprecated). `ederror`
puts an extended DNS error (RFC 8914) in the reply's OPT when the query sent one (as acl's);
an `rcode SERVFAIL` reply is the server's bare SERVFAIL, without it, as CoreDNS writes none.

The records are Go templates; the subset CoreDNS users write is filled in: `{{ .Name }}`,
`{{ .Zone }}`, `{{ .Class }}`, `{{ .Type }}`, `{{ .Regex }}`, `{{ .Remote }}`,
`{{ index .Match N }}`, `{{ .Group.NAME }}` and `{{ index .Group "NAME" }}`. Anything else, a bad
regex or a record that does not parse is an error naming the line.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from dnslib import CLASS, QTYPE, RCODE, RR, DNSError

from clusterdns.config.checks import (
    RCODE_NAMES,
    Origins,
    arguments,
    fail,
    zone_origins,
    zone_origins_or,
)
from clusterdns.config.corefile import Directive
from clusterdns.config.registry import Plugin
from clusterdns.dns.lookup import Lookup, cnames_followed
from clusterdns.dns.message import CLASS_ANY, Answer, EdnsOption, FixedAnswers
from clusterdns.dns.names import in_zone
from clusterdns.dns.packet import TYPE_A, TYPE_AAAA, extended_error
from clusterdns.dns.request import Request

log = logging.getLogger("clusterdns.template")

_ACTION = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}")
_FIELD = re.compile(r"\.(Name|Zone|Class|Type|Regex|Remote)$")
_MATCH = re.compile(r"index \.Match (\d+)$")
_GROUP = re.compile(r'\.Group\.(\w+)$|index \.Group "(\w+)"$')
_SECTIONS = ("answer", "additional", "authority")

Data = dict[str, object]  # what a template reads: the fields, Match and Group


@dataclass(frozen=True, slots=True)
class RecordTemplate:
    text: str
    parts: tuple[Callable[[Data], str], ...]

    def render(self, data: Data) -> str:
        return "".join(part(data) for part in self.parts)


@dataclass(frozen=True, slots=True)
class TemplateConfig:
    qclass: int  # CLASS_ANY: any
    qtype: int  # QTYPE.ANY: any
    zones: tuple[str, ...]
    regexes: tuple[re.Pattern[str], ...]
    records: dict[str, tuple[RecordTemplate, ...]]  # section → its record templates
    rcode: int = RCODE.NOERROR
    fallthrough: tuple[str, ...] | None = None
    ederror: EdnsOption | None = None  # the extended DNS error of its replies


def compile_record(node: Directive, text: str) -> RecordTemplate:
    """The template as literal text and fields to fill, in order; an error naming the
    line for an action outside the subset. (Whether the filled text is a record is known
    only per question, as in CoreDNS: a failure then is SERVFAIL, counted and logged.)"""
    parts: list[Callable[[Data], str]] = []
    at = 0
    for action in _ACTION.finditer(text):
        parts.append(_literal(text[at : action.start()]))
        parts.append(_action(node, action.group(1)))
        at = action.end()
    parts.append(_literal(text[at:]))
    return RecordTemplate(text, tuple(parts))


def _literal(text: str) -> Callable[[Data], str]:
    return lambda data: text


def _action(node: Directive, action: str) -> Callable[[Data], str]:
    field = _FIELD.match(action)
    if field:
        name = field.group(1)
        return lambda data: str(data[name])
    match = _MATCH.match(action)
    if match:
        index = int(match.group(1))
        return lambda data: _item(data["Match"], index)
    group = _GROUP.match(action)
    if group:
        key = group.group(1) or group.group(2)
        return lambda data: _value(data["Group"], key)
    raise fail(node, f"template: '{{{{ {action} }}}}' is not supported")


def _item(values: object, index: int) -> str:
    return values[index] if isinstance(values, list) and index < len(values) else ""


def _value(values: object, key: str) -> str:
    return values.get(key, "") if isinstance(values, dict) else ""


def setup(node: Directive, block: Origins) -> tuple[TemplateConfig, ...]:
    args = arguments(node, 2, None)
    qclass = CLASS_ANY if args[0] == "ANY" else CLASS.reverse.get(args[0].upper())
    qtype = QTYPE.reverse.get(args[1].upper())
    if qclass is None:
        raise fail(node, f"template: unknown class '{args[0]}'")
    if qtype is None:
        raise fail(node, f"template: unknown type '{args[1]}'")
    zones = zone_origins_or(node, args[2:], block).zones
    regexes: list[re.Pattern[str]] = []
    records: dict[str, list[RecordTemplate]] = {section: [] for section in _SECTIONS}
    rcode, fallthrough, ederror = RCODE.NOERROR, None, None
    for option in node.block:
        if option.name == "match":
            for text in arguments(option, 1, None):
                try:
                    regexes.append(re.compile(text))
                except re.error as exc:
                    raise fail(option, f"template: could not parse regex {text}: {exc}") from None
        elif option.name in _SECTIONS:
            records[option.name] += [compile_record(option, t) for t in arguments(option, 1, None)]
        elif option.name == "rcode":
            (text,) = arguments(option, 1, 1)
            code = RCODE_NAMES.get(text.upper())
            if code is None:
                raise fail(option, f"template: unknown rcode {text}")
            rcode = code
        elif option.name == "fallthrough":
            fallthrough = zone_origins(option, option.args).zones if option.args else (".",)
        elif option.name == "ederror":
            ederror = _ederror(option)
        elif option.name == "upstream":
            pass  # (CoreDNS 1.14 reads its arguments and ignores them: it always follows CNAMEs)
        else:
            raise fail(option, f"unknown template option '{option.name}'")
    config = TemplateConfig(
        qclass, qtype, zones, tuple(regexes) or (re.compile(".*"),),
        {section: tuple(found) for section, found in records.items()}, rcode, fallthrough,
        ederror,
    )  # fmt: skip
    return (config,)


def _ederror(option: Directive) -> EdnsOption:
    """`ederror CODE [REASON]`: CODE a decimal 16-bit number (strconv.ParseUint(s, 10, 16))."""
    args = arguments(option, 1, 2)
    if not args[0].isascii() or not args[0].isdigit() or int(args[0]) > 0xFFFF:
        raise fail(option, f"template: error parsing extended DNS error code {args[0]}")
    return extended_error(int(args[0]), args[1] if len(args) == 2 else "")


def _merge(
    first: tuple[TemplateConfig, ...], second: tuple[TemplateConfig, ...]
) -> tuple[TemplateConfig, ...]:
    return first + second


TEMPLATE = Plugin("template", setup, merge=_merge)


class Template(FixedAnswers):
    name = "template"

    def __init__(self, templates: tuple[TemplateConfig, ...]) -> None:
        self.templates = templates
        self.zones = tuple(zone for each in templates for zone in each.zones)

    def passes(self, name: str, qtype: int) -> bool:
        return not any(in_zone(name, zone) for zone in self.zones)  # (its regexes may match)

    def answer(self, request: Request) -> Answer | None:
        name = request.name
        if not any(in_zone(name, zone) for zone in self.zones):
            return None
        for template in self.templates:
            data, matched, passes = _match(template, request)
            if matched:
                return self._answer(template, data, request.qtype)
            if not passes:
                return Answer(rcode=RCODE.SERVFAIL, authoritative=False)
        return None

    @staticmethod
    def _answer(template: TemplateConfig, data: Data, qtype: int) -> Answer:
        if template.rcode == RCODE.SERVFAIL:  # (CoreDNS returns it: the server writes it)
            return Answer(rcode=RCODE.SERVFAIL, authoritative=False)
        answer = Answer(rcode=template.rcode)
        for section in _SECTIONS:
            target = getattr(answer, section)
            for record in template.records[section]:
                text = record.render(data)
                try:
                    target.extend(RR.fromZone(_ungrouped(text)))
                except (DNSError, ValueError, IndexError, KeyError) as exc:
                    log.warning("template: %r is no record (%s): SERVFAIL", text, exc)
                    return Answer(rcode=RCODE.SERVFAIL, authoritative=False)
        if template.ederror is not None:
            answer.options = (template.ederror,)
        if qtype in (TYPE_A, TYPE_AAAA) and any(rr.rtype == QTYPE.CNAME for rr in answer.answer):
            answer.follow = lambda lookup: _followed(answer, qtype, lookup)
        return answer


def _ungrouped(text: str) -> str:
    """A record's text without the zone file's grouping parentheses outside quotes (as
    `(1 60 60 60 60)` in README's SOA: miekg reads them, dnslib's parser does not)."""
    parts = text.split('"')
    parts[::2] = (part.replace("(", " ").replace(")", " ") for part in parts[::2])
    return '"'.join(parts)


async def _followed(answer: Answer, qtype: int, lookup: Lookup) -> Answer:
    """`answer` with the answer records of each CNAME's target (asked of the server itself,
    with the query's type) after it, truncated (TC) as the last reply was, as CoreDNS sets
    `msg.Truncated = up.Truncated` for each; a target that gets no reply adds nothing."""
    answer.answer, truncated = await cnames_followed(answer.answer, qtype, lookup)
    answer.truncated, answer.follow = truncated[-1] if truncated else False, None
    return answer


def _match(template: TemplateConfig, request: Request) -> tuple[Data, bool, bool]:
    """(what the record templates read, whether it matched, whether a miss passes on)."""
    name = request.name
    zone = next((z for z in template.zones if in_zone(name, z)), None)
    if zone is None:
        return {}, False, True
    if CLASS_ANY not in (template.qclass, request.qclass) and request.qclass != template.qclass:
        return {}, False, True
    if QTYPE.ANY not in (template.qtype, request.qtype) and request.qtype != template.qtype:
        return {}, False, True
    for regex in template.regexes:
        found = regex.search(name)
        if found is None:
            continue
        matches = [found.group(0), *(g or "" for g in found.groups())]
        group = {str(i): m for i, m in enumerate(matches)}
        group.update({k: v or "" for k, v in found.groupdict().items()})
        data: Data = {
            "Zone": zone, "Name": name, "Regex": regex.pattern,
            "Class": CLASS.get(request.qclass), "Type": QTYPE.get(request.qtype),
            "Remote": request.peer[0] if request.peer else "", "Match": matches, "Group": group,
        }  # fmt: skip
        return data, True, False
    fallthrough = template.fallthrough
    return {}, False, fallthrough is not None and any(in_zone(name, z) for z in fallthrough)
