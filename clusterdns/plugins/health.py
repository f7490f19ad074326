"""CoreDNS's `health` plugin: /health answers 200 while the process lives, lameduck included.

`lameduck DURATION`: on SIGTERM the server keeps answering that long (with /ready 503) before
it stops, so clients and load balancers move away first.
"""

from __future__ import annotations

from dataclasses import dataclass

from clusterdns.config.checks import Origins, apply_options, duration_option, listen_address
from clusterdns.config.corefile import Directive
from clusterdns.config.registry import Plugin

TEXT = "text/plain; charset=utf-8"


@dataclass(frozen=True, slots=True)
class HealthConfig:
    address: str = ":8080"
    lameduck: float = 0.0


def setup(node: Directive, block: Origins) -> HealthConfig:
    address = listen_address(node, ":8080")
    options = apply_options(node, {"lameduck": duration_option("lameduck")})
    return HealthConfig(address, **options)


HEALTH = Plugin("health", setup, chain=False)


def health() -> tuple[int, str, bytes]:
    """The /health response: status, content type, body."""
    return 200, TEXT, b"OK"
