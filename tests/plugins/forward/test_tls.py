"""forward to tls:// upstreams (DNS over TLS, RFC 7858): a loopback DoT upstream with a
certificate made for the test, asked through the real server and through Forward itself."""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from dnslib import DNSRecord

from clusterdns.config.corefile import CorefileError
from clusterdns.plugins.forward import metrics
from clusterdns.plugins.forward.forward import Forward, ForwardError
from clusterdns.plugins.forward.setup import ForwardConfig
from clusterdns.plugins.forward.tls import client_context
from clusterdns.server.directives import load_config
from harness.query import ask
from harness.server import serving
from harness.upstream import FakeUpstream
from harness.wait import wait_for, wait_for_async

SERVER_NAME = "dns.example.test"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def pems(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The CA's certificate, another CA's, and a client certificate and key of the CA."""
    folder = tmp_path_factory.mktemp("pems")
    client = ca.issue_cert("client.example.test")
    files = {
        "ca": ca.cert_pem, "other-ca": trustme.CA().cert_pem,
        "client-cert": client.cert_chain_pems[0], "client-key": client.private_key_pem,
    }  # fmt: skip
    for name, blob in files.items():
        blob.write_to_path(str(folder / f"{name}.pem"))
    return {name: folder / f"{name}.pem" for name in files}


def server_context(ca: trustme.CA, *names: str, client_auth: bool = False) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    if client_auth:
        context.verify_mode = ssl.CERT_REQUIRED
        ca.configure_trust(context)
    return context


@pytest.fixture(scope="module")
def dot(ca: trustme.CA) -> Iterator[FakeUpstream]:
    """A DoT upstream whose certificate names SERVER_NAME (not its IP address)."""
    with FakeUpstream(tls=server_context(ca, SERVER_NAME)) as upstream:
        yield upstream


def corefile(tmp_path: Path, to: str, options: str = "") -> Path:
    path = tmp_path / "Corefile"
    path.write_text(f".:53 {{\n    errors\n    forward . {to} {{\n{options}    }}\n}}\n")
    return path


# --- through the real server ------------------------------------------------------------


def test_answers_come_over_one_reused_tls_connection(dot, pems, tmp_path):
    conf = corefile(tmp_path, f"tls://{dot.address}",
                    f"        tls {pems['ca']}\n        tls_servername {SERVER_NAME}\n")
    before = dot.connections
    with serving(["--conf", str(conf)]) as server:
        for i in range(20):
            assert ask(server, f"name{i}.example.org.", tcp=i % 2 == 1) == ("NOERROR", {"192.0.2.1"})
        assert ask(server, "nx.example.org.") == ("NXDOMAIN", set())
    assert {q.proto for i in range(20) for q in dot.asked(f"name{i}.example.org.")} == {"tls"}
    assert dot.connections - before == 1  # every query on the one connection


@pytest.mark.parametrize(
    ("options", "why"),
    [
        ("        tls {other-ca}\n        tls_servername " + SERVER_NAME + "\n",
         "unable to get local issuer certificate"),
        ("        tls {ca}\n        tls_servername other.example.test\n",
         "Hostname mismatch, certificate is not valid for 'other.example.test'"),
        ("        tls {ca}\n", "IP address mismatch, certificate is not valid for '127.0.0.1'"),
        ("        tls_servername " + SERVER_NAME + "\n", "unable to get local issuer certificate"),
    ],
    ids=["wrong CA", "wrong servername", "no servername: the IP is verified", "system CAs"],
)
def test_a_certificate_that_does_not_verify_is_servfail_and_logged(dot, pems, tmp_path, options, why):
    options = options.format(**{name: path for name, path in pems.items()})
    conf = corefile(tmp_path, f"tls://{dot.address}", options)
    asked = dot.asked_total
    with serving(["--conf", str(conf)]) as server:
        assert ask(server, "www.example.org.") == ("SERVFAIL", set())
        pattern = (
            rf"plugin/errors: 2 www\.example\.org\. A: dial tcp-tls {re.escape(dot.address)}: "
            rf"tls: failed to verify certificate: {re.escape(why)}"
        )
        wait_for(lambda: any(re.search(pattern, line) for line in server.log),
                 what="the errors plugin's line")
    assert dot.asked_total == asked  # nothing was sent over a connection we did not trust


def test_server_name_per_upstream_and_the_ip_in_the_certificate(ca, pems, tmp_path):
    with FakeUpstream(tls=server_context(ca, "127.0.0.1")) as by_ip, FakeUpstream(
        tls=server_context(ca, SERVER_NAME)
    ) as by_name:
        host, port = by_name.address.split(":")
        to = f"tls://{by_ip.address} tls://{host}%{SERVER_NAME}:{port}"
        conf = corefile(tmp_path, to, f"        tls {pems['ca']}\n        policy sequential\n")
        with serving(["--conf", str(conf)]) as server:
            assert ask(server, "first.example.org.") == ("NOERROR", {"192.0.2.1"})
            by_ip.stop()  # the next goes on to the second
            assert ask(server, "second.example.org.") == ("NOERROR", {"192.0.2.1"})
        assert [q.proto for q in by_ip.asked("first.example.org.")] == ["tls"]
        assert [q.proto for q in by_name.asked("second.example.org.")] == ["tls"]


def test_client_certificate(ca, pems, tmp_path):
    with FakeUpstream(tls=server_context(ca, SERVER_NAME, client_auth=True)) as upstream:
        to = f"tls://{upstream.address}"
        named = f"        tls_servername {SERVER_NAME}\n"
        with_cert = f"        tls {pems['client-cert']} {pems['client-key']} {pems['ca']}\n"
        with serving(["--conf", str(corefile(tmp_path, to, with_cert + named))]) as server:
            assert ask(server, "mtls.example.org.") == ("NOERROR", {"192.0.2.1"})
        without = f"        tls {pems['ca']}\n"
        with serving(["--conf", str(corefile(tmp_path, to, without + named))]) as server:
            assert ask(server, "anonymous.example.org.") == ("SERVFAIL", set())
        assert upstream.asked("mtls.example.org.") and not upstream.asked("anonymous.example.org.")


# --- Forward in process: the pool, expire, health checks, metrics ------------------------


def tls_forward(ca: trustme.CA, *upstreams: FakeUpstream | str, **options) -> Forward:
    trusting = client_context(())
    ca.configure_trust(trusting)
    to = tuple(u if isinstance(u, str) else f"tls://{u.address}" for u in upstreams)
    config = ForwardConfig(
        zone=".", to=to, tls=trusting, tls_servername=SERVER_NAME, read_timeout=0.5, **options
    )
    return Forward(config, deadline=1.5)


def question(name: str) -> bytes:
    return bytes(DNSRecord.question(name, "A").pack())


def test_one_connection_serves_query_after_query(ca, dot):
    labels = ("forward", dot.address, "tcp-tls")
    hits, misses = metrics.CONN_CACHE_HITS.value(labels), metrics.CONN_CACHE_MISSES.value(labels)

    async def scenario():
        fwd = tls_forward(ca, dot)  # expire 10s
        try:
            opened = dot.connections
            for i in range(5):
                await fwd.exchange(question(f"pooled{i}.example.org."), False)
            assert dot.connections - opened == 1
        finally:
            fwd.close()

    asyncio.run(scenario())
    assert metrics.CONN_CACHE_HITS.value(labels) - hits == 4
    assert metrics.CONN_CACHE_MISSES.value(labels) - misses == 1


def test_a_connection_idle_for_expire_is_closed(ca):
    with FakeUpstream(tls=server_context(ca, SERVER_NAME)) as upstream:

        async def scenario():
            fwd = tls_forward(ca, upstream, expire=0.3)
            try:
                await fwd.exchange(question("before.example.org."), False)
                # idle for `expire`, the connection is closed without another query
                await wait_for_async(lambda: upstream.disconnections == 1, what="the idle close")
                await fwd.exchange(question("after.example.org."), False)
                assert upstream.connections == 2
            finally:
                fwd.close()

        asyncio.run(scenario())


def test_a_connection_the_upstream_closed_is_replaced(ca):
    with FakeUpstream(tls=server_context(ca, SERVER_NAME)) as upstream:

        async def scenario():
            fwd = tls_forward(ca, upstream)
            try:
                await fwd.exchange(question("before.example.org."), False)
                upstream.stop()  # closes the kept connection
                upstream.start()
                reply, _ = await fwd.exchange(question("after.example.org."), False)
                assert DNSRecord.parse(reply).a.rdata is not None
            finally:
                fwd.close()

        asyncio.run(scenario())
        assert [q.proto for q in upstream.asked("after.example.org.")] == ["tls"]


def test_health_checks_go_over_tls(ca):
    with FakeUpstream(tls=server_context(ca, SERVER_NAME), silent=True) as upstream:
        failures = metrics.HEALTHCHECK_FAILURES.value(("forward", upstream.address))

        async def scenario():
            fwd = tls_forward(ca, upstream, health_check=0.05)
            try:
                with pytest.raises(ForwardError, match="i/o timeout"):
                    await fwd.exchange(question("silent.example.org."), False)
                await wait_for_async(fwd.upstreams[0].down, what="the checks to mark it down")
            finally:
                fwd.close()

        asyncio.run(scenario())
        checks = upstream.asked(".")
        assert checks and {q.proto for q in checks} == {"tls"} and {q.qtype for q in checks} == {2}
        assert metrics.HEALTHCHECK_FAILURES.value(("forward", upstream.address)) > failures


def test_plain_and_tls_upstreams_in_one_forward(ca, dot):
    with FakeUpstream() as plain:

        async def scenario():
            fwd = tls_forward(ca, f"tls://{dot.address}", plain.address, policy="sequential")
            try:
                await fwd.exchange(question("mixed.example.org."), False)
                fwd.upstreams.reverse()
                await fwd.exchange(question("mixed.example.org."), False)
            finally:
                fwd.close()

        asyncio.run(scenario())
        assert [q.proto for q in dot.asked("mixed.example.org.")] == ["tls"]
        assert [q.proto for q in plain.asked("mixed.example.org.")] == ["udp"]


# --- configuration errors, naming the line ------------------------------------------------


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        ("forward . tls://1.1.1.1 {\n tls a b c d\n}", 3, "'tls' takes 0 to 3 arguments, got 4"),
        ("forward . tls://1.1.1.1 {\n tls /no/such/ca.pem\n}", 3,
         "tls: could not read root certs from /no/such/ca.pem: No such file or directory"),
        ("forward . tls://1.1.1.1 {\n tls {bad} {bad}\n}", 3, "tls: could not load TLS cert"),
        ("forward . tls://1.1.1.1 {\n tls {bad}\n}", 3, "no certificate or crl found"),
        ("forward . tls://1.1.1.1 {\n tls_servername\n}", 3, "'tls_servername' takes 1 argument"),
        ("forward . 8.8.8.8 {\n policy sequential\n tls_servername dns.google\n}", 4,
         "tls_servername is for tls:// upstreams: none here"),
        ("forward . 8.8.8.8 {\n tls\n}", 3, "tls is for tls:// upstreams: none here"),
        ("forward . tls://1.1.1.1 tls://1.0.0.1 {\n force_tcp\n}", 3,
         "force_tcp is for plain DNS upstreams: all are tls://"),
        ("forward . tls://1.1.1.1 {\n prefer_udp\n}", 3, "prefer_udp is for plain DNS upstreams"),
        ("forward . tls://9.9.9.9%dns.quad9.net {\n tls_servername dns.google\n}", 3,
         "both forward ('dns.google') and upstream ('dns.quad9.net') TLS server names are set"),
        ("forward . tls://9.9.9.9%", 2, "'tls://9.9.9.9%' has no server name after '%'"),
        ("forward . https://9.9.9.9", 2, "https:// upstreams are not supported"),
        ("forward . tls://dns.quad9.net", 2, "'tls://dns.quad9.net' is not an IP address"),
    ],
)
def test_bad_tls_options_name_the_line(tmp_path, body, line, message):
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate\n")
    text = f".:53 {{\n{body.replace('{bad}', str(bad))}\n}}\n"
    with pytest.raises(CorefileError) as failure:
        load_config(text)
    assert failure.value.line == line
    assert message in failure.value.message


def test_tls_forms_that_load(pems):
    mixed = load_config(".:53 {\n forward . tls://1.1.1.1 8.8.8.8 {\n  force_tcp\n  tls\n }\n}\n")
    assert mixed[0].plugins["forward"][0].tls is not None
    for files in ([], [pems["ca"]], [pems["client-cert"], pems["client-key"]],
                  [pems["client-cert"], pems["client-key"], pems["ca"]]):
        line = " ".join(map(str, files))
        load_config(f".:53 {{\n forward . tls://[::1%dns.example]:8853 {{\n  tls {line}\n }}\n}}\n")
