"""CoreDNS's `health` plugin: /health answers 200 while the process lives, lameduck included."""

from __future__ import annotations

TEXT = "text/plain; charset=utf-8"


def health() -> tuple[int, str, bytes]:
    """The /health response: status, content type, body."""
    return 200, TEXT, b"OK"
