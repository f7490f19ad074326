"""Zone transfers as the server block runs them: what CoreDNS's chain does before and
around its `transfer` plugin.

A TCP AXFR/IXFR goes to the block its zone routes to, whose rewrite, acl and header's query
flags act on it first (`QueryHandler.screened_transfer`): a client acl blocks or filters is
answered as acl answers any query (REFUSED with extended error 15, NOERROR with 17), one it
drops gets nothing and its connection stays open, as in CoreDNS. What gets through goes to
the listener's `ZoneTransfer` (its own `to` check next); each message it writes goes
through header's response flags and rewrite's reverter (not loadbalance, which leaves
transfers alone), and the transfer is counted and logged once, as CoreDNS's recorders
see it: the last message's rcode and flags, every message's bytes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from clusterdns.dns.request import Peer
from clusterdns.metrics import requests as query_metrics
from clusterdns.plugins.log import log_query
from clusterdns.plugins.rewrite.reverter import revert
from clusterdns.plugins.transfer import ZoneTransfer, is_transfer
from clusterdns.server.handler import QueryHandler, Routed

PLUGIN = "transfer"  # the plugin that wrote a transfer's messages (a metrics label)


class ScreenedTransfer:
    """The listener's zone transfers behind its handler's screens (transport's `Transfers`)."""

    def __init__(self, handler: QueryHandler, transfer: ZoneTransfer) -> None:
        self.handler = handler
        self.transfer = transfer

    @classmethod
    def of(cls, handler: QueryHandler, transfer: ZoneTransfer | None) -> ScreenedTransfer | None:
        return None if transfer is None else cls(handler, transfer)

    def takes(self, data: bytes) -> bool:
        return is_transfer(data)

    def replies(self, data: bytes, peer: Peer) -> Iterator[bytes]:
        screened = self.handler.screened_transfer(data, peer)
        if not isinstance(screened, tuple):
            yield from () if screened is None else (screened,)
            return
        request, query = screened
        block = request.block
        assert block is not None  # (routed)
        rewritten, asked = request.rewritten, request.query.question
        last, size = b"", 0
        for message in self.transfer.replies(query, peer[0]):
            if block.shapes:
                message = block.shaped(message)
            if rewritten is not None:
                message = revert(message, asked, rewritten, PLUGIN)
            last, size = message, size + len(message)
            yield message
        if last:
            self._record(request, last, size)

    def _record(self, request: Routed, last: bytes, size: int) -> None:
        """Count and log a transfer written whole: `last` its last message, `size` the
        bytes of all."""
        block = request.block
        assert block is not None
        seconds = time.perf_counter() - request.start
        query_metrics.record_query(
            self.handler.server, request.zone, request.proto, request.family, request.qtype,
            request.do, len(request.data), size, last[3] & 0xF, PLUGIN, seconds,
        )  # fmt: skip
        if block.clients is not None:
            block.clients.record(request.peer, last)
        if block.log is not None:
            log_query(block.log, request, last, seconds, size)
