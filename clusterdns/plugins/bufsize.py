"""CoreDNS's `bufsize` plugin: `bufsize [SIZE]` (512..4096, default 1232) lowers the EDNS
buffer a query advertises to SIZE when it is larger, so the reply fits it and its OPT echoes
it. It also takes the place of our default UDP cap (1232) for the block: `bufsize 4096`
lets UDP replies grow to 4096 bytes where the client allows."""

from __future__ import annotations

from clusterdns.config.checks import Origins, arguments, integer, no_block
from clusterdns.config.corefile import Directive
from clusterdns.config.registry import Plugin
from clusterdns.dns.request import MAX_BUFSIZE

DEFAULT = 1232


def setup(node: Directive, block: Origins) -> int:
    no_block(node)
    args = arguments(node, 0, 1)
    return integer(node, args[0], 512, MAX_BUFSIZE) if args else DEFAULT


BUFSIZE = Plugin("bufsize", setup)
