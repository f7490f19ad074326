"""CoreDNS's `ready` plugin: /ready answers 200 only when queries are worth sending here.

Every plugin that can be unready (the `kubernetes` plugin before its first sync) is asked, as
CoreDNS asks its plugins' `Ready()`; while one is not ready, or the server is shutting down,
503 naming what is not ready.
"""

from __future__ import annotations

from typing import Protocol

from clusterdns.config.checks import Origins, listen_address, no_block
from clusterdns.config.corefile import Directive
from clusterdns.config.registry import Plugin

TEXT = "text/plain; charset=utf-8"


def setup(node: Directive, block: Origins) -> str:
    """The address /ready listens on."""
    no_block(node)
    return listen_address(node, ":8181")


READY = Plugin("ready", setup, chain=False)


class Readiness(Protocol):
    def ready(self) -> bool: ...


class Ready:
    def __init__(self, plugins: dict[str, Readiness]) -> None:
        self.plugins = plugins  # name (as /ready reports it) → its readiness
        self.shutting_down = False

    def probe(self) -> tuple[int, str, bytes]:
        """The /ready response: status, content type, body."""
        if self.shutting_down:
            return 503, TEXT, b"shutting down"
        waiting = [name for name, plugin in self.plugins.items() if not plugin.ready()]
        if waiting:
            return 503, TEXT, ",".join(waiting).encode()
        return 200, TEXT, b"OK"



