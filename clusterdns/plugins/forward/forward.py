"""CoreDNS's `forward`: which names go upstream, to which upstream in what order, and what the
client gets when none answers.

A query tries the upstreams in policy order, skipping those that are down (all down: one at
random, or SERVFAIL at once with `failfast_all_unhealthy_upstreams`), until one replies or
5 s pass, each exchange given `read_timeout`. A UDP reply with TC is asked again over TCP.
When every upstream failed at once (refused, unreachable) the query fails right away; only a
timeout, which may be a lost packet, is worth another round; and at most
`max_connect_attempts` exchanges may fail (2 per upstream by default, 0: no cap). A reply
whose rcode `failover` lists is not taken while another upstream is left to ask (after as
many such replies as there are upstreams, the last one is). More than `max_concurrent`
queries in flight are REFUSED. Upstreams are written in the Corefile or read from a
resolv.conf file.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time

from dnslib import RCODE

from clusterdns.config.resolvconf import RESOLV_CONF, read_resolv_conf
from clusterdns.dns.names import in_zone
from clusterdns.dns.packet import Layout, PacketError, rcode, scan, truncated
from clusterdns.errors import ConfigError, ServeError
from clusterdns.metrics.requests import RCODE_LABELS
from clusterdns.plugins.forward import metrics
from clusterdns.plugins.forward.metrics import PROXY_NAME
from clusterdns.plugins.forward.setup import Destination, ForwardConfig, destination
from clusterdns.plugins.forward.stream import UpstreamError
from clusterdns.plugins.forward.tls import client_context
from clusterdns.plugins.forward.upstream import Upstream

DEADLINE = 5.0  # CoreDNS's defaultTimeout: the most one query may spend on upstreams
ATTEMPTS_PER_UPSTREAM = 2  # CoreDNS's default cap of failed exchanges, per upstream
NO_HEALTHY = "no healthy proxies"
log = logging.getLogger("clusterdns.forward")


class ForwardError(ServeError):
    """No upstream answered: the client gets `rcode`; `message` is for the errors plugin."""

    def __init__(self, rcode: int, message: str) -> None:
        super().__init__(message)
        self.rcode = rcode


class UpstreamConfigError(ConfigError):
    """The upstreams a forward names cannot be used (an unreadable or empty resolv.conf)."""


def nameservers(path: str) -> list[Destination]:
    """The `nameserver` addresses of a resolv.conf file, on port 53."""
    try:
        found = [Destination(address, 53) for address in read_resolv_conf(path).nameservers]
    except OSError as exc:
        raise UpstreamConfigError(f"forward: cannot read {path}: {exc.strerror or exc}") from None
    if not found:
        raise UpstreamConfigError(f"forward: {path} has no nameserver lines")
    return found


def upstream_addresses(to: tuple[str, ...], resolv_conf: str = RESOLV_CONF) -> list[Destination]:
    """The upstreams a forward's TO list names (as setup checked it); `resolv_conf` stands
    in for /etc/resolv.conf (tests point it at a loopback upstream)."""
    addresses: list[Destination] = []
    for item in to:
        found = destination(item)
        if found is None:
            addresses += nameservers(resolv_conf if item == RESOLV_CONF else item)
        else:
            addresses.append(found)
    return addresses


class Forward:
    def __init__(
        self, config: ForwardConfig, resolv_conf: str = RESOLV_CONF, *, deadline: float = DEADLINE
    ) -> None:
        self.config = config
        self.deadline = deadline
        destinations = upstream_addresses(config.to, resolv_conf)
        tls = None
        if any(d.tls for d in destinations):
            tls = config.tls or client_context(())
        self.upstreams = [
            Upstream(
                d.host,
                d.port,
                config,
                tls=tls if d.tls else None,
                server_name=d.server_name or config.tls_servername,
            )
            for d in destinations
        ]
        cap = config.max_connect_attempts
        self.max_attempts = ATTEMPTS_PER_UPSTREAM * len(self.upstreams) if cap is None else cap
        self.in_flight = 0
        self._next = 0  # round_robin: where the next query starts

    def matches(self, name: str) -> bool:
        """Whether `name` (absolute, lower case) is forwarded: inside FROM and not excepted."""
        zone = self.config.zone
        if not in_zone(name, zone):
            return False
        return name == zone or not any(in_zone(name, e) for e in self.config.except_zones)

    async def exchange(self, query: bytes, over_tcp: bool) -> tuple[bytes, Layout]:
        """An upstream's reply to `query` and its layout. Raises ForwardError."""
        limit = self.config.max_concurrent
        if limit and self.in_flight >= limit:
            metrics.MAX_CONCURRENT_REJECTS.inc()
            raise ForwardError(RCODE.REFUSED, f"concurrent queries exceeded maximum {limit}")
        config = self.config
        tcp = config.force_tcp or (over_tcp and not config.prefer_udp)
        self.in_flight += 1
        try:
            return await self._exchange(query, tcp)
        finally:
            self.in_flight -= 1

    def close(self) -> None:
        for upstream in self.upstreams:
            upstream.close()

    def passes_on(self, reply: bytes) -> bool:
        """Whether `next` / `next_on_nodata` hand the query with this reply to the next
        forward of the block (setup sees that there is one)."""
        code = rcode(reply)
        config = self.config
        return code in config.next or (
            config.next_on_nodata and code == RCODE.NOERROR and reply[6:8] == b"\0\0"
        )

    async def _exchange(self, query: bytes, tcp: bool) -> tuple[bytes, Layout]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.deadline
        error, failed, failovers = NO_HEALTHY, 0, 0
        failover, cap = self.config.failover, self.max_attempts
        while True:
            again = False  # a timeout (maybe a lost packet) or a failover: another round
            candidates = self._candidates()
            if not candidates:  # all down, and failfast_all_unhealthy_upstreams
                raise ForwardError(RCODE.SERVFAIL, error)
            for upstream in candidates:
                left = deadline - loop.time()
                if left <= 0:
                    raise ForwardError(RCODE.SERVFAIL, error)
                timeout = min(self.config.read_timeout, left)
                try:
                    reply, layout = await self._ask(upstream, query, tcp, timeout)
                except UpstreamError as exc:
                    log.debug("plugin/forward: %s", exc)
                    error, again = str(exc), again or exc.timeout
                    upstream.check_health()
                    failed += 1
                    if failed == cap:
                        raise ForwardError(RCODE.SERVFAIL, error) from None
                    continue
                if failover and rcode(reply) in failover:
                    failovers += 1
                    if failovers < len(self.upstreams):
                        again = True
                        continue
                return reply, layout
            if not again:
                raise ForwardError(RCODE.SERVFAIL, error)

    def _candidates(self) -> list[Upstream]:
        """The upstreams to try, in policy order, without those that are down (none when
        all are and `failfast_all_unhealthy_upstreams` says so)."""
        upstreams = self.upstreams
        policy = self.config.policy
        if len(upstreams) == 1:
            ordered = upstreams
        elif policy == "random":
            ordered = random.sample(upstreams, len(upstreams))
        elif policy == "round_robin":
            start, self._next = self._next, (self._next + 1) % len(upstreams)
            ordered = upstreams[start:] + upstreams[:start]
        else:
            ordered = upstreams
        healthy = [upstream for upstream in ordered if not upstream.down()]
        if healthy:
            return healthy
        metrics.HEALTHCHECK_BROKEN.inc()
        if self.config.failfast_all_unhealthy_upstreams:
            return []
        # All down: assume health checking itself is broken and try one at random, as CoreDNS.
        return [random.choice(upstreams)]

    async def _ask(
        self, upstream: Upstream, query: bytes, tcp: bool, timeout: float
    ) -> tuple[bytes, Layout]:
        start = time.perf_counter()
        reply = await upstream.exchange(query, tcp, timeout)
        if not (tcp or upstream.tls) and truncated(reply):
            with contextlib.suppress(UpstreamError):  # else keep the truncated reply
                reply = await upstream.exchange(query, True, timeout)
        try:
            layout = scan(reply)
        except PacketError as exc:
            raise UpstreamError(f"{upstream.label}: malformed reply: {exc}") from None
        code = rcode(reply)
        labels = (PROXY_NAME, upstream.label, RCODE_LABELS.get(code) or f"RCODE{code}")
        metrics.REQUEST_DURATION.observe(labels, time.perf_counter() - start)
        return reply, layout
