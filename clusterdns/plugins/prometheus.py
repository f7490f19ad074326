"""CoreDNS's `prometheus` plugin: /metrics on the address given (default :9153)."""

from __future__ import annotations

from clusterdns.config.checks import Origins, listen_address, no_block
from clusterdns.config.corefile import Directive
from clusterdns.config.registry import Plugin


def setup(node: Directive, block: Origins) -> str:
    """The address /metrics listens on."""
    no_block(node)
    return listen_address(node, ":9153")


PROMETHEUS = Plugin("prometheus", setup)
