"""Soak the real server: churn, reloads and load for minutes on loopback, and its memory.

    python -m bench.soak [--minutes 30] [--qps 2000] [--tcp-qps 5] [--changes 1]
                         [--reload-every 60] [--sample-every 10] [--trace-malloc FRAMES]
                         [--workdir DIR]
    (or: make soak ARGS="...")

`clusterdns serve` (a subprocess) runs kubeadm's Corefile (cache, loop, loadbalance,
prometheus, `reload 2s 1s`) forwarding to the loopback test upstream (harness/upstream.py),
and reads the cluster live from the fake API server (harness/fakeapi.py) holding the
benchmark's cluster (bench/cluster.py: 1,000 services in 50 namespaces and `big.bench`, a
headless service of 100 endpoints). For --minutes, all at once:

- churn: --changes a second through the fake API, in turn: an endpoint turns ready or not,
  an endpoint moves to a new address (a new pod), a service and its slice are deleted, the
  longest-deleted one comes back with a new ClusterIP;
- reloads: the Corefile is rewritten every --reload-every s with another `ttl` (a new
  resolver and index; the informer stays);
- UDP: blast (bench/blast.c) at --qps on schedule over the `large` mix of bench/queries.py
  (pods walking their search path), one query in 50 a name forwarded upstream;
- TCP: --tcp-qps queries a second, each on a new connection (dnspython);
- controls: names the churn leaves alone (a ClusterIP and a headless service, SRV, PTR,
  NXDOMAIN, `big.bench` over TCP, a forwarded name), asked over UDP and TCP every sample.

Every --sample-every s a line: the server's RSS (VmRSS), open fds and threads, its replies
a second by rcode since the last line (coredns_dns_responses_total), changes and reloads so
far. The exit status is 1 (FAILED, and why) when, after the warm-up (the first third), RSS
grows (the least-squares slope over the rest above SLOPE_LIMIT MiB/min once its line rises
more than GRAIN MiB, or the end above the first sample after the warm-up by more than
RISE_LIMIT MiB), or fds or threads grow; when a
traceback is in the server's log, a control query is answered otherwise than at the start, a
TCP query goes unanswered, a reload written is not applied, or the server dies. The workdir
keeps the cluster, the query file, the Corefile, the server's log and the samples (JSON).

--trace-malloc FRAMES: the server runs under tracemalloc (bench/traced.py, FRAMES frames a
traceback; slower, so not a measure of RSS) and writes a snapshot after the warm-up and at the
end; the allocations that grew most in between are printed, by traceback.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import os
import random
import signal
import statistics
import sys
import tempfile
import threading
import time
import tracemalloc
from collections import Counter, deque
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import dns.exception
import dns.reversename

from bench.blast import Load, blasting, build
from bench.cluster import BIG_NAMESPACE, BIG_SERVICE, Cluster, write_cluster
from bench.queries import mixed, write_queries
from bench.servers import Server
from harness.fakeapi import FakeKubeAPI
from harness.fuzz import rss_kib
from harness.http import metrics
from harness.query import ask
from harness.server import ServerProcess, kubeadm_corefile, start_server, stop_server
from harness.upstream import FakeUpstream

LOADER_CORE = "1"  # blast's; the server and this script go where the kernel puts them
LOOKUPS = 130_000  # pod lookups of the mix: bench/run.py's `large` (545,510 queries)
FORWARDED_EVERY = 50  # one UDP query in so many is a forwarded name
FORWARDED_NAMES = 200  # of so many (the cache keeps each 30 s: some are forwarded anew)
TCP_FORWARDED_EVERY = 10
RELOADED = "plugin/reload: Running configuration SHA512"  # the log line of a reload applied
# RSS after the warm-up may rise by at most RISE_LIMIT MiB in all, and at most SLOPE_LIMIT
# MiB a minute along its least-squares line once that line rises more than GRAIN MiB (less is
# the allocator's grain: an arena, a table resized). A leak of a reply a query, a name a
# change or an index a reload is MiBs a minute at this load; what is bounded fills up in
# the warm-up (see bench/README.md, "soak.py").
SLOPE_LIMIT = 0.2
RISE_LIMIT = 4.0
GRAIN = 1.0
RELOAD_SETTLE = 10.0  # s: no reload is written closer to the end (each applies within 3 s)
IN_FLIGHT = 2  # fds or threads that come and go: a TCP query's, a watch re-opened


@dataclass
class Sample:
    seconds: float
    rss_kib: int
    fds: int
    threads: int
    replies: dict[str, float]  # by rcode since the last sample (the server's count)
    changes: int
    reloads: int
    controls_failed: int


def corefile(upstream: str, ttl: int) -> str:
    """kubeadm's Corefile forwarding to `upstream`, reloaded within 2-3 s of a change."""
    return kubeadm_corefile({
        "/etc/resolv.conf": upstream,
        "       lameduck 5s\n": "",
        "    reload\n": "    reload 2s 1s\n",
        "ttl 30": f"ttl {ttl}",
    })  # fmt: skip


def replace(path: Path, text: str) -> None:
    """Write `path` whole at once, as a ConfigMap update does (the watcher never reads half)."""
    part = path.with_suffix(".new")
    part.write_text(text)
    part.replace(path)


def process_status(pid: int) -> tuple[int, int, int]:
    """(VmRSS in KiB, open fds, threads) of a process."""
    threads = next(
        int(line.split()[1])
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith("Threads:")
    )
    return rss_kib(pid), len(os.listdir(f"/proc/{pid}/fd")), threads


class Paced:
    """A thread that takes `step(i)` (i = 0, 1, ...) `per_second` times a second, on
    schedule, from `running` until it stops."""

    def __init__(self, per_second: float, name: str) -> None:
        self.interval = 1 / per_second
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def step(self, i: int) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        next_at = time.monotonic()
        for i in itertools.count():
            next_at += self.interval
            if self.stopping.wait(max(0.0, next_at - time.monotonic())):
                return
            self.step(i)


@contextmanager
def running(*workers: Paced) -> Iterator[None]:
    for worker in workers:
        worker.thread.start()
    try:
        yield
    finally:
        for worker in workers:
            worker.stopping.set()
        for worker in workers:
            worker.thread.join(10)


class Churn(Paced):
    """Changes through the fake API, `per_second` a second, the kinds in turn (`KINDS`), on
    services picked at random but for those in `spared` (the controls')."""

    KINDS = ("ready", "move", "delete", "restore")

    def __init__(
        self, api: FakeKubeAPI, items: list[dict[str, Any]], spared: set[tuple[str, str]],
        per_second: float,
    ) -> None:  # fmt: skip
        super().__init__(per_second, "churn")
        self.api = api
        self.services: dict[tuple[str, str], dict[str, Any]] = {}
        self.slices: dict[tuple[str, str], dict[str, Any]] = {}
        for item in items:
            meta = item["metadata"]
            if item["kind"] == "Service":
                self.services[key(item)] = item
            elif item["kind"] == "EndpointSlice":
                service = meta["labels"]["kubernetes.io/service-name"]
                self.slices[(meta["namespace"], service)] = item
        self.live = sorted(set(self.services) - spared)
        self.gone: deque[tuple[str, str]] = deque()
        self.done: Counter[str] = Counter()
        self.rng = random.Random(1)
        self.addresses = 0  # new pod and service addresses so far

    @property
    def changes(self) -> int:
        return sum(self.done.values())

    def step(self, i: int) -> None:
        kind = self.KINDS[i % len(self.KINDS)]
        getattr(self, f"_{kind}")()
        self.done[kind] += 1

    def _address(self, first: int) -> str:
        self.addresses += 1
        n = self.addresses
        return f"10.{first}.{n >> 8 & 255}.{n & 255}"

    def _changed_slice(self, change: Callable[[dict[str, Any]], None]) -> None:
        key = self.rng.choice(self.live)
        changed = copy.deepcopy(self.slices[key])
        change(changed["endpoints"][self.rng.randrange(len(changed["endpoints"]))])
        self.api.update(changed)
        self.slices[key] = changed

    def _ready(self) -> None:
        def flip(endpoint: dict[str, Any]) -> None:
            endpoint["conditions"] = {"ready": not endpoint["conditions"]["ready"]}

        self._changed_slice(flip)

    def _move(self) -> None:
        def move(endpoint: dict[str, Any]) -> None:
            endpoint["addresses"] = [self._address(200)]

        self._changed_slice(move)

    def _delete(self) -> None:
        key = self.live.pop(self.rng.randrange(len(self.live)))
        self.api.delete(self.slices[key])
        self.api.delete(self.services[key])
        self.gone.append(key)

    def _restore(self) -> None:
        key = self.gone.popleft()
        service = copy.deepcopy(self.services[key])
        spec = service["spec"]
        if spec["clusterIP"] != "None":  # a service made again gets a new ClusterIP
            spec["clusterIP"] = self._address(97)
            spec["clusterIPs"] = [spec["clusterIP"]]
        self.api.add(service)
        self.api.add(self.slices[key])
        self.services[key] = service
        self.live.append(key)


class TcpLoad(Paced):
    """`per_second` queries a second over TCP, each on a new connection: the mix's lines in
    turn, every TCP_FORWARDED_EVERY-th a forwarded name. Replies counted by rcode."""

    def __init__(self, server: ServerProcess, lines: list[str], per_second: float) -> None:
        super().__init__(per_second, "tcp")
        self.server, self.lines = server, lines
        self.rcodes: Counter[str] = Counter()
        self.unanswered = 0

    def step(self, i: int) -> None:
        if i % TCP_FORWARDED_EVERY == 0:
            name, qtype = forwarded_name(i // TCP_FORWARDED_EVERY), "A"
        else:
            name, qtype = self.lines[i % len(self.lines)].split()
        try:
            self.rcodes[ask(self.server, name, qtype, tcp=True)[0]] += 1
        except (dns.exception.DNSException, OSError):
            self.unanswered += 1


def forwarded_name(i: int) -> str:
    return f"ext-{i % FORWARDED_NAMES}.example.com."


def udp_lines(cluster: Cluster) -> list[str]:
    """The `large` mix with a forwarded name every FORWARDED_EVERY-th line."""
    lines = mixed(cluster, LOOKUPS).lines
    for at in range(0, len(lines), FORWARDED_EVERY):
        lines[at] = f"{forwarded_name(at // FORWARDED_EVERY)} A"
    return lines


def controlled(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The services the controls ask for (the churn spares them): the cluster's first
    ClusterIP and first headless service, and `big.bench`."""
    services = [item for item in items if item["kind"] == "Service"]
    return [
        next(s for s in services if s["spec"]["clusterIP"] != "None"),
        next(s for s in services if s["spec"]["clusterIP"] == "None"),
        next(s for s in services if key(s) == (BIG_NAMESPACE, BIG_SERVICE)),
    ]


def key(obj: dict[str, Any]) -> tuple[str, str]:
    return obj["metadata"]["namespace"], obj["metadata"]["name"]


def control_queries(
    plain: dict[str, Any], headless: dict[str, Any], big: dict[str, Any]
) -> list[tuple[str, str, bool]]:
    """(name, type, over TCP): the services' A, the headless one's SRV, the ClusterIP's PTR,
    a name no service has, a forwarded name, over UDP and TCP; `big` (100 A records) over
    TCP only."""

    def name(service: dict[str, Any]) -> str:
        namespace, service_name = key(service)
        return f"{service_name}.{namespace}.svc.cluster.local."

    asked = [
        (name(plain), "A"),
        (name(headless), "A"),
        (f"_http._tcp.{name(headless)}", "SRV"),
        (dns.reversename.from_address(plain["spec"]["clusterIP"]).to_text(), "PTR"),
        (f"nope.{key(plain)[0]}.svc.cluster.local.", "A"),
        (forwarded_name(0), "A"),
    ]
    return [(n, t, tcp) for n, t in asked for tcp in (False, True)] + [(name(big), "A", True)]


Answers = dict[tuple[str, str, bool], tuple[str, frozenset[str]]]


def answers(server: ServerProcess, controls: list[tuple[str, str, bool]]) -> Answers:
    found: Answers = {}
    for name, qtype, tcp in controls:
        try:
            rcode, data = ask(server, name, qtype, tcp=tcp)
        except (dns.exception.DNSException, OSError) as exc:
            rcode, data = repr(exc), set()
        found[(name, qtype, tcp)] = (rcode, frozenset(data))
    return found


def rcodes(server: ServerProcess) -> Counter[str]:
    """The server's replies so far by rcode (coredns_dns_responses_total)."""
    found: Counter[str] = Counter()
    for (name, labels), count in metrics(server).items():
        if name == "coredns_dns_responses_total":
            found[dict(labels)["rcode"]] += int(count)
    return found


@dataclass
class Verdict:
    warm_up_s: float
    rss_start_mib: float = 0.0
    rss_warm_mib: float = 0.0  # the first sample after the warm-up
    rss_end_mib: float = 0.0
    rss_max_mib: float = 0.0
    slope_mib_min: float = 0.0  # after the warm-up
    fds: tuple[int, int, int] = (0, 0, 0)  # start, after warm-up, end
    threads: tuple[int, int, int] = (0, 0, 0)
    failures: list[str] = field(default_factory=list)

    def judge(self, samples: list[Sample]) -> None:
        after = [s for s in samples if s.seconds >= self.warm_up_s] or samples[-1:]
        mib = [s.rss_kib / 1024 for s in samples]
        self.rss_start_mib, self.rss_end_mib, self.rss_max_mib = mib[0], mib[-1], max(mib)
        self.rss_warm_mib = after[0].rss_kib / 1024
        if len(after) >= 3:
            self.slope_mib_min = statistics.linear_regression(
                [s.seconds / 60 for s in after], [s.rss_kib / 1024 for s in after]
            ).slope
        span = (after[-1].seconds - after[0].seconds) / 60
        if self.slope_mib_min > SLOPE_LIMIT and self.slope_mib_min * span > GRAIN:
            self.failures.append(f"RSS grows {self.slope_mib_min:.2f} MiB/min after the "
                                 f"warm-up (at most {SLOPE_LIMIT})")  # fmt: skip
        if self.rss_end_mib - self.rss_warm_mib > RISE_LIMIT:
            self.failures.append(f"RSS rose {self.rss_end_mib - self.rss_warm_mib:.1f} MiB "
                                 f"after the warm-up (at most {RISE_LIMIT})")  # fmt: skip
        self.fds = (samples[0].fds, after[0].fds, samples[-1].fds)
        self.threads = (samples[0].threads, after[0].threads, samples[-1].threads)
        for what, (_, warm, end) in (("fds", self.fds), ("threads", self.threads)):
            if end > warm + IN_FLIGHT:
                self.failures.append(f"{what} grew after the warm-up: {warm} → {end}")


def sample_line(sample: Sample, every: float) -> str:
    replies = sample.replies
    other = sum(n for rc, n in replies.items() if rc not in ("NOERROR", "NXDOMAIN", "SERVFAIL"))
    rate = [replies.get(rc, 0) / every for rc in ("NOERROR", "NXDOMAIN", "SERVFAIL")]
    return (f"{sample.seconds / 60:6.1f} {sample.rss_kib / 1024:8.1f} {sample.fds:4} "
            f"{sample.threads:7} {rate[0]:8.0f} {rate[1]:8.0f} {rate[2]:8.1f} {other / every:6.1f} "
            f"{sample.changes:7} {sample.reloads:7} {sample.controls_failed:8}")  # fmt: skip


HEADER = (" min   RSS MiB  fds threads  NOERROR/s  NXDOMAIN/s SERVFAIL/s other/s changes "
          "reloads controls failed")  # fmt: skip


def snapshot(server: ServerProcess, directory: Path, number: int) -> Path:
    """Have the server under bench/traced.py write its tracemalloc snapshot `number`."""
    path = directory / f"{number}.tracemalloc"
    server.process.send_signal(signal.SIGUSR2)
    deadline = time.monotonic() + 300
    while not path.exists():
        if time.monotonic() > deadline or server.process.poll() is not None:
            raise RuntimeError(f"no tracemalloc snapshot {path}")
        time.sleep(0.5)
    return path


def grown(first: Path, last: Path, top: int = 10) -> str:
    """The allocations that grew most from snapshot `first` to `last`, by traceback."""
    ours = [tracemalloc.Filter(False, tracemalloc.__file__),
            tracemalloc.Filter(False, "*/bench/traced.py")]  # fmt: skip
    old = tracemalloc.Snapshot.load(str(first)).filter_traces(ours)
    new = tracemalloc.Snapshot.load(str(last)).filter_traces(ours)
    total = [sum(stat.size for stat in s.statistics("filename")) / 2**20 for s in (old, new)]
    lines = [f"traced by tracemalloc: {total[0]:.1f} MiB after the warm-up, {total[1]:.1f} at "
             f"the end; the {top} that grew most:"]  # fmt: skip
    stats = sorted(new.compare_to(old, "traceback"), key=lambda stat: -stat.size_diff)
    for stat in stats[:top]:
        lines.append(f"{stat.size_diff / 1024:+9.0f} KiB {stat.count_diff:+7} blocks, "
                     f"{stat.size / 1024:.0f} KiB now, allocated at:")  # fmt: skip
        lines += [f"      {line}" for line in stat.traceback.format(limit=8)]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=30.0, help="how long (30)")
    parser.add_argument("--qps", type=int, default=2000, help="UDP queries a second (2000)")
    parser.add_argument("--tcp-qps", type=float, default=5.0, help="TCP queries a second (5)")
    parser.add_argument("--changes", type=float, default=1.0, help="cluster changes a second")
    parser.add_argument("--reload-every", type=float, default=60.0, help="s between reloads")
    parser.add_argument("--sample-every", type=float, default=10.0, help="s between samples")
    parser.add_argument("--trace-malloc", type=int, default=0, metavar="FRAMES",
                        help="the server under tracemalloc: what grew after the warm-up")
    parser.add_argument("--workdir", type=Path, help="default: a new /tmp/clusterdns-soak-*")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="clusterdns-soak-"))
    workdir.mkdir(parents=True, exist_ok=True)
    seconds = args.minutes * 60
    blast = build(workdir)
    cluster = write_cluster(workdir / "cluster")
    items = json.loads(cluster.snapshot.read_text())["items"]
    queries = write_queries(workdir / "queries.txt", udp_lines(cluster))
    spared = controlled(items)
    controls = control_queries(*spared)
    conf = workdir / "Corefile"
    with ExitStack() as stack:
        upstream = stack.enter_context(FakeUpstream())
        api = stack.enter_context(FakeKubeAPI(bookmark_interval=10))
        for item in items:
            api.add(item)
        conf.write_text(corefile(upstream.address, 30))
        kubeconfig = api.write_kubeconfig(workdir / "kubeconfig")
        launcher = ("-m", "bench.traced", str(workdir), str(args.trace_malloc))
        server = start_server(
            ["--conf", str(conf), "--kubeconfig", str(kubeconfig)],
            launcher=launcher if args.trace_malloc else ("-m", "clusterdns"),
        )
        stack.callback(lambda: (workdir / "server.log").write_text("".join(server.log)))
        stack.callback(stop_server, server)
        pid = server.process.pid
        print(f"soaking clusterdns (pid {pid}, port {server.port}) for {args.minutes:g} min: "
              f"{args.qps} UDP + {args.tcp_qps:g} TCP queries/s, {args.changes:g} changes/s, "
              f"a reload every {args.reload_every:g} s; workdir {workdir}", flush=True)  # fmt: skip
        baseline = answers(server, controls)
        churn = Churn(api, items, {key(service) for service in spared}, args.changes)
        tcp = TcpLoad(server, queries.read_text().split("\n")[:-1], args.tcp_qps)
        verdict = Verdict(warm_up_s=seconds / 3)
        samples: list[Sample] = []
        failed_controls = 0
        written = 0
        snapshots: list[Path] = []
        start = time.monotonic()
        counted = rcodes(server)
        load = Load(seconds, qps=args.qps)
        with blasting(blast, Server("clusterdns", server.process, server.port), queries,
                      load, LOADER_CORE) as blasted, running(churn, tcp):  # fmt: skip
            print(HEADER, flush=True)
            next_sample, next_reload = start, start + args.reload_every
            while server.process.poll() is None:
                now = time.monotonic()
                if now >= next_reload and now < start + seconds - RELOAD_SETTLE:
                    written += 1
                    replace(conf, corefile(upstream.address, 30 + written % 2))
                    next_reload += args.reload_every
                if now >= next_sample:
                    now_counted = rcodes(server)
                    failed = answers(server, controls) != baseline
                    failed_controls += failed
                    rss, fds, threads = process_status(pid)
                    samples.append(Sample(
                        now - start, rss, fds, threads, dict(now_counted - counted),
                        churn.changes, sum(RELOADED in line for line in server.log),
                        failed_controls,
                    ))  # fmt: skip
                    counted = now_counted
                    print(sample_line(samples[-1], args.sample_every), flush=True)
                    ending, warm = now >= start + seconds, now - start >= verdict.warm_up_s
                    if args.trace_malloc and (ending or (warm and not snapshots)):
                        snapshots.append(snapshot(server, workdir, len(snapshots)))
                    if ending:
                        break
                    next_sample += args.sample_every
                time.sleep(max(0.0, min(next_sample, next_reload) - time.monotonic()))
            result = blasted() if server.process.poll() is None else None
        verdict.judge(samples)
        alive = server.process.poll() is None
        total = rcodes(server) if alive else Counter()
        reloads = sum(RELOADED in line for line in server.log)
        tracebacks = sum("Traceback" in line for line in server.log)
    (workdir / "samples.json").write_text(json.dumps([asdict(s) for s in samples], indent=1))
    print()
    rows = [
        ("RSS MiB: start, after warm-up, end (max)",
         f"{verdict.rss_start_mib:.1f}, {verdict.rss_warm_mib:.1f}, {verdict.rss_end_mib:.1f} "
         f"({verdict.rss_max_mib:.1f})"),
        ("RSS slope after warm-up, MiB/min", f"{verdict.slope_mib_min:+.3f}"),
        ("fds: start, after warm-up, end", ", ".join(map(str, verdict.fds))),
        ("threads: start, after warm-up, end", ", ".join(map(str, verdict.threads))),
        ("server replies by rcode", ", ".join(f"{rc} {n:,}" for rc, n in total.most_common())),
        ("UDP (blast): sent, received, lost",
         f"{result.sent:,}, {result.received:,}, {result.lost:,}" if result else "-"),
        ("UDP (blast): NXDOMAIN / NOERROR data / NODATA / other",
         f"{result.nxdomain:,} / {result.answered:,} / {result.nodata:,} / "
         f"{result.other_rcodes:,}" if result else "-"),
        ("UDP (blast): p50, p99 ms",
         f"{result.p50_ms:.3f}, {result.p99_ms:.3f}" if result else "-"),
        ("TCP queries by rcode; unanswered",
         ", ".join(f"{rc} {n:,}" for rc, n in tcp.rcodes.most_common())
         + f"; {tcp.unanswered}"),
        ("changes", ", ".join(f"{kind} {n}" for kind, n in churn.done.items())),
        ("reloads: written, applied", f"{written}, {reloads}"),
        ("control checks, failed", f"{len(samples)}, {failed_controls}"),
        ("tracebacks in the server's log", str(tracebacks)),
    ]  # fmt: skip
    width = max(len(label) for label, _ in rows)
    for label, text in rows:
        print(f"{label:<{width}}  {text}")
    if len(snapshots) == 2:
        print("\n" + grown(snapshots[0], snapshots[1]))
    failures = verdict.failures
    if not alive:
        failures.append("the server died")
    if tracebacks:
        failures.append(f"{tracebacks} tracebacks in the server's log ({workdir}/server.log)")
    if failed_controls:
        failures.append(f"{failed_controls} control checks failed")
    if tcp.unanswered:
        failures.append(f"{tcp.unanswered} TCP queries unanswered")
    if reloads != written:
        failures.append(f"{written} reloads written, {reloads} applied")
    if failures:
        print("\nFAILED: " + "; ".join(failures))
        return 1
    print("\nOK: every check held")
    return 0


if __name__ == "__main__":
    sys.exit(main())
