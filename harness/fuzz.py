"""Fuzzing the real server over loopback UDP: mutated queries (harness/mutate.py) sent with a
bounded number outstanding, every reply matched to its query by ID, control queries asked
between them, the server's log, metrics and memory read before and after.

`run` is what `make fuzz` (bench/fuzz.py) and the seeded run in tests/server/test_fuzz.py
share. The server owes every packet of 12 bytes or more without QR set exactly one reply
with QR set and the packet's ID, within the UDP cap; it owes a packet with QR set (a
response) or shorter than a header nothing. Without forwarding it answers one socket's
datagrams in the order they came, so a silent packet is done with once a reply to a later
one is in (forwarded replies come later, never sooner); a packet owed a reply that has none
after `timeout` seconds counts as `no_reply`.
"""

from __future__ import annotations

import random
import select
import socket
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import dns.exception
import dns.message
import dns.rcode

from clusterdns.metrics.panics import BURST
from harness.http import metrics, value
from harness.mutate import Mutator
from harness.query import ask
from harness.resolvers import make_resolver, state_from_file
from harness.server import TEST_COREFILE, ServerProcess, kubeadm_corefile
from harness.wire import VARIANTS, Variant, demo_names, wire_query

UDP_MAX = 1232  # the most a UDP reply may take (clusterdns.dns.message.UDP_MAX_SIZE)
LOG_WINDOW = 10  # seconds: log lines are counted per window of this length
SEED_QTYPES = ("A", "AAAA", "SRV", "PTR", "TXT", "ANY")
# Names the loopback upstream answers (harness/upstream.py), when the Corefile forwards.
FORWARDED = ("www.example.com.", "nx.example.org.", "big.example.net.", "servfail.example.")
# Control queries: (name, type), answered before the run, between packets and after it
# exactly as before.
CONTROLS = (
    ("nginx.demo.svc.cluster.local.", "A"),
    ("web-0.web.demo.svc.cluster.local.", "A"),
    ("_http._tcp.web.demo.svc.cluster.local.", "SRV"),
    ("nope.demo.svc.cluster.local.", "A"),
    ("34.12.96.10.in-addr.arpa.", "PTR"),
)
# (a name no seed asks: the cache keeps one reply for every asker of a name, see the
# --forward notes in bench/README.md)
FORWARDED_CONTROL = ("control.forward.example.", "A")
EXAMPLES = 5  # violations kept as examples, per kind
# The panic log writes at most BURST tracebacks and a summary line per 10 s; a window of
# LOG_WINDOW s can take in two of its intervals. Nothing else logs per packet (the errors
# plugin does, for a failed forward: not bounded when forwarding).
LOG_BOUND = 2 * (BURST + 1)


def seeds(snapshot: Path, forwarded: bool) -> list[bytes]:
    """Real queries to mutate: every demo name (and the names around them) by a few types,
    in the UDP variants of harness/wire.py (EDNS sizes, DO, a cookie, RD)."""
    resolver = make_resolver(state_from_file(snapshot))
    names = demo_names(resolver) + (list(FORWARDED) if forwarded else [])
    variants = [v for v in VARIANTS if not v.over_tcp]
    rng = random.Random(0)
    return [
        wire_query(name, rng.choice(SEED_QTYPES), variant, 0)
        for name in names
        for variant in variants
    ]


@dataclass
class Pending:
    seq: int
    sent: float
    owed: bool  # a reply is owed (else: nothing may come back)
    packet: bytes
    probe: bool = False  # not a fuzz packet: the last query, whose reply settles the rest
    answered: bool = False  # (or, owed nothing, known to have been read and not answered)


@dataclass
class Totals:
    sent: int = 0
    owed: int = 0  # packets owed a reply
    silent: int = 0  # packets owed nothing (QR set, or shorter than a header)
    replies: Counter[str] = field(default_factory=Counter)  # by rcode
    no_reply: int = 0
    answered_response: int = 0  # a reply to a packet with QR set
    qr_unset: int = 0  # a reply without QR
    unknown_id: int = 0  # a reply to no packet outstanding (wrong ID, or a second reply)
    too_big: int = 0  # a UDP reply over 1232 bytes
    malformed: int = 0  # a reply dnspython cannot read
    client_drops: int = 0  # replies the kernel dropped, our socket's buffer full
    control_checks: int = 0
    control_failures: int = 0
    examples: dict[str, list[str]] = field(default_factory=dict)
    seconds: float = 0.0
    log_lines: int = 0  # server log lines during the run
    log_window_max: int = 0  # the most in any LOG_WINDOW seconds
    tracebacks: int = 0  # in the server's whole log
    panics: float = 0.0  # coredns_panics_total during the run
    server_rcodes: dict[str, float] = field(default_factory=dict)  # coredns_dns_responses_total
    rss_start_kib: int = 0
    rss_end_kib: int = 0
    alive: bool = True

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    @property
    def violations(self) -> int:
        """Replies that must not be, failed controls, tracebacks, panics, a dead server."""
        return (self.answered_response + self.qr_unset + self.unknown_id + self.too_big
                + self.malformed + self.control_failures + self.tracebacks + int(self.panics)
                + (not self.alive))  # fmt: skip

    def failures(self, forwarded: bool) -> list[str]:
        """What went wrong, for people; empty when every check held. Without forwarding
        every packet owed a reply must get one and the log stays within LOG_BOUND."""
        failures = []
        if self.violations:
            failures.append(f"{self.violations} violations (see the table)")
        if self.no_reply and not forwarded:
            failures.append(f"{self.no_reply} packets owed a reply got none")
        if self.log_window_max > LOG_BOUND and not forwarded:
            failures.append(f"{self.log_window_max} log lines in 10 s (at most {LOG_BOUND})")
        return failures

    def example(self, kind: str, text: str) -> None:
        kept = self.examples.setdefault(kind, [])
        if len(kept) < EXAMPLES:
            kept.append(text)

    def table(self) -> list[tuple[str, str]]:
        rows = [
            ("packets sent", f"{self.sent:,}"),
            ("  owed a reply / owed nothing", f"{self.owed:,} / {self.silent:,}"),
            ("seconds, packets/s", f"{self.seconds:.0f}, {self.rate:,.0f}"),
            *((f"replies {rc}", f"{n:,}") for rc, n in sorted(self.replies.items())),
            ("no reply (owed one); dropped by our socket", f"{self.no_reply:,}; "
             f"{self.client_drops:,}"),
            ("replies to QR=1 packets (must be 0)", f"{self.answered_response}"),
            ("replies with QR unset (must be 0)", f"{self.qr_unset}"),
            ("replies to no outstanding ID (must be 0)", f"{self.unknown_id}"),
            (f"UDP replies over {UDP_MAX} bytes (must be 0)", f"{self.too_big}"),
            ("replies dnspython cannot read (must be 0)", f"{self.malformed}"),
            ("control checks, failed (must be 0)",
             f"{self.control_checks}, {self.control_failures}"),
            ("tracebacks in the log (must be 0)", f"{self.tracebacks}"),
            ("coredns_panics_total (must be 0)", f"{self.panics:g}"),
            ("server log lines, most in 10 s", f"{self.log_lines}, {self.log_window_max}"),
            ("server RSS start → end (MiB)",
             f"{self.rss_start_kib / 1024:.1f} → {self.rss_end_kib / 1024:.1f}"),
            ("server alive at the end", "yes" if self.alive else "NO"),
        ]  # fmt: skip
        return rows


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def udp_drops(port: int) -> int:
    """Datagrams the kernel dropped for our IPv4 UDP socket on `port` (/proc/net/udp)."""
    with open("/proc/net/udp") as table:
        for line in list(table)[1:]:
            fields = line.split()
            if int(fields[1].split(":")[1], 16) == port:
                return int(fields[-1])
    return 0


def controls(server: ServerProcess, forwarded: bool) -> dict[tuple[str, str], tuple[str, set[str]]]:
    """Each control query's (rcode, answers), over UDP, and the first over TCP."""
    asked = [*CONTROLS, FORWARDED_CONTROL] if forwarded else list(CONTROLS)
    found = {question: ask(server, *question) for question in asked}
    found[("tcp", CONTROLS[0][0])] = ask(server, *CONTROLS[0], tcp=True)
    return found


class _LogRate:
    """Server log lines per LOG_WINDOW seconds, from the log's length read once a second."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.start_lines = len(log)
        self.start = time.monotonic()
        self.marks: deque[tuple[float, int]] = deque([(self.start, self.start_lines)])
        self.most = 0

    def tick(self) -> None:
        now, lines = time.monotonic(), len(self.log)
        if now - self.marks[-1][0] < 1.0:
            return
        self.marks.append((now, lines))
        while now - self.marks[0][0] > LOG_WINDOW:
            self.marks.popleft()
        self.most = max(self.most, lines - self.marks[0][1])


def run(
    server: ServerProcess,
    mutator: Mutator,
    *,
    packets: int,
    seconds: float,
    forwarded: bool = False,
    window: int = 64,
    timeout: float = 10.0,
    control_every: int = 1000,
    progress: Callable[[Totals], None] | None = None,
    progress_every: float = 10.0,
) -> Totals:
    """Send up to `packets` mutated packets, for at most `seconds`, with at most `window`
    outstanding; then wait out the last replies. Control queries go every `control_every`
    packets on a socket of their own; `progress` is called every `progress_every` s."""
    return _Run(server, mutator, forwarded, window, timeout).go(
        packets, seconds, control_every, progress, progress_every
    )


class _Run:
    def __init__(
        self, server: ServerProcess, mutator: Mutator, forwarded: bool, window: int,
        timeout: float,
    ) -> None:
        self.server, self.mutator, self.forwarded = server, mutator, forwarded
        self.window, self.timeout = window, timeout
        self.totals = Totals()
        self.by_id: dict[int, Pending] = {}  # packets outstanding of 2 bytes or more, by ID
        self.order: deque[Pending] = deque()  # every packet outstanding, oldest first
        self.next_id = 0
        self.baseline = controls(server, forwarded)

    def go(
        self, packets: int, seconds: float, control_every: int,
        progress: Callable[[Totals], None] | None, progress_every: float,
    ) -> Totals:
        server, totals = self.server, self.totals
        pid = server.process.pid
        totals.rss_start_kib = rss_kib(pid)
        before = metrics(server)
        logs = _LogRate(server.log)
        self.sock = sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        # room for every reply outstanding, however slowly this process reads (what the
        # kernel drops all the same is counted in `client_drops`)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        sock.connect((server.host, server.port))
        sock.setblocking(False)
        start = time.monotonic()
        next_progress = start + progress_every
        sending = True
        try:
            while sending or self.order:
                now = time.monotonic()
                if sending and (totals.sent >= packets or now - start >= seconds):
                    sending = False
                    self._send(wire_query(PROBE_NAME, "A", Variant(), 0), probe=True)
                self._expire(now)
                while sending and len(self.order) < self.window and totals.sent < packets:
                    if not self._send(self.mutator.mutate()):
                        break
                    if totals.sent % control_every == 0:
                        self.check_controls()
                self._receive()
                logs.tick()
                if progress is not None and time.monotonic() >= next_progress:
                    totals.seconds = time.monotonic() - start
                    totals.rss_end_kib = rss_kib(pid)  # so far
                    next_progress += progress_every
                    progress(totals)
                if server.process.poll() is not None:
                    break
        finally:
            totals.client_drops = udp_drops(sock.getsockname()[1])
            sock.close()
        totals.seconds = time.monotonic() - start
        totals.alive = server.process.poll() is None
        if totals.alive:
            self.check_controls()
            after = metrics(server)
            totals.panics = value(after, "coredns_panics_total") - value(
                before, "coredns_panics_total"
            )
            for (name, labels), count in after.items():
                if name == "coredns_dns_responses_total":
                    rc = dict(labels)["rcode"]
                    was = before.get((name, labels), 0.0)
                    totals.server_rcodes[rc] = totals.server_rcodes.get(rc, 0.0) + count - was
            totals.rss_end_kib = rss_kib(pid)
        logs.tick()
        totals.log_lines = len(server.log) - logs.start_lines
        totals.log_window_max = logs.most
        totals.tracebacks = sum("Traceback" in line for line in server.log)
        return totals

    def check_controls(self) -> None:
        totals = self.totals
        totals.control_checks += 1
        try:
            now = controls(self.server, self.forwarded)
        except Exception as exc:  # a timeout, a reply that cannot be read: a failed check
            now = {("error", ""): (repr(exc), set())}
        if now != self.baseline:
            totals.control_failures += 1
            totals.example("control", f"{now} != {self.baseline}")

    def _send(self, packet: bytes, probe: bool = False) -> bool:
        """Send one packet under an ID no packet outstanding has; False if the socket's
        buffer is full."""
        totals = self.totals
        if len(packet) >= 2:
            while self.next_id in self.by_id:
                self.next_id = (self.next_id + 1) & 0xFFFF
            packet = self.next_id.to_bytes(2, "big") + packet[2:]
        owed = len(packet) >= 12 and not packet[2] & 0x80
        try:
            self.sock.send(packet)
        except BlockingIOError:
            return False
        pending = Pending(totals.sent, time.monotonic(), owed, packet, probe)
        if len(packet) >= 2:
            self.by_id[self.next_id] = pending
            self.next_id = (self.next_id + 1) & 0xFFFF
        self.order.append(pending)
        if not probe:
            totals.sent += 1
            totals.owed += owed
            totals.silent += not owed
        return True

    def _expire(self, now: float) -> None:
        """Drop the packets done with from the front; time out the oldest owed a reply."""
        order, totals = self.order, self.totals
        while order and (order[0].answered or now - order[0].sent > self.timeout):
            done = order.popleft()
            if done.answered:
                continue
            if len(done.packet) >= 2:
                self.by_id.pop(_ident(done.packet), None)
            if done.owed:
                totals.no_reply += 1
                totals.example("no_reply", done.packet.hex())

    def _receive(self) -> None:
        readable, _, _ = select.select([self.sock], [], [], 0.05)
        while readable:
            try:
                data = self.sock.recv(65535)
            except (BlockingIOError, ConnectionRefusedError):  # none left; the server is gone
                return
            self._reply(data)

    def _reply(self, data: bytes) -> None:
        totals = self.totals
        pending = self.by_id.pop(_ident(data), None) if len(data) >= 2 else None
        if pending is None:
            totals.unknown_id += 1
            totals.example("unknown_id", data.hex())
            return
        pending.answered = True
        if not pending.owed:
            totals.answered_response += 1
            totals.example("answered_response", f"{pending.packet.hex()} -> {data.hex()}")
        if len(data) < 12 or not data[2] & 0x80:
            totals.qr_unset += 1
            totals.example("qr_unset", f"{pending.packet.hex()} -> {data.hex()}")
        if len(data) > UDP_MAX:
            totals.too_big += 1
            totals.example("too_big", pending.packet.hex())
        try:
            code = dns.rcode.to_text(dns.message.from_wire(data).rcode())  # extended too
        except dns.exception.DNSException as exc:
            totals.malformed += 1
            totals.example("malformed", f"{pending.packet.hex()} -> {data.hex()} ({exc!r})")
            code = "malformed"
        if not pending.probe:
            totals.replies[code] += 1
        # every silent packet sent before this one was read (and not answered) before it
        for earlier in self.order:
            if earlier.seq >= pending.seq:
                break
            if not earlier.owed and not earlier.answered:
                earlier.answered = True
                if len(earlier.packet) >= 2:
                    self.by_id.pop(_ident(earlier.packet), None)


def _ident(packet: bytes) -> int:
    return packet[0] << 8 | packet[1]


PROBE_NAME = "probe.invalid."  # after the last packet: its reply settles the silent ones


def corefile(upstream: str | None) -> str:
    """The Corefile to fuzz: kubeadm's (cache, loop, loadbalance, prometheus...) forwarding to
    the loopback upstream at `upstream`; without one, the test Corefile and prometheus."""
    if upstream is None:
        return TEST_COREFILE.replace("    errors\n", "    errors\n    prometheus 127.0.0.1:0\n")
    return kubeadm_corefile({"/etc/resolv.conf": upstream, "       lameduck 5s\n": ""})
