"""CoreDNS's `loop`: find out at start whether our forwarding leads back to us.

We ask ourselves a random name (`<r1>.<r2>.<zone> HINFO`). It goes out through `forward`, and if
an upstream sends it back we see it again; a third sighting is a loop, which is logged and ends
the process with a non-zero exit, as CoreDNS's log.Fatal does. Any answer to the probe means no
loop: the probe stands down two seconds later.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import time
from collections.abc import Callable

from dnslib import QTYPE, DNSRecord

from clusterdns.config.checks import Origins, switch
from clusterdns.config.corefile import Directive
from clusterdns.config.registry import Plugin
from clusterdns.dns.request import Peer

log = logging.getLogger("clusterdns.loop")

PROBE_FOR = 30.0  # seconds to keep trying to get an answer to the probe
PROBE_TIMEOUT = 2.0
SETTLE = 2.0  # after the answer, how long late copies of the probe still count


class LoopProbe:
    def __init__(self, zone: str, on_loop: Callable[[], None]) -> None:
        self.zone = zone
        self.qname = f"{random.getrandbits(63)}.{random.getrandbits(63)}.{zone}".replace("..", ".")
        self.on_loop = on_loop
        self.active = True
        self.seen = 0
        self.target = ""

    def observe(self, name: str, qtype: int, peer: Peer | None) -> None:
        """Called by the handler for every HINFO query while the probe is active."""
        if not self.active or qtype != QTYPE.HINFO or name != self.qname:
            return
        self.seen += 1
        if self.seen > 2:
            self.active = False
            remote = f"{peer[0]}:{peer[1]}" if peer else "-"
            log.error(
                'plugin/loop: Loop (%s -> %s) detected for zone "%s", see '
                'https://coredns.io/plugins/loop#troubleshooting. Query: "HINFO %s"',
                remote,
                self.target,
                self.zone,
                self.qname,
            )
            self.on_loop()

    async def run(self, host: str, port: int) -> None:
        """Send the probe to our own listener until it is answered (or PROBE_FOR passes)."""
        self.target = f"{host}:{port}"
        query = bytes(DNSRecord.question(self.qname, "HINFO").pack())
        deadline = time.monotonic() + PROBE_FOR
        while self.active and time.monotonic() < deadline:
            try:
                await _exchange(query, host, port)
            except OSError:
                self.seen = 0
                await asyncio.sleep(1.0)
                continue
            await asyncio.sleep(SETTLE)
            break
        self.active = False


async def _exchange(query: bytes, host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        await loop.sock_connect(sock, (host, port))
        await loop.sock_sendall(sock, query)
        async with asyncio.timeout(PROBE_TIMEOUT):
            await loop.sock_recv(sock, 65535)



def setup(node: Directive, block: Origins) -> bool:
    """No arguments, no options."""
    return switch(node)


LOOP = Plugin("loop", setup)
