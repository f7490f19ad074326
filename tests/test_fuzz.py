"""Any bytes in, no exception out: the packet path never crashes (SPEC §8)."""

from __future__ import annotations

import socket
import struct

import dns.message
import dns.query
import dns.rcode
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import DEMO
from tests.resolver_helpers import handler_for, make_resolver, state_from_file

HANDLER = handler_for(make_resolver(state_from_file(DEMO)))


def check_reply(data: bytes, reply: bytes | None) -> None:
    if reply is None:
        return
    assert isinstance(reply, bytes) and len(reply) >= 12
    assert reply[:2] == data[:2]  # the query's ID
    assert struct.unpack("!H", reply[2:4])[0] & 0x8000  # QR


@settings(max_examples=3000, deadline=None)
@given(st.binary(max_size=600))
def test_arbitrary_bytes(data):
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
def test_mutated_queries(base, flips):
    data = mutate(base, flips)
    for over_tcp in (False, True):
        check_reply(data, HANDLER.handle(data, over_tcp=over_tcp))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(min_size=0, max_size=300))
def test_live_server_survives_garbage(demo_server, data):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(data, (demo_server.host, demo_server.port))
    # TCP too: a length prefix then the garbage, and a lying length
    with socket.create_connection((demo_server.host, demo_server.port), timeout=2) as sock:
        sock.sendall(struct.pack("!H", len(data)) + data + struct.pack("!H", 500) + data[:10])


def test_live_server_still_answers_after_garbage(demo_server):
    response = dns.query.udp(
        dns.message.make_query("nginx.demo.svc.cluster.local.", "A"), demo_server.host,
        port=demo_server.port, timeout=3,
    )
    assert response.rcode() == dns.rcode.NOERROR
    assert demo_server.process.poll() is None
    assert "Traceback" not in "".join(demo_server.log)
