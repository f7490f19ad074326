"""Any bytes in, no exception out: the packet path never crashes (SPEC §8)."""

from __future__ import annotations

import socket
import struct

import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.paths import DEMO
from harness.query import query, replies_before_probe
from harness.resolvers import handler_for, make_resolver, state_from_file

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
