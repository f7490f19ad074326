"""The `rewrite` directive as CoreDNS 1.14 reads it (setup.go, rewrite.go's newRule):

    rewrite [continue|stop] FIELD [TYPE] FROM TO [OPTIONS]
    rewrite [continue|stop] {
        FIELD [TYPE] FROM TO
        [answer (auto | name FROM TO | value FROM TO)]...
    }

One rule per directive: a block's tokens are the rest of the rule's line. FIELD is `name`
(exact, prefix, suffix, substring, regex; `answer auto|name|value`), `type`, `class`, `ttl`
(SECONDS or MIN-MAX), `rcode`, `edns0` (local, nsid, subnet; see edns0.py) or `cname`
(see cname.py). The EDNS0 variables `{server_ip}` and `{server_port}` are errors naming the
line (a listener on every address does not know which one a UDP query came to), and so are
metadata labels (`{kubernetes/client-namespace}`: metadata is collected for log alone).
"""

from __future__ import annotations

import re

from dnslib import CLASS, QTYPE

from clusterdns.config.checks import INTEGER, METADATA_LABEL, RCODE_NAMES, Origins, fail
from clusterdns.config.corefile import Directive
from clusterdns.config.registry import Plugin
from clusterdns.errors import ConfigError
from clusterdns.plugins.rewrite.cname import CnameRule
from clusterdns.plugins.rewrite.edns0 import (
    APPEND,
    NSID,
    REPLACE,
    SET,
    UNSET,
    VARIABLES,
    OptionRule,
    SubnetRule,
    Value,
)
from clusterdns.plugins.rewrite.rules import (
    NameMatch,
    NameRule,
    NumberRule,
    OwnerRewrite,
    RcodeRewrite,
    ReplyRule,
    ResponseRule,
    Rewrite,
    Rule,
    TtlRewrite,
    ValueRewrite,
    regex_rewriter,
    suffix_answers,
)

_KINDS = ("exact", "prefix", "suffix", "substring", "regex")
_MAX_REGEX = 10000  # CoreDNS's maxRegexpLen
_MAX_TTL = 2147483647
# miekg/dns's StringToClass
_CLASSES = {"IN": CLASS.IN, "CS": 2, "CH": CLASS.CH, "HS": 4, "NONE": 254, "ANY": 255}
_ACTIONS = (SET, APPEND, REPLACE, UNSET)
_UNKNOWN_VARIABLES = ("{server_ip}", "{server_port}")


class _Error(ConfigError):
    """A rule that does not parse (the setup names the line)."""


def setup(node: Directive, block: Origins) -> Rewrite:
    args = list(node.args)
    if node.block:
        if len(args) >= 2:
            raise fail(node.block[0], "rewrite: a rule written on its line takes no block")
        for option in node.block:
            if option.block:
                raise fail(option, "rewrite: a rule's block holds no blocks")
            args += (option.name, *option.args)
    try:
        rule = _rule(args)
    except _Error as error:
        raise fail(node, f"rewrite: {error}") from None
    if isinstance(rule, OptionRule) and rule.action != UNSET:  # (the code a reply echoes)
        return Rewrite((rule,), frozenset((rule.code,)))
    return Rewrite((rule,))


def _merge(first: Rewrite, second: Rewrite) -> Rewrite:
    return Rewrite(first.rules + second.rules, first.echoed | second.echoed)


REWRITE = Plugin("rewrite", setup, merge=_merge)


def _rule(args: list[str]) -> Rule:
    if not args:
        raise _Error("no rule type specified")
    stop = True
    if args[0].lower() in ("continue", "stop"):
        stop = args[0].lower() == "stop"
        if len(args) < 2:
            raise _Error(f"{args[0].lower()} rule must begin with a rule type")
        args = args[1:]
    field, rest = args[0].lower(), args[1:]
    if field == "answer":
        raise _Error("response rewrites must begin with a name rule")
    if field == "name":
        return _name_rule(stop, rest)
    if field in ("type", "class"):
        if len(rest) != 2:
            raise _Error(f"{field} rules must have exactly two arguments")
        table = _CLASSES if field == "class" else QTYPE.reverse
        old, new = (table.get(arg.upper()) for arg in rest)
        for arg, value in zip(rest, (old, new), strict=True):
            if value is None:
                raise _Error(f"invalid {field} {arg.upper()!r}")
        assert old is not None and new is not None
        return NumberRule(stop, "qclass" if field == "class" else "qtype", old, new)
    if field == "ttl":
        return _ttl_rule(stop, rest)
    if field == "rcode":
        return _rcode_rule(stop, rest)
    if field == "edns0":
        return _edns0_rule(stop, rest)
    if field == "cname":
        return _cname_rule(stop, rest)
    raise _Error(f"invalid rule type {args[0]!r}")


def _normalized(name: str) -> str:
    """CoreDNS's plugin.Name(...).Normalize(): lower case, absolute."""
    name = name.lower()
    return name if name.endswith(".") else name + "."


def _regex(text: str, template: str) -> re.Pattern[str]:
    """isValidRegexPattern: a pattern of at most 10000 characters with as many groups as
    `template` uses."""
    if len(text) > _MAX_REGEX:
        raise _Error(f"regex pattern too long: {len(text)} > {_MAX_REGEX}")
    try:
        pattern = re.compile(text)
    except re.error:
        raise _Error(f"invalid regex matching pattern: {text}") from None
    used = sum("{" + str(index) + "}" in template for index in range(101))
    if used > pattern.groups:
        raise _Error(
            f"the rewrite regex pattern ({template}) uses more subexpressions than its "
            f"corresponding matching regex pattern ({text})"
        )
    return pattern


def _match(kind: str, text: str, rule: str) -> NameMatch:
    if kind == "regex":
        if len(text) > _MAX_REGEX:
            raise _Error(f"regex pattern too long in a {rule} rule: {len(text)} > {_MAX_REGEX}")
        try:
            return NameMatch(kind, text, re.compile(text))
        except re.error:
            raise _Error(f"invalid regex pattern in a {rule} rule: {text}") from None
    if kind not in _KINDS:
        raise _Error(f"{rule} rule supports only exact, prefix, suffix, substring, and regex "
                     "name matching")  # fmt: skip
    return NameMatch(kind, _normalized(text))


def _name_rule(stop: bool, args: list[str]) -> NameRule:
    if len(args) < 2:
        raise _Error("too few arguments for a name rule")
    kind, old, new = ("exact", *args) if len(args) == 2 else (args[0].lower(), *args[1:3])
    if kind not in _KINDS:
        raise _Error(
            "name rule supports only exact, prefix, suffix, substring, and regex name "
            f"matching, received: {kind}"
        )
    auto, answers = _answer_rules(kind, args[3:]) if len(args) > 3 else (False, ())
    if kind == "regex":
        return NameRule(stop, NameMatch(kind, old, _regex(old, new)), _normalized(new), auto,
                        answers)  # fmt: skip
    old, new = _normalized(old), _normalized(new)
    if kind == "suffix" and auto:  # mapped back by the suffixes themselves, not per query
        return NameRule(stop, NameMatch(kind, old), new, False, suffix_answers(old, new) + answers)
    return NameRule(stop, NameMatch(kind, old), new, auto or kind == "exact", answers)


def _answer_rules(kind: str, args: list[str]) -> tuple[bool, tuple[ResponseRule, ...]]:
    """name.go's parseAnswerRules: `answer auto`, `answer name FROM TO`, `answer value FROM
    TO`, the word `answer` optional after the first."""
    if len(args) < 2:
        raise _Error(f"invalid arguments for {kind} rule")
    auto, rules, names, at, last = False, list[ResponseRule](), 0, 0, ""
    while at < len(args):
        if not last and args[at] != "answer":
            raise _Error(
                f"exceeded the number of arguments for a non-answer rule argument for {kind} rule"
            )
        if args[at] == "answer":
            at += 1
        if at == len(args):
            raise _Error(f"type missing for answer rule for {kind} rule")
        last = args[at]
        at += 1
        if last == "auto":
            auto = True
            continue
        if last not in ("name", "value"):
            raise _Error(f"invalid type {last!r} for answer rule for {kind} rule")
        if len(args) - at < 2:
            raise _Error(f"{last} answer rule for {kind} rule: 2 arguments required")
        old, new = args[at], args[at + 1]
        try:
            pattern = _regex(old, new)
        except _Error as error:
            raise _Error(f"{last} answer rule for {kind} rule: {error}") from None
        rewriter = regex_rewriter(pattern, _normalized(new))
        rules.append(OwnerRewrite(rewriter) if last == "name" else ValueRewrite(rewriter))
        names += last == "name"
        at += 2
    if auto and names:
        raise _Error("auto name answer rule cannot be combined with explicit name anwer rules")
    return auto, tuple(rules)


def _ttl_rule(stop: bool, args: list[str]) -> ReplyRule:
    if len(args) < 2:
        raise _Error(f"too few ({len(args)}) arguments for a ttl rule")
    if len(args) > 3:
        raise _Error("many few arguments for a ttl rule")  # (CoreDNS's words)
    text = args[-1]
    bounds = _ttl_range(text)
    if bounds is None:
        raise _Error(f"invalid TTL '{text}' for a ttl rule")
    kind, name = ("exact", args[0]) if len(args) == 2 else (args[0].lower(), args[1])
    return ReplyRule(stop, _match(kind, name, "ttl"), TtlRewrite(*bounds))


def _ttl_range(text: str) -> tuple[int, int] | None:
    """ttl.go's isValidTTL: SECONDS, MIN-MAX, MIN- or -MAX (not "-")."""
    parts = text.split("-")
    if len(parts) > 2 or text == "-" or not all(p.isdigit() for p in parts if p):
        return None
    if len(parts) == 1:
        value = int(parts[0]) if parts[0] else -1
        return (value, value) if 0 <= value <= 0xFFFFFFFF else None
    low = int(parts[0]) if parts[0] else 0
    high = int(parts[1]) if parts[1] else _MAX_TTL
    return (low, high) if low <= high <= 0xFFFFFFFF else None


def _rcode_rule(stop: bool, args: list[str]) -> ReplyRule:
    if len(args) < 3:
        raise _Error(f"too few ({len(args)}) arguments for a rcode rule")
    if len(args) > 4:
        raise _Error("many few arguments for a rcode rule")  # (CoreDNS's words)
    old, new = (_rcode(text, which) for text, which in zip(args[-2:], ("matching", "replacement"),
                                                           strict=True))  # fmt: skip
    kind, name = ("exact", args[0]) if len(args) == 3 else (args[0].lower(), args[1])
    return ReplyRule(stop, _match(kind, name, "rcode"), RcodeRewrite(old, new))


def _rcode(text: str, which: str) -> int:
    if INTEGER.fullmatch(text) and 0 <= int(text) <= 10:
        return int(text)
    code = RCODE_NAMES.get(text.upper())
    if code is None:
        raise _Error(f"invalid {which} RCODE '{text}' for a rcode rule (or an extended rcode, "
                     "which clusterdns does not rewrite)")  # fmt: skip
    return code


def _edns0_rule(stop: bool, args: list[str]) -> Rule:
    """edns0.go's newEdns0Rule."""
    if len(args) < 2:
        raise _Error("too few arguments for an EDNS0 rule")
    kind, action = args[0].lower(), args[1].lower()
    if action not in _ACTIONS:
        raise _Error(f"invalid action: {action!r}")
    if kind not in ("local", "nsid", "subnet"):
        raise _Error(f"invalid rule type {kind!r}")
    if action == UNSET:
        if len(args) != (3 if kind == "local" else 2):
            raise _Error(f"{kind} unset action requires exactly "
                         f"{'two arguments' if kind == 'local' else 'one argument'}")  # fmt: skip
        if kind == "subnet":
            return SubnetRule(stop, action, 0, 0, False)
        return OptionRule(stop, action, _code(args[2]) if kind == "local" else NSID, b"", False)
    revert = args[-1] == "revert"
    if revert:
        args = args[:-1]
    if kind == "nsid":
        if len(args) != 2:
            raise _Error("EDNS0 NSID rules can accept no more than one arg")
        return OptionRule(stop, action, NSID, b"", revert)
    if len(args) != 4:
        raise _Error(f"EDNS0 {kind} rules require three or four args")
    if kind == "subnet":
        v4, v6 = (_uint(text, 16) for text in args[2:])
        if v4 > 32:
            raise _Error(f"invalid IPv4 bit mask length {v4}")
        if v6 > 128:
            raise _Error(f"invalid IPv6 bit mask length {v6}")
        return SubnetRule(stop, action, v4, v6, revert)
    code, data = _code(args[2]), args[3]
    if data.startswith("{") and data.endswith("}"):
        return OptionRule(stop, action, code, _variable(data), revert)
    if data.startswith("0x"):
        try:
            return OptionRule(stop, action, code, bytes.fromhex(data[2:]), revert)
        except ValueError:
            raise _Error(f"invalid hex data {data!r}") from None
    return OptionRule(stop, action, code, data.encode(), revert)


def _uint(text: str, bits: int) -> int:
    """Go's strconv.ParseUint(text, 0, bits): decimal, 0x hex, 0o or 0 octal, 0b binary."""
    octal = len(text) > 1 and text[0] == "0" and text[1].isdigit()
    try:
        value = int(text, 8 if octal else 0)
    except ValueError:
        value = -1
    if text.startswith(("+", "-")) or not 0 <= value < 1 << bits:
        raise _Error(f"invalid number {text!r} (an unsigned {bits}-bit integer)")
    return value


def _code(text: str) -> int:
    return _uint(text, 16)


def _variable(text: str) -> Value:
    """isValidVariable: one of CoreDNS's variables (not the server's address, nor metadata)."""
    found = VARIABLES.get(text)
    if found is not None:
        return found
    if text in _UNKNOWN_VARIABLES:
        raise _Error(f"{text} is not supported: a listener on every address does not know "
                     "which one a query came to")  # fmt: skip
    if METADATA_LABEL.fullmatch(text[1:-1]):
        raise _Error(f"{text}: metadata labels are not supported in rewrite rules (only in "
                     "log formats)")  # fmt: skip
    raise _Error(f"unsupported variable name {text!r}")


def _cname_rule(stop: bool, args: list[str]) -> CnameRule:
    """cname_target.go's newCNAMERule."""
    if len(args) == 3:
        kind, source, target = args[0].lower(), args[1].lower(), args[2].lower()
        if kind not in _KINDS:
            raise _Error(f"unknown cname rewrite type: {kind}")
    elif len(args) == 2:
        kind, source, target = "exact", args[0].lower(), args[1].lower()
    else:
        raise _Error(f"too few ({len(args)}) arguments for a cname rule")
    if kind == "exact":
        return CnameRule(stop, kind, _normalized(source), _normalized(target))
    if kind != "regex":
        return CnameRule(stop, kind, source, target)
    if len(source) > _MAX_REGEX:
        raise _Error(f"regex pattern too long in a cname rule: {len(source)} > {_MAX_REGEX}")
    try:
        return CnameRule(stop, kind, source, target, re.compile(source))
    except re.error as error:
        raise _Error(f"invalid cname rewrite regex pattern: {error}") from None
