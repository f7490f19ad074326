"""The wire answers give byte for byte what the slow path gives: over the whole demo cluster,
every query type, random case mixes, EDNS variants, RD and both transports; records kept per
name, denials from one template per name length, nothing kept per question."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import struct
from collections.abc import Coroutine

import pytest
from dnslib import QTYPE, RCODE, DNSRecord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.cluster import cluster_items
from bench.queries import lookup
from clusterdns.config.blocks import load_config
from clusterdns.dns import message as wire
from clusterdns.dns.message import parse_query, size_limit
from clusterdns.dns.request import question_key
from clusterdns.plugins.kubernetes.answers import WireAnswers, denial_template_fits, scope_of
from clusterdns.plugins.kubernetes.objects import Service
from clusterdns.plugins.kubernetes.resolver import Resolver
from clusterdns.server.block import Block, build_block
from clusterdns.server.directives import PLUGINS
from clusterdns.server.handler import QueryHandler
from clusterdns.transport.protocols import Reply
from harness.paths import DEMO
from harness.resolvers import handler_for, make_resolver, state_from_file
from harness.snapshots import big_headless_snapshot, write_snapshot
from harness.wire import QTYPES, VARIANTS, Variant, demo_names, random_case, wire_query


@pytest.fixture(scope="module")
def resolver() -> Resolver:
    return make_resolver(state_from_file(DEMO))


def uncached(resolver: Resolver) -> QueryHandler:
    return handler_for(resolver, WireAnswers(resolver.index, capacity=0))


def answered(reply: Reply) -> bytes | None:
    """A reply as bytes: one still to come (an ExternalName's target outside the zones,
    asked of the server itself) awaited to its end."""
    return asyncio.run(reply) if isinstance(reply, Coroutine) else reply


def test_whole_demo_cluster_case_mixes_and_edns(resolver):
    cached, plain = handler_for(resolver), uncached(resolver)
    rng = random.Random(20)
    kept = 0  # questions answered from the index alone, asked twice: the second is a hit
    for name in demo_names(resolver):
        for qtype in QTYPES:
            answer = resolver.resolve(name, getattr(QTYPE, qtype))
            for variant in rng.sample(VARIANTS, 2):
                # (SRV questions are kept by their exact case: random case makes a new one)
                kept += qtype not in ("AXFR", "SRV") and not answer.forward and not answer.chase
                for _ in range(2):  # a miss that fills the cache, then a hit
                    data = wire_query(random_case(name, rng), qtype, variant, rng.randrange(65536))
                    assert answered(cached.handle(data, variant.over_tcp)) == answered(
                        plain.handle(data, variant.over_tcp)
                    ), (name, qtype, variant)
                # the same bytes with another ID
                data = rng.randrange(65536).to_bytes(2) + data[2:]
                assert answered(cached.handle(data, variant.over_tcp)) == answered(
                    plain.handle(data, variant.over_tcp)
                ), (name, qtype, variant)
    assert kept > 1000
    assert cached.answers.hits >= 2 * kept  # more: variants that differ only in ignored ways


def test_every_variant_on_a_few_names(resolver):
    cached, plain = handler_for(resolver), uncached(resolver)
    rng = random.Random(3)
    names = ["web.demo.svc.cluster.local.", "_http._tcp.web.demo.svc.cluster.local.",
             "nope.demo.svc.cluster.local.", "api.demo.svc.cluster.local.",
             "frontend.demo.svc.cluster.local.", "34.12.96.10.in-addr.arpa."]
    for name in names:
        for qtype in ("A", "AAAA", "SRV", "PTR", "CNAME"):
            for variant in VARIANTS:
                for _ in range(3):
                    data = wire_query(random_case(name, rng), qtype, variant, rng.randrange(65536))
                    expected = plain.handle(data, variant.over_tcp)
                    assert cached.handle(data, variant.over_tcp) == expected
    # every asking after the first, but for SRV (kept by exact case); more where variants
    # differ only in what the server ignores (a buffer size below 512 reads as 512)
    assert cached.answers.hits >= 2 * len(names) * 4 * len(VARIANTS)


def test_negative_replies_are_what_dnslib_writes(resolver, monkeypatch):
    """NXDOMAIN/NODATA are written without dnslib's objects: the same bytes as its pack."""
    rng = random.Random(7)
    cases = []
    for name in demo_names(resolver):
        for qtype in QTYPES:
            for variant in rng.sample(VARIANTS, 3):
                data = wire_query(random_case(name, rng), qtype, variant, rng.randrange(65536))
                parsed = parse_query(data)
                answer = resolver.resolve(parsed.question.qname, parsed.question.qtype)
                cases.append((parsed, answer, size_limit(parsed.edns_size, variant.over_tcp)))
    fast = [wire.encode(*case) for case in cases]
    assert sum(wire._negative(*case, wire.UDP_MAX_SIZE) is not None for case in cases) > 1000
    monkeypatch.setattr(wire, "_negative", lambda *_: None)
    assert fast == [wire.encode(*case) for case in cases]


def test_a_reply_too_big_for_the_query_is_cut_by_the_slow_path(tmp_path):
    """The whole reply is kept (written from the index at the first query); a query whose
    buffer it overflows is cut by the slow path, and the cut reply is never kept."""
    big = make_resolver(state_from_file(big_headless_snapshot(tmp_path, endpoints=100)))
    cached, plain = handler_for(big), uncached(big)
    for variant in (Variant(), Variant(edns=1232), Variant(over_tcp=True), Variant(edns=4096)):
        for ident in (1, 2):
            data = wire_query("big.demo.svc.cluster.local.", "A", variant, ident)
            reply = cached.handle(data, variant.over_tcp)
            assert reply == plain.handle(data, variant.over_tcp)
    assert cached.answers.hits == 2  # both over TCP; 100 A records overflow 4096 too
    assert len(cached.answers) == 1


def test_owner_names_keep_the_question_case(resolver):
    """Whatever the case asked (a mixed-case name is answered by the slow path every
    time), records are the resolver's; owners equal to the question are exactly as asked."""
    handler = handler_for(resolver)
    for name, qtype in [("NGINX.Demo.SVC.cluster.LOCAL.", "A"), ("_HTTP._tcp.Web.demo.svc.cluster.local.", "SRV"),
                        ("Nope.Demo.svc.cluster.local.", "A"), ("FrontEnd.demo.svc.cluster.local.", "A")]:
        for ident in (7, 8):  # a miss, then a hit
            reply = DNSRecord.parse(handler.handle(wire_query(name, qtype, Variant(), ident), False))
            assert reply.header.id == ident
            assert str(reply.q.qname) == name
            expected = resolver.resolve(name, getattr(QTYPE, qtype))
            assert [str(rr).lower() for rr in reply.rr] == [str(rr).lower() for rr in expected.answer]
            assert [str(rr).lower() for rr in reply.auth] == [str(rr).lower() for rr in expected.authority]
            if reply.rr:
                assert str(reply.rr[0].rname) == name


def test_a_change_of_the_index_is_seen_at_once():
    state = state_from_file(DEMO)
    resolver = make_resolver(state)
    handler = handler_for(resolver)
    data = wire_query("nginx.demo.svc.cluster.local.", "A", Variant(), 1)
    handler.handle(data, False)
    assert handler.handle(data, False) == uncached(resolver).handle(data, False)
    nginx = state.services[("demo", "nginx")]
    state.upsert(dataclasses.replace(nginx, cluster_ips=("10.96.99.99",)))
    reply = DNSRecord.parse(handler.handle(data, False))
    assert [str(rr.rdata) for rr in reply.rr] == ["10.96.99.99"]
    state.delete(Service, ("demo", "nginx"))
    assert DNSRecord.parse(handler.handle(data, False)).header.rcode == RCODE.NXDOMAIN


def test_a_change_drops_only_what_it_can_reach_and_serials_follow():
    """Under endpoint churn: other services' replies and search-path NXDOMAINs stay cached,
    with the new SOA serial written in; the changed service's, its namespace's on a namespace
    change, and PTRs (any service may own an IP) go."""
    state = state_from_file(DEMO)
    resolver = make_resolver(state)
    handler, plain = handler_for(resolver), uncached(resolver)
    questions = {
        "nginx": wire_query("nginx.demo.svc.cluster.local.", "A", Variant(), 1),
        "expansion": wire_query("web.demo.svc.cluster.local.demo.svc.cluster.local.", "A", Variant(), 2),
        "nodata": wire_query("kubernetes.default.svc.cluster.local.", "AAAA", Variant(edns=1232), 3),
        "junk": wire_query("foo.cluster.local.", "A", Variant(), 4),
        "ptr": wire_query("34.12.96.10.in-addr.arpa.", "PTR", Variant(), 5),
        "web": wire_query("web.demo.svc.cluster.local.", "SRV", Variant(), 6),
    }
    for data in questions.values():
        handler.handle(data, False)
    serial = resolver.index.serial
    (web,) = state.slices_of(("demo", "web"))
    state.upsert(dataclasses.replace(web, endpoints=web.endpoints[:2]))  # web-2 goes
    assert resolver.index.serial != serial
    hits = handler.answers.hits
    for name in ("nginx", "expansion", "nodata", "junk"):
        assert handler.handle(questions[name], False) == plain.handle(questions[name], False), name
    assert handler.answers.hits == hits + 4  # all four still cached, serial rewritten
    for name in ("ptr", "web"):
        assert handler.handle(questions[name], False) == plain.handle(questions[name], False), name
    assert handler.answers.hits == hits + 4  # both were dropped: answered afresh
    state.delete(type(state.namespaces[("", "default")]), ("", "default"))
    assert DNSRecord.parse(handler.handle(questions["nodata"], False)).header.rcode == RCODE.NXDOMAIN
    assert handler.handle(questions["nginx"], False) == plain.handle(questions["nginx"], False)


def test_nothing_is_kept_before_the_first_sync():
    state = state_from_file(DEMO)
    state.synced = False
    handler = handler_for(make_resolver(state))
    data = wire_query("nope.demo.svc.cluster.local.", "A", Variant(), 1)
    for _ in range(2):
        assert DNSRecord.parse(handler.handle(data, False)).header.rcode == RCODE.SERVFAIL
    assert len(handler.answers) == 0 and handler.answers.hits == 0


class CountingRelay:
    """Stands in for the cache and forwarder of the block."""

    def __init__(self) -> None:
        self.calls = 0

    def matches(self, name):
        return True

    def cached(self, asked):
        return None

    async def fetch(self, asked):
        self.calls += 1
        return b"upstream reply"


def test_forwarded_answers_and_externalname_chases_are_not_kept(resolver):
    forwarder = CountingRelay()
    handler = QueryHandler([Block(zones=(".",), resolver=resolver, relay=forwarder)])
    for name in ("example.com.", "search.demo.svc.cluster.local."):  # search: ExternalName outside
        for ident in (1, 2):
            asyncio.run(handler.handle(wire_query(name, "A", Variant(), ident), False))
    assert forwarder.calls == 4
    assert len(handler.answers) == 0 and handler.answers.hits == 0


def test_where_a_name_is_relayed_follows_the_blocks(resolver):
    forwarder = CountingRelay()
    handler = QueryHandler([Block(zones=(".",), resolver=resolver, relay=forwarder)])
    data = wire_query("example.com.", "A", Variant(), 1)
    for _ in range(2):
        assert asyncio.run(handler.handle(data, False)) == b"upstream reply"
    handler.set_blocks([Block(zones=(".",), resolver=resolver)])  # a reload without forward
    reply = handler.handle(data, False)
    # the block still serves ".": no plugin of it answers, SERVFAIL as CoreDNS's NextOrFailure
    assert forwarder.calls == 2 and DNSRecord.parse(reply).header.rcode == RCODE.SERVFAIL


def test_two_generations_bound_the_records(resolver):
    answers = WireAnswers(resolver.index, capacity=2)
    queries = [wire_query(f"n{i}.cluster.local.", "A", Variant(), 0) for i in range(4)]
    keys = [question_key(data, False) for data in queries]
    reply = handler_for(resolver).handle(queries[0], False)
    for key in keys[:3]:
        answers.keep(key, reply, False, None, ())
    assert len(answers) == 3  # n0, n1 old; n2 recent
    assert answers.records(keys[0]) is not None
    answers.keep(keys[3], reply, False, None, ())  # recent (n2, n0) was full: it becomes old
    assert answers.records(keys[1]) is None
    assert len(answers) == 3


def kept_keys(handler: QueryHandler) -> tuple[list[tuple[bytes, bytes]], list[bytes]]:
    """The wire answers' keys: by question (name and type), and by a query's own bytes."""
    keys = [*handler.answers._recent, *handler.answers._old]
    return [k for k in keys if isinstance(k, tuple)], [k for k in keys if isinstance(k, bytes)]


def test_nothing_is_kept_per_question_for_names_the_index_does_not_hold(resolver):
    """One entry per (name as asked, type) whatever the RD, EDNS or transport of its
    questions, and the UDP queries of those names by their bytes; none for the search-path
    expansions of a lookup, in any case: one template per length answers them."""
    handler, plain = handler_for(resolver), uncached(resolver)
    rng = random.Random(5)
    expansion = "web.demo.svc.cluster.local.demo.svc.cluster.local."
    for variant in VARIANTS:
        for name in ("web.demo.svc.cluster.local.", random_case(expansion, rng)):
            for qtype in ("A", "AAAA"):
                data = wire_query(name, qtype, variant, rng.randrange(65536))
                assert handler.handle(data, variant.over_tcp) == plain.handle(data, variant.over_tcp)
    by_question, by_bytes = kept_keys(handler)
    assert len(by_question) == 2  # web's A and its AAAA (NODATA, kept under the name)
    assert by_bytes and not any(b"\x05local\x04demo" in key.lower() for key in by_bytes)
    # the expansion (NXDOMAIN for A and AAAA alike), and web's AAAA (NODATA) for its length
    assert len(handler.answers._denials) == 2
    hits, kept = handler.answers.hits, len(handler.answers)
    for i in range(100):  # never-seen names of the same length: answered by the template
        name = f"x{i:02d}.demo.svc.cluster.local.demo.svc.cluster.local."
        data = wire_query(name, "A", Variant(edns=1232), i)
        assert handler.handle(data, False) == plain.handle(data, False)
    assert handler.answers.hits == hits + 100 and len(handler.answers) == kept


def test_a_repeated_query_is_its_kept_bytes(resolver):
    """A UDP query asked again the same way is answered by its bytes alone, with its own
    ID; TCP and a case never seen go the way of the question."""
    handler, plain = handler_for(resolver), uncached(resolver)
    asked = wire_query("web.demo.svc.cluster.local.", "A", Variant(edns=1232), 1)
    for data in (asked, asked, asked[:1] + b"\x07" + asked[2:]):
        assert handler.handle(data, False) == plain.handle(data, False)
    _, by_bytes = kept_keys(handler)
    assert by_bytes == [asked[2:]]
    assert handler.answers.exact(asked[:1] + b"\x09" + asked[2:])[0][:2] == asked[:1] + b"\x09"
    other = wire_query("WEB.demo.svc.cluster.local.", "A", Variant(edns=1232), 2)
    assert handler.answers.exact(other) is None
    kept = len(handler.answers)
    for _ in range(2):  # asked in mixed case: answered by the slow path, nothing kept
        assert handler.handle(other, False) == plain.handle(other, False)
    assert len(handler.answers) == kept
    over_tcp = wire_query("web.demo.svc.cluster.local.", "A", Variant(over_tcp=True), 3)
    assert handler.handle(over_tcp, True) == plain.handle(over_tcp, True)
    assert len(kept_keys(handler)[1]) == 1  # never over TCP


@pytest.mark.parametrize(
    "name",
    ["x.dns.cluster.local.", "a.hostmaster.cluster.local.", "foo.ns.dns.cluster.local.",
     "dns.cluster.local.", "hostmaster.cluster.local."],
)
def test_names_the_soa_compresses_against_are_answered_apart(resolver, name):
    """The SOA's MNAME and RNAME point into a question that ends like them: not the
    template's bytes, so such names never use or make one."""
    assert not denial_template_fits(name, "cluster.local.")
    handler, plain = handler_for(resolver), uncached(resolver)
    for other in ("x.xxx.cluster.local.", "a.xxxxxxxxxx.cluster.local.", "foo.xx.xxx.cluster.local."):
        handler.handle(wire_query(other, "A", Variant(), 1), False)  # templates of those lengths
    for ident in (1, 2):
        data = wire_query(name, "A", Variant(), ident)
        assert handler.handle(data, False) == plain.handle(data, False)


def plain_query() -> bytes:
    return wire_query("web.demo.svc.cluster.local.", "A", Variant(), 0x1234)


@pytest.mark.parametrize(
    "data",
    [
        plain_query()[:20],  # cut inside the name
        plain_query() + b"\x00",  # a byte after the question
        plain_query()[:2] + b"\x81\x00" + plain_query()[4:],  # a response
        plain_query()[:2] + b"\x28\x00" + plain_query()[4:],  # opcode UPDATE
        plain_query()[:5] + b"\x02" + plain_query()[6:],  # two questions announced
        b"\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03web\xc0\x0c\x00\x01\x00\x01",
        wire_query("cluster.local.", "AXFR", Variant(), 1),
        wire_query("cluster.local.", "IXFR", Variant(), 1),
        wire_query("web.demo.svc.cluster.local.", "A", Variant(edns=1232, cookie=True), 1)[:-1],
        wire_query("web.demo.svc.cluster.local.", "A", Variant(edns=1232), 1)[:-2]
        + struct.pack("!H", 5) + b"\x00\x0a\x00",  # an option that does not fit its length
    ],
    ids=["short", "trailing", "response", "update", "two-questions", "pointer", "axfr", "ixfr",
         "cut-option", "bad-option"],
)
def test_no_key_for_anything_but_a_plain_query(data):
    assert question_key(data, False) is None


@pytest.fixture(scope="module")
def filled(resolver) -> QueryHandler:
    handler = handler_for(resolver)
    rng = random.Random(1)
    for name in demo_names(resolver):
        for variant in VARIANTS:
            data = wire_query(name, rng.choice(QTYPES[:5]), variant, 0)
            answered(handler.handle(data, variant.over_tcp))
    return handler


def outcome(handler: QueryHandler, data: bytes, over_tcp: bool) -> object:
    try:
        reply = handler.handle(data, over_tcp)
    except Exception as exc:  # the transport logs it and drops the query; both must agree
        return type(exc)
    if reply is None or isinstance(reply, bytes):
        return reply
    reply.close()
    return "awaitable"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 2**32),
    edits=st.lists(st.tuples(st.integers(0, 80), st.integers(0, 255)), min_size=1, max_size=3),
    cut=st.integers(0, 8),
    over_tcp=st.booleans(),
)
def test_mutated_queries_get_what_the_slow_path_gives(resolver, filled, seed, edits, cut, over_tcp):
    rng = random.Random(seed)
    name = rng.choice(demo_names(resolver))
    data = bytearray(wire_query(random_case(name, rng), rng.choice(QTYPES[:5]), rng.choice(VARIANTS), seed % 65536))
    for at, value in edits:
        if at < len(data):
            data[at] = value
    mutated = bytes(data[: len(data) - cut] if cut < 4 else data)
    assert outcome(filled, mutated, over_tcp) == outcome(uncached(resolver), mutated, over_tcp)


class RelayEverything:
    """A `forward .` that records what reaches it."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def matches(self, name):
        return True

    def cached(self, asked):
        self.asked.append(asked.name)
        return None

    async def fetch(self, asked):
        return b""


def test_cluster_srv_asked_in_upper_case_is_never_forwarded(resolver):
    """SRV keys keep the question's case: whoever reads a name from them must lower it."""
    relay = RelayEverything()
    block = Block(zones=(".",), resolver=resolver, relay=relay)  # type: ignore[arg-type]
    handler = QueryHandler([block])
    for ident in (1, 2):
        data = wire_query("_HTTP._tcp.Web.Demo.svc.CLUSTER.local.", "SRV", Variant(), ident)
        reply = handler.handle(data, False)
        assert isinstance(reply, bytes) and DNSRecord.parse(reply).rr, reply
    assert relay.asked == []


@pytest.mark.parametrize(
    ("name", "reverse", "crossed", "scope"),
    [
        ("nginx.demo.svc.cluster.local.", False, False, ("svc", "demo", "nginx")),
        ("_http._tcp.nginx.demo.svc.cluster.local.", False, False, ("svc", "demo", "nginx")),
        ("web-0.web.demo.svc.cluster.local.", False, False, ("svc", "demo", "web")),
        ("web.demo.svc.cluster.local.demo.svc.cluster.local.", False, False, ("svc", "demo", "local")),
        ("demo.svc.cluster.local.", False, False, ("ns", "demo")),
        ("1-2-3-4.demo.pod.cluster.local.", False, False, ("pod", "demo")),
        ("svc.cluster.local.", False, False, ()),
        ("foo.cluster.local.", False, False, ()),
        ("dns-version.cluster.local.", False, False, ()),
        ("cluster.local.", False, False, ("*",)),  # NS and its glue follow our own endpoints
        ("ns.dns.cluster.local.", False, False, ("*",)),
        ("frontend.demo.svc.cluster.local.", False, True, ("*",)),  # CNAME to another service
        ("34.12.96.10.in-addr.arpa.", True, False, ("*",)),
    ],
)
def test_scope_of_a_reply(name, reverse, crossed, scope):
    zone = "in-addr.arpa." if reverse else "cluster.local."
    assert scope_of(name, zone, reverse, crossed) == scope


BEFORE_THE_RESOLVER = """. {
    local
    any
    template IN TXT cluster.local {
        match "^txt[.]demo[.]svc[.]"
        answer "{{ .Name }} 60 IN TXT \\"templated\\""
        fallthrough
    }
    hosts {
        10.1.2.3 web.demo.svc.cluster.local
        10.1.2.4 extra.cluster.local
        10.96.0.10 kube-dns-alias.cluster.local
        fallthrough
    }
    kubernetes cluster.local in-addr.arpa
}
"""


def test_plugins_before_the_resolver_answer_what_they_claim(resolver):
    """local, any, template and hosts (with fallthrough) in front of the resolver: the
    wire answers deny or write a name only when each of them passes it on."""
    (server,) = load_config(BEFORE_THE_RESOLVER, "Corefile", PLUGINS)
    block = build_block(server, "dns://:53", resolver, "", lambda: None)
    cached = QueryHandler([block])
    plain = QueryHandler([block], answers=WireAnswers(resolver.index, capacity=0))
    names = [*demo_names(resolver), "localhost.", "db.localhost.", "localhost.demo.svc.cluster.local.",
             "extra.cluster.local.", "txt.demo.svc.cluster.local.", "kube-dns-alias.cluster.local.",
             "3.2.1.10.in-addr.arpa.", "1.0.0.127.in-addr.arpa."]
    rng = random.Random(11)
    for name in names:
        for qtype in ("A", "AAAA", "TXT", "PTR", "ANY", "MX"):
            for ident in (1, 2):  # the first may make a template or keep a reply; the second uses it
                data = wire_query(random_case(name, rng), qtype, Variant(edns=1232), ident)
                assert answered(cached.handle(data, False)) == answered(
                    plain.handle(data, False)
                ), (name, qtype)
    assert cached.answers.hits > len(names)


def test_the_bench_cluster_byte_for_byte(tmp_path):
    """The benchmark's cluster (scaled down) and its query mix: names it holds, search-path
    expansions from other namespaces, every query type, case mixes and EDNS variants."""
    snapshot = write_snapshot(tmp_path / "bench.json", cluster_items(10, 200, 20))
    bench = make_resolver(state_from_file(snapshot))
    cached, plain = handler_for(bench), uncached(bench)
    rng = random.Random(14)
    namespaces = [f"team-{i:02d}" for i in range(10)]
    held = rng.sample(sorted(bench.index.nodes), 300)
    services = rng.sample(sorted(bench.index.state.services), 50)
    walks = [lookup(name, ns) for ns, name in services]  # a pod of its own namespace
    walks += [lookup(f"{name}.{ns}", rng.choice(namespaces)) for ns, name in services]
    expansions = [qname for walk in walks for qname, _qtype, _kind in walk]
    for name in held + [f"{qname}." for qname in expansions]:
        for qtype in rng.sample(QTYPES, 4):
            for variant in rng.sample(VARIANTS, 2):
                for _ in range(2):
                    data = wire_query(random_case(name, rng), qtype, variant, rng.randrange(65536))
                    assert cached.handle(data, variant.over_tcp) == plain.handle(
                        data, variant.over_tcp
                    ), (name, qtype, variant)
    assert cached.answers.hits > 2000
