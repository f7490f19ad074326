"""DNS over TCP under abuse, per RFC 7766, against the real server on loopback: slow answers
do not hold up fast ones on a connection, pipelines are answered whole, idle floods past the
connection limit make room for a newcomer, and slow-loris writers and clients that never read
are let go; UDP and fresh TCP clients are answered throughout."""

from __future__ import annotations

import contextlib
import socket
import struct
import time
from collections.abc import Iterator

import dns.message
import dns.query
import dns.rcode
import pytest

from clusterdns.transport.tcp import MAX_CONNECTIONS, READ_TIMEOUT, WRITE_TIMEOUT
from harness.paths import DEMO
from harness.query import ask
from harness.server import ServerProcess, start_server, stop_server
from harness.upstream import FakeUpstream
from harness.wait import wait_for

pytestmark = pytest.mark.slow

CLUSTER_NAME = "nginx.demo.svc.cluster.local."
SLOW_NAME = "slow.example.org."
PROMPT = 1.0  # what "answered at once" means here: well inside any client's timeout


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The demo cluster, forwarding everything else to an upstream that takes a second."""
    with FakeUpstream(delay=1.0, records={SLOW_NAME: ["192.0.2.1"]}) as upstream:
        corefile = tmp_path_factory.mktemp("tcp") / "Corefile"
        corefile.write_text(
            ".:53 {\n    kubernetes cluster.local\n"
            f"    forward . {upstream.address}\n}}\n"
        )
        process = start_server(["--conf", str(corefile), "--snapshot", str(DEMO)])
        yield process
        stop_server(process)


def connect(server: ServerProcess, timeout: float = 10.0) -> socket.socket:
    sock = socket.create_connection((server.host, server.port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def framed(name: str, ident: int, qtype: str = "A") -> bytes:
    message = dns.message.make_query(name, qtype)
    message.id = ident
    wire = message.to_wire()
    return struct.pack("!H", len(wire)) + wire


def read_reply(sock: socket.socket) -> dns.message.Message:
    message, _ = dns.query.receive_tcp(sock)
    return message


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server has closed `sock` (EOF or reset), reading what it sent before,
    without waiting."""
    sock.setblocking(False)
    try:
        while sock.recv(65536):
            pass
        return True
    except BlockingIOError:
        return False
    except ConnectionError:
        return True
    finally:
        sock.setblocking(True)


def answered_promptly(server: ServerProcess) -> None:
    """A fresh UDP and a fresh TCP client are both answered at once."""
    for tcp in (False, True):
        start = time.monotonic()
        assert ask(server, CLUSTER_NAME, tcp=tcp) == ("NOERROR", {"10.96.12.34"})
        assert time.monotonic() - start < PROMPT, "tcp" if tcp else "udp"


def test_a_slow_forwarded_answer_holds_up_nothing_behind_it(server):
    with connect(server) as sock:
        sock.sendall(framed(SLOW_NAME, 1) + framed(CLUSTER_NAME, 2))
        start = time.monotonic()
        first = read_reply(sock)
        assert (first.id, time.monotonic() - start < PROMPT) == (2, True)
        second = read_reply(sock)  # the forwarded one, when the upstream answers
        assert second.id == 1


def test_a_pipeline_of_500_queries_is_answered_whole(server):
    with connect(server) as sock:
        sock.sendall(b"".join(framed(CLUSTER_NAME, i) for i in range(500)))
        replies = [read_reply(sock) for _ in range(500)]
    assert sorted(reply.id for reply in replies) == list(range(500))
    assert {reply.rcode() for reply in replies} == {dns.rcode.NOERROR}


def test_past_the_connection_limit_the_connection_idle_longest_makes_room(server):
    with contextlib.ExitStack() as held:
        flood = [held.enter_context(connect(server)) for _ in range(MAX_CONNECTIONS + 50)]
        time.sleep(0.2)  # let the server accept what the kernel queued (only saves a retry)
        answered_promptly(server)
        # the oldest idle connections were closed to make room, the newest kept
        wait_for(lambda: closed_by_server(flood[0]), what="the oldest idle connection closed")
        assert not closed_by_server(flood[-1])


def test_a_slow_loris_writer_is_cut_off_and_holds_up_no_one(server):
    with connect(server) as loris, connect(server) as partial:
        loris.sendall(struct.pack("!H", 40) + framed(CLUSTER_NAME, 1)[2:12])  # 10 of 40 bytes
        partial.sendall(struct.pack("!H", 65535) + b"\0" * 1000)  # a 64 KiB length, then little
        answered_promptly(server)
        start = time.monotonic()
        wait_for(lambda: closed_by_server(loris) and closed_by_server(partial),
                 what="both half-sent messages given up on")
        assert time.monotonic() - start < READ_TIMEOUT + 5


def test_a_client_that_never_reads_is_let_go_and_holds_up_no_one(server):
    with connect(server) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(0.5)
        burst = b"".join(framed(CLUSTER_NAME, i % 65536, "SRV") for i in range(2000))
        sent = 0
        deadline = time.monotonic() + WRITE_TIMEOUT + 20
        while time.monotonic() < deadline:  # write until the server stops reading us...
            try:
                sock.sendall(burst)
                sent += 1
            except TimeoutError:
                break
            except ConnectionError:
                break  # ...or has already let us go
        assert sent < 100, "the server kept reading a client that does not read"
        answered_promptly(server)
        wait_for(lambda: closed_by_server(sock), what="the non-reading client let go",
                 timeout=WRITE_TIMEOUT + 25)
