"""`bufsize` over real sockets: it lowers the EDNS buffer a query advertises (so the reply
fits and echoes it), and takes the place of the default 1232-byte UDP cap for its block."""

from __future__ import annotations

import dns.flags
import pytest

from clusterdns.config.corefile import CorefileError
from clusterdns.server.directives import load_config
from harness.query import query, rdatas
from harness.server import start_server, stop_server
from harness.snapshots import big_headless_snapshot

BIG = "big.demo.svc.cluster.local."


def serve(tmp_path, bufsize: str):
    corefile = tmp_path / "Corefile"
    corefile.write_text(f".:53 {{\n    {bufsize}\n    kubernetes cluster.local\n}}\n")
    snapshot = big_headless_snapshot(tmp_path, endpoints=100)
    return start_server(["--conf", str(corefile), "--snapshot", str(snapshot)])


def test_bufsize_4096_lets_a_udp_reply_grow_past_the_default_cap(tmp_path):
    server = serve(tmp_path, "bufsize 4096")
    try:
        reply = query(server, BIG, use_edns=0, payload=4096)
        assert not reply.flags & dns.flags.TC and len(rdatas(reply)) == 100
        assert reply.payload == 4096 and len(reply.to_wire()) > 1232
    finally:
        stop_server(server)


def test_bufsize_512_lowers_what_the_query_advertises(tmp_path):
    server = serve(tmp_path, "bufsize 512")
    try:
        reply = query(server, BIG, use_edns=0, payload=4096)
        assert reply.flags & dns.flags.TC and reply.payload == 512
        assert len(reply.to_wire()) <= 512 and rdatas(reply)  # as many whole records as fit
        small = query(server, BIG, use_edns=0, payload=512)
        assert small.payload == 512
    finally:
        stop_server(server)


@pytest.mark.parametrize(("line", "message"), [("bufsize 511", "in range 512..4096"),
                                               ("bufsize 4097", "in range 512..4096"),
                                               ("bufsize 1232 2", "takes 0 to 1 arguments")])
def test_bufsize_range(line, message):
    with pytest.raises(CorefileError, match=message):
        load_config(f".:53 {{\n    {line}\n}}\n")
    assert load_config(".:53 {\n    bufsize\n}\n")[0].plugins["bufsize"] == 1232


def test_sizes_a_block_tells_apart_are_not_one_cached_reply(tmp_path):
    """With bufsize 4096, EDNS 1232 and 4096 get different replies: the second question
    (other case, so no exact hit) must not get the first one's truncated reply."""
    server = serve(tmp_path, "bufsize 4096")
    try:
        small = query(server, BIG, use_edns=0, payload=1232)
        assert small.flags & dns.flags.TC and small.payload == 1232
        large = query(server, BIG.upper(), use_edns=0, payload=4096)
        assert not large.flags & dns.flags.TC and len(rdatas(large)) == 100
    finally:
        stop_server(server)
