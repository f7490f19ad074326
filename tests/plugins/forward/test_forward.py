"""forward and the relay in process, against loopback upstreams the tests start and break."""

from __future__ import annotations

import asyncio
import time

import pytest
from dnslib import EDNS0, RCODE, DNSRecord

from clusterdns.dns.request import Request
from clusterdns.plugins.cache.cache import ResponseCache
from clusterdns.plugins.cache.setup import CacheConfig
from clusterdns.plugins.errors import ErrorLog, ErrorsConfig
from clusterdns.plugins.forward import metrics
from clusterdns.plugins.forward.chain import ForwardChain
from clusterdns.plugins.forward.forward import (
    Forward,
    ForwardError,
    UpstreamConfigError,
    upstream_addresses,
)
from clusterdns.plugins.forward.setup import Destination, ForwardConfig
from clusterdns.server.relay import Relay
from harness.upstream import FakeUpstream
from harness.wait import wait_for, wait_for_async


def run(coroutine):
    return asyncio.run(coroutine)


def question(name: str, qtype: str = "A", edns: int | None = None) -> bytes:
    record = DNSRecord.question(name, qtype)
    if edns:
        record.add_ar(EDNS0(udp_len=edns))
    return bytes(record.pack())


def forward(*upstreams: FakeUpstream | str, **options) -> Forward:
    to = tuple(u if isinstance(u, str) else u.address for u in upstreams)
    deadline = options.pop("deadline", 1.5)
    options.setdefault("read_timeout", 0.5)
    return Forward(ForwardConfig(zone=options.pop("zone", "."), to=to, **options), deadline=deadline)


def closed_port() -> str:
    with FakeUpstream() as gone:
        pass
    return gone.address  # nothing listens there any more: ICMP port unreachable


async def ask(fwd: Forward, name: str, over_tcp: bool = False) -> DNSRecord:
    try:
        reply, _ = await fwd.exchange(question(name), over_tcp)
    finally:
        fwd.close()
    return DNSRecord.parse(reply)


def test_fails_over_to_the_next_upstream_without_waiting_for_a_timeout():
    with FakeUpstream() as good:
        # a read timeout no loaded machine reaches: only a refused port ends the first try
        fwd = forward(closed_port(), good, policy="sequential", read_timeout=30, deadline=60)
        started = time.monotonic()
        reply = run(ask(fwd, "www.example.com."))
        assert str(reply.a.rdata) == "192.0.2.1" and time.monotonic() - started < 30
        assert good.asked("www.example.com.")


def test_down_upstream_is_skipped_after_health_checks_then_back():
    with FakeUpstream() as good, FakeUpstream() as flaky:
        flaky.stop()

        async def scenario():
            fwd = forward(flaky, good, policy="sequential", health_check=0.02)
            try:
                await fwd.exchange(question("one.example."), False)  # fails over, starts checks
                bad = fwd.upstreams[0]
                await wait_for_async(bad.down, what="the health checks to mark it down")
                flaky.start()
                # the check sees it answer again
                await wait_for_async(lambda: not bad.down(), what="the health checks to see it up")
            finally:
                fwd.close()

        failures = metrics.HEALTHCHECK_FAILURES.value(("forward", flaky.address))
        run(scenario())
        assert metrics.HEALTHCHECK_FAILURES.value(("forward", flaky.address)) > failures


def test_truncated_udp_reply_is_asked_again_over_tcp():
    with FakeUpstream(truncate=True) as upstream:
        reply = run(ask(forward(upstream), "big.example.com."))
        assert not reply.header.tc and len(reply.rr) == 40
        assert [q.proto for q in upstream.asked("big.example.com.")] == ["udp", "tcp"]


def test_force_tcp_and_prefer_udp():
    with FakeUpstream() as upstream:
        run(ask(forward(upstream, force_tcp=True), "a.example."))
        run(ask(forward(upstream, prefer_udp=True), "b.example.", over_tcp=True))
        run(ask(forward(upstream), "c.example.", over_tcp=True))
        assert [upstream.asked(n)[0].proto for n in ("a.example", "b.example", "c.example")] == [
            "tcp",
            "udp",
            "tcp",
        ]


def test_timeout_is_servfail_at_the_deadline_after_asking_again():
    with FakeUpstream(silent=True) as upstream:
        started = time.monotonic()
        with pytest.raises(ForwardError) as failure:
            uncapped = forward(upstream, read_timeout=0.2, deadline=1.0, max_connect_attempts=0)
            run(ask(uncapped, "slow.example."))
        assert failure.value.rcode == RCODE.SERVFAIL and "i/o timeout" in str(failure.value)
        assert time.monotonic() - started >= 0.9  # not before the deadline (timers: ±0.1 s)
        # a lost packet is worth asking again (the upstream's thread notes it when it runs)
        wait_for(lambda: len(upstream.asked("slow.example.")) >= 2, what="a second ask")
        # and nothing is asked once the deadline has come: at most one each read timeout
        assert len(upstream.asked("slow.example.")) <= 5


@pytest.mark.parametrize(("cap", "asked"), [(None, 4), (3, 3), (1, 1)])
def test_max_connect_attempts_caps_the_failed_exchanges_of_a_query(cap, asked):
    """2 per upstream by default (two passes); `max_connect_attempts N` N in all."""
    with FakeUpstream(silent=True) as first, FakeUpstream(silent=True) as second:
        fwd = forward(first, second, policy="sequential", read_timeout=0.1, deadline=30,
                      max_connect_attempts=cap)
        with pytest.raises(ForwardError, match="i/o timeout"):
            run(ask(fwd, "slow.example."))

        def count() -> int:
            return len(first.asked("slow.example.")) + len(second.asked("slow.example."))

        wait_for(lambda: count() >= asked, what=f"{asked} exchanges")
        assert count() == asked  # the query is over: nothing more is sent


@pytest.mark.parametrize(
    ("failfast", "error"), [(False, "Connection refused"), (True, "no healthy proxies")]
)
def test_failfast_all_unhealthy_upstreams(failfast, error):
    """All upstreams down: one is tried at random anyway, unless failfast (SERVFAIL, not
    asked)."""
    fwd = forward(closed_port(), health_check=0.02, max_fails=1,
                  failfast_all_unhealthy_upstreams=failfast)
    query = question("down.example.")

    async def scenario() -> str:
        try:
            with pytest.raises(ForwardError):
                await fwd.exchange(query, False)
            await wait_for_async(fwd.upstreams[0].down, what="the upstream marked down")
            with pytest.raises(ForwardError) as failure:
                await fwd.exchange(query, False)
            return str(failure.value)
        finally:
            fwd.close()

    assert error in run(scenario())


def test_refusing_upstreams_fail_without_waiting_for_a_timeout():
    started = time.monotonic()
    with pytest.raises(ForwardError) as failure:
        run(ask(forward(closed_port(), closed_port(), read_timeout=30, deadline=60), "x.example."))
    assert failure.value.rcode == RCODE.SERVFAIL and time.monotonic() - started < 30


def test_max_concurrent_refuses_the_excess():
    with FakeUpstream(delay=0.3) as upstream:
        fwd = forward(upstream, max_concurrent=2)
        rejects = metrics.MAX_CONCURRENT_REJECTS.value()

        async def burst():
            try:
                return await asyncio.gather(
                    *(fwd.exchange(question(f"n{i}.example."), False) for i in range(5)),
                    return_exceptions=True,
                )
            finally:
                fwd.close()

        results = run(burst())
        refused = [r for r in results if isinstance(r, ForwardError)]
        assert len(refused) == 3 and all(r.rcode == RCODE.REFUSED for r in refused)
        assert metrics.MAX_CONCURRENT_REJECTS.value() == rejects + 3


@pytest.mark.parametrize(
    ("policy", "spread"), [("round_robin", {1, 2}), ("sequential", {1}), ("random", {1, 2})]
)
def test_policies(policy, spread):
    with FakeUpstream() as first, FakeUpstream() as second:
        fwd = forward(first, second, policy=policy)

        async def many():
            try:
                for i in range(20):
                    await fwd.exchange(question(f"p{i}.example."), False)
            finally:
                fwd.close()

        run(many())
        used = {
            n
            for n, u in ((1, first), (2, second))
            if any(q.name.startswith("p") for q in u.queries)
        }
        assert used == spread


def test_from_zone_and_except():
    fwd = forward("127.0.0.1:1", zone="example.org.", except_zones=("internal.example.org.",))
    assert fwd.matches("www.example.org.") and fwd.matches("example.org.")
    assert not fwd.matches("a.internal.example.org.") and not fwd.matches("example.com.")


def test_resolv_conf_upstreams(tmp_path):
    conf = tmp_path / "resolv.conf"
    conf.write_text(
        "# comment\nsearch example\nnameserver 127.0.0.1\nnameserver ::1\noptions ndots:5\n"
    )
    found = upstream_addresses(("/etc/resolv.conf",), str(conf))
    assert found == [Destination("127.0.0.1", 53), Destination("::1", 53)]
    assert upstream_addresses((str(conf), "dns://127.0.0.2:5300", "tls://127.0.0.3")) == [
        Destination("127.0.0.1", 53),
        Destination("::1", 53),
        Destination("127.0.0.2", 5300),
        Destination("127.0.0.3", 853, tls=True),
    ]
    (tmp_path / "empty").write_text("search example\n")
    with pytest.raises(UpstreamConfigError, match="no nameserver"):
        upstream_addresses((str(tmp_path / "empty"),))
    with pytest.raises(UpstreamConfigError, match="cannot read"):
        upstream_addresses((str(tmp_path / "missing"),))


# --- the relay: cache in front of forward --------------------------------------------------


def relay_for(upstream: FakeUpstream, **cache_options) -> Relay:
    cache = ResponseCache(CacheConfig(zones=(".",), **cache_options), "dns://:53")
    return Relay(ForwardChain([forward(upstream)]), cache, ErrorLog(ErrorsConfig()))


async def resolve(relay: Relay, name: str, edns: int | None = None) -> tuple[DNSRecord, bool]:
    """The relay's reply and whether it came from the cache."""
    data = question(name, edns=edns)
    request = Request.read(data, over_tcp=False, limit=4096)
    hit = relay.cached(request)
    reply = hit if hit is not None else await relay.fetch(request)
    return DNSRecord.parse(reply), hit is not None


def test_relay_is_faithful_and_cache_hits_count_down():
    with FakeUpstream(ttl=100) as upstream:
        relay = relay_for(upstream)

        async def scenario():
            try:
                sent = time.monotonic()
                first, cached = await resolve(relay, "WwW.Example.ORG.", edns=1232)
                answered = time.monotonic()
                assert not cached
                assert first.header.ra and first.header.ad and not first.header.aa
                assert str(first.q.qname) == "WwW.Example.ORG." and first.rr[0].ttl == 100
                hits: list[tuple[float, DNSRecord]] = []

                async def counted_down() -> bool:  # whole seconds: ask until one has gone
                    asked = time.monotonic()
                    second, cached = await resolve(relay, "www.example.org.")
                    assert cached and str(second.rr[0].rname) == "www.example.org."
                    hits.append((asked, second))
                    return second.rr[0].ttl < 100

                await wait_for_async(counted_down, what="the cached TTL to count down", interval=0.1)
                asked, second = hits[-1]
                # 100 less the whole seconds between the store and this hit, as the clock says
                ttl = second.rr[0].ttl
                assert 100 - int(time.monotonic() - sent) <= ttl <= 100 - int(asked - answered)
                assert all(hit.rr[0].ttl == 100 for _, hit in hits[:-1])
                assert not any(rr.rtype == 41 for rr in second.ar)  # no EDNS asked, none sent
                nx, _ = await resolve(relay, "nx.example.org.")
                assert nx.header.rcode == RCODE.NXDOMAIN and nx.auth[0].rtype == 6
            finally:
                relay.close()

        run(scenario())
        assert len(upstream.asked("www.example.org.")) == 1


def test_relay_serves_stale_when_upstream_is_down():
    with FakeUpstream(ttl=1) as upstream:
        relay = relay_for(upstream, serve_stale=3600.0, success_min_ttl=1)

        async def scenario():
            try:
                await resolve(relay, "a.example.")
                await asyncio.sleep(1.1)
                upstream.stop()
                stale, cached = await resolve(relay, "a.example.")
                assert cached and stale.rr[0].ttl == 0  # immediate mode: served, refreshed behind
            finally:
                relay.close()

        run(scenario())
