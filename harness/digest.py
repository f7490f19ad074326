"""`python -m harness.digest`: one digest of the replies the query handler gives (1) the demo
cluster's names, every type and every query variant, in mixed and lower case, and (2) the
first 30,000 queries of the benchmark's large mix on its 1k-service cluster; each asked
twice (the first answer keeps what the second is answered from). What tests compare between
the compiled hot path and its sources (CLUSTERDNS_PURE_PYTHON=1). Prints the digest, the
number of replies and how the hot path ran."""

from __future__ import annotations

import asyncio
import hashlib
import random
import tempfile
from collections.abc import Coroutine, Iterator
from pathlib import Path

from bench.hotpath import build_handler
from clusterdns import compiled
from clusterdns.server.handler import QueryHandler
from harness.paths import DEMO
from harness.resolvers import handler_for, make_resolver, state_from_file
from harness.wire import QTYPES, VARIANTS, Variant, demo_names, random_case, wire_query

SERIAL = 2026120500  # (an index's SOA serial is the time it was built)
BENCH_QUERIES = 30_000


def demo_queries() -> Iterator[tuple[QueryHandler, bytes, bool]]:
    resolver = make_resolver(state_from_file(DEMO))
    resolver.index.serial = SERIAL
    handler = handler_for(resolver)
    rng = random.Random(11)
    for name in demo_names(resolver):
        for qtype in QTYPES:
            for variant in VARIANTS:
                spelled = random_case(name, rng) if rng.random() < 0.5 else name
                data = wire_query(spelled, qtype, variant, rng.randrange(65536))
                yield handler, data, variant.over_tcp


def bench_queries() -> Iterator[tuple[QueryHandler, bytes, bool]]:
    with tempfile.TemporaryDirectory(prefix="clusterdns-digest-") as directory:
        handler, lines = build_handler(Path(directory), "1k")
    assert handler.answers is not None
    handler.answers.index.serial = SERIAL
    for number, line in enumerate(lines[:BENCH_QUERIES]):
        name, qtype = line.split()
        yield handler, wire_query(name + ".", qtype, Variant(), number & 0xFFFF), False


def main() -> None:
    digest, replies = hashlib.sha256(), 0
    for queries in (demo_queries(), bench_queries()):
        for handler, data, over_tcp in queries:
            for _ in range(2):
                reply = handler.handle(data, over_tcp)
                if isinstance(reply, Coroutine):
                    reply = asyncio.run(reply)
                assert reply is None or isinstance(reply, bytes)
                digest.update(b"-" if reply is None else len(reply).to_bytes(2) + reply)
                replies += 1
    print(digest.hexdigest(), replies, compiled.STATUS)


if __name__ == "__main__":
    main()
