"""Wire answers: cluster replies kept as bytes per name, never per question.

The question space of cluster DNS is unbounded (every search-path expansion of every name
from every namespace); its name space is bounded by the cluster. So two tables, both sized by
the cluster, answer a plain query from its own bytes:

- **records**: the reply to (name, type) for a name the index answers with records, after
  its question: the answer, authority and additional sections, names compressed against the
  question at offset 12. Built by the slow path on first ask, kept until a change reaches
  the name (its `scope`). Names in the tail are pointers into the question only where
  spelled exactly alike (as miekg/dns compresses), so the tail depends on the question's
  case: only names asked in lower case are kept (stub resolvers ask so). A name asked in
  mixed case (0x20, or a client that spells it so) is answered by the slow path each time:
  keeping every spelling would let one client fill the table (~0.9 KB an entry).
- **denials**: NXDOMAIN and NODATA, a lone SOA whose owner is a pointer to the zone inside
  the question. Its bytes depend only on where the zone starts in the question (the length
  of the name), the rcode and the serial: one template per (zone, name length, rcode)
  answers every name the resolver's `decide` denies.

A reply is then the query's ID, the kept flags and counts with the query's RD bit, the
query's own question bytes (its case), the tail, and an OPT when the query had one. The SOA
serial is the index's; a kept tail is patched when the serial has moved since.

Most clients ask a name the same way again (same case, flags, EDNS), so a UDP reply made
from the records is also kept under the query's bytes after its ID (`exact`): a repeat is
one slice, one lookup and one join. Those are bounded by the names too (a few ways of
asking each) and go with the name's records.
"""

from __future__ import annotations

import socket
from typing import Generic, NamedTuple, TypeVar

from clusterdns.dns.packet import OPT_SIZE, TYPE_A
from clusterdns.dns.request import HEADER_SIZE, Key
from clusterdns.plugins.kubernetes.index import RecordIndex
from clusterdns.plugins.kubernetes.state import Key as ObjectKey
from clusterdns.plugins.kubernetes.state import StateListener

DEFAULT_CAPACITY = 100_000  # (name, type) pairs; a 10k-service cluster asks fewer
Note = TypeVar("Note")  # what the server keeps beside a reply (where it is counted)

# What a kept reply can depend on: ("svc", namespace, service), ("ns", namespace),
# ("pod", namespace), nothing but the serial (a name no object can create), or everything.
Scope = tuple[str, ...]
SERIAL_ONLY: Scope = ()
EVERYTHING: Scope = ("*",)
# The SOA's refresh, retry and expire (resolver.soa) follow its serial in every reply.
SOA_TIMERS = (7200).to_bytes(4) + (1800).to_bytes(4) + (86400).to_bytes(4)
RD_FLAG = 0x0100
_NO_HEADS = (b"", b"", b"", b"")  # an exact entry's tail is its whole reply after the ID
# Labels whose name the SOA's MNAME (ns.dns.<zone>) and RNAME (hostmaster.<zone>) would be
# compressed against: a question ending in them gets other bytes than the template.
_SOA_LABELS = ("dns", "hostmaster")


def scope_of(name: str, zone: str, reverse: bool, crossed: bool) -> Scope:
    """The scope of the reply to `name` (lower case) in the cluster zone `zone`. `crossed`:
    the answer followed a CNAME to another name, so it depends on that one too."""
    if reverse or crossed or name == zone or name == f"ns.dns.{zone}":
        return EVERYTHING  # PTRs (any service may own the IP), NS and its glue
    labels = name[: -len(zone) - 1].split(".")
    if labels[-1] == "svc":
        # <ns>.svc, and anything ending <svc>.<ns>.svc: the service's names
        if len(labels) >= 3:
            return ("svc", labels[-2], labels[-3])
        return ("ns", labels[0]) if len(labels) == 2 else SERIAL_ONLY
    if labels[-1] == "pod":
        return ("pod", labels[-2]) if len(labels) >= 2 else SERIAL_ONLY
    return SERIAL_ONLY  # dns-version.<zone>: the same whatever the cluster holds


def denial_template_fits(name: str, zone: str) -> bool:
    """A denial of `name` (lower case, in `zone`) is the template's bytes: its question
    holds no name the SOA's MNAME or RNAME would be compressed against."""
    if "dns." not in name and "hostmaster." not in name:
        return True  # (most names: two scans, no slicing)
    above = name[: len(name) - len(zone)].rstrip(".").rpartition(".")[2]
    return above not in _SOA_LABELS


class Kept(NamedTuple, Generic[Note]):
    heads: tuple[bytes, bytes, bytes, bytes]  # flags and counts, by RD | with OPT << 1
    tail: bytes  # the records after the question, without OPT
    note: Note
    scope: Scope
    serial: int
    serial_at: int  # where the SOA serial sits in `tail`; -1 without one


KeptAny = TypeVar("KeptAny", bound=Kept)


class WireAnswers(StateListener, Generic[Note]):
    """The records table (by question key without its variant) and the denial templates.

    The records table is bounded by two generations of at most `capacity` entries, in
    case a cluster's names outgrow it: when the recent table fills up it becomes the old
    one, and an old entry that is asked for again moves back. `capacity` 0 keeps nothing
    (every query takes the slow path).
    """

    def __init__(self, index: RecordIndex, capacity: int = DEFAULT_CAPACITY) -> None:
        self.index = index
        self.capacity = capacity
        self.hits = 0
        # by question (name and type), and a UDP query's bytes after its ID (`exact`)
        self._recent: dict[tuple[bytes, bytes] | bytes, Kept[Note]] = {}
        self._old: dict[tuple[bytes, bytes] | bytes, Kept[Note]] = {}
        self._by_scope: dict[Scope, set[tuple[bytes, bytes] | bytes]] = {}
        self._denials: dict[tuple[str, int, int], Kept[None]] = {}
        index.state.subscribe(self)

    def __len__(self) -> int:
        return len(self._recent) + len(self._old)

    def close(self) -> None:
        """Stop following the state (the table is being replaced)."""
        self.index.state.unsubscribe(self)

    def exact(self, data: bytes) -> tuple[bytes, Note] | None:
        """The reply to a UDP query whose bytes after the ID were answered from the records
        before, as it was (same case, flags and EDNS), and its note: one slice, one lookup,
        one join. Only names the index holds are kept so (a few ways each of asking them):
        never a search-path expansion."""
        key = data[2:]
        kept = self._recent.get(key)
        if kept is None:
            kept = self._find(key) if self._old else None  # (most misses: no call)
            if kept is None:
                return None
        if kept.serial_at >= 0 and kept.serial != self.index.serial:
            kept = self._recent[key] = self._with_serial(kept)
        self.hits += 1
        return data[:2] + kept.tail, kept.note

    def keep_exact(
        self, data: bytes, question_end: int, reply: bytes, records: Kept[Note], note: Note
    ) -> None:
        """Keep `reply`, made from `records` for the UDP query `data`, for `exact`: under
        the query's bytes after its ID, in the records' scope, dropped with them."""
        if not self._keeps():
            return
        tail_at = question_end - 2  # in the reply after its ID
        serial_at = records.serial_at + tail_at if records.serial_at >= 0 else -1
        exact = Kept(_NO_HEADS, reply[2:], note, records.scope, records.serial, serial_at)
        self._keep_pair(data[2:], exact)

    def records(self, key: Key) -> Kept[Note] | None:
        """The kept reply to a plain query's question (any variant), or None."""
        pair = key[:2]
        kept = self._recent.get(pair)
        if kept is None:
            kept = self._find(pair) if self._old else None  # (most misses: no call)
            if kept is None:
                return None
        if kept.serial_at >= 0 and kept.serial != self.index.serial:
            kept = self._recent[pair] = self._with_serial(kept)
        return kept

    def denial(self, zone: str, name_length: int, rcode: int) -> Kept[None] | None:
        """The template of a denial in `zone` for a name of `name_length` wire bytes."""
        where = (zone, name_length, rcode)
        kept = self._denials.get(where)
        if kept is not None and kept.serial != self.index.serial:
            kept = self._denials[where] = self._with_serial(kept)
        return kept

    def reply(
        self, kept: Kept[Note] | Kept[None], data: bytes, question_end: int, opt: bytes, limit: int
    ) -> bytes | None:
        """`kept` as the reply to the query `data`: its ID, RD bit and question, then `opt`
        (our OPT when the query had one, else empty); None when that passes `limit` (the
        slow path cuts it to fit)."""
        if question_end + len(kept.tail) + len(opt) > limit:
            return None
        head = kept.heads[(data[2] & 1) | (2 if opt else 0)]
        self.hits += 1
        return b"".join((data[:2], head, data[HEADER_SIZE:question_end], kept.tail, opt))

    def keep(self, key: Key, reply: bytes, opt: bool, note: Note, scope: Scope) -> None:
        """Keep `reply`, the slow path's whole (uncut) answer to the plain query whose key
        is `key`; `opt`: it ends with our OPT. Nothing is kept before the first sync."""
        kept = _kept(key, reply, opt, note, scope, self.index.serial) if self._keeps() else None
        if kept is not None:
            self._keep_pair(key[:2], kept)

    def keep_as(self, key: Key, kept: Kept[None], note: Note, scope: Scope) -> Kept[Note]:
        """Keep a denial template as the reply to `key` too (a NODATA of a name the index
        holds): the next query for it is one lookup."""
        own: Kept[Note] = Kept(kept.heads, kept.tail, note, scope, kept.serial, kept.serial_at)
        if self._keeps():
            self._keep_pair(key[:2], own)
        return own

    def keep_addresses(
        self, key: Key, data: bytes, rtype: int, ttl: int, ips: tuple[str, ...], note: Note,
        scope: Scope,
    ) -> Kept[Note]:
        """Keep the A or AAAA records of a name the index holds as the reply to `key` (the
        query `data`), written as `wire.encode` writes them: each owner a pointer to the
        question, no other section."""
        family = socket.AF_INET if rtype == TYPE_A else socket.AF_INET6
        fixed = rtype.to_bytes(2) + b"\x00\x01" + ttl.to_bytes(4)
        tail = b"".join(
            b"\xc0\x0c" + fixed + len(packed).to_bytes(2) + packed
            for packed in (socket.inet_pton(family, ip) for ip in ips)
        )
        header = data[:2] + b"\x84\x00" + b"\x00\x01" + len(ips).to_bytes(2) + b"\x00\x00" * 2
        question_end = HEADER_SIZE + len(key[0]) + 5
        kept = _kept(key, header + data[HEADER_SIZE:question_end] + tail, False, note, scope, 0)
        assert kept is not None
        if self._keeps():
            self._keep_pair(key[:2], kept)
        return kept

    def keep_denial(self, zone: str, key: Key, reply: bytes, opt: bool) -> None:
        """Keep `reply`, a lone-SOA denial of a name in `zone`, as the template for every
        name of its length (the caller checked `denial_template_fits`)."""
        kept = (
            _kept(key, reply, opt, None, SERIAL_ONLY, self.index.serial) if self._keeps() else None
        )
        if kept is not None:
            self._denials[(zone, len(key[0]), reply[3] & 0xF)] = kept

    def clear(self) -> None:
        self._recent, self._old, self._by_scope, self._denials = {}, {}, {}, {}

    # -- StateListener: drop what a change can reach --------------------------------------

    def services_changed(self, keys: set[ObjectKey]) -> None:
        self._drop([("svc", namespace, name) for namespace, name in keys])

    def namespaces_changed(self, names: set[str]) -> None:
        self._drop([scope for scope in self._by_scope if len(scope) > 1 and scope[1] in names])

    def pods_changed(self) -> None:
        self._drop([scope for scope in self._by_scope if scope[:1] == ("pod",)])

    # -- internals -------------------------------------------------------------------

    def _keep_pair(self, pair: tuple[bytes, bytes] | bytes, kept: Kept[Note]) -> None:
        if isinstance(pair, tuple) and pair[0] != pair[0].lower():
            return  # a name asked in mixed case: see the module's docstring
        self._keep(pair, kept)
        self._by_scope.setdefault(kept.scope, set()).add(pair)

    def _keeps(self) -> bool:
        # before the sync, answers change with no state change (SERVFAIL for what we cannot deny)
        return self.capacity > 0 and self.index.state.synced

    def _drop(self, scopes: list[Scope]) -> None:
        for scope in [*scopes, EVERYTHING]:
            for pair in self._by_scope.pop(scope, ()):
                self._recent.pop(pair, None)
                self._old.pop(pair, None)

    def _with_serial(self, kept: KeptAny) -> KeptAny:
        at, serial = kept.serial_at, self.index.serial
        return kept._replace(
            tail=kept.tail[:at] + serial.to_bytes(4) + kept.tail[at + 4 :], serial=serial
        )

    def _find(self, key: tuple[bytes, bytes] | bytes) -> Kept[Note] | None:
        """An entry of the old generation, moved back to the recent one; or None."""
        kept = self._old.pop(key, None)
        if kept is not None:
            self._keep(key, kept)
        return kept

    def _keep(self, pair: tuple[bytes, bytes] | bytes, kept: Kept[Note]) -> None:
        if len(self._recent) >= self.capacity:
            for old_pair, old in self._old.items():  # aged out: forget their scopes too
                pairs = self._by_scope.get(old.scope)
                if pairs is not None:
                    pairs.discard(old_pair)
                    if not pairs:
                        del self._by_scope[old.scope]
            self._old, self._recent = self._recent, {}
        self._recent[pair] = kept


def _kept(
    key: Key, reply: bytes, opt: bool, note: Note, scope: Scope, serial: int
) -> Kept[Note] | None:
    """`reply` (to the plain query whose key is `key`; `opt`: it ends with our OPT) as kept:
    None when its authority section holds a record other than our SOA."""
    question_end = HEADER_SIZE + len(key[0]) + 5
    tail = reply[question_end : len(reply) - OPT_SIZE if opt else len(reply)]
    serial_at = tail.find(serial.to_bytes(4) + SOA_TIMERS)
    if serial_at < 0 and reply[8:10] != b"\x00\x00":
        return None  # nothing to patch the serial with
    flags = int.from_bytes(reply[2:4]) & ~RD_FLAG
    plain, recursive = flags.to_bytes(2), (flags | RD_FLAG).to_bytes(2)
    counts = reply[4:10]
    additional = int.from_bytes(reply[10:12]) - opt
    without, with_opt = additional.to_bytes(2), (additional + 1).to_bytes(2)
    heads = (
        plain + counts + without,
        recursive + counts + without,
        plain + counts + with_opt,
        recursive + counts + with_opt,
    )
    return Kept(heads, tail, note, scope, serial, serial_at)
