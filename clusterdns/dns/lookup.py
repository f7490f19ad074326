"""How a plugin asks the server itself (CoreDNS's plugin/pkg/upstream): a name and type
asked again of the whole server, through its own chain (a CNAME target of template or of
rewrite's `cname` rule). The server gives a plugin a `Lookup` bound to the query it is
answering; the reply is that query's flags and EDNS with the other question, as a client
would get it, or None when there is none (dropped, or too deep in lookups of lookups)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

Lookup = Callable[[str, int], Awaitable[bytes | None]]
