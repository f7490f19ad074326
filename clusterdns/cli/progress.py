"""Progress of long commands as lines on stderr, for a person watching a large dump.

Work that is over within a second says nothing; after that each phase says when it is done,
and counts come at most once a second, so a log of a big run stays short.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(
        self, command: str, enabled: bool = True, delay: float = 1.0, stream: TextIO | None = None
    ) -> None:
        self.command = command
        self.enabled = enabled
        self.delay = delay
        self.stream = stream if stream is not None else sys.stderr
        self.start = time.monotonic()
        self._last = self.start

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def note(self, text: str) -> None:
        """A phase is done (said only once the command has run for `delay`)."""
        if self.enabled and self.elapsed() >= self.delay:
            self._say(f"{text} ({self.elapsed():.1f} s)")

    def count(self, done: int, total: int) -> None:
        self.status(f"{done}/{total} services")

    def status(self, text: str) -> None:
        """Where long work is (said at most once a second, once the command has run for
        `delay`)."""
        now = time.monotonic()
        if self.enabled and now - self.start >= self.delay and now - self._last >= 1.0:
            self._say(text)

    def _say(self, text: str) -> None:
        self._last = time.monotonic()
        print(f"clusterdns {self.command}: {text}", file=self.stream, flush=True)
