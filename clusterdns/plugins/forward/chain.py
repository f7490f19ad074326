"""The forwards of one server block, in the Corefile's order, as CoreDNS chains them (each
forward's next plugin is the forward after it).

A query goes to the first forward whose FROM and `except` take its name. A reply whose rcode
that forward's `next` lists (or, with `next_on_nodata`, a NOERROR reply without answer
records) is not the client's: the query goes on to the forwards after it, the first that
takes the name asked in turn. When none does, the query has run past the last forward:
SERVFAIL, "no next plugin found" (the plugin after the forwards, `whoami`, is not asked).
"""

from __future__ import annotations

from collections.abc import Iterable

from dnslib import RCODE

from clusterdns.dns.packet import Layout
from clusterdns.plugins.forward.forward import Forward, ForwardError

NO_NEXT_PLUGIN = "plugin/forward: no next plugin found"  # CoreDNS's plugin.NextOrFailure


class ForwardChain:
    def __init__(self, forwards: Iterable[Forward]) -> None:
        self.forwards = tuple(forwards)

    def matches(self, name: str) -> bool:
        """Whether a forward takes `name` (absolute, lower case)."""
        return any(forward.matches(name) for forward in self.forwards)

    async def exchange(self, query: bytes, over_tcp: bool, name: str) -> tuple[bytes, Layout]:
        """The reply to `query` (for `name`) of the forward that answers it, and its layout.
        Raises ForwardError."""
        for forward in self.forwards:
            if forward.matches(name):
                reply, layout = await forward.exchange(query, over_tcp)
                if not forward.passes_on(reply):
                    return reply, layout
        raise ForwardError(RCODE.SERVFAIL, NO_NEXT_PLUGIN)

    def close(self) -> None:
        for forward in self.forwards:
            forward.close()
