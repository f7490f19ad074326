"""CoreDNS's `errors` plugin: a failed forward is logged (`[ERROR] plugin/errors: ...`).

`errors [stdout]`; the logging itself is the relay's, which reads this block's setting.
"""

from __future__ import annotations

from clusterdns.config.checks import Origins, switch
from clusterdns.config.corefile import Directive
from clusterdns.config.registry import Plugin


def setup(node: Directive, block: Origins) -> bool:
    return switch(node, ("stdout",))


ERRORS = Plugin("errors", setup)
