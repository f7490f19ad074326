"""What the transports need of the server: they move bytes and know no plugin.

A listener hands every message to a `Handler` and writes back what it returns; a TCP
connection may instead be given to `Transfers` (AXFR/IXFR: many messages for one query).
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterator
from typing import Protocol

from clusterdns.dns.request import Peer

Reply = bytes | None | Awaitable[bytes | None]  # bytes now, None to drop, or later


class Handler(Protocol):
    def handle(self, data: bytes, over_tcp: bool, peer: Peer | None = None) -> Reply:
        """The reply to one message, as bytes now, None to drop it, or an awaitable of
        either when the answer needs the network."""
        ...


class Transfers(Protocol):
    def takes(self, data: bytes) -> bool:
        """Whether this query is a zone transfer (answered in many messages)."""
        ...

    def replies(self, data: bytes, peer: Peer) -> Iterator[bytes]:
        """The messages that answer it for the client at `peer` (none: nothing is written,
        the connection goes on)."""
        ...
