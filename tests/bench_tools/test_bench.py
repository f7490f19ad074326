"""The benchmark's own tools: the query mixes it claims, and blast (bench/blast.c) built and
run against the real server."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest

from bench.blast import Load, build, run_blast
from bench.cluster import write_cluster
from bench.hotpath import PEER, build_handler, kind_of
from bench.queries import mixed, write_queries
from bench.run import CLUSTER_SIZES, MIXES
from bench.servers import Server, null_server
from harness.server import ServerProcess
from harness.wait import TIMEOUT
from harness.wire import Variant, wire_query


def test_mixes_are_what_the_readme_says(tmp_path: Path) -> None:
    cluster = write_cluster(tmp_path, *CLUSTER_SIZES["1k"])
    large, small = mixed(cluster, MIXES["large"]), mixed(cluster, MIXES["small"])
    assert len(large.distinct) > 100_000  # more than any cache of the server holds
    assert 10_000 < len(small.distinct) < 12_000
    for mix in (large, small):
        shares = {kind: n / len(mix.lines) for kind, n in mix.kinds.items()}
        assert shares["nxdomain"] == pytest.approx(0.52, abs=0.015)
        assert shares["hit"] == shares["nodata"] == pytest.approx(0.24, abs=0.01)


@pytest.fixture(scope="module")
def blast(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("gcc not installed (`make test` and `make bench-deps` install it)")
    return build(tmp_path_factory.mktemp("blast"))


@pytest.fixture
def server(demo_server: ServerProcess) -> Server:
    return Server("clusterdns", demo_server.process, demo_server.port)


def queries(tmp_path: Path) -> Path:
    names = ["nginx.demo.svc.cluster.local A", "nginx.demo.svc.cluster.local AAAA"]
    return write_queries(tmp_path / "queries.txt", [*names, "nope.demo.svc.cluster.local A"])


def test_one_pass_counts_every_reply(blast: Path, server: Server, tmp_path: Path) -> None:
    result = run_blast(blast, server, queries(tmp_path), Load(5, once=True), "0,1")
    assert (result.sent, result.received, result.lost) == (3, 3, 0)
    assert (result.answered, result.nodata, result.nxdomain, result.other_rcodes) == (1, 1, 1, 0)
    assert result.seconds < 1


def test_fixed_rate_keeps_its_schedule(blast: Path, server: Server, tmp_path: Path) -> None:
    result = run_blast(blast, server, queries(tmp_path), Load(1, 0.2, qps=200), "0,1")
    assert 190 <= result.sent <= 210
    assert result.received == result.sent and result.lost == 0
    assert 0 < result.p50_ms <= result.p99_ms < 100


def test_saturation_counts_only_after_the_warm_up(
    blast: Path, server: Server, tmp_path: Path
) -> None:
    result = run_blast(blast, server, queries(tmp_path), Load(0.5, 0.3), "0,1")
    assert result.received > 100 and result.lost == 0
    assert result.qps == pytest.approx(result.received / result.seconds, rel=0.01)
    assert result.nxdomain == pytest.approx(result.received / 3, rel=0.1)


def test_the_hot_path_tool_sees_the_mix_answered_as_the_bench_sends_it(tmp_path: Path) -> None:
    """bench/hotpath.py's handler is the served one: once the large mix has been asked
    twice, its NXDOMAIN share is the mix's and every other query is a repeat answered by its
    bytes (the first ask of a name is kept by its question, the second by its bytes)."""
    handler, lines = build_handler(tmp_path, "1k")
    asked = [
        wire_query(name + ".", qtype, Variant(), number)
        for number, (name, qtype) in enumerate(line.split() for line in lines[:20_000])
    ]
    for _ in range(2):
        replies = [handler.handle(query, False, PEER) for query in asked]
    kinds = Counter(kind_of(handler, *pair) for pair in zip(asked, replies, strict=True))
    assert set(kinds) == {"NXDOMAIN", "repeat (kept bytes)"}
    assert kinds["NXDOMAIN"] / len(asked) == pytest.approx(0.52, abs=0.03)


def test_the_null_server_answers_every_query_from_its_bytes(tmp_path: Path) -> None:
    """bench/null_server.py, the transport-only floor of bench/run.py: NXDOMAIN to any query,
    its ID and question kept, from the real listener over UDP."""
    with null_server(tmp_path, "0") as server:
        query = dns.message.make_query("anything.example.", "AAAA")
        reply = dns.query.udp(query, "127.0.0.1", port=server.port, timeout=TIMEOUT)
    assert reply.id == query.id and reply.question == query.question
    assert reply.rcode() == dns.rcode.NXDOMAIN and reply.flags & dns.flags.QR
