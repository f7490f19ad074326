"""Corefile syntax: tokens, blocks, comments, quotes, environment variables and syntax errors."""

from __future__ import annotations

import pytest

from clusterdns.config.corefile import CorefileError, Directive, ServerBlock, parse_corefile
from clusterdns.errors import ConfigError
from clusterdns.server.directives import DEFAULT_COREFILE


def only_block(text: str) -> ServerBlock:
    (block,) = parse_corefile(text)
    return block


def args_of(text: str) -> tuple[str, ...]:
    """The arguments of the single directive in a one-block Corefile."""
    (directive,) = only_block(text).directives
    return directive.args


def test_kubeadm_corefile_structure() -> None:
    block = only_block(DEFAULT_COREFILE)
    assert block.keys == (".:53",)
    assert (block.file, block.line) == ("Corefile", 1)
    names = [d.name for d in block.directives]
    assert names == [
        "errors", "health", "ready", "kubernetes", "prometheus", "forward",
        "cache", "loop", "reload", "loadbalance",
    ]  # fmt: skip
    kubernetes = block.directives[3]
    assert kubernetes.args == ("cluster.local", "in-addr.arpa", "ip6.arpa")
    assert kubernetes.line == 7
    assert kubernetes.block == (
        Directive("pods", ("insecure",), (), "Corefile", 8),
        Directive("fallthrough", ("in-addr.arpa", "ip6.arpa"), (), "Corefile", 9),
        Directive("ttl", ("30",), (), "Corefile", 10),
    )
    cache = block.directives[6]
    assert [(d.name, d.args, d.line) for d in cache.block] == [
        ("disable", ("success", "cluster.local"), 17),
        ("disable", ("denial", "cluster.local"), 18),
    ]


@pytest.mark.parametrize(
    ("opening", "keys"),
    [
        (".:53 {", (".:53",)),
        ("cluster.local:53 {", ("cluster.local:53",)),
        ("dns://.:53 {", ("dns://.:53",)),
        ("acme.local {", ("acme.local",)),
        ("10.0.0.0/8:53 {", ("10.0.0.0/8:53",)),
        ("a.local b.local:53 {", ("a.local", "b.local:53")),
        ("a.local, b.local {", ("a.local", "b.local")),
        ("a.local,b.local {", ("a.local", "b.local")),
    ],
)
def test_server_block_keys(opening: str, keys: tuple[str, ...]) -> None:
    assert only_block(f"{opening}\n  errors\n}}\n").keys == keys


def test_several_blocks_keep_order_and_lines() -> None:
    text = "# two servers\n.:53 {\n  errors\n}\n\ncluster.local:5353 {\n  log\n  loop\n}\n"
    first, second = parse_corefile(text, "conf/Corefile")
    assert (first.keys, first.line, first.file) == ((".:53",), 2, "conf/Corefile")
    assert (second.keys, second.line) == (("cluster.local:5353",), 6)
    assert [(d.name, d.line) for d in second.directives] == [("log", 7), ("loop", 8)]


def test_empty_block_and_empty_directive_block() -> None:
    block = only_block(".:53 {\n  health {\n  }\n}\n")
    assert block.directives == (Directive("health", (), (), "Corefile", 2),)
    assert only_block(".:53 {\n}\n").directives == ()


def test_nested_blocks_nest() -> None:
    (outer,) = only_block(".:53 {\n  a {\n    b 1 {\n      c 2 3\n    }\n  }\n}\n").directives
    (inner,) = outer.block
    assert (inner.name, inner.args, inner.line) == ("b", ("1",), 3)
    assert inner.block == (Directive("c", ("2", "3"), (), "Corefile", 4),)


@pytest.mark.parametrize(
    ("line", "args"),
    [
        ("forward . 8.8.8.8 # upstream", (".", "8.8.8.8")),
        ("forward . 8.8.8.8#upstream", (".", "8.8.8.8")),  # as Caddy: '#' ends the token
        ('forward "a b" c', ("a b", "c")),
        ('forward "say \\"hi\\""', ('say "hi"',)),
        ('forward "C:\\dir"', ("C:\\dir",)),  # only a quote is escaped
        ('forward "" x', ("", "x")),
        ('forward "#not a comment"', ("#not a comment",)),
        ('forward "a"b', ("a", "b")),
        ('forward x"y"', ('x"y"',)),  # a quote inside a token is literal
        ('forward "{" "}"', ("{", "}")),  # quoted braces are text
        ("forward a\tb", ("a", "b")),
        ("forward foo{ }bar", ("foo{", "}bar")),  # braces count only as whole tokens
    ],
)
def test_tokens(line: str, args: tuple[str, ...]) -> None:
    assert args_of(f".:53 {{\n  {line}\n}}\n") == args


def test_comments_and_blank_lines_are_skipped() -> None:
    text = "# header\n\n.:53 { # the root\n  # nothing\n\n  errors   # log them\n}\n# trailer\n"
    block = only_block(text)
    assert block.line == 3
    assert [(d.name, d.args, d.line) for d in block.directives] == [("errors", (), 6)]


def test_quoted_string_across_lines_keeps_line_numbers() -> None:
    block = only_block('.:53 {\n  log "one\ntwo" three\n  errors\n}\n')
    log, errors = block.directives
    assert (log.args, log.line) == (("one\ntwo", "three"), 2)
    assert errors.line == 4


def test_crlf_and_byte_order_mark() -> None:
    block = only_block("\ufeff.:53 {\r\n  errors\r\n}\r\n")
    assert block.keys == (".:53",)
    assert block.directives == (Directive("errors", (), (), "Corefile", 2),)


def test_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPSTREAM", "10.0.0.1")
    monkeypatch.setenv("ZONE", "cluster.local")
    monkeypatch.setenv("BRACE", "{")
    monkeypatch.delenv("UNSET_FOR_TEST", raising=False)
    text = (
        "{$ZONE}:53 {\n"
        "  forward . {$UPSTREAM} {%UPSTREAM%}:5300 x{$UNSET_FOR_TEST}y\n"
        '  log "{$ZONE} is mine" {$BRACE}\n'
        "}\n"
    )
    block = only_block(text)
    assert block.keys == ("cluster.local:53",)
    forward, log = block.directives
    assert forward.args == (".", "10.0.0.1", "10.0.0.1:5300", "xy")
    # A substituted brace is text, not structure: the line does not open a block.
    assert (log.args, log.block) == (("cluster.local is mine", "{"), ())


def test_corefile_error_fields() -> None:
    with pytest.raises(CorefileError) as caught:
        parse_corefile(".:53 {\n  errors\n", "/etc/coredns/Corefile")
    error = caught.value
    assert isinstance(error, ConfigError) and error.exit_code == 2
    assert (error.file, error.line) == ("/etc/coredns/Corefile", 1)
    assert str(error) == f"/etc/coredns/Corefile:1: {error.message}"


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("", 1, "empty Corefile"),
        ("# just a comment\n\n", 1, "empty Corefile"),
        (".:53 {\n  errors\n", 1, "'{' is never closed"),
        (".:53 {\n  health {\n    lameduck 5s\n}\n", 1, "'{' is never closed"),
        (".:53 {\n  errors\n  health {\n    lameduck 5s\n", 3, "'{' is never closed"),
        ("}\n", 1, "unexpected '}'"),
        (".:53 {\n}\n}\n", 3, "unexpected '}'"),
        ('.:53 {\n  log "oops\n}\n', 2, "unterminated quoted string"),
        ("errors\n", 1, "'errors' is outside any server block"),
        (".:53 {\n}\nerrors\n", 3, "'errors' is outside any server block"),
        (".:53\n{\n}\n", 1, "'.:53' is outside any server block"),
        (".:53 {\n  health\n  {\n  }\n}\n", 3, "'{' must follow a directive name"),
        (".:53 {\n  health { lameduck 5s }\n}\n", 2, "'{' must be the last token"),
        (".:53 { errors\n}\n", 1, "'{' must be the last token"),
        (".:53 {\n  ttl 30 }\n", 2, "'}' must be on a line of its own"),
        (".:53 {\n  errors\n} .:54 {\n}\n", 3, "'}' must be on a line of its own"),
        ("import common\n", 1, "import is not supported"),
        (".:53 {\n  import snippets/*\n}\n", 2, "import is not supported"),
        (".:53 {\n  kubernetes {\n    import x\n  }\n}\n", 3, "import is not supported"),
        ("(common) {\n  errors\n}\n", 1, "snippets are not supported"),
        ("{\n  errors\n}\n", 1, "server block has no keys"),
        ('"" {\n}\n', 1, "server block has no keys"),
    ],
)
def test_syntax_errors_name_the_line(text: str, where: int, message: str) -> None:
    with pytest.raises(CorefileError) as caught:
        parse_corefile(text)
    assert str(caught.value).startswith(f"Corefile:{where}: ")
    assert message in caught.value.message
