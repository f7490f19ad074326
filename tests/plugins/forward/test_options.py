"""forward's CoreDNS 1.14 options: health_check's no_rec and domain, max_idle_conns, max_age,
read_timeout, source_address, failover, and several forwards in a block with next /
next_on_nodata. Through the real server over UDP and TCP (and dig), against loopback
upstreams the tests start; the README's examples among them. (max_connect_attempts and
failfast_all_unhealthy_upstreams: Forward in process, test_forward.py.)"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from dnslib import QTYPE, RCODE

from clusterdns.config.corefile import CorefileError
from clusterdns.server.directives import load_config
from harness import dig
from harness.query import ask
from harness.server import serving
from harness.upstream import FakeUpstream
from harness.wait import wait_for


def start(tmp_path: Path, body: str) -> list[str]:
    """The serve arguments for a Corefile of one `.` block holding `body`."""
    path = tmp_path / "Corefile"
    path.write_text(f".:53 {{\n    errors\n{body}}}\n")
    return ["--conf", str(path)]


def both(server, name: str, qtype: str = "A") -> tuple[str, set[str]]:
    """The answer over UDP, asserted the same over TCP."""
    over_udp = ask(server, name, qtype)
    assert ask(server, name, qtype, tcp=True) == over_udp
    return over_udp


# --- health_check DURATION [no_rec] [domain FQDN] -----------------------------------------


@pytest.mark.parametrize(
    ("options", "probe", "rd"),
    [("", ".", True), (" no_rec", ".", False), (" domain Example.ORG", "example.org.", True),
     (" no_rec domain example.org.", "example.org.", False)],
)
def test_the_health_probe_asks_its_domain_with_or_without_rd(tmp_path, options, probe, rd):
    """A failed exchange starts the checks: NS of the domain (`.` by default), RD unless
    no_rec; what reaches the (silent) upstream is asserted."""
    with FakeUpstream(silent=True) as upstream:
        body = (f"    forward . {upstream.address} {{\n        read_timeout 100ms\n"
                f"        health_check 50ms{options}\n    }}\n")  # fmt: skip
        with serving(start(tmp_path, body)) as server:
            assert ask(server, "www.example.com.") == ("SERVFAIL", set())

            def probes() -> list:
                return [q for q in upstream.asked(probe) if q.qtype == QTYPE.NS]

            wait_for(lambda: len(probes()) >= 2, what="health probes every 50ms")
        assert all(bool(q.data[2] & 0x01) is rd for q in probes())  # the RD bit
        assert all(q.proto == "udp" for q in probes())


def test_readme_tls_health_check_domain_parses():
    """README: `health_check 5s domain example.org` beside tls_servername."""
    (server,) = load_config(".:53 {\n forward . tls://9.9.9.9 {\n  tls_servername dns.quad9.net"
                            "\n  health_check 5s domain example.org\n }\n cache 30\n}\n")
    (config,) = server.plugins["forward"]
    assert (config.health_check, config.health_check_domain, config.health_check_rd) == (
        5.0, "example.org.", True)  # fmt: skip


# --- connections: max_idle_conns, max_age, read_timeout, source_address --------------------


def test_max_idle_conns_keeps_that_many_idle_connections(tmp_path):
    """Three queries at once open three TCP connections; with max_idle_conns 1 two are
    closed when their replies are in, one serves the next query."""
    with FakeUpstream(delay=0.5) as upstream:
        body = f"    forward . {upstream.address} {{\n        force_tcp\n        max_idle_conns 1\n    }}\n"
        with serving(start(tmp_path, body)) as server:

            async def three() -> list:
                return await asyncio.gather(
                    *(asyncio.to_thread(ask, server, f"n{i}.example.") for i in range(3))
                )

            assert all(rcode == "NOERROR" for rcode, _ in asyncio.run(three()))
            assert upstream.connections == 3
            wait_for(lambda: upstream.disconnections == 2, what="two of three closed")
            assert ask(server, "again.example.") == ("NOERROR", {"192.0.2.1"})
            assert (upstream.connections, upstream.disconnections) == (3, 2)  # one reused


def test_max_age_replaces_a_busy_connection(tmp_path):
    """A connection in use all the time is never idle for `expire`; max_age closes it."""
    with FakeUpstream() as upstream:
        body = (f"    forward . {upstream.address} {{\n        force_tcp\n        expire 1s\n"
                f"        max_age 1s\n    }}\n")  # fmt: skip
        with serving(start(tmp_path, body)) as server:
            assert ask(server, "first.example.") == ("NOERROR", {"192.0.2.1"})
            assert upstream.connections == 1

            def renewed() -> bool:
                assert ask(server, "busy.example.") == ("NOERROR", {"192.0.2.1"})
                return upstream.connections == 2

            wait_for(renewed, what="a second connection after max_age", interval=0.1)


@pytest.mark.parametrize(("timeout", "answer"), [("100ms", "SERVFAIL"), ("3s", "NOERROR")])
def test_read_timeout(tmp_path, timeout, answer):
    """An upstream that takes 0.5 s: too slow for 100ms, in time for 3s."""
    with FakeUpstream(delay=0.5) as upstream:
        body = f"    forward . {upstream.address} {{\n        read_timeout {timeout}\n    }}\n"
        with serving(start(tmp_path, body)) as server:
            assert ask(server, "slow.example.")[0] == answer


def test_source_address_binds_every_upstream_socket(tmp_path):
    with FakeUpstream() as upstream:
        body = (f"    forward . {upstream.address} {{\n        source_address 127.0.0.2\n"
                f"    }}\n")  # fmt: skip
        with serving(start(tmp_path, body)) as server:
            assert both(server, "src.example.") == ("NOERROR", {"192.0.2.1"})
        asked = upstream.asked("src.example.")
        assert {(q.proto, q.source) for q in asked} == {("udp", "127.0.0.2"), ("tcp", "127.0.0.2")}


# --- failover, failfast_all_unhealthy_upstreams ------------------------------------------


def test_readme_failover_tries_the_next_upstream_on_those_rcodes(tmp_path):
    """README: 1.2.3.4 5.6.7.8 9.0.1.2 { policy sequential; failover SERVFAIL REFUSED }."""
    failing = {"a.example.": RCODE.SERVFAIL, "all.example.": RCODE.SERVFAIL,
               "nx.example.": RCODE.NXDOMAIN}  # fmt: skip
    with FakeUpstream(rcodes=failing) as first, \
            FakeUpstream(rcodes={"a.example.": RCODE.REFUSED,
                                 "all.example.": RCODE.SERVFAIL}) as second, \
            FakeUpstream(rcodes={"all.example.": RCODE.REFUSED}) as third:  # fmt: skip
        to = " ".join(u.address for u in (first, second, third))
        body = f"    forward . {to} {{\n        policy sequential\n        failover SERVFAIL REFUSED\n    }}\n"
        with serving(start(tmp_path, body)) as server:
            assert both(server, "a.example.") == ("NOERROR", {"192.0.2.1"})  # the third's
            # every upstream tried: the last one's reply stands
            assert both(server, "all.example.") == ("REFUSED", set())
            # an rcode failover does not list is the answer
            assert both(server, "nx.example.") == ("NXDOMAIN", set())
        assert not second.asked("nx.example.")
    assert len(third.asked("a.example.")) == 2  # (once over UDP, once over TCP)


def test_without_failover_the_first_reply_stands(tmp_path):
    with FakeUpstream(rcodes={"a.example.": RCODE.SERVFAIL}) as first, FakeUpstream() as second:
        body = f"    forward . {first.address} {second.address} {{\n        policy sequential\n    }}\n"
        with serving(start(tmp_path, body)) as server:
            assert both(server, "a.example.") == ("SERVFAIL", set())
        assert not second.asked("a.example.")


# --- several forwards in a block; next and next_on_nodata ---------------------------------


def test_readme_next_hands_nxdomain_to_the_next_forward(tmp_path):
    """README: forward . 1.2.3.4 { next NXDOMAIN }, forward . 5.6.7.8 { next NXDOMAIN },
    forward . 9.0.1.2 {}."""
    nxdomain = RCODE.NXDOMAIN
    with FakeUpstream(rcodes=dict.fromkeys(("one.example.", "three.example.", "four.example."),
                                           nxdomain)) as first, \
            FakeUpstream(records={"one.example.": ["192.0.2.2"]},
                         rcodes=dict.fromkeys(("three.example.", "four.example."), nxdomain)) \
            as second, \
            FakeUpstream(records={"three.example.": ["192.0.2.3"]},
                         rcodes={"four.example.": nxdomain}) as third:  # fmt: skip
        body = (f"    forward . {first.address} {{\n        next NXDOMAIN\n    }}\n"
                f"    forward . {second.address} {{\n        next NXDOMAIN\n    }}\n"
                f"    forward . {third.address} {{\n    }}\n")  # fmt: skip
        with serving(start(tmp_path, body)) as server:
            assert both(server, "www.example.") == ("NOERROR", {"192.0.2.1"})  # the first's
            assert both(server, "one.example.") == ("NOERROR", {"192.0.2.2"})
            assert both(server, "three.example.") == ("NOERROR", {"192.0.2.3"})
            assert both(server, "four.example.") == ("NXDOMAIN", set())  # the last one's
            if dig.installed():
                out = dig.dig("+noall", "+answer", "three.example.", server=server)
                assert dig.answers(out) == {"A 192.0.2.3"}
        assert not second.asked("www.example.") and not third.asked("one.example.")


def test_readme_forwards_by_zone_in_one_block(tmp_path):
    """README: cache; forward lab.example.local 10.20.0.1; forward example.local 10.0.0.1;
    forward . /etc/resolv.conf (here a third loopback upstream): the first forward that
    takes the name answers."""
    with FakeUpstream(records={"a.lab.example.local.": ["192.0.2.10"]}) as lab, \
            FakeUpstream(records={"b.example.local.": ["192.0.2.20"]}) as local, \
            FakeUpstream() as rest:  # fmt: skip
        body = (f"    cache\n    forward lab.example.local {lab.address}\n"
                f"    forward example.local {local.address}\n    forward . {rest.address}\n")
        with serving(start(tmp_path, body)) as server:
            assert both(server, "a.lab.example.local.") == ("NOERROR", {"192.0.2.10"})
            assert both(server, "b.example.local.") == ("NOERROR", {"192.0.2.20"})
            assert both(server, "www.example.org.") == ("NOERROR", {"192.0.2.1"})
        assert not local.asked("a.lab.example.local.") and not rest.asked("b.example.local.")
        assert not lab.asked("www.example.org.")


def test_next_on_nodata_and_a_reply_passed_on_past_the_last_forward(tmp_path):
    with FakeUpstream(records={"v4only.example.org.": ["192.0.2.4"]},
                      rcodes={"lost.example.org.": RCODE.NXDOMAIN}) as first, \
            FakeUpstream() as second:  # fmt: skip
        body = (f"    forward example.org {first.address} {{\n        next_on_nodata\n"
                f"        next NXDOMAIN\n    }}\n"
                f"    forward other.example {second.address}\n")  # fmt: skip
        with serving(start(tmp_path, body)) as server:
            assert both(server, "v4only.example.org.") == ("NOERROR", {"192.0.2.4"})
            # NODATA from the first: no forward after it takes example.org
            assert both(server, "v4only.example.org.", "AAAA") == ("SERVFAIL", set())
            assert both(server, "lost.example.org.") == ("SERVFAIL", set())
            assert both(server, "www.other.example.") == ("NOERROR", {"192.0.2.1"})
            wait_for(lambda: any("no next plugin found" in line for line in server.log),
                     what="errors' line")
        assert not second.asked("lost.example.org.")


def test_next_on_nodata_hands_nodata_on(tmp_path):
    with FakeUpstream(records={"v4only.example.": ["192.0.2.4"]}) as first, \
            FakeUpstream() as second:  # fmt: skip
        body = (f"    forward . {first.address} {{\n        next_on_nodata\n    }}\n"
                f"    forward . {second.address}\n")  # fmt: skip
        with serving(start(tmp_path, body)) as server:
            assert both(server, "v4only.example.") == ("NOERROR", {"192.0.2.4"})
            assert both(server, "v4only.example.", "AAAA") == ("NOERROR", {"2001:db8::1"})
            assert both(server, "nodata.example.", "A") == ("NOERROR", set())  # the second's too


# --- the options as written, and config errors naming file:line --------------------------


@pytest.mark.parametrize(
    ("options", "fields"),
    [
        ("health_check 0.5s", {"health_check": 0.5, "health_check_rd": True,
                               "health_check_domain": "."}),
        ("health_check 1s no_rec domain Example.org.", {"health_check": 1.0,
         "health_check_rd": False, "health_check_domain": "example.org."}),
        ("max_idle_conns 10", {"max_idle_conns": 10}),
        ("expire 10s\n  max_age 10s", {"expire": 10.0, "max_age": 10.0}),
        ("max_age 0s", {"max_age": 0.0}),
        ("read_timeout 500ms", {"read_timeout": 0.5}),
        ("max_connect_attempts 0", {"max_connect_attempts": 0}),
        ("failover ServFail Refused", {"failover": frozenset({RCODE.SERVFAIL, RCODE.REFUSED})}),
        ("failover NOTIMPL", {"failover": frozenset({RCODE.NOTIMP})}),
        ("failfast_all_unhealthy_upstreams", {"failfast_all_unhealthy_upstreams": True}),
        ("source_address ::ffff:192.0.2.1", {"source_address": "192.0.2.1"}),
        ("source_address 2001:db8::7", {"source_address": "2001:db8::7"}),
    ],
)
def test_options_as_written(options, fields):
    (server,) = load_config(f".:53 {{\n forward . 127.0.0.1 {{\n  {options}\n }}\n}}\n")
    (config,) = server.plugins["forward"]
    assert {name: getattr(config, name) for name in fields} == fields


def test_next_as_written():
    text = (".:53 {\n forward . 127.0.0.1 {\n  next nxdomain SERVFAIL\n  next_on_nodata\n }\n"
            " forward . 127.0.0.2\n}\n")  # fmt: skip
    (server,) = load_config(text)
    first, second = server.plugins["forward"]
    assert (first.next, first.next_on_nodata) == (frozenset({3, 2}), True)
    assert (second.next, second.to) == (frozenset(), ("127.0.0.2",))


@pytest.mark.parametrize(
    ("options", "line", "message"),
    [
        ("health_check 1s rec", 3, "health_check: unknown option rec"),
        ("health_check 1s domain", 3, "'domain' needs a name"),
        ("health_check 1s domain example..org", 3, "'example..org' is not a valid domain name"),
        ("health_check no_rec", 3, "invalid duration 'no_rec'"),
        ("max_idle_conns -1", 3, "max_idle_conns must be at least 0"),
        ("max_idle_conns many", 3, "'many' is not an integer"),
        ("read_timeout 0s", 3, "read_timeout must be positive"),
        ("read_timeout", 3, "'read_timeout' takes 1 argument, got 0"),
        ("max_age soon", 3, "invalid duration 'soon'"),
        ("expire 30s\n  max_age 10s", 4, "max_age (10s) must not be less than expire (30s)"),
        ("max_connect_attempts -4", 3, "max_connect_attempts must be in range"),
        ("failover", 3, "'failover' takes at least 1 argument"),
        ("failover NOERROR", 3, "NOERROR cannot be used in failover"),
        ("failover SERVFAIL BOGUS", 3, "BOGUS is not a valid rcode"),
        ("failfast_all_unhealthy_upstreams false", 3, "takes no arguments"),
        ("source_address not-an-ip", 3, "invalid IP address: not-an-ip"),
        ("source_address", 3, "'source_address' takes 1 argument"),
        ("next INVALID", 3, "INVALID is not a valid rcode"),
        ("next", 3, "'next' takes at least 1 argument"),
        ("next NXDOMAIN", 3, "none follows this one"),  # the last forward of the block
        ("force_tcp\n  next_on_nodata", 4, "none follows this one"),
        ("resolver 10.0.0.1", 3, "upstreams given by host name, which are not supported"),
        ("doh_method GET", 3, "https:// upstreams, which are not supported"),
    ],
)
def test_bad_options_name_the_line(options, line, message):
    with pytest.raises(CorefileError) as failure:
        load_config(f".:53 {{\n forward . 127.0.0.1 {{\n  {options}\n }}\n}}\n")
    assert (failure.value.line, message in failure.value.message) == (line, True), failure.value


def test_next_on_a_forward_that_has_one_after_it_loads_and_the_error_names_the_file(tmp_path):
    load_config(".:53 {\n forward a.example 127.0.0.1 {\n  next NXDOMAIN\n }\n"
                " forward . 127.0.0.2\n}\n")  # fmt: skip
    with pytest.raises(CorefileError) as failure:
        load_config(".:53 {\n forward a.example 127.0.0.1\n forward . 127.0.0.2 {\n"
                    "  next NXDOMAIN\n }\n}\n", "Corefile.test")  # fmt: skip
    assert (failure.value.file, failure.value.line) == ("Corefile.test", 4)
