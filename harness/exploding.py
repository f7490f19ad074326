"""`python -m harness.exploding serve ARGS...`: the real server with a bug met by one kind of
name, for tests of what an internal error does (`start_server(..., launcher=LAUNCHER)`):
the kubernetes resolver raises on names that start with `boom.`."""

from __future__ import annotations

from dnslib import DNSLabel

from clusterdns.cli.app import app
from clusterdns.dns.message import Answer
from clusterdns.plugins.kubernetes.resolver import Resolver

LAUNCHER = ("-m", "harness.exploding")
_resolve = Resolver.resolve


def _exploding(self: Resolver, qname: DNSLabel | str, qtype: int) -> Answer:
    if str(qname).lower().startswith("boom."):
        raise RuntimeError("a bug met by one query")
    return _resolve(self, qname, qtype)


if __name__ == "__main__":
    Resolver.resolve = _exploding  # type: ignore[method-assign]
    app()
