"""What a plugin that may answer before the kubernetes resolver offers the query handler
(hosts today; template, rewrite's successors later): an answer, or None for the next plugin,
in CoreDNS's plugin order. Plugins meet the server only through this shape."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from clusterdns.dns.message import Answer
from clusterdns.dns.request import Request


class Answerer(Protocol):
    name: str  # the `plugin` metrics label of the replies it writes

    def answer(self, request: Request) -> Answer | None:
        """The reply to `request`, or None to pass it to the next plugin."""
        ...

    def passes(self, name: str, qtype: int) -> bool:
        """Whether a class IN query for `name` (lower case) and `qtype` certainly goes to
        the next plugin: the server's wire answers ask before answering past it."""
        ...

    def subscribe(self, changed: Callable[[], None]) -> None:
        """Call `changed` when what it answers changes (replies kept past it are stale)."""
        ...

    def start(self) -> None: ...

    def close(self) -> None: ...
