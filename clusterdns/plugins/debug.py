"""CoreDNS's `debug` plugin: debug logging, and internal errors that are not recovered from.

    debug

Process-wide, as in CoreDNS: while any server block of the running Corefile has it, the
server's loggers write their DEBUG lines (whatever `--log-level` says), and an internal
error (a bug met by a query or a connection, which otherwise is answered SERVFAIL, counted
in `coredns_panics_total` and logged at most a few times per window) is logged with its
whole traceback and ends the process with status 2, as an unrecovered panic ends CoreDNS
(Go's status for one): the supervisor restarts it, and the traceback is in the log. A reload
to a Corefile without `debug` turns both off again.

The DEBUG lines: `plugin/forward:` every failed exchange with an upstream (a timeout, a
refusal, a certificate that does not verify), `plugin/hosts:` each parse of a hosts file,
`plugin/local:` each localhost name intercepted, the informer's watch events, the UDP
transport's socket errors.
"""

from __future__ import annotations

import logging
from operator import or_

from clusterdns.config.checks import Origins, switch
from clusterdns.config.corefile import Directive
from clusterdns.config.registry import Plugin
from clusterdns.metrics import panics

SERVER_LOGGER = "clusterdns"  # the parent of every logger the server writes with


def setup(node: Directive, block: Origins) -> bool:
    return switch(node)


def set_debug_mode(on: bool) -> None:
    """Turn debug mode on or off for the whole process."""
    logging.getLogger(SERVER_LOGGER).setLevel(logging.DEBUG if on else logging.NOTSET)
    panics.recover(not on)


DEBUG = Plugin("debug", setup, merge=or_, chain=False)
