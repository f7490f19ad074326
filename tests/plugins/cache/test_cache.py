"""The response cache on its own, with a hand-turned clock: what is kept, for how long."""

from __future__ import annotations

from dnslib import QTYPE, RCODE, RR, SOA, A, DNSRecord

from clusterdns.dns.packet import scan, without_opt
from clusterdns.plugins.cache import metrics
from clusterdns.plugins.cache.cache import DENIAL, SUCCESS, ResponseCache, cache_key
from clusterdns.plugins.cache.setup import CacheConfig


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def upstream_reply(
    name: str,
    rcode: int = RCODE.NOERROR,
    ttls: tuple[int, ...] = (300,),
    soa: tuple[int, int] | None = None,
    tc: bool = False,
) -> bytes:
    record = DNSRecord.question(name, "A").reply()
    record.header.rcode = rcode
    record.header.tc = int(tc)
    for i, ttl in enumerate(ttls):
        record.add_answer(RR(name, QTYPE.A, ttl=ttl, rdata=A(f"192.0.2.{i}")))
    if soa is not None:
        soa_ttl, minimum = soa
        rdata = SOA("ns.example.", "h.example.", (1, 2, 3, 4, minimum))
        record.add_auth(RR("example.", QTYPE.SOA, ttl=soa_ttl, rdata=rdata))
    return bytes(record.pack())


def make_cache(clock: Clock, **options) -> ResponseCache:
    return ResponseCache(CacheConfig(zones=(".",), **options), "dns://:53", clock)


def key(name: str, qtype: str = "A", do: bool = False):
    return cache_key(bytes(DNSRecord.question(name, qtype).pack()), do)


def put(cache: ResponseCache, name: str, data: bytes) -> int | None:
    stripped, layout = without_opt(data, scan(data))
    return cache.put(key(name), name.lower(), stripped, layout)


def test_positive_ttl_is_the_lowest_within_bounds_and_counts_down():
    clock = Clock()
    cache = make_cache(clock, success_ttl=30)
    assert put(cache, "a.example.", upstream_reply("a.example.", ttls=(300, 100))) == 30
    assert put(cache, "b.example.", upstream_reply("b.example.", ttls=(1,))) == 5  # min TTL
    entry, remaining = cache.get(key("A.Example."))
    assert entry.kind == SUCCESS and remaining == 30
    clock.now += 12.5
    assert cache.get(key("a.example."))[1] == 18
    clock.now += 18
    assert cache.get(key("a.example.")) is None


def test_negative_ttl_follows_the_soa_minimum():
    cache = make_cache(Clock())
    nx = upstream_reply("nx.example.", RCODE.NXDOMAIN, ttls=(), soa=(60, 20))
    assert put(cache, "nx.example.", nx) == 20
    nodata = upstream_reply("nd.example.", ttls=(), soa=(10, 600))
    assert put(cache, "nd.example.", nodata) == 10
    assert cache.get(key("nd.example."))[0].kind == DENIAL


def test_servfail_is_kept_five_seconds_and_other_errors_not_at_all():
    clock = Clock()
    cache = make_cache(clock)
    assert put(cache, "s.example.", upstream_reply("s.example.", RCODE.SERVFAIL, ttls=())) == 5
    assert put(cache, "r.example.", upstream_reply("r.example.", RCODE.REFUSED, ttls=())) is None
    assert put(cache, "t.example.", upstream_reply("t.example.", tc=True)) is None
    clock.now += 5
    assert cache.get(key("s.example.")) is None


def test_disabled_zones_are_not_cached():
    cache = make_cache(
        Clock(), disable_success=("cluster.local.",), disable_denial=("cluster.local.",)
    )
    name = "x.cluster.local."
    assert put(cache, name, upstream_reply(name)) is None
    assert put(cache, name, upstream_reply(name, RCODE.NXDOMAIN, ttls=(), soa=(5, 5))) is None
    assert put(cache, "x.example.", upstream_reply("x.example.")) == 300


def test_key_ignores_case_but_not_type_or_do_bit():
    assert key("WWW.Example.com.") == key("www.example.com.")
    assert key("www.example.com.", "AAAA") != key("www.example.com.")
    assert key("www.example.com.", do=True) != key("www.example.com.")


def test_capacity_evicts_and_counts():
    clock = Clock()
    cache = make_cache(clock, success_capacity=2)
    labels = ("dns://:53", SUCCESS, ".", "")
    before = metrics.EVICTIONS.value(labels)
    for name in ("a.example.", "b.example.", "c.example."):
        put(cache, name, upstream_reply(name))
    assert metrics.EVICTIONS.value(labels) == before + 1
    assert cache.get(key("a.example.")) is None and cache.get(key("c.example.")) is not None
    assert dict(cache.sizes())[("dns://:53", SUCCESS, ".", "")] == 2


def test_serve_stale_keeps_expired_entries_for_the_window():
    clock = Clock()
    cache = make_cache(clock, success_ttl=10, serve_stale=60.0)
    put(cache, "a.example.", upstream_reply("a.example."))
    clock.now += 40
    entry, remaining = cache.get(key("a.example."))
    assert remaining == -30 and cache.stale(key("a.example.")) is entry
    clock.now += 31
    assert cache.get(key("a.example.")) is None


def test_prefetch_after_enough_hits_near_expiry():
    clock = Clock()
    cache = make_cache(clock, success_ttl=100, prefetch=3, prefetch_duration=60.0)
    put(cache, "a.example.", upstream_reply("a.example."))
    entry, _ = cache.get(key("a.example."))
    assert not cache.should_prefetch(entry, 95)
    assert not cache.should_prefetch(entry, 50)
    assert not cache.should_prefetch(entry, 50)  # third hit, but 50 s left is over 10 %
    clock.now += 30
    assert cache.should_prefetch(entry, 9)


def test_keepttl_serves_the_stored_ttl():
    clock = Clock()
    cache = make_cache(clock, keepttl=True)
    put(cache, "a.example.", upstream_reply("a.example.", ttls=(120,)))
    clock.now += 100
    assert cache.get(key("a.example."))[1] == 120


def test_zones_limit_what_is_covered():
    cache = ResponseCache(CacheConfig(zones=("example.",)), "dns://:53")
    assert cache.covers("a.example.") and not cache.covers("a.example.org.")
