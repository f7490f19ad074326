"""Corefile syntax: tokens, blocks, comments, quotes, environment variables and syntax errors."""

from __future__ import annotations

import logging

import pytest

from clusterdns.config.corefile import (
    CorefileError,
    Directive,
    ServerBlock,
    parse_corefile,
    read_corefile,
)
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
        ("import no-such-file\n", 1, "file to import not found: no-such-file"),
        (".:53 {\n  kubernetes {\n    import nowhere.conf\n  }\n}\n", 3, "file to import not found"),
        (".:53 {\n  import\n}\n", 2, "import takes one argument"),
        (".:53 {\n  import a b\n}\n", 2, "import takes one argument"),
        ("(common) {\n  errors\n}\n", 1, "empty Corefile: no server blocks"),
        ("(common) {\n  errors\n", 1, "'{' is never closed"),
        ("(a) {\n}\n(a) {\n}\n.:53 {\n}\n", 3, "snippet (a) is already defined at Corefile:1"),
        ("(a) {\n  import a\n}\n.:53 {\n  import a\n}\n", 2,
         "import loop: Corefile:5 imports snippet (a), Corefile:2 imports snippet (a)"),
        (".:53 {\n  import */*.conf\n}\n", 2, "a glob may hold one wildcard"),
        ("{\n  errors\n}\n", 1, "server block has no keys"),
        ('"" {\n}\n', 1, "server block has no keys"),
    ],
)
def test_syntax_errors_name_the_line(text: str, where: int, message: str) -> None:
    with pytest.raises(CorefileError) as caught:
        parse_corefile(text)
    assert str(caught.value).startswith(f"Corefile:{where}: ")
    assert message in caught.value.message


# --- import ------------------------------------------------------------------------------


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def names(block: ServerBlock) -> list[str]:
    return [d.name for d in block.directives]


def test_a_snippet_is_spliced_where_it_is_imported_in_any_block():
    text = (
        "(common) {\n  errors\n  cache 30\n}\n"
        "(k8s-options) {\n  pods insecure\n  ttl 30\n}\n"
        ".:53 {\n  import common\n  kubernetes cluster.local {\n    import k8s-options\n  }\n}\n"
        "example.org:53 {\n  import common\n}\n"
    )
    first, second = parse_corefile(text)
    assert names(first) == ["errors", "cache", "kubernetes"]
    assert [(o.name, o.args) for o in first.directives[2].block] == [
        ("pods", ("insecure",)), ("ttl", ("30",))]
    assert names(second) == ["errors", "cache"]
    assert first.directives[1].line == 3  # where the snippet wrote it


def test_a_glob_imports_every_file_it_matches_in_name_order_relative_to_the_corefile(tmp_path):
    # k3s: `import /etc/coredns/custom/*.override` in the block, `*.server` at the top level
    write(tmp_path / "custom" / "b.override", "log\n")
    write(tmp_path / "custom" / "a.override", "loadbalance\n")
    write(tmp_path / "custom" / "stub.server", "example.org:53 {\n    forward . 10.0.0.1\n}\n")
    corefile = write(tmp_path / "Corefile",
                     ".:53 {\n    errors\n    import custom/*.override\n}\nimport custom/*.server\n")
    loaded = read_corefile(corefile.read_text(), str(corefile))
    main, stub = loaded.blocks
    assert names(main) == ["errors", "loadbalance", "log"]
    assert (stub.keys, stub.file, stub.line) == (("example.org:53",), str(tmp_path / "custom" / "stub.server"), 1)
    assert main.directives[2].file == str(tmp_path / "custom" / "b.override")
    assert loaded.files == tuple(str(tmp_path / "custom" / f) for f in ("a.override", "b.override", "stub.server"))


def test_a_glob_that_matches_nothing_imports_nothing_and_says_so(tmp_path, caplog):
    corefile = write(tmp_path / "Corefile", ".:53 {\n    errors\n    import custom/*.override\n}\n")
    with caplog.at_level(logging.WARNING, logger="clusterdns.config"):
        (block,) = parse_corefile(corefile.read_text(), str(corefile))
    assert names(block) == ["errors"]
    assert caplog.text.count("no files match the import glob custom/*.override") == 1
    caplog.clear()  # read again for the reload's digest: nothing said
    with caplog.at_level(logging.WARNING, logger="clusterdns.config"):
        loaded = read_corefile(corefile.read_text(), str(corefile))
    assert loaded.unmatched == (f"{corefile}:3: no files match the import glob custom/*.override",)
    assert caplog.text == ""


def test_an_imported_file_imports_relative_to_itself_and_errors_name_its_line(tmp_path):
    write(tmp_path / "conf.d" / "zones.conf", "import more/extra.conf\n")
    write(tmp_path / "conf.d" / "more" / "extra.conf", "errors\nttl 30 }\n")
    corefile = write(tmp_path / "Corefile", ".:53 {\n    import conf.d/zones.conf\n}\n")
    with pytest.raises(CorefileError) as caught:
        parse_corefile(corefile.read_text(), str(corefile))
    assert caught.value.file == str(tmp_path / "conf.d" / "more" / "extra.conf")
    assert caught.value.line == 2


def test_an_import_loop_is_an_error_naming_the_chain(tmp_path):
    write(tmp_path / "a.conf", "import b.conf\n")
    write(tmp_path / "b.conf", "errors\nimport a.conf\n")
    corefile = write(tmp_path / "Corefile", ".:53 {\n    import a.conf\n}\n")
    with pytest.raises(CorefileError, match="import loop: ") as caught:
        parse_corefile(corefile.read_text(), str(corefile))
    a, b = tmp_path / "a.conf", tmp_path / "b.conf"
    assert caught.value.message == (
        f"import loop: {corefile}:2 imports {a}, {a}:1 imports {b}, {b}:2 imports {a}")


def test_a_corefile_that_imports_itself_is_a_loop(tmp_path):
    corefile = write(tmp_path / "Corefile", ".:53 {\n    import Corefile\n}\n")
    with pytest.raises(CorefileError, match=f"{corefile}:2 imports {corefile}"):
        parse_corefile(corefile.read_text(), str(corefile))
