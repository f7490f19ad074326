"""Workers' metrics summed on the first worker: snapshots, their sum, and a worker that is
slow or gone (over real socket pairs, in one process)."""

from __future__ import annotations

import asyncio
import pickle
import socket

from prometheus_client.parser import text_string_to_metric_families

from clusterdns.metrics.registry import METRICS, Registry, exposition_of, process_values
from clusterdns.server.workerstats import ANSWER, ASK, MetricsGatherer, MetricsReporter, WorkerLinks


def samples(text: bytes) -> dict[tuple[str, frozenset], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text.decode())
        for sample in family.samples
    }


QUERY = ("dns://:53", "cluster.local.", "")  # server, zone, view


def busy_metrics() -> Registry:
    metrics = METRICS.empty()
    family = metrics.families
    family["coredns_dns_requests_total"].inc((*QUERY, "udp", "1", "A"), 3)
    family["coredns_dns_responses_total"].inc((*QUERY, "NXDOMAIN", "kubernetes"), 3)
    for size in (40, 90, 700):
        family["coredns_dns_request_duration_seconds"].observe(QUERY, 0.0004)
        family["coredns_dns_request_size_bytes"].observe((*QUERY, "udp"), size)
    family["coredns_cache_hits_total"].inc(("dns://:53", "success", ".", ""), 5)
    family["coredns_cache_entries"].set(("dns://:53", "success", ".", ""), 7)
    family["coredns_panics_total"].inc((), 2)
    family["coredns_build_info"].set(("0.1.0", "", "python3.11"), 1)
    family["coredns_plugin_enabled"].set(("dns://:53", ".", "", "cache"), 1)
    family["coredns_kubernetes_dns_programming_duration_seconds"].observe(("cluster_ip",), 0.02)
    return metrics


def test_a_snapshot_added_twice_counts_twice():
    one = busy_metrics()
    total = METRICS.empty()
    total.add(one.snapshot())
    total.add(pickle.loads(pickle.dumps(one.snapshot())))  # as it crosses between workers
    mine, summed = one.snapshot(), total.snapshot()
    twice = {
        "coredns_dns_requests_total", "coredns_dns_responses_total", "coredns_cache_hits_total",
        "coredns_cache_entries", "coredns_panics_total",
    }  # fmt: skip
    for name in twice:
        assert summed[name] == {labels: 2 * count for labels, count in mine[name].items()}
    for name in (
        "coredns_dns_request_duration_seconds",
        "coredns_dns_request_size_bytes",
        "coredns_kubernetes_dns_programming_duration_seconds",
    ):
        assert summed[name] == {k: [2 * x for x in v] for k, v in mine[name].items()}
    # what every worker has alike is not added up: the plugins enabled, the build
    for name in ("coredns_plugin_enabled", "coredns_build_info"):
        assert summed[name] == mine[name] != {}
    assert summed["coredns_panics_total"] == {(): 4}


def test_the_first_worker_serves_the_sum_and_skips_a_worker_that_is_late(caplog):
    (first_peer, reporter_end), (second_peer, silent_end) = socket.socketpair(), socket.socketpair()
    gatherer = MetricsGatherer([first_peer, second_peer])  # the ends worker 0 keeps
    before = samples(exposition_of([], [])[2])
    asked = "coredns_dns_requests_total"

    async def scrape_twice() -> tuple[bytes, bytes]:
        reporter = MetricsReporter(reporter_end)
        reporter.start()
        first = (await gatherer.exposition())[2]
        # the silent worker now answers the first scrape late, and then the second in time
        task = asyncio.ensure_future(gatherer.exposition())
        requests = await asyncio.to_thread(silent_end.recv, 2 * ASK.size, socket.MSG_WAITALL)
        late, number = (ASK.unpack_from(requests, at)[0] for at in (0, ASK.size))
        stale = pickle.dumps((busy_metrics().snapshot(), process_values(), True))
        fresh = pickle.dumps((METRICS.empty().snapshot(), {"process_open_fds": 1000.0}, True))
        silent_end.sendall(
            ANSWER.pack(late, len(stale)) + stale + ANSWER.pack(number, len(fresh)) + fresh
        )
        return first, (await task)[2]

    first, second = asyncio.run(scrape_twice())
    assert any("did not report" in r.getMessage() for r in caplog.records)
    own = sum(v for (n, _), v in before.items() if n == asked)
    # this process's counts, twice in the first scrape (the reporter is this process too)
    # and the silent worker left out; in the second the stale answer is skipped
    assert sum(v for (n, _), v in samples(first).items() if n == asked) == 2 * own
    assert sum(v for (n, _), v in samples(second).items() if n == asked) == 2 * own
    # process figures: descriptors summed (the fresh answer said 1000), the limit this one's
    fds, limit = ("process_open_fds", frozenset()), ("process_max_fds", frozenset())
    assert samples(second)[fds] >= 2 * before[fds] + 1000 > samples(first)[fds]
    assert samples(second)[limit] == before[limit]
    for sock in (first_peer, second_peer, reporter_end, silent_end):
        sock.close()


def test_each_worker_keeps_only_its_own_ends():
    links = WorkerLinks(3)
    assert isinstance(WorkerLinks(2).kept_by(0), MetricsGatherer)
    reporter = links.kept_by(2)
    assert isinstance(reporter, MetricsReporter)
    assert [pair[0].fileno() for pair in links._pairs] == [-1, -1]  # the first worker's ends
    assert links._pairs[0][1].fileno() == -1 and reporter.sock is links._pairs[1][1]
    reporter.sock.close()


def test_ready_only_when_every_worker_is():
    (first_peer, reporter_end) = socket.socketpair()
    gatherer = MetricsGatherer([first_peer])
    own_status = [200]
    route = gatherer.ready(lambda: (own_status[0], "text/plain", b"OK" if own_status[0] == 200 else b"kubernetes"))

    async def probe_while(worker_ready: bool) -> tuple:
        reporter = MetricsReporter(reporter_end)
        reporter.ready = lambda: worker_ready
        reporter.start()
        try:
            return await route()
        finally:
            asyncio.get_running_loop().remove_reader(reporter_end.fileno())

    assert asyncio.run(probe_while(False))[:1] == (503,)
    assert asyncio.run(probe_while(False))[2] == b"workers"
    assert asyncio.run(probe_while(True))[0] == 200
    own_status[0] = 503  # this worker not synced: its own answer, no need to ask
    assert asyncio.run(probe_while(True))[2] == b"kubernetes"
    first_peer.close()
    reporter_end.close()
