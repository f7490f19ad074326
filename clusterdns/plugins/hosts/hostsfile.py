"""The hosts(5) format as CoreDNS reads it: `IP name [aliases...]` per line, `#` comments,
names outside the plugin's zones ignored, `*.` as the leftmost label a wildcard for exactly
one more label (never the apex, and no PTR), and the reverse map built unless turned off."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from clusterdns.dns.names import canonical_ip, fqdn, in_zone


@dataclass(slots=True)
class HostsMap:
    v4: dict[str, list[str]] = field(default_factory=dict)  # name → addresses
    v6: dict[str, list[str]] = field(default_factory=dict)
    wild4: dict[str, list[str]] = field(default_factory=dict)  # "*.zone." → addresses
    wild6: dict[str, list[str]] = field(default_factory=dict)
    names: dict[str, list[str]] = field(default_factory=dict)  # address → names (PTR)

    def addresses(self, name: str, v6: bool) -> list[str]:
        exact, wild = (self.v6, self.wild6) if v6 else (self.v4, self.wild4)
        found = exact.get(name)
        if found is not None:
            return found
        _, dot, parent = name.partition(".")
        return wild.get("*." + parent, []) if dot and parent else []

    def __len__(self) -> int:
        maps = (self.v4, self.v6, self.wild4, self.wild6, self.names)
        return sum(len(values) for each in maps for values in each.values())


def parse_hosts(lines: Iterable[str], zones: tuple[str, ...], reverse: bool) -> HostsMap:
    hosts = HostsMap()
    for line in lines:
        fields = line.split("#", 1)[0].split()
        if len(fields) < 2:
            continue
        ip = canonical_ip(fields[0].split("%", 1)[0])  # an IPv6 zone index is dropped
        if ip is None:
            continue
        v6 = ":" in ip
        for text in fields[1:]:
            name = fqdn(text)
            if not any(in_zone(name, zone) for zone in zones):
                continue
            if name.startswith("*."):
                (hosts.wild6 if v6 else hosts.wild4).setdefault(name, []).append(ip)
                continue
            (hosts.v6 if v6 else hosts.v4).setdefault(name, []).append(ip)
            if reverse:
                hosts.names.setdefault(ip, []).append(name)
    return hosts
