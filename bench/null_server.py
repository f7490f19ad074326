"""clusterdns's UDP listener with a handler that does no work: every query is answered
NXDOMAIN from its own bytes (QR and the rcode set, nothing looked up). Under blast it shows
the floor of a query's cost in `serve`: the event loop (uvloop, as `serve` runs), the batched
system calls, the kernel's loopback, with nothing of DNS on top.

    python -m bench.null_server PORT   (bench/run.py starts it, pinned like the servers)
"""

from __future__ import annotations

import asyncio
import socket
import sys

from clusterdns.dns.request import Peer
from clusterdns.server import workers
from clusterdns.transport.protocols import Reply
from clusterdns.transport.udp import UdpListener

NXDOMAIN_RESPONSE = 0x83  # the second flag byte: rcode 3; QR set in the first (0x80)


class NoWork:
    def handle(self, data: bytes, over_tcp: bool, peer: Peer | None = None) -> Reply:
        if len(data) < 12:
            return None
        return data[:2] + bytes((data[2] | 0x80, NXDOMAIN_RESPONSE)) + data[4:]


async def serve(port: int) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", port))
    UdpListener(sock, NoWork()).start()
    await asyncio.Event().wait()  # until SIGTERM ends the process


if __name__ == "__main__":
    workers.run(serve(int(sys.argv[1])))
