"""Corefile syntax: tokens, server blocks and directives, with no meaning attached.

The grammar is CoreDNS's (Caddy v1's Caddyfile): a server block is `KEY [KEY...] {` on one line,
then one directive per line, then `}` on a line of its own. A directive is `name arg...`, and a
`{` ending its line opens a block of nested directives (a plugin's options). Tokens are separated
by whitespace; `"..."` is one token (a backslash escapes only a quote, as in Caddy); `#` starts a
comment outside quotes; `{$NAME}` and `{%NAME%}` in a token become that environment variable.

`import NAME|GLOB` on a line of its own, at the top level or inside any block, is replaced by
the snippet `(NAME) { ... }` defined above it, or by the files the glob matches (relative to the
importing file's folder, in name order; a glob that matches nothing is not an error, a missing
plain file is, as in CoreDNS). An import loop is an error naming the chain; every token keeps
the file and line it was written on, for errors.

Two things Caddy accepts are refused because they are easy to get wrong silently: a `{` that is
not the last token of its line (or a `}` that shares its line), and a Corefile without braces.
What the directives mean is the plugins' setups' business.
"""

from __future__ import annotations

import glob
import logging
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
class Corefile:
    blocks: list[ServerBlock]
    files: tuple[str, ...]  # the files it imported, in the order they were read
    unmatched: tuple[str, ...] = ()  # each import glob that matched no file: where, and it


@dataclass(frozen=True, slots=True)
class _Token:
    text: str  # after environment substitution
    file: str
    line: int
    brace: bool  # an unquoted `{` or `}`: structure, not text


_ENV_REFERENCES = (re.compile(r"\{%([^{}%]+)%\}"), re.compile(r"\{\$([^{}]+)\}"))
_Line = list[_Token]
log = logging.getLogger("clusterdns.config")


def parse_corefile(text: str, filename: str = "Corefile") -> list[ServerBlock]:
    """Parse Corefile text into its server blocks, in order, as the server loads it: an
    import glob that matches nothing is said once per load (start, reload), as CoreDNS's
    Caddy does; `read_corefile` alone (the reload digest's poll) says nothing."""
    corefile = read_corefile(text, filename)
    for unmatched in corefile.unmatched:
        log.warning("%s", unmatched)
    return corefile.blocks


def read_corefile(text: str, filename: str = "Corefile") -> Corefile:
    """Parse Corefile text, its imports done; the blocks and the files imported."""
    imports = _Imports()
    root = _Token("", filename, 0, brace=False)
    lines = imports.expand(_tokenize(text, filename), [(os.path.abspath(filename), root)])
    if not lines:
        raise CorefileError(filename, 1, "empty Corefile: no server blocks")
    return Corefile(_Parser(lines).server_blocks(), tuple(imports.files), tuple(imports.unmatched))


def read_file(path: str) -> str:
    """A Corefile's (or an imported file's) text; CorefileError naming it when unreadable."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except IsADirectoryError:
        raise CorefileError(path, 0, "is a directory, not a Corefile") from None
    except OSError as e:
        raise CorefileError(path, 0, f"cannot read Corefile: {e.strerror or e}") from e
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise CorefileError(path, line, "not UTF-8 text") from e


class _Imports:
    """Splices snippets and imported files in place of `import` lines, recursively."""

    def __init__(self) -> None:
        self.snippets: dict[str, tuple[_Token, list[_Line]]] = {}  # name → (where, body)
        self.files: list[str] = []
        self.unmatched: list[str] = []  # the globs that matched nothing, for a warning

    def expand(self, lines: list[_Line], chain: list[tuple[str, _Token]]) -> list[_Line]:
        """`lines` with snippet definitions taken out and imports replaced. `chain` is the
        imports being expanded (what, and the `import` token), to name a loop."""
        out: list[_Line] = []
        pos = depth = 0
        while pos < len(lines):
            line = lines[pos]
            pos += 1
            first = line[0]
            if not first.brace and first.text == "import":
                out.extend(self._import(line, chain))
                continue
            if depth == 0 and _is_snippet(line):
                name = line[0].text[1:-1]
                pos = self._define(name, line[0], lines, pos)
                continue
            depth += _depth_change(line)
            out.append(line)
        return out

    def _define(self, name: str, at: _Token, lines: list[_Line], pos: int) -> int:
        """Keep the snippet whose `(name) {` line is just before `pos`; where it ends."""
        if name in self.snippets:
            first = self.snippets[name][0]
            where = f"{first.file}:{first.line}"
            raise CorefileError(at.file, at.line, f"snippet ({name}) is already defined at {where}")
        body: list[_Line] = []
        depth = 1
        while pos < len(lines):
            line = lines[pos]
            pos += 1
            depth += _depth_change(line)
            if depth == 0:
                self.snippets[name] = (at, body)
                return pos
            body.append(line)
        raise CorefileError(at.file, at.line, "'{' is never closed: missing '}'")

    def _import(self, line: _Line, chain: list[tuple[str, _Token]]) -> list[_Line]:
        at = line[0]
        if len(line) != 2 or line[1].brace or not line[1].text:
            message = "import takes one argument: a snippet or a file glob"
            raise CorefileError(at.file, at.line, message)
        what = line[1].text
        if what in self.snippets:
            return self._follow(f"snippet ({what})", at, self.snippets[what][1], chain)
        pattern = what if os.path.isabs(what) else os.path.join(os.path.dirname(at.file), what)
        if pattern.count("*") > 1 or pattern.count("?") > 1 or ("[" in pattern and "]" in pattern):
            message = f"import: a glob may hold one wildcard (*), as in CoreDNS: {what}"
            raise CorefileError(at.file, at.line, message)
        matches = sorted(glob.glob(pattern))
        if not matches:
            if any(char in pattern for char in "*?[]"):
                self.unmatched.append(f"{at.file}:{at.line}: no files match the import glob {what}")
                return []
            raise CorefileError(at.file, at.line, f"file to import not found: {what}")
        out: list[_Line] = []
        for path in matches:
            path = os.path.abspath(path)
            self.files.append(path)
            out.extend(self._follow(path, at, _tokenize(read_file(path), path), chain))
        return out

    def _follow(
        self, what: str, at: _Token, lines: list[_Line], chain: list[tuple[str, _Token]]
    ) -> list[_Line]:
        if any(seen == what for seen, _ in chain):
            loop = [*chain, (what, at)]
            start = next(i for i, (seen, _) in enumerate(loop) if seen == what)
            steps = ", ".join(f"{t.file}:{t.line} imports {w}" for w, t in loop[max(start, 1) :])
            raise CorefileError(at.file, at.line, f"import loop: {steps}")
        return self.expand(lines, [*chain, (what, at)])


def _is_snippet(line: _Line) -> bool:
    """`(name) {`: a snippet definition, not a server block."""
    key = line[0].text
    return len(line) == 2 and line[1].brace and key.startswith("(") and key.endswith(")")


def _depth_change(line: _Line) -> int:
    """How a line moves the block depth: `}` alone closes, a trailing `{` opens."""
    if line[0].brace and line[0].text == "}":
        return -1
    return 1 if line[-1].brace and line[-1].text == "{" else 0


def _substitute(text: str) -> str:
    # Unset variables become empty strings, as in CoreDNS.
    for pattern in _ENV_REFERENCES:
        text = pattern.sub(lambda m: os.environ.get(m[1], ""), text)
    return text


def _tokenize(text: str, file: str) -> list[_Line]:
    """Split text into logical lines of tokens; blank and comment-only lines are dropped."""
    text = text.removeprefix("\ufeff")
    lines: list[_Line] = []
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
            current.append(_Token(_substitute(value), file, line, brace=False))
            line = end_line
        else:
            start = pos
            while pos < len(text) and not text[pos].isspace() and text[pos] != "#":
                pos += 1
            raw = text[start:pos]
            current.append(_Token(_substitute(raw), file, line, brace=raw in ("{", "}")))
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
    def __init__(self, lines: list[_Line]) -> None:
        self.lines = lines
        self.pos = 0

    def error(self, token: _Token, message: str) -> CorefileError:
        return CorefileError(token.file, token.line, message)

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
        if not self.opens_block(line):
            raise self.error(
                first, f"'{first.text}' is outside any server block (one starts with 'KEYS {{')"
            )
        # A trailing comma separates keys too ("a, b {"); Caddy drops empty keys.
        keys = tuple(key for token in line[:-1] for key in token.text.split(",") if key)
        if not keys:
            raise self.error(first, "server block has no keys")
        return ServerBlock(keys, self.body(line[-1]), first.file, first.line)

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
        block = self.body(line[-1]) if has_block else ()
        args = tuple(token.text for token in words[1:])
        return Directive(name.text, args, block, name.file, name.line)

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
