"""`python -m harness.exploding serve ARGS...`: the real server with a bug met by one kind of
name, for tests of what an internal error does (`start_server(..., launcher=LAUNCHER)`):
the kubernetes resolver raises on names that start with `boom.`."""

from __future__ import annotations

from typing import Any

from dnslib import DNSLabel

from clusterdns.cli.app import app
from clusterdns.dns.message import Answer
from clusterdns.plugins.kubernetes.resolver import Resolver, build_resolver
from clusterdns.server import app as server_app

LAUNCHER = ("-m", "harness.exploding")


class Exploding(Resolver):
    """A resolver with a bug on the names that start with `boom.` (fault injection)."""

    def resolve(self, qname: DNSLabel | str, qtype: int) -> Answer:
        if str(qname).lower().startswith("boom."):
            raise RuntimeError("a bug met by one query")
        return super().resolve(qname, qtype)


def _exploding_resolver(*args: Any, **kwargs: Any) -> Resolver:
    """The server's resolver (`build_resolver`), with the bug."""
    built = build_resolver(*args, **kwargs)
    return Exploding(built.index, built.settings)


if __name__ == "__main__":
    # (the resolver is compiled: its methods cannot be replaced, but it can be subclassed;
    # the server builds its resolver through this name)
    server_app.build_resolver = _exploding_resolver
    app()
