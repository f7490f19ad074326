"""The wire cache: encoded replies to cluster questions, found from the query's raw bytes.

A cluster reply depends only on the question (name in lower case, type, class), the RD bit,
whether EDNS was sent with which buffer size and DO bit, the transport (its size limit), and
the served data. So the first reply to a question is kept, and later queries get a copy with
their own ID and question bytes (their case) written in: no dnslib parse, no objects.

The served data changes often in a busy cluster, but each change touches one service or
namespace. Every reply is kept with its scope, what it can depend on (see `scope_of`): the
cache follows the cluster state and drops only the replies in the scope of a change. The
SOA serial in negative replies moves with every change; it is written into a kept reply
when it is served, so the search-path NXDOMAINs that make up half of cluster traffic stay.
`wire.encode` compresses names case-insensitively, which makes the rest of a reply the same
bytes whatever case the question had, so a hit is exactly what the slow path would have sent.

Most clients ask the same bytes again (same case, flags, EDNS), so a UDP reply is also kept
under the query's own bytes after its ID (`exact`): a repeat then costs one slice, one
lookup and one join, with no key to work out. Those entries share the scope and serial
handling of the others; TCP queries (rare) take the keyed path only.

Only plain queries have a key (`dns.request.question_key` says which); anything else takes
the slow path every time.
"""

from __future__ import annotations

from typing import Generic, NamedTuple, TypeVar

from clusterdns.dns.request import HEADER_SIZE, OVER_TCP, Key
from clusterdns.plugins.kubernetes.index import RecordIndex
from clusterdns.plugins.kubernetes.state import Key as ObjectKey
from clusterdns.plugins.kubernetes.state import StateListener

DEFAULT_CAPACITY = 50_000
Note = TypeVar("Note")  # what the server keeps beside a reply (how to count a hit)

# What a reply can depend on: ("svc", namespace, service), ("ns", namespace),
# ("pod", namespace), nothing but the serial (a name no object can create), or everything.
Scope = tuple[str, ...]
SERIAL_ONLY: Scope = ()
EVERYTHING: Scope = ("*",)
# The SOA's refresh, retry and expire (resolver.soa) follow its serial in every reply.
SOA_TIMERS = (7200).to_bytes(4) + (1800).to_bytes(4) + (86400).to_bytes(4)


def scope_of(name: str, zone: str, reverse: bool, crossed: bool) -> Scope:
    """The scope of the reply to `name` (lower case) in the cluster zone `zone`. `crossed`:
    the answer followed a CNAME to another name, so it depends on that one too."""
    if reverse or crossed or name == zone or name == f"ns.dns.{zone}":
        return EVERYTHING  # PTRs (any service may own the IP), NS and its glue
    labels = name[: -len(zone) - 1].split(".")
    if labels[-1] == "svc":
        # <ns>.svc, and anything ending <svc>.<ns>.svc: the service's names and NXDOMAINs
        if len(labels) >= 3:
            return ("svc", labels[-2], labels[-3])
        return ("ns", labels[0]) if len(labels) == 2 else SERIAL_ONLY
    if labels[-1] == "pod":
        return ("pod", labels[-2]) if len(labels) >= 2 else SERIAL_ONLY
    return SERIAL_ONLY  # foo.<zone>, dns-version.<zone>: the same whatever the cluster holds


class Entry(NamedTuple, Generic[Note]):
    head: bytes  # the reply's header after the ID
    tail: bytes  # the reply after the question
    note: Note
    scope: Scope
    serial: int
    serial_at: int  # where the SOA serial sits in `tail`; -1 without one


class WireCache(StateListener, Generic[Note]):
    """Replies by question key, dropped by scope as the cluster state changes.

    Bounded by two generations of at most `capacity` entries: when the recent table fills
    up it becomes the old one, and an old entry that is asked for again moves back. Popular
    questions stay, one-off names (random subdomains) age out, and no query pays for
    bookkeeping beyond a dict lookup.
    """

    def __init__(self, index: RecordIndex, capacity: int = DEFAULT_CAPACITY) -> None:
        self.index = index
        self.capacity = capacity
        self.hits = 0
        self.misses = 0
        # keyed by question (`Key`) and, for UDP, also by the query's bytes after the ID
        self._recent: dict[Key | bytes, Entry[Note]] = {}
        self._old: dict[Key | bytes, Entry[Note]] = {}
        self._by_scope: dict[Scope, set[Key | bytes]] = {}
        index.state.subscribe(self)

    def __len__(self) -> int:
        return len(self._recent) + len(self._old)

    def close(self) -> None:
        """Stop following the state (the cache is being replaced)."""
        self.index.state.unsubscribe(self)

    def exact(self, data: bytes) -> tuple[bytes, Note] | None:
        """The reply to a UDP query whose bytes after the ID were seen before, as they were
        (same case, flags and EDNS): one slice, one lookup, one join. None otherwise."""
        key = data[2:]
        entry = self._recent.get(key) or self._find(key)  # (the first lookup is most hits)
        if entry is None:
            return None
        _, tail, note, _, serial, serial_at = entry  # one unpack, not four field reads
        if serial_at >= 0 and serial != self.index.serial:
            tail = self._with_serial(key, entry).tail
        self.hits += 1
        return data[:2] + tail, note

    def get(self, key: Key, data: bytes) -> tuple[bytes, Note] | None:
        """The stored reply to `key` with `data`'s ID and question, and its note; or None.
        Over UDP the reply is also kept under `data`'s own bytes, for `exact`."""
        entry = self._find(key)
        if entry is None:
            self.misses += 1
            return None
        if entry.serial_at >= 0 and entry.serial != self.index.serial:
            entry = self._with_serial(key, entry)
        self.hits += 1
        question = data[HEADER_SIZE : _question_end(key)]
        body = b"".join((entry.head, question, entry.tail))
        if not key[2] & OVER_TCP:
            self._keep_exact(data, body, entry, len(entry.head) + len(question))
        return data[:2] + body, entry.note

    def put(
        self, key: Key, data: bytes, reply: bytes, note: Note, scope: Scope = EVERYTHING
    ) -> None:
        """Keep `reply`, the slow path's answer to `data` (whose key is `key`) with the
        current data. Nothing is kept before the first sync: those answers change with no
        state change (SERVFAIL for names we cannot yet deny)."""
        if self.capacity <= 0 or not self.index.state.synced:
            return
        question_end = _question_end(key)
        tail = reply[question_end:]
        serial = self.index.serial
        serial_at = tail.find(serial.to_bytes(4) + SOA_TIMERS)
        if serial_at < 0 and reply[8:10] != b"\x00\x00":
            return  # an authority section without our SOA: nothing to patch it with
        entry = Entry(reply[2:HEADER_SIZE], tail, note, scope, serial, serial_at)
        self._keep(key, entry)
        self._by_scope.setdefault(scope, set()).add(key)
        if not key[2] & OVER_TCP:
            self._keep_exact(data, reply[2:], entry, question_end - 2)

    def clear(self) -> None:
        self._recent, self._old, self._by_scope = {}, {}, {}

    # -- StateListener: drop what a change can reach --------------------------------------

    def services_changed(self, keys: set[ObjectKey]) -> None:
        self._drop([("svc", namespace, name) for namespace, name in keys])

    def namespaces_changed(self, names: set[str]) -> None:
        self._drop(
            [scope for scope in self._by_scope if len(scope) > 1 and scope[1] in names]
        )

    def pods_changed(self) -> None:
        self._drop([scope for scope in self._by_scope if scope[:1] == ("pod",)])

    # -- internals -------------------------------------------------------------------

    def _drop(self, scopes: list[Scope]) -> None:
        for scope in [*scopes, EVERYTHING]:
            for key in self._by_scope.pop(scope, ()):
                self._recent.pop(key, None)
                self._old.pop(key, None)

    def _find(self, key: Key | bytes) -> Entry[Note] | None:
        entry = self._recent.get(key)
        if entry is None:
            entry = self._old.pop(key, None)
            if entry is not None:
                self._keep(key, entry)
        return entry

    def _keep_exact(self, data: bytes, body: bytes, entry: Entry[Note], tail_at: int) -> None:
        """Keep `body` (the reply after its ID) under the bytes of the query after its ID,
        in `entry`'s scope: an `Entry` whose tail is the whole body."""
        serial_at = entry.serial_at + tail_at if entry.serial_at >= 0 else -1
        key = data[2:]
        self._keep(key, Entry(b"", body, entry.note, entry.scope, entry.serial, serial_at))
        self._by_scope.setdefault(entry.scope, set()).add(key)

    def _with_serial(self, key: Key | bytes, entry: Entry[Note]) -> Entry[Note]:
        at, serial = entry.serial_at, self.index.serial
        tail = entry.tail[:at] + serial.to_bytes(4) + entry.tail[at + 4 :]
        entry = entry._replace(tail=tail, serial=serial)
        self._recent[key] = entry
        return entry

    def _keep(self, key: Key | bytes, entry: Entry[Note]) -> None:
        if len(self._recent) >= self.capacity:
            for old_key, old in self._old.items():  # aged out: forget their scopes too
                keys = self._by_scope.get(old.scope)
                if keys is not None:
                    keys.discard(old_key)
                    if not keys:
                        del self._by_scope[old.scope]
            self._old, self._recent = self._recent, {}
        self._recent[key] = entry


def _question_end(key: Key) -> int:
    return HEADER_SIZE + len(key[0]) + len(key[1])
