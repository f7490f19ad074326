"""The per-query Request: what it reads from a plain query's bytes is what dnslib's parse
gives, a query is parsed at most once (a plain one only when a stage needs it), and every
path logs a query alike."""

from __future__ import annotations

import random

import dns.name
import pytest
from dnslib import CLASS, DNSLabel
from hypothesis import given
from hypothesis import strategies as st

from clusterdns.dns import request as request_module
from clusterdns.dns.message import UDP_DEFAULT_SIZE, parse_query, size_limit
from clusterdns.dns.names import presentation
from clusterdns.dns.request import Request, dotted, question_key
from clusterdns.plugins.log import COMMON, LogConfig, LogRule
from clusterdns.plugins.transfer import UdpTransfers
from clusterdns.server.block import Block
from clusterdns.server.handler import QueryHandler
from harness.paths import DEMO
from harness.resolvers import make_resolver, state_from_file
from harness.wire import QTYPES, VARIANTS, Variant, demo_names, random_case
from harness.wire import wire_query as query

LOG_ALL = LogConfig((LogRule(".", COMMON, frozenset({"all"})),))  # a bare `log`


@pytest.fixture(scope="module")
def resolver():
    return make_resolver(state_from_file(DEMO))


def parsed_parts(data: bytes, over_tcp: bool) -> tuple:
    """What the slow path read from dnslib's parse before there was a Request."""
    parsed = parse_query(data)
    question = parsed.question
    size = 65535 if over_tcp else parsed.edns_size or UDP_DEFAULT_SIZE
    return (
        str(question.qname).lower(), question.qtype, question.qclass, parsed.id,
        parsed.edns_size, parsed.do_bit, size_limit(parsed.edns_size, over_tcp), size,
    )  # fmt: skip


def request_parts(request: Request) -> tuple:
    return (
        request.name, request.qtype, request.qclass, request.id,
        request.edns_size, request.do, request.limit, request.size,
    )  # fmt: skip


def test_a_plain_query_is_read_from_its_bytes_as_dnslib_reads_it(resolver):
    rng = random.Random(7)
    for name in demo_names(resolver):
        for variant in VARIANTS:
            qtype = rng.choice([*QTYPES, "IXFR"])  # zone transfers have no key: parsed
            qclass = rng.choice([CLASS.IN, CLASS.IN, CLASS.CH, 255])
            data = query(random_case(name, rng), qtype, variant, rng.randrange(65536), qclass)
            request = Request.read(data, variant.over_tcp)
            assert request_parts(request) == parsed_parts(data, variant.over_tcp), data
            assert (request.key is None) == (qtype in ("AXFR", "IXFR"))
            assert request.key is None or request._query is None  # read without a parse


LABELS = st.one_of(
    st.binary(min_size=1, max_size=63),
    st.text(min_size=1, max_size=20).map(str.encode).filter(lambda label: len(label) <= 63),
)


@given(labels=st.lists(LABELS, max_size=3), upper=st.booleans())
def test_names_are_spelled_unambiguously_as_labels(labels, upper):
    """The fast path spells a name as the slow path does: dnslib's spelling, but with a `.` or
    `\\` inside a label escaped, so the text reads back as the very same labels."""
    if upper:
        labels = [label.upper() for label in labels]
    wire = b"".join(bytes([len(label)]) + label for label in labels)
    text = dotted(wire)
    assert dns.name.from_text(text).labels[:-1] == tuple(labels)
    if not any(b"." in label or b"\\" in label for label in labels):
        assert text == str(DNSLabel(tuple(labels)))
    root = query(".", "A", Variant(), 1)
    request = Request.read(root[:12] + wire + root[12:])
    assert request.key is not None
    if all(_utf8(label) for label in labels):  # dnslib refuses the rest (FORMERR)
        assert request.name == presentation(parse_query(request.data).question.qname.label).lower()


# labels of every length (those whose length byte reads as a digit or "-" among them) and
# of any bytes, in either case
LONG_LABELS = st.binary(min_size=40, max_size=63)
PRINTABLE_LABELS = st.text("aZ09-_*.\\ @", min_size=1, max_size=63).map(str.encode)


@given(labels=st.lists(st.one_of(LABELS, LONG_LABELS, PRINTABLE_LABELS), max_size=3))
def test_a_keys_text_is_the_names_own_spelling(labels):
    """The key's text (written from the name's bytes at once) is `dotted`'s, lower case."""
    wire = b"".join(bytes([len(label)]) + label for label in labels)
    root = query(".", "A", Variant(), 1)
    key = question_key(root[:12] + wire + root[12:], False)
    assert key is not None
    assert key[3] == dotted(wire).lower()


def _utf8(label: bytes) -> bool:
    try:
        label.decode()
    except UnicodeDecodeError:
        return False
    return True


class CachedRelay:
    """A relay whose cache holds every name: a NOERROR reply with no records."""

    def matches(self, name: str) -> bool:
        return True

    def cached(self, request: Request) -> bytes:
        return request.data[:2] + b"\x81\x80" + request.data[4:]


def counting_parses(monkeypatch) -> list[bytes]:
    parsed: list[bytes] = []

    def parse(data: bytes):
        parsed.append(data)
        return parse_query(data)

    monkeypatch.setattr(request_module, "parse_query", parse)
    return parsed


def test_the_slow_path_parses_a_query_once_and_the_fast_paths_never(resolver, monkeypatch, capsys):
    parsed = counting_parses(monkeypatch)
    handler = QueryHandler([
        Block(zones=(".",), resolver=resolver, log=LOG_ALL),
        Block(zones=("example.",), relay=CachedRelay(), log=LOG_ALL),  # type: ignore[arg-type]
    ])  # fmt: skip
    peer = ("10.0.0.1", 5353)
    # (a service's TXT, NODATA: the slow path's first; its A would be written from the index)
    first = query("web.demo.svc.cluster.local.", "TXT", Variant(edns=1232), 1)
    handler.handle(first, False, peer)
    assert parsed == [first]
    other_case = query("WEB.demo.svc.cluster.local.", "TXT", Variant(edns=1232), 2)
    for data in (first, other_case, other_case):  # kept under the name, whatever the case
        handler.handle(data, False, peer)
    handler.handle(query("www.Example.", "A", Variant(do_bit=True, edns=1232), 3), False, peer)
    over_tcp = query("nope.demo.svc.cluster.local.", "AAAA", Variant(), 4)
    handler.handle(over_tcp, True, peer)
    not_plain = query("cluster.local.", "AXFR", Variant(), 5)  # parsed with its Request
    handler.handle(not_plain, False, peer)
    assert parsed == [first, over_tcp, not_plain]
    logged = capsys.readouterr().out.splitlines()
    assert len(logged) == 7 and all(line.startswith("[INFO] ") for line in logged)
    assert '"A IN www.example. udp 40 true 1232" NOERROR qr,rd,ra ' in logged[4]


def test_transfer_keeps_the_relays_fast_path(monkeypatch):
    """transfer answers zone transfers only (UDP ones: REFUSED), which never take a fast
    path: a block with it forwards a plain query without parsing it, as one without."""
    parsed = counting_parses(monkeypatch)
    block = Block(zones=(".",), relay=CachedRelay(), before=(UdpTransfers(),))  # type: ignore[arg-type]
    handler = QueryHandler([block])
    handler.handle(query("www.example.", "A", Variant(), 1), False, ("10.0.0.1", 5353))
    assert parsed == []
    axfr = query("www.example.", "AXFR", Variant(), 2)
    refused = handler.handle(axfr, False, ("10.0.0.1", 5353))
    assert isinstance(refused, bytes) and refused[3] & 0xF == 5 and parsed == [axfr]


@pytest.mark.parametrize(
    ("name", "qtype", "hits"),
    [
        ("web.demo.svc.cluster.local.", "A", 3),  # written from the index at the first
        ("web.demo.svc.cluster.local.", "TXT", 2),  # NODATA: the slow path first
        ("nope.demo.svc.cluster.local.", "A", 2),  # the slow path makes the template
    ],
)
def test_every_path_logs_the_same_line(resolver, capsys, name, qtype, hits):
    """Slow path and wire answers for one question: one line but for the time."""
    handler = QueryHandler([Block(zones=(".",), resolver=resolver, log=LOG_ALL)])
    asked = query(random_case(name, random.Random(1)), qtype, Variant(edns=4096), 77)
    for data in (asked, query(name, qtype, Variant(edns=4096), 77), asked):
        handler.handle(data, False, ("2001:db8::1", 5353, 0, 0))
    assert handler.answers.hits == hits
    lines = [line.rsplit(" ", 1)[0] for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 3 and lines[0] == lines[1] == lines[2]
    assert lines[0].startswith(f'[INFO] [2001:db8::1]:5353 - 77 "{qtype} IN {name} udp ')
    assert " false 4096" in lines[0]
