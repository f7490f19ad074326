"""CoreDNS's `errors` plugin: a failed forward is logged (`[ERROR] plugin/errors: ...`).

`errors [stdout]`; the logging itself is the relay's, which reads this block's setting.
"""

from __future__ import annotations

from clusterdns.config.checks import Origins, arguments, choice, no_block
from clusterdns.config.corefile import Directive
from clusterdns.config.registry import Plugin


def setup(node: Directive, block: Origins) -> bool:
    no_block(node)
    for arg in arguments(node, 0, 1):
        choice(node, arg, ("stdout",))
    return True


ERRORS = Plugin("errors", setup)
