"""Any bytes in, no exception out: the packet path never crashes (SPEC §8)."""

from __future__ import annotations

import random
import socket
import struct
from collections.abc import Iterator

import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.fuzz import LOG_BOUND, seeds
from harness.fuzz import corefile as fuzz_corefile
from harness.fuzz import run as fuzz_run
from harness.mutate import (
    BYTEWISE,
    STRUCTURAL,
    Chain,
    Message,
    Mutator,
    Name,
    Options,
    Pointer,
    Record,
    parse,
    write,
)
from harness.paths import DEMO
from harness.query import query, replies_before_probe
from harness.resolvers import handler_for, make_resolver, state_from_file
from harness.server import TEST_COREFILE, ServerProcess, start_server, stop_server
from harness.upstream import FakeUpstream
from harness.wire import Variant, wire_query

pytestmark = pytest.mark.slow  # thousands of examples

HANDLER = handler_for(make_resolver(state_from_file(DEMO)))


def check_reply(data: bytes, reply: bytes | None) -> None:
    if reply is None:
        return
    assert isinstance(reply, bytes) and len(reply) >= 12
    assert reply[:2] == data[:2]  # the query's ID
    assert struct.unpack("!H", reply[2:4])[0] & 0x8000  # QR


@settings(max_examples=3000, deadline=None)
@given(st.binary(max_size=600))
def test_any_bytes_get_nothing_or_a_reply_to_their_id(data):
    for over_tcp in (False, True):
        check_reply(data, HANDLER.handle(data, over_tcp=over_tcp))


def mutate(base: bytes, flips: list[tuple[int, int]]) -> bytes:
    out = bytearray(base)
    for position, value in flips:
        out[position % len(out)] = value
    return bytes(out)


VALID = [
    dns.message.make_query(name, qtype, use_edns=edns).to_wire()
    for name, qtype, edns in [
        ("web-0.web.demo.svc.cluster.local.", "A", 0),
        ("_http._tcp.web.demo.svc.cluster.local.", "SRV", False),
        ("34.12.96.10.in-addr.arpa.", "PTR", 0),
        ("search.demo.svc.cluster.local.", "A", False),
    ]
]


@settings(max_examples=3000, deadline=None)
@given(st.sampled_from(VALID), st.lists(st.tuples(st.integers(0, 511), st.integers(0, 255)), max_size=6))
def test_mutated_queries_get_nothing_or_a_reply_to_their_id(base, flips):
    data = mutate(base, flips)
    for over_tcp in (False, True):
        check_reply(data, HANDLER.handle(data, over_tcp=over_tcp))


def expected_rcode(data: bytes) -> int | None:
    """What the server must answer to these bytes: None for nothing at all, -1 for a reply
    whose rcode depends on whether the one question in it can be read."""
    if len(data) < 12:
        return None  # not even a header
    flags, questions = struct.unpack_from("!H2xH", data, 2)
    if flags & 0x8000:
        return None  # a response: never answered
    if (flags >> 11) & 0xF != dns.opcode.QUERY:
        return dns.rcode.NOTIMP
    if questions != 1:
        return dns.rcode.FORMERR
    return -1


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(min_size=0, max_size=300))
def test_live_server_answers_garbage_as_the_header_says_and_keeps_answering(demo_server, data):
    # over UDP: nothing, or one well-formed reply to it; then a valid query is answered
    replies = replies_before_probe(demo_server, data)
    rcode = expected_rcode(data)
    if rcode is None:
        assert replies == []
    else:
        (reply,) = replies
        message = dns.message.from_wire(reply, ignore_trailing=True)  # well-formed
        assert reply[:2] == data[:2] and message.flags & dns.flags.QR
        assert message.opcode() == (data[2] >> 3) & 0xF
        if rcode != -1:
            assert message.rcode() == rcode and not message.question
    # over TCP: the garbage framed, then a length that lies; then a new connection is answered
    with socket.create_connection((demo_server.host, demo_server.port), timeout=5) as sock:
        sock.sendall(struct.pack("!H", len(data)) + data + struct.pack("!H", 500) + data[:10])
    tcp = query(demo_server, "nginx.demo.svc.cluster.local.", tcp=True)
    assert tcp.rcode() == dns.rcode.NOERROR
    assert demo_server.process.poll() is None
    assert "Traceback" not in "".join(demo_server.log)


# Structure-aware mutation (harness/mutate.py): the same mutator `make fuzz` runs


SEEDS = seeds(DEMO, forwarded=False)


def test_seed_queries_read_back_byte_for_byte():
    assert len(SEEDS) > 100
    for seed in SEEDS:
        assert write(parse(seed)) == seed


def test_a_seed_replays_the_same_packets():
    first, second = (Mutator(SEEDS, random.Random(7)) for _ in range(2))
    packets = [first.mutate() for _ in range(500)]
    assert packets == [second.mutate() for _ in range(500)]
    assert len(set(packets)) > 450
    assert set(first.used) == set(STRUCTURAL) | set(BYTEWISE)  # every mutation came up


def reply_rcode(packet: bytes) -> int:
    reply = HANDLER.handle(packet, over_tcp=False)
    assert isinstance(reply, bytes) and reply[:2] == packet[:2] and reply[2] & 0x80
    return reply[3] & 0xF


def nginx_query(**changes) -> Message:
    message = parse(wire_query("nginx.demo.svc.cluster.local.", "A", Variant(edns=1232), 0))
    for name, value in changes.items():
        setattr(message, name, value)
    return message


def chained(length: int) -> bytes:
    """A query whose answer section holds a chain of `length` pointers and whose authority
    section a record whose owner starts down it: length + 1 pointers in one name. (One
    record in each: miekg rejects a query with more, FORMERR before reading them.)"""
    message = nginx_query()
    walker = Name([], Pointer("pointer", 1.0))
    chain = Record(Name([], Pointer("header", 0.0)), 65280, 1, 0, [Chain(length)])  # ID 0: root
    message.sections[0][:0] = [chain]
    message.sections[1][:0] = [Record(walker, 1, 1, 0, [b"\x0a\x00\x00\x01"])]
    return write(message)


def test_the_mutators_pointer_chains_meet_the_bound_of_127_pointers():
    assert reply_rcode(chained(126)) == dns.rcode.NOERROR
    assert reply_rcode(chained(127)) == dns.rcode.FORMERR
    assert reply_rcode(chained(1000)) == dns.rcode.FORMERR


@pytest.mark.parametrize("kind", ["start", "here", "forward", "beyond"])
def test_the_mutators_pointer_loops_and_forward_pointers_are_formerr(kind):
    message = nginx_query()
    message.questions[0].name.end = Pointer(kind, 0.5)  # after nginx.demo.svc.cluster.local
    assert reply_rcode(write(message)) == dns.rcode.FORMERR


def test_the_mutators_dot_inside_a_label_is_no_dot():
    message = nginx_query()
    name = message.questions[0].name
    name.labels[:2] = [b"\x0anginx.demo"]  # one label: no Kubernetes name holds it
    assert reply_rcode(write(message)) == dns.rcode.NXDOMAIN


@pytest.mark.parametrize(
    ("placement", "rcode"),
    [("additional twice", dns.rcode.FORMERR), ("answer", dns.rcode.NOERROR),
     ("version 1", dns.rcode.BADVERS & 0xF)],
)
def test_the_mutators_opt_placements(placement, rcode):
    message = nginx_query()
    opt = message.sections[2][0]
    if placement == "additional twice":
        message.sections[2].append(Record(Name(), 41, 512, 0, [Options()]))
    elif placement == "answer":
        message.sections[2].clear()
        message.sections[0].append(opt)
    else:
        opt.ttl = 1 << 16
    assert reply_rcode(write(message)) == rcode


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32))
def test_structure_aware_mutants_get_a_reply_exactly_when_owed_one(seed):
    mutator = Mutator(SEEDS, random.Random(seed))
    for _ in range(20):
        packet = mutator.mutate()
        for over_tcp in (False, True):
            reply = HANDLER.handle(packet, over_tcp=over_tcp)
            if len(packet) < 12 or packet[2] & 0x80:
                assert reply is None
            else:
                assert isinstance(reply, bytes) and reply[:2] == packet[:2] and reply[2] & 0x80
                if not over_tcp:
                    assert len(reply) <= 1232
                dns.message.from_wire(reply)  # well-formed


# The seeded run against the real server: `make fuzz` in small (a few thousand packets)


@pytest.fixture(scope="module")
def fuzzed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    conf = tmp_path_factory.mktemp("fuzz") / "Corefile"
    conf.write_text(fuzz_corefile(None))  # the test Corefile and prometheus: no forward
    server = start_server(["--conf", str(conf), "--snapshot", str(DEMO)])
    yield server
    stop_server(server)


def test_seeded_fuzz_run_against_the_live_server(fuzzed_server):
    packets = 4000
    totals = fuzz_run(
        fuzzed_server, Mutator(SEEDS, random.Random(1)), packets=packets, seconds=600,
        control_every=500,
    )
    report = "\n".join(f"{label}: {text}" for label, text in totals.table())
    assert totals.failures(forwarded=False) == [], report + f"\n{totals.examples}"
    assert totals.sent == packets and totals.alive
    assert totals.silent > 50 and totals.answered_response == 0  # QR=1: never answered
    assert sum(totals.replies.values()) == totals.owed and totals.no_reply == 0
    assert totals.control_checks == packets // 500 + 1 and totals.control_failures == 0
    assert totals.tracebacks == 0 and totals.panics == 0
    assert totals.log_window_max <= LOG_BOUND
    # the mutants reach the guards (FORMERR, NOTIMP, BADVERS) and the resolver alike
    for rcode in ("FORMERR", "NOTIMP", "BADVERS", "NOERROR", "NXDOMAIN", "REFUSED"):
        assert totals.replies[rcode] > 10, report


# Found by `make fuzz --forward`: a question whose name ends in a pointer into the header
# (`api.demo` + a pointer to offset 2: the flags, read as a label) was forwarded, and the
# reply copied the question's bytes, pointer and all, under its own flags: a reply whose
# question no client can read (a label type 0x80). No name comes before the first
# question, so a pointer there is never compression: FORMERR, as any other hostile name.

POINTER_INTO_HEADER = bytes.fromhex("4242010000010000000000000361706904646f6d6fc00200010001")


@pytest.fixture(scope="module")
def server_forwarding_to_nothing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server whose upstream is gone: every forward fails at once (ICMP unreachable)."""
    upstream = FakeUpstream()
    upstream.start()
    upstream.stop()
    conf = tmp_path_factory.mktemp("down") / "Corefile"
    conf.write_text(TEST_COREFILE.replace("    errors\n", f"    errors\n    forward . {upstream.address}\n"))
    server = start_server(["--conf", str(conf), "--snapshot", str(DEMO)])
    yield server
    stop_server(server)


def test_a_pointer_in_the_question_is_formerr_not_a_reply_no_one_can_read(server_forwarding_to_nothing):
    (reply,) = replies_before_probe(server_forwarding_to_nothing, POINTER_INTO_HEADER)
    message = dns.message.from_wire(reply)  # before: BadLabelType
    assert message.id == 0x4242 and message.rcode() == dns.rcode.FORMERR
    # a name forwarded the usual way still fails as SERVFAIL, its question intact
    plain = dns.message.make_query("api.domo.", "A")
    (reply,) = replies_before_probe(server_forwarding_to_nothing, plain.to_wire())
    assert dns.message.from_wire(reply).rcode() == dns.rcode.SERVFAIL
