"""CoreDNS's `forward`: which names go upstream, to which upstream in what order, and what the
client gets when none answers.

A query tries the upstreams in policy order, skipping those that are down (all down: one at
random), until one replies or 5 s pass. A UDP reply with TC is asked again over TCP. When every
upstream failed at once (refused, unreachable) the query fails right away; only a timeout,
which may be a lost packet, is worth another round. More than `max_concurrent` queries in
flight are REFUSED. Upstreams are written in the Corefile or read from a resolv.conf file.
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
from clusterdns.plugins.forward.upstream import READ_TIMEOUT, Upstream

DEADLINE = 5.0  # CoreDNS's defaultTimeout: the most one query may spend on upstreams
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
        self,
        config: ForwardConfig,
        resolv_conf: str = RESOLV_CONF,
        *,
        read_timeout: float = READ_TIMEOUT,
        deadline: float = DEADLINE,
    ) -> None:
        self.config = config
        self.read_timeout = read_timeout
        self.deadline = deadline
        destinations = upstream_addresses(config.to, resolv_conf)
        tls = None
        if any(d.tls for d in destinations):
            tls = config.tls or client_context(())
        self.upstreams = [
            Upstream(
                d.host,
                d.port,
                tls=tls if d.tls else None,
                server_name=d.server_name or config.tls_servername,
                expire=config.expire,
                health_interval=config.health_check,
                max_fails=config.max_fails,
                health_over_tcp=config.force_tcp,
            )
            for d in destinations
        ]
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

    async def _exchange(self, query: bytes, tcp: bool) -> tuple[bytes, Layout]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.deadline
        error = "no healthy upstreams"
        while True:
            timed_out = False
            for upstream in self._candidates():
                left = deadline - loop.time()
                if left <= 0:
                    raise ForwardError(RCODE.SERVFAIL, error)
                try:
                    return await self._ask(upstream, query, tcp, min(self.read_timeout, left))
                except UpstreamError as exc:
                    log.debug("plugin/forward: %s", exc)
                    error, timed_out = str(exc), timed_out or exc.timeout
                    upstream.check_health()
            if not timed_out:
                raise ForwardError(RCODE.SERVFAIL, error)

    def _candidates(self) -> list[Upstream]:
        """The upstreams to try, in policy order, without those that are down."""
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
        # All down: assume health checking itself is broken and try one at random, as CoreDNS.
        metrics.HEALTHCHECK_BROKEN.inc()
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
