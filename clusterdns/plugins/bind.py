"""CoreDNS's `bind` plugin: the addresses a server block listens on (all when not given).

Repeatable: the addresses of every `bind` in a block add up.
"""

from __future__ import annotations

from operator import add

from clusterdns.config.addresses import ip_address_or_none
from clusterdns.config.checks import Origins, arguments, fail, no_block
from clusterdns.config.corefile import Directive
from clusterdns.config.registry import Plugin


def setup(node: Directive, block: Origins) -> tuple[str, ...]:
    no_block(node)
    addresses = arguments(node, 1, None)
    for address in addresses:
        if ip_address_or_none(address) is None:
            raise fail(node, f"bind: '{address}' is not an IP address (interfaces unsupported)")
    return addresses


BIND = Plugin("bind", setup, merge=add, chain=False)
