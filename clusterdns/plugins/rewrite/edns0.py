"""rewrite's `edns0` rules as CoreDNS 1.14 runs them (edns0.go, wire.go): an option of the
query's OPT set, appended, replaced or unset on its way down the chain, so a `forward` sends
it upstream.

    edns0 local set|append|replace CODE DATA|{VARIABLE} [revert]
    edns0 local unset CODE
    edns0 nsid set|append|replace [revert] | edns0 nsid unset
    edns0 subnet set|append|replace V4BITS V6BITS [revert] | edns0 subnet unset

`set` changes the option of that code or adds it, `append` adds it when there is none,
`replace` changes it only when there is one, `unset` removes it. A query without an OPT gets
one (buffer 4096) from any of them, as CoreDNS's setupEdns0Opt, even when the rule does
nothing else; a variable with no value does nothing at all. `revert` undoes the rule in
what the reply echoes of the query's options.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass

from clusterdns.dns.message import EdnsOption
from clusterdns.dns.request import Request
from clusterdns.plugins.rewrite.rules import Applied, EdnsRevert, Question, State

SET, APPEND, REPLACE, UNSET = "set", "append", "replace", "unset"
NSID, SUBNET = 3, 8  # option codes (RFC 5001, RFC 7871)

Value = Callable[[State, Request], bytes | None]  # a variable's data for a query, if any


def _present(state: State) -> list[EdnsOption]:
    return list(state.options or ())


def _with(state: State, options: list[EdnsOption]) -> State:
    return State(state.question, tuple(options))


@dataclass(frozen=True, slots=True)
class OptionRule:
    """`local` (with fixed data or a variable) and `nsid` (code 3, empty data)."""

    stop: bool
    action: str
    code: int
    data: bytes | Value
    revert: bool

    def matches(self, question: Question) -> bool:
        return True

    def apply(self, state: State, request: Request) -> Applied:
        data = self.data
        if not isinstance(data, bytes):
            value = data(state, request)
            if not value:  # (before the OPT is made: the query is left as it is)
                return Applied(state, done=False)
            data = value
        options, code = _present(state), self.code
        if self.action == UNSET:
            return Applied(_with(state, [o for o in options if o[0] != code]))
        at = next((i for i, option in enumerate(options) if option[0] == code), None)
        if at is None:
            if self.action == REPLACE:
                return Applied(_with(state, options), done=False)
            options.append((code, data))
            return Applied(_with(state, options), reverts=self._reverts(None))
        if self.action == APPEND:  # (as the variable and subnet rules, and the README)
            return Applied(_with(state, options), done=False)
        old = options[at][1]
        options[at] = (code, data)
        return Applied(_with(state, options), reverts=self._reverts(old))

    def _reverts(self, old: bytes | None) -> tuple[EdnsRevert, ...]:
        return (EdnsRevert(self.code, old),) if self.revert else ()


@dataclass(frozen=True, slots=True)
class SubnetRule:
    """`subnet`: the client's address cut to V4BITS or V6BITS as an EDNS Client Subnet."""

    stop: bool
    action: str
    v4_bits: int
    v6_bits: int
    revert: bool

    def matches(self, question: Question) -> bool:
        return True

    def apply(self, state: State, request: Request) -> Applied:
        options = _present(state)
        if self.action == UNSET:
            return Applied(_with(state, [o for o in options if o[0] != SUBNET]))
        at = next((i for i, option in enumerate(options) if option[0] == SUBNET), None)
        subnet = self._subnet(request)
        if subnet is None or self.action == (APPEND if at is not None else REPLACE):
            return Applied(_with(state, options), done=False)
        if at is None:
            options.append((SUBNET, subnet))
            reverts = (EdnsRevert(SUBNET, None),) if self.revert else ()
        else:
            reverts = (EdnsRevert(SUBNET, options[at][1]),) if self.revert else ()
            options[at] = (SUBNET, subnet)
        return Applied(_with(state, options), reverts=reverts)

    def _subnet(self, request: Request) -> bytes | None:
        """The option's data (family, source prefix, scope 0, the address's prefix bytes:
        miekg's EDNS0_SUBNET), or None without a client address (fillEcsData's error)."""
        ip = client_ip(request)
        if ip is None:
            return None
        family, bits = (1, self.v4_bits) if ip.version == 4 else (2, self.v6_bits)
        network = ipaddress.ip_network(f"{ip}/{bits}", strict=False)
        address = network.network_address.packed[: (bits + 7) // 8]
        return family.to_bytes(2) + bytes((bits, 0)) + address


def client_ip(request: Request) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The client's address (an IPv4-mapped one as IPv4, as CoreDNS's state.Family())."""
    if request.peer is None:
        return None
    try:
        ip = ipaddress.ip_address(request.peer[0].partition("%")[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


# -- the variables of `local` (edns0VariableRule.ruleData) -------------------------------


def _qname(state: State, request: Request) -> bytes:
    name = state.question.name
    asked = str(request.query.question.qname)  # (the case the client wrote, when unchanged)
    return (asked if asked.lower() == name else name).encode()


def _client_ip(state: State, request: Request) -> bytes | None:
    ip = client_ip(request)
    return None if ip is None else ip.packed


def _client_port(state: State, request: Request) -> bytes | None:
    return None if request.peer is None else request.peer[1].to_bytes(2)


VARIABLES: dict[str, Value] = {
    "{qname}": _qname,
    "{qtype}": lambda state, request: state.question.qtype.to_bytes(2),
    "{client_ip}": _client_ip,
    "{client_port}": _client_port,
    "{protocol}": lambda state, request: request.proto.encode(),
}
