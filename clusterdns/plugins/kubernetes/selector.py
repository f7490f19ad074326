"""Kubernetes label selectors, as the `labels` and `namespace_labels` options write them.

The grammar is apimachinery's (`labels.Parse`) as CoreDNS accepts it through
`meta.ParseToLabelSelector`: requirements joined by commas, each `key`, `!key`, `key=value`,
`key==value`, `key!=value`, `key in (v1, v2)` or `key notin (v1, v2)`; all must hold. Keys
are qualified names (an optional DNS subdomain prefix and `/`), values at most 63 characters
of letters, digits, `-`, `_` and `.`. The `>` and `<` of `labels.Parse` are refused, as
CoreDNS's `ParseToLabelSelector` refuses them.

A live cluster filters on the API server (the selector's `query` goes into every LIST and
WATCH, so an object whose labels stop matching is deleted from the watch); a snapshot is
filtered here (`matches`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from clusterdns.errors import ConfigError

_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
_NAME_PART = re.compile(_NAME)
_PREFIX = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_VALUE = re.compile(f"({_NAME})?")
# a token: an operator, a parenthesis, a comma, or a run of anything else but spaces
_TOKENS = re.compile(r"\s*(==|!=|=|\(|\)|,|!|[^\s=!(),]+)")

IN, NOT_IN, EXISTS, ABSENT = "in", "notin", "exists", "!"


class SelectorError(ConfigError):
    """The selector text does not parse; the message says where."""


@dataclass(frozen=True, slots=True)
class Requirement:
    key: str
    operator: str  # IN, NOT_IN, EXISTS or ABSENT
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator == EXISTS:
            return self.key in labels
        if self.operator == ABSENT:
            return self.key not in labels
        value = labels.get(self.key)
        if self.operator == IN:
            return value is not None and value in self.values
        return value is None or value not in self.values  # NOT_IN, as apimachinery's

    def text(self) -> str:
        if self.operator == EXISTS:
            return self.key
        if self.operator == ABSENT:
            return f"!{self.key}"
        return f"{self.key} {self.operator} ({','.join(self.values)})"


@dataclass(frozen=True, slots=True)
class Selector:
    requirements: tuple[Requirement, ...]

    @property
    def query(self) -> str:
        """The selector as the API server's `labelSelector` parameter takes it."""
        return ",".join(requirement.text() for requirement in self.requirements)

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(requirement.matches(labels) for requirement in self.requirements)


def parse_selector(text: str) -> Selector:
    """Raises SelectorError naming what is wrong."""
    tokens = _tokenize(text)
    requirements: list[Requirement] = []
    pos = 0
    while True:
        requirement, pos = _requirement(tokens, pos, text)
        requirements.append(requirement)
        if pos == len(tokens):
            return Selector(tuple(requirements))
        if tokens[pos] != ",":
            raise SelectorError(f"'{text}': expected ',' before '{tokens[pos]}'")
        pos += 1


def _tokenize(text: str) -> list[str]:
    tokens, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKENS.match(text, pos)
        if match is None:  # only spaces left: rstrip took them
            break
        tokens.append(match.group(1))
        pos = match.end()
    if not tokens:
        raise SelectorError("an empty label selector")
    return tokens


def _requirement(tokens: list[str], pos: int, text: str) -> tuple[Requirement, int]:
    if _at(tokens, pos, text) == "!":
        key = _key(_at(tokens, pos + 1, text), text)
        return Requirement(key, ABSENT), pos + 2
    key = _key(tokens[pos], text)
    pos += 1
    if pos == len(tokens) or tokens[pos] == ",":
        return Requirement(key, EXISTS), pos
    operator = tokens[pos]
    if operator in ("=", "==", "!="):
        after = tokens[pos + 1] if pos + 1 < len(tokens) else ","
        value, pos = ("", pos + 1) if after == "," else (_value(after, text), pos + 2)
        return Requirement(key, IN if operator != "!=" else NOT_IN, (value,)), pos
    if operator.startswith((">", "<")):
        raise SelectorError(f"'{text}': '>' and '<' are not supported in label selectors")
    if operator in (IN, NOT_IN):
        if _at(tokens, pos + 1, text) != "(":
            raise SelectorError(f"'{text}': expected '(' after '{key} {operator}'")
        values, pos = _values(tokens, pos + 2, text)
        return Requirement(key, operator, values), pos
    raise SelectorError(f"'{text}': unknown operator '{operator}' after '{key}'")


def _values(tokens: list[str], pos: int, text: str) -> tuple[tuple[str, ...], int]:
    """`v1, v2 )` → the values and the position after the parenthesis."""
    values: list[str] = []
    expect_value = True  # `()`, `(,a)` and `(a,)` hold the empty value, as apimachinery reads them
    while True:
        token = _at(tokens, pos, text)
        if token == ")":
            if expect_value:
                values.append("")
            return tuple(sorted(set(values))), pos + 1  # a set, written sorted as apimachinery
        if token == ",":
            if expect_value:
                values.append("")
            expect_value = True
        elif expect_value:
            values.append(_value(token, text))
            expect_value = False
        else:
            raise SelectorError(f"'{text}': expected ',' or ')' before '{token}'")
        pos += 1


def _at(tokens: list[str], pos: int, text: str) -> str:
    if pos >= len(tokens):
        raise SelectorError(f"'{text}': incomplete")
    return tokens[pos]


def _key(token: str, text: str) -> str:
    if ">" in token or "<" in token:
        raise SelectorError(f"'{text}': '>' and '<' are not supported in label selectors")
    prefix, slash, name = token.rpartition("/")
    valid = (
        len(name) <= 63
        and _NAME_PART.fullmatch(name) is not None
        and (not slash or (0 < len(prefix) <= 253 and _PREFIX.fullmatch(prefix) is not None))
    )
    if not valid:
        raise SelectorError(f"'{text}': '{token}' is not a valid label key")
    return token


def _value(token: str, text: str) -> str:
    if len(token) > 63 or _VALUE.fullmatch(token) is None:
        raise SelectorError(f"'{text}': '{token}' is not a valid label value")
    return token
