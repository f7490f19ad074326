"""The UDP listener over real loopback sockets, batched (recvmmsg/sendmmsg) and plain: bursts
larger than a batch, several clients, IPv6 peers, odd datagrams, a failing query."""

from __future__ import annotations

import asyncio
import errno
import re
import socket
import subprocess

import pytest
from dnslib import EDNS0, DNSRecord, EDNSOption

from clusterdns.server.handler import QueryHandler
from clusterdns.transport import mmsg
from clusterdns.transport.listener import set_receive_buffer
from clusterdns.transport.protocols import Reply
from clusterdns.transport.udp import UdpListener
from harness.paths import DEMO
from harness.query import query
from harness.resolvers import handler_for, make_resolver, state_from_file
from harness.server import start_server, stop_server
from harness.wait import TIMEOUT, wait_for, wait_for_async
from harness.wire import Variant, demo_names, wire_query

MODES = [pytest.param(True, id="batched"), pytest.param(False, id="plain")]


@pytest.fixture(params=MODES)
def batched(request) -> bool:
    if request.param and not mmsg.AVAILABLE:
        pytest.skip("recvmmsg/sendmmsg are Linux only")
    return request.param


class Recording:
    """The demo cluster's handler, noting who asked and how many replies it gave; a query
    for `boom.` raises. What the server asks itself while answering (an ExternalName's
    target) goes to the handler inside, not through here: not noted."""

    def __init__(self) -> None:
        self.inside = handler_for(make_resolver(state_from_file(DEMO)))
        self.blocks = self.inside.blocks
        self.peers: list[tuple] = []
        self.replies = 0

    def handle(self, data: bytes, over_tcp: bool, peer: tuple | None = None) -> Reply:
        self.peers.append(peer)
        if b"\x04boom\x00" in data:
            raise RuntimeError("a bug in one query")
        reply = self.inside.handle(data, over_tcp, peer)
        self.replies += reply is not None
        return reply


def answer_queued(
    server: socket.socket, handler: Recording, datagrams: int, batched: bool = mmsg.AVAILABLE
) -> None:
    """Let a listener on `server` answer the `datagrams` queued there, then close it. A
    listener sends the replies to what it read before it reads again: once the handler has
    seen every datagram, every reply has left."""

    async def run() -> None:
        listener = UdpListener(server, handler, batched=batched)
        listener.start()
        try:
            await wait_for_async(lambda: len(handler.peers) >= datagrams,
                                 what=f"{datagrams} datagrams read")
        finally:
            listener.close()

    asyncio.run(run())


def serve_burst(
    handler: Recording, batched: bool, family: int, datagrams: list[tuple[int, bytes]], clients: int
) -> dict[int, list[bytes]]:
    """Queue every datagram (client number, bytes) at a listener that is not yet reading,
    then let it run: what each client got back."""
    host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
    server = socket.socket(family, socket.SOCK_DGRAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    server.bind((host, 0))
    sockets = [socket.socket(family, socket.SOCK_DGRAM) for _ in range(clients)]
    for each in sockets:
        each.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        each.bind((host, 0))
        each.setblocking(False)
    for client, data in datagrams:
        sockets[client].sendto(data, server.getsockname())

    answer_queued(server, handler, len(datagrams), batched)
    got: dict[int, list[bytes]] = {n: [] for n in range(clients)}

    def received() -> int:
        for n, each in enumerate(sockets):
            while True:
                try:
                    got[n].append(each.recv(65535))
                except BlockingIOError:
                    break
        return sum(map(len, got.values()))

    # the handler's replies all left (none dropped: the buffers hold them); wait for them
    wait_for(lambda: received() >= handler.replies, what=f"{handler.replies} replies")
    assert received() == handler.replies
    for each in sockets:
        each.close()
    return got


def test_a_burst_of_many_batches_gets_every_answer_to_the_right_client(batched):
    names = demo_names(make_resolver(state_from_file(DEMO)))[:100]
    handler = Recording()
    expected = QueryHandler(handler.blocks)  # the same index, so the same SOA serial
    datagrams = [(i % 3, wire_query(name, "A", Variant(), i)) for i, name in enumerate(names * 2)]
    got = serve_burst(handler, batched, socket.AF_INET, datagrams, clients=3)
    for client in range(3):
        sent = [data for n, data in datagrams if n == client]
        assert len(got[client]) == len(sent)  # 200 queries: four batches, none lost
        assert sorted(got[client]) == sorted(expected.handle(data, False) for data in sent)
    assert len({peer for peer in handler.peers}) == 3
    assert all(peer[0] == "127.0.0.1" for peer in handler.peers)


def test_replies_after_a_datagram_left_unanswered_go_to_their_own_senders(batched):
    """A batch's replies fill the send slots in order: after a datagram that gets no reply
    (dropped, or failing inside), each reply still goes to its own sender, in this batch
    and the next ones."""
    names = demo_names(make_resolver(state_from_file(DEMO)))[:50]
    handler = Recording()
    expected = QueryHandler(handler.blocks)
    datagrams = [
        (i % 3, b"\x12" if i % 5 == 1 else wire_query(names[i % 50], "A", Variant(), i))
        for i in range(200)  # four batches, each with unanswered datagrams in it
    ]
    got = serve_burst(handler, batched, socket.AF_INET, datagrams, clients=3)
    for client in range(3):
        sent = [data for n, data in datagrams if n == client and len(data) > 1]
        assert sorted(got[client]) == sorted(expected.handle(data, False) for data in sent)


def test_ipv6_clients_are_answered_and_seen_as_recvfrom_sees_them(batched):
    try:
        socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    handler = Recording()
    datagrams = [(0, wire_query("web.demo.svc.cluster.local.", "A", Variant(), 7))]
    got = serve_burst(handler, batched, socket.AF_INET6, datagrams, clients=1)
    assert DNSRecord.parse(got[0][0]).header.id == 7
    (peer,) = handler.peers
    assert peer[0] == "::1" and peer[1] > 0 and len(peer) == 4


def test_odd_datagrams_and_a_failing_query_cost_only_themselves(batched):
    handler = Recording()
    expected = QueryHandler(handler.blocks)  # the same index, so the same SOA serial
    big = DNSRecord.question("web.demo.svc.cluster.local.", "A")
    big.add_ar(EDNS0(udp_len=4096, opts=[EDNSOption(12, bytes(60000))]))  # padding
    datagrams = [
        (0, b""),  # empty
        (0, b"\x12"),  # one byte: dropped
        (0, wire_query("boom.", "A", Variant(), 1)),  # the handler raises
        (0, bytes(big.pack())),  # 60 kB: still read whole
        (0, wire_query("nginx.demo.svc.cluster.local.", "A", Variant(), 2)),
    ]
    got = serve_burst(handler, batched, socket.AF_INET, datagrams, clients=1)
    assert len(handler.peers) == 5  # each datagram reached the handler, whole
    wanted = [expected.handle(data, False) for _, data in datagrams[3:]]
    assert sorted(got[0]) == sorted(reply for reply in wanted if reply)


def test_receive_buffer_is_what_was_asked_or_the_log_says_why(caplog):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with sock:
        set_receive_buffer(sock, 8 << 20)
        granted = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) // 2
        capped = [r.getMessage() for r in caplog.records if "receive buffer" in r.getMessage()]
        if granted >= 8 << 20:
            assert capped == []
        else:  # no CAP_NET_ADMIN here: the kernel's cap stands and is reported
            assert capped == [f"UDP receive buffer: {8 << 20} bytes asked, {granted} granted "
                              "(net.core.rmem_max caps it without CAP_NET_ADMIN)"]


@pytest.mark.root(tools=["ss"])
def test_serve_sets_the_udp_buffer_of_its_socket(test_corefile):
    server = start_server(["--conf", str(test_corefile), "--udp-buffer", "3000000"])
    try:
        shown = subprocess.run(
            ["ss", "-uamnH", f"sport = :{server.port}"], capture_output=True, text=True, check=True
        ).stdout
        size = int(re.search(r"rb(\d+)", shown).group(1)) // 2
        warned = any("receive buffer" in line for line in server.log)
        assert size == 3000000 or (warned and size < 3000000)
        reply = query(server, "web-0.web.demo.svc.cluster.local.")
        assert [rr.to_text() for rr in reply.answer[0]] == ["10.244.2.10"]
    finally:
        stop_server(server)


def asked_at(hosts: list[str]) -> tuple[socket.socket, int, socket.socket]:
    """A server socket bound to every address, its port, and a client on 127.0.0.1 that
    sent it one query at each of `hosts` (IDs in order)."""
    if not mmsg.AVAILABLE:
        pytest.skip("replies from the address asked need IP_PKTINFO with recvmmsg (Linux)")
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("0.0.0.0", 0))
    port = server.getsockname()[1]
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.bind(("127.0.0.1", 0))
    for n, host in enumerate(hosts):
        client.sendto(wire_query("web.demo.svc.cluster.local.", "A", Variant(), n), (host, port))
    return server, port, client


def test_bound_to_every_address_a_reply_leaves_from_the_one_asked():
    asked = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]  # all the host's own, on loopback
    server, port, client = asked_at(asked)
    client.settimeout(TIMEOUT)

    answer_queued(server, Recording(), len(asked))
    replies = {}
    for _ in asked:
        data, source = client.recvfrom(65535)
        replies[DNSRecord.parse(data).header.id] = source
    client.close()
    assert replies == {n: (host, port) for n, host in enumerate(asked)}


class Later(Recording):
    """Every reply comes later, as a forwarded one does."""

    def handle(self, data: bytes, over_tcp: bool, peer: tuple | None = None) -> Reply:
        reply = super().handle(data, over_tcp, peer)

        async def later() -> bytes | None:
            await asyncio.sleep(0)
            return reply  # type: ignore[return-value]

        return later()


def test_a_reply_sent_later_leaves_from_the_address_asked_too():
    """A forwarded reply is sent by a task, not the batch: it carries the address the
    query was sent to as well (a client drops a reply from another of the host's)."""
    asked = ["127.0.0.2", "127.0.0.3"]
    server, port, client = asked_at(asked)
    client.setblocking(False)
    replies: dict[int, tuple] = {}

    def received() -> bool:
        try:
            data, source = client.recvfrom(65535)
            replies[DNSRecord.parse(data).header.id] = source
        except BlockingIOError:
            pass
        return len(replies) == len(asked)

    async def run() -> None:
        listener = UdpListener(server, Later(), batched=True)
        listener.start()
        try:
            await wait_for_async(received, what="the replies sent later")
        finally:
            listener.close()

    asyncio.run(run())
    client.close()
    assert replies == {n: (host, port) for n, host in enumerate(asked)}


def test_bound_to_every_ipv6_address_both_families_are_answered():
    if not mmsg.AVAILABLE:
        pytest.skip("IPV6_PKTINFO with recvmmsg is Linux only")
    server = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        server.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        server.bind(("::", 0))
        v6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        v6.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 here")
    port = server.getsockname()[1]
    v4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    v4.bind(("127.0.0.1", 0))
    for n, (client, host) in enumerate([(v6, "::1"), (v4, "127.0.0.2")]):
        client.settimeout(TIMEOUT)
        client.sendto(wire_query("web.demo.svc.cluster.local.", "A", Variant(), n), (host, port))

    answer_queued(server, Recording(), 2)
    data, source = v6.recvfrom(65535)
    assert DNSRecord.parse(data).header.id == 0 and source[:2] == ("::1", port)
    data, _ = v4.recvfrom(65535)  # IPv4 through the IPv6 socket: from the routed address
    assert DNSRecord.parse(data).header.id == 1
    v6.close()
    v4.close()


class RefusedBatch:
    """The batch calls as a seccomp profile that refuses them answers."""

    def receive(self) -> list:
        raise OSError(errno.ENOSYS, "Function not implemented")

    def close(self) -> None:
        pass


def test_refused_batch_calls_fall_back_to_one_datagram_at_a_time(caplog):
    if not mmsg.AVAILABLE:
        pytest.skip("the batched path is Linux only")
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.bind(("127.0.0.1", 0))
    client.setblocking(False)

    async def run() -> list[int]:
        loop = asyncio.get_running_loop()
        listener = UdpListener(server, handler_for(make_resolver(state_from_file(DEMO))))
        listener._batch.close()
        listener._batch = RefusedBatch()  # injected fault: the kernel refuses recvmmsg
        listener.start()
        ids = []
        try:
            for n in range(3):  # one at a time: each its own wakeup of the listener
                client.sendto(wire_query("web.demo.svc.cluster.local.", "A", Variant(), n),
                              server.getsockname())
                reply = await loop.sock_recv(client, 65535)
                ids.append(DNSRecord.parse(reply).header.id)
        finally:
            listener.close()
        return ids

    ids = asyncio.run(asyncio.wait_for(run(), TIMEOUT))
    client.close()
    assert ids == [0, 1, 2]  # the first datagram too: it stays queued for the plain path
    assert any("answering one datagram at a time" in r.getMessage() for r in caplog.records)
