"""Encoding replies keeps nothing per name: the names asked are without bound (every
search-path expansion, in any case), so a table of them grows for as long as the server runs.
A cache of every name written, lowered, took ~10 MiB of a soak's RSS (bench/soak.py)."""

from __future__ import annotations

import gc
import tracemalloc

from dnslib import DNSRecord

from clusterdns.dns.message import encode, parse_query
from harness.paths import DEMO
from harness.resolvers import make_resolver, state_from_file

NAMES = 2000


def test_replies_to_ever_new_names_leave_no_memory_behind():
    resolver = make_resolver(state_from_file(DEMO))
    names = [f"x{i}.nope.demo.svc.cluster.local." for i in range(NAMES)]  # NXDOMAIN
    names += [  # records, each name in its own case
        "".join(c.upper() if i >> (n % 10) & 1 else c for n, c in enumerate(name))
        for i, name in enumerate(["nginx.demo.svc.cluster.local."] * NAMES)
    ]
    queries = [parse_query(bytes(DNSRecord.question(name, "A").pack())) for name in names]
    answers = [resolver.resolve(q.question.qname, q.question.qtype) for q in queries]
    encode(queries[0], answers[0], 512)
    encode(queries[-1], answers[-1], 512)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        pairs = zip(queries, answers, strict=True)
        replies = sum(1 for query, answer in pairs if encode(query, answer, 512))
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert replies == 2 * NAMES
    assert kept < 50_000, f"{kept:,} bytes kept after {replies:,} replies"
