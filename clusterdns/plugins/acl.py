"""CoreDNS's `acl`: queries allowed, blocked, filtered or dropped by their source address
and type.

    acl [ZONES...] {
        allow|block|filter|drop [type QTYPE...] [net SOURCE...]
    }

Each `acl` is a rule for its zones (default: the server block's); a query is judged by the
first rule whose zones hold its name, by the first policy of it whose types and sources
match (`*`, or no `type`/`net`, is all); none: allowed. A blocked query gets REFUSED, a
filtered one NOERROR without records, each with an extended DNS error (15 Blocked, 17
Filtered) when the query had EDNS; a dropped one no reply. Counted as CoreDNS counts them.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import Enum

from dnslib import QTYPE, RCODE

from clusterdns.config.checks import IPNetwork, Origins, arguments, fail, zone_origins_or
from clusterdns.config.corefile import Directive
from clusterdns.config.registry import Plugin
from clusterdns.dns.names import in_zone
from clusterdns.dns.packet import extended_error, failure, opt_record
from clusterdns.dns.request import Peer, Request
from clusterdns.metrics.registry import METRICS
from clusterdns.metrics.requests import VIEW


class Action(Enum):
    ALLOW = "allow"
    BLOCK = "block"
    FILTER = "filter"
    DROP = "drop"


_COUNTS = {
    Action.BLOCK: ("blocked", "Counter of DNS requests being blocked."),
    Action.FILTER: ("filtered", "Counter of DNS requests being filtered."),
    Action.DROP: ("dropped", "Counter of DNS requests being dropped."),
}
COUNTERS = {
    action: METRICS.counter(f"coredns_acl_{what}_requests_total", help, ("server", "zone", "view"))
    for action, (what, help) in _COUNTS.items()
}
ALLOWED = METRICS.counter(
    "coredns_acl_allowed_requests_total", "Counter of DNS requests being allowed.",
    ("server", "view"),
)  # fmt: skip
_EXTENDED_ERRORS = {Action.BLOCK: (RCODE.REFUSED, 15), Action.FILTER: (RCODE.NOERROR, 17)}


@dataclass(frozen=True, slots=True)
class Policy:
    action: Action
    qtypes: frozenset[int] | None  # None: every type
    networks: tuple[IPNetwork, ...] | None  # None: every source

    def matches(self, qtype: int, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        if self.qtypes is not None and qtype not in self.qtypes:
            return False
        return self.networks is None or any(ip in network for network in self.networks)


@dataclass(frozen=True, slots=True)
class AclRule:
    zones: tuple[str, ...]
    policies: tuple[Policy, ...]

    def zone_of(self, name: str) -> str | None:
        """The longest of its zones that holds `name`."""
        found = [zone for zone in self.zones if in_zone(name, zone)]
        return max(found, key=len) if found else None


@dataclass(frozen=True, slots=True)
class Acl:
    rules: tuple[AclRule, ...]

    def judge(self, name: str, qtype: int, peer: Peer | None) -> tuple[Action, str]:
        """What becomes of a query (its name lower case) from `peer`, and the zone of the
        rule that said so. A source that is no address is blocked (as CoreDNS)."""
        for rule in self.rules:
            zone = rule.zone_of(name)
            if zone is None:
                continue
            try:
                ip = ipaddress.ip_address(peer[0].partition("%")[0]) if peer else None
            except ValueError:
                ip = None
            if ip is None:
                return Action.BLOCK, zone
            for policy in rule.policies:
                if policy.matches(qtype, ip):
                    if policy.action is Action.ALLOW:
                        return Action.ALLOW, ""
                    return policy.action, zone
        return Action.ALLOW, ""

    @staticmethod
    def count(action: Action, server: str, zone: str) -> None:
        if action is Action.ALLOW:
            ALLOWED.inc((server, VIEW))
        else:
            COUNTERS[action].inc((server, zone, VIEW))


def refusal(action: Action, request: Request) -> bytes:
    """The reply to a blocked or filtered query: its question, the rcode, and the extended
    error in our OPT when it sent one."""
    rcode, info = _EXTENDED_ERRORS[action]
    opt = opt_record(request.advertise, request.do, (extended_error(info),))
    return failure(request.data, rcode, opt)


def setup(node: Directive, block: Origins) -> Acl:
    zones = zone_origins_or(node, arguments(node, 0, None), block).zones
    policies = []
    for option in node.block:
        action = option.name.lower()
        if action not in {a.value for a in Action}:
            raise fail(option, f"acl: unexpected token {option.name!r}; expect 'allow', "
                               "'block', 'filter' or 'drop'")  # fmt: skip
        if option.block:
            raise fail(option, "acl: a policy holds no block")
        policies.append(_policy(option, Action(action)))
    return Acl((AclRule(zones, tuple(policies)),))


def _policy(option: Directive, action: Action) -> Policy:
    sections: dict[str, list[str]] = {}
    tokens = list(option.args)
    while tokens:
        section = tokens.pop(0).lower()
        if section not in ("type", "net"):
            raise fail(option, f"acl: unexpected token {section!r}; expect 'type | net'")
        values = sections.setdefault(section, [])
        while tokens and tokens[0].lower() not in ("type", "net"):
            values.append(tokens.pop(0))
        if not values:
            raise fail(option, f"acl: no token specified in {section!r} section")
    qtypes = _qtypes(option, sections.get("type", ["*"]))
    return Policy(action, qtypes, _networks(option, sections.get("net", ["*"])))


def _qtypes(option: Directive, tokens: list[str]) -> frozenset[int] | None:
    """The types of a policy; None for every one (`*`: the tokens after it are not read,
    as in CoreDNS)."""
    qtypes = set()
    for token in tokens:
        if token == "*":
            return None
        qtype = QTYPE.reverse.get(token)  # (case as written: miekg's StringToType)
        if qtype is None:
            raise fail(option, f"acl: unexpected token {token!r}; expect legal QTYPE")
        qtypes.add(qtype)
    return frozenset(qtypes)


def _networks(option: Directive, tokens: list[str]) -> tuple[IPNetwork, ...] | None:
    """The sources of a policy; None for every one (`*`)."""
    networks: list[IPNetwork] = []
    for token in tokens:
        if token == "*":
            return None
        try:
            networks.append(ipaddress.ip_network(token, strict=False))
        except ValueError:
            raise fail(option, f"acl: illegal CIDR notation {token!r}") from None
    return tuple(networks)


def _merge(first: Acl, second: Acl) -> Acl:
    return Acl(first.rules + second.rules)


ACL = Plugin("acl", setup, merge=_merge)
