"""Corefile syntax: tokens, server blocks and directives, with no meaning attached.

The grammar is CoreDNS's (Caddy v1's Caddyfile): a server block is `KEY [KEY...] {` on one line,
then one directive per line, then `}` on a line of its own. A directive is `name arg...`, and a
`{` ending its line opens a block of nested directives (a plugin's options). Tokens are separated
by whitespace; `"..."` is one token (a backslash escapes only a quote, as in Caddy); `#` starts a
comment outside quotes; `{$NAME}` and `{%NAME%}` in a token become that environment variable.

Two things Caddy accepts are refused because they are easy to get wrong silently: a `{` that is
not the last token of its line (or a `}` that shares its line), and a Corefile without braces.
`import` and snippets are not supported. What the directives mean is `config.py`'s business.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from clusterdns.errors import ConfigError


class CorefileError(ConfigError):
    """A Corefile is malformed or means something we do not support; names the file and line."""

    def __init__(self, file: str, line: int, message: str) -> None:
        super().__init__(f"{file}:{line}: {message}")
        self.file = file
        self.line = line
        self.message = message


@dataclass(frozen=True, slots=True)
class Directive:
    name: str
    args: tuple[str, ...]
    block: tuple[Directive, ...]  # the nested directives of a `{ ... }` block, if any
    file: str
    line: int


@dataclass(frozen=True, slots=True)
class ServerBlock:
    keys: tuple[str, ...]
    directives: tuple[Directive, ...]
    file: str
    line: int


@dataclass(frozen=True, slots=True)
class _Token:
    text: str  # after environment substitution
    line: int
    brace: bool  # an unquoted `{` or `}`: structure, not text


_ENV_REFERENCES = (re.compile(r"\{%([^{}%]+)%\}"), re.compile(r"\{\$([^{}]+)\}"))


def parse_corefile(text: str, filename: str = "Corefile") -> list[ServerBlock]:
    """Parse Corefile text into its server blocks, in order."""
    lines = _tokenize(text, filename)
    if not lines:
        raise CorefileError(filename, 1, "empty Corefile: no server blocks")
    return _Parser(lines, filename).server_blocks()


def _substitute(text: str) -> str:
    # Unset variables become empty strings, as in CoreDNS.
    for pattern in _ENV_REFERENCES:
        text = pattern.sub(lambda m: os.environ.get(m[1], ""), text)
    return text


def _tokenize(text: str, file: str) -> list[list[_Token]]:
    """Split text into logical lines of tokens; blank and comment-only lines are dropped."""
    text = text.removeprefix("\ufeff")
    lines: list[list[_Token]] = []
    current: list[_Token] = []
    pos, line = 0, 1
    while pos < len(text):
        char = text[pos]
        if char == "\n":
            if current:
                lines.append(current)
                current = []
            line += 1
            pos += 1
        elif char.isspace():
            pos += 1
        elif char == "#":
            end = text.find("\n", pos)
            pos = len(text) if end < 0 else end
        elif char == '"':
            value, pos, end_line = _read_quoted(text, pos, line, file)
            current.append(_Token(_substitute(value), line, brace=False))
            line = end_line
        else:
            start = pos
            while pos < len(text) and not text[pos].isspace() and text[pos] != "#":
                pos += 1
            raw = text[start:pos]
            current.append(_Token(_substitute(raw), line, brace=raw in ("{", "}")))
    if current:
        lines.append(current)
    return lines


def _read_quoted(text: str, start: int, line: int, file: str) -> tuple[str, int, int]:
    """Read the quoted token at text[start]; return its value, the end position and end line."""
    chars: list[str] = []
    pos, end_line = start + 1, line
    while pos < len(text):
        char = text[pos]
        if char == "\\" and text.startswith('"', pos + 1):
            chars.append('"')
            pos += 2
            continue
        if char == '"':
            return "".join(chars), pos + 1, end_line
        if char == "\n":
            end_line += 1
        chars.append(char)
        pos += 1
    raise CorefileError(file, line, "unterminated quoted string")


class _Parser:
    def __init__(self, lines: list[list[_Token]], file: str) -> None:
        self.lines = lines
        self.file = file
        self.pos = 0

    def error(self, token: _Token, message: str) -> CorefileError:
        return CorefileError(self.file, token.line, message)

    def server_blocks(self) -> list[ServerBlock]:
        blocks = []
        while self.pos < len(self.lines):
            line = self.lines[self.pos]
            self.pos += 1
            blocks.append(self.server_block(line))
        return blocks

    def server_block(self, line: list[_Token]) -> ServerBlock:
        first = line[0]
        if first.brace and first.text == "}":
            raise self.error(first, "unexpected '}': no block is open")
        if first.text == "import":
            raise self.error(first, "import is not supported")
        if not self.opens_block(line):
            raise self.error(
                first, f"'{first.text}' is outside any server block (one starts with 'KEYS {{')"
            )
        # A trailing comma separates keys too ("a, b {"); Caddy drops empty keys.
        keys = tuple(key for token in line[:-1] for key in token.text.split(",") if key)
        if not keys:
            raise self.error(first, "server block has no keys")
        if len(keys) == 1 and keys[0].startswith("(") and keys[0].endswith(")"):
            raise self.error(first, "snippets are not supported")
        return ServerBlock(keys, self.body(line[-1]), self.file, first.line)

    def body(self, opener: _Token) -> tuple[Directive, ...]:
        """Read directives up to the `}` closing the block that `opener` opened."""
        directives: list[Directive] = []
        while self.pos < len(self.lines):
            line = self.lines[self.pos]
            self.pos += 1
            if line[0].brace and line[0].text == "}":
                if len(line) > 1:
                    raise self.error(line[1], "'}' must be on a line of its own")
                return tuple(directives)
            directives.append(self.directive(line))
        raise self.error(opener, "'{' is never closed: missing '}'")

    def directive(self, line: list[_Token]) -> Directive:
        has_block = self.opens_block(line)
        words = line[:-1] if has_block else line
        if not words:
            raise self.error(line[0], "'{' must follow a directive name on the same line")
        name = words[0]
        if name.text == "import":
            raise self.error(name, "import is not supported")
        block = self.body(line[-1]) if has_block else ()
        args = tuple(token.text for token in words[1:])
        return Directive(name.text, args, block, self.file, name.line)

    def opens_block(self, line: list[_Token]) -> bool:
        """Whether the line ends with `{`; braces anywhere else on it are errors."""
        for token in line[:-1]:
            self.check_not_brace(token)
        last = line[-1]
        if last.brace and last.text == "{":
            return True
        self.check_not_brace(last)
        return False

    def check_not_brace(self, token: _Token) -> None:
        if token.brace:
            if token.text == "{":
                raise self.error(token, "'{' must be the last token of its line")
            raise self.error(token, "'}' must be on a line of its own")
