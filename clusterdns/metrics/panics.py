"""Internal errors (a bug met by one query, a connection's handler failing): each is counted
in `coredns_panics_total` and logged, but the log is not an attack surface: per
`INTERVAL` seconds the first `BURST` get a line (the exception's type and message; its
traceback after it with `stacktrace(True)`, the `errors` plugin's `stacktrace`), the rest one
summary line when the interval ends, however many a flood of bad packets sets off.

Unless they are not recovered from (`recover(False)`, the `debug` plugin's): then the first
is logged with its traceback and the process exits at once with `PANIC_STATUS`, as an
unrecovered panic ends CoreDNS.

Both switches are process-wide, set by the running plan as it starts (a reload without the
directive turns its switch off)."""

from __future__ import annotations

import logging
import os
import sys
import time

from clusterdns.metrics.requests import PANICS

INTERVAL = 10.0
BURST = 5
PANIC_STATUS = 2  # Go's exit status after an unrecovered panic
_recovering = True
_stacktrace = False


def recover(on: bool) -> None:
    """Whether internal errors are recovered from (process-wide; on by default)."""
    global _recovering
    _recovering = on


def stacktrace(on: bool) -> None:
    """Whether a recovered internal error's log line carries its traceback (process-wide;
    off by default, as CoreDNS's recover logs the panic's value alone)."""
    global _stacktrace
    _stacktrace = on


class PanicLog:
    def __init__(self, log: logging.Logger, interval: float = INTERVAL, burst: int = BURST):
        self.log = log
        self.interval = interval
        self.burst = burst
        self._window_start = -interval
        self._in_window = 0

    def record(self, what: str, *args: object) -> None:
        """Count the exception being handled and log it if the window has room (call from
        an `except` block: the traceback is the current exception's)."""
        PANICS.inc()
        if not _recovering:
            message = "panic (debug: not recovered, the process exits): " + what
            self.log.critical(message, *args, exc_info=True)
            _exit()
        now = time.monotonic()
        if now - self._window_start >= self.interval:
            if self._in_window > self.burst:
                self.log.error(
                    "%d more internal errors in the last %.0f s (not logged one by one)",
                    self._in_window - self.burst, now - self._window_start,
                )  # fmt: skip
            self._window_start, self._in_window = now, 0
        self._in_window += 1
        if self._in_window <= self.burst:
            if _stacktrace:
                self.log.exception(what, *args)
            else:
                error = sys.exception()
                self.log.error(what + ": %s: %s", *args, type(error).__name__, error)


def _exit() -> None:
    """End the process now, as a panic does: nothing else runs, the log is flushed first."""
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(PANIC_STATUS)
