"""The rewrite rules as CoreDNS 1.14 runs them (plugin/rewrite: rewrite.go, name.go, type.go,
class.go, ttl.go, rcode.go; edns0.go and cname_target.go in their own modules).

Rules are tried in the Corefile's order on the query as the rules before left it (its
question and its OPT's options): a rule that acts changes it and gives the response rules
its reply needs. A `stop` rule (the default) that acts ends the list; `continue` goes on.
Names are matched lower case and absolute, as CoreDNS's `state.Name()`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import NamedTuple, Protocol

from dnslib import RR, DNSLabel, DNSRecord

from clusterdns.dns.message import EdnsOption
from clusterdns.dns.packet import name_wire, options_of, question_end, with_options
from clusterdns.dns.request import HEADER_SIZE, Request

NameRewriter = Callable[[str], str]  # a name (absolute) mapped to another, or kept


@dataclass(frozen=True, slots=True)
class Question:
    name: str  # lower case, absolute
    qtype: int
    qclass: int

    def wire(self) -> bytes:
        """The question section: name, type and class."""
        return name_wire(self.name) + self.qtype.to_bytes(2) + self.qclass.to_bytes(2)


@dataclass(frozen=True, slots=True)
class State:
    """What the rules change in a query: its question, and its OPT's options (None: it has
    no OPT)."""

    question: Question
    options: tuple[EdnsOption, ...] | None


@dataclass(frozen=True, slots=True)
class EdnsRevert:
    """An EDNS0 rule's `revert`: the option `code` as the query had it before the rule
    (`old` None: it had none), restored in what the reply echoes of the query's options."""

    code: int
    old: bytes | None


class Retarget(Protocol):
    """A `cname` rule on the reply: the new target of a CNAME, or None to keep it."""

    def new_target(self, target: str) -> str | None: ...


class Applied(NamedTuple):
    """What a rule did: the query as it leaves it, what the reply needs (response rules,
    EDNS0 reverts, CNAME retargets), and whether it acted (CoreDNS's RewriteDone; an EDNS0
    rule that did not may still have given the query an OPT)."""

    state: State
    responses: tuple[ResponseRule, ...] = ()
    done: bool = True
    reverts: tuple[EdnsRevert, ...] = ()
    targets: tuple[Retarget, ...] = ()


def valid_name(name: str) -> bool:
    """miekg/dns's IsDomainName for a name without escapes: labels of 1 to 63 bytes, 255
    bytes in all."""
    if name == ".":
        return True
    labels = name.removesuffix(".").split(".")
    size = sum(len(label.encode()) + 1 for label in labels) + 1
    return all(0 < len(label.encode()) <= 63 for label in labels) and size <= 255


# -- the reply ---------------------------------------------------------------------------


class ResponseRule(Protocol):
    def on_record(self, record: DNSRecord, rr: RR) -> None:
        """Rewrite one record of the reply (of any section but the OPT)."""
        ...

    def on_message(self, record: DNSRecord) -> None:
        """Rewrite the message itself (its rcode), once per reply."""
        ...


# Where each type holds the name `answer value` rewrites (reverter.go's getRecordValue)
_VALUES = {5: "label", 39: "label", 6: "mname", 33: "target", 15: "label", 35: "replacement",
           2: "label", 12: "label"}  # fmt: skip


class _RecordRule:
    """A response rule on records alone."""

    __slots__ = ()

    def on_message(self, record: DNSRecord) -> None:
        pass


@dataclass(frozen=True, slots=True)
class OwnerRewrite(_RecordRule):
    """`answer name` (and auto): owner names mapped."""

    rewrite: NameRewriter

    def on_record(self, record: DNSRecord, rr: RR) -> None:
        name = str(rr.rname)
        new = self.rewrite(name)
        if new != name:
            rr.rname = DNSLabel(new)


@dataclass(frozen=True, slots=True)
class ValueRewrite(_RecordRule):
    """`answer value` (and auto): the name in a CNAME, DNAME, SOA, SRV, MX, NAPTR, NS or
    PTR record mapped."""

    rewrite: NameRewriter

    def on_record(self, record: DNSRecord, rr: RR) -> None:
        field = _VALUES.get(rr.rtype)
        value = getattr(rr.rdata, field, None) if field else None
        if isinstance(value, DNSLabel):
            new = self.rewrite(str(value))
            if new != str(value):
                setattr(rr.rdata, field, DNSLabel(new))  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class TtlRewrite(_RecordRule):
    """`ttl`: every TTL brought into low..high."""

    low: int
    high: int

    def on_record(self, record: DNSRecord, rr: RR) -> None:
        rr.ttl = min(max(rr.ttl, self.low), self.high)


@dataclass(frozen=True, slots=True)
class RcodeRewrite:
    """`rcode`: the reply's rcode `old` becomes `new` (once per reply: CoreDNS's per record
    or once is the same)."""

    old: int
    new: int

    def on_record(self, record: DNSRecord, rr: RR) -> None:
        pass

    def on_message(self, record: DNSRecord) -> None:
        if record.header.rcode == self.old:
            record.header.rcode = self.new


def regex_rewriter(pattern: re.Pattern[str], template: str) -> NameRewriter:
    """A name that `pattern` finds something in becomes `template` with `{N}` filled by the
    Nth group (regexStringRewriter); other names are kept."""

    def rewrite(name: str) -> str:
        found = pattern.search(name)
        return name if found is None else expand(found, template)

    return rewrite


def expand(found: re.Match[str], template: str) -> str:
    groups = (found.group(0), *found.groups())
    for index, value in enumerate(groups):
        template = template.replace("{" + str(index) + "}", value or "")
    return template


def _remap(original: str, replacement: str) -> NameRewriter:
    """`original` and its subdomains onto `replacement` (remapStringRewriter)."""

    def rewrite(name: str) -> str:
        if name == original:
            return replacement
        cut = len(name) - len(original)
        if cut > 0 and name[cut - 1] == "." and name[cut:] == original:
            return name[:cut] + replacement
        return name

    return rewrite


def _suffix(suffix: str, replacement: str) -> NameRewriter:
    def rewrite(name: str) -> str:
        return name[: -len(suffix)] + replacement if name.endswith(suffix) else name

    return rewrite


# -- the request -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NameMatch:
    """How a rule finds the question's name: exact, prefix, suffix, substring or regex."""

    kind: str
    text: str  # normalized as CoreDNS does (lower case, absolute) but for a regex
    pattern: re.Pattern[str] | None = None

    def finds(self, name: str) -> bool:
        kind, text = self.kind, self.text
        if kind == "exact":
            return name == text
        if kind == "prefix":
            return name.startswith(text)
        if kind == "suffix":
            return name.endswith(text)
        if kind == "substring":
            return text in name
        assert self.pattern is not None
        return self.pattern.search(name) is not None


class Rule(Protocol):
    @property
    def stop(self) -> bool:
        """Whether a rule that acts ends the rules (`stop`, the default) or not (`continue`)."""
        ...

    def matches(self, question: Question) -> bool:
        """Whether it may act on a query asking `question` (then `apply` is asked)."""
        ...

    def apply(self, state: State, request: Request) -> Applied:
        """What this (matching) rule does to the query (`request`: the client's)."""
        ...


@dataclass(frozen=True, slots=True)
class NameRule:
    stop: bool
    match: NameMatch
    replacement: str  # the new name; a regex's with {N} groups
    auto: bool  # the reply mapped back from the new name to the asked one
    answers: tuple[ResponseRule, ...]  # `answer name|value` (and a suffix's auto)

    def matches(self, question: Question) -> bool:
        return self.match.finds(question.name)

    def apply(self, state: State, request: Request) -> Applied:
        question = state.question
        name, kind, text = question.name, self.match.kind, self.match.text
        if kind == "exact":
            new = self.replacement
        elif kind == "prefix":
            new = self.replacement + name[len(text) :]
        elif kind == "suffix":
            new = name[: -len(text)] + self.replacement
        elif kind == "substring":
            new = name.replace(text, self.replacement)
        else:
            assert self.match.pattern is not None
            found = self.match.pattern.search(name)
            assert found is not None
            new = expand(found, self.replacement)
        renamed = replace(state, question=replace(question, name=new))
        if not self.auto:
            return Applied(renamed, self.answers)
        back = _remap(new, name)
        return Applied(renamed, (OwnerRewrite(back), ValueRewrite(back), *self.answers))


def suffix_answers(suffix: str, replacement: str) -> tuple[ResponseRule, ...]:
    """A suffix rule's `answer auto`: the replacement suffix mapped back, names and values."""
    back = _suffix(replacement, suffix)
    return OwnerRewrite(back), ValueRewrite(back)


@dataclass(frozen=True, slots=True)
class NumberRule:
    """`type` and `class`: the question's `field` (qtype, qclass) `old` becomes `new`."""

    stop: bool
    field: str
    old: int
    new: int

    def matches(self, question: Question) -> bool:
        number: int = getattr(question, self.field)
        return number == self.old

    def apply(self, state: State, request: Request) -> Applied:
        question = state.question
        if self.field == "qtype":
            return Applied(replace(state, question=replace(question, qtype=self.new)))
        return Applied(replace(state, question=replace(question, qclass=self.new)))


@dataclass(frozen=True, slots=True)
class ReplyRule:
    """`ttl` and `rcode`: a name that matches changes only the reply."""

    stop: bool
    match: NameMatch
    response: ResponseRule

    def matches(self, question: Question) -> bool:
        return self.match.finds(question.name)

    def apply(self, state: State, request: Request) -> Applied:
        return Applied(state, (self.response,))


@dataclass(frozen=True, slots=True)
class Rewritten:
    """What the rules did to one query: the query the chain is asked (None when it is the
    client's), whether its name is one no DNS message can carry (SERVFAIL), and how the
    reply goes back: `revert` (the question restored and `rules` run on it), `targets` (its
    CNAMEs retargeted, their new targets looked up) and `echo` (the options of the query
    our OPT echoes, as CoreDNS's server reuses the query's OPT for a reply without one)."""

    data: bytes | None
    invalid: bool = False
    revert: bool = False
    rules: tuple[ResponseRule, ...] = ()
    targets: tuple[Retarget, ...] = ()
    echo: tuple[EdnsOption, ...] = ()


INVALID = Rewritten(None, invalid=True)


@dataclass(frozen=True, slots=True)
class Rewrite:
    """The block's rules, in the Corefile's order, and the option codes its EDNS0 rules put
    in queries (the ones a reply echoes: CoreDNS's edns.SetSupportedOption, and NSID)."""

    rules: tuple[Rule, ...]
    echoed: frozenset[int] = frozenset()

    def matches(self, name: str, qtype: int, qclass: int) -> bool:
        """Whether a rule may act on this question (no rule can act on a later one
        otherwise)."""
        question = Question(name, qtype, qclass)
        return any(rule.matches(question) for rule in self.rules)

    def rewrite(self, request: Request) -> Rewritten | None:
        """The rules run on a query; None when none changes it or its reply."""
        data = request.data
        asked = Question(request.name, request.qtype, request.qclass)
        original = state = State(asked, None if request.edns_size is None else options_of(data))
        responses: list[ResponseRule] = []
        reverts: list[EdnsRevert] = []
        targets: list[Retarget] = []
        done = stopped = False
        for rule in self.rules:
            if not rule.matches(state.question):
                continue
            applied = rule.apply(state, request)
            state = applied.state
            if not applied.done:
                continue
            done = True
            if not valid_name(state.question.name):
                return INVALID
            responses += applied.responses
            reverts += applied.reverts
            targets += applied.targets
            if rule.stop:
                stopped = True
                break
        if not done and state == original:
            return None
        if state.question != asked:
            data = data[:HEADER_SIZE] + state.question.wire() + data[question_end(data) :]
        if state.options != original.options:
            data = with_options(data, state.options or ())
        # as rewrite.go: the reply is reverted after a `stop` rule, or when a rule gave it
        # rules; after `continue` rules alone it keeps the question they made
        return Rewritten(
            data if state != original else None, False,
            stopped or bool(responses or reverts or targets), tuple(responses),
            tuple(targets), self._echo(state.options, reverts),
        )  # fmt: skip

    def _echo(
        self, options: tuple[EdnsOption, ...] | None, reverts: list[EdnsRevert]
    ) -> tuple[EdnsOption, ...]:
        """The options the reply's OPT echoes: the query's, `revert`s undone (the last
        first), of the codes the rules set (reverter.go's writeWithRevertedRequestExtra,
        then the server's SizeAndDo)."""
        if not self.echoed or not options:
            return ()
        kept = list(options)
        for revert in reversed(reverts):
            at = next((i for i, (code, _) in enumerate(kept) if code == revert.code), None)
            if at is not None:
                if revert.old is None:
                    del kept[at]
                else:
                    kept[at] = (revert.code, revert.old)
        return tuple(option for option in kept if option[0] in self.echoed)
