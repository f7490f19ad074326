"""Naming rules shared by the record index, the resolver and the dump (SPEC §2, §4, §5)."""

from __future__ import annotations

import socket
from collections.abc import Sequence


def presentation(labels: Sequence[bytes]) -> str:
    """A name's labels as absolute text, unambiguously: a `.` or `\\` inside a label is
    escaped (RFC 1035 §5.1), so `nginx.demo` as one label never reads as two; bytes outside
    `!`..`~` are written `\\DDD`, as dnslib writes them."""
    if not labels:
        return "."
    return ".".join("".join(map(_escaped, label.decode("latin-1"))) for label in labels) + "."


def _escaped(char: str) -> str:
    if char in ".\\":
        return "\\" + char
    return char if "!" <= char <= "~" else f"\\{ord(char):03d}"


def fqdn(name: str) -> str:
    """Lower-case absolute form with exactly one trailing dot ("." for the root)."""
    name = name.lower().rstrip(".")
    return name + "." if name else "."


def in_zone(name: str, zone: str) -> bool:
    """Whether the absolute lower-case `name` is `zone` or below it."""
    return zone == "." or name == zone or name.endswith("." + zone)


def join(labels: str, zone: str) -> str:
    """Relative `labels` under the absolute `zone` (CoreDNS's dnsutil.Join)."""
    return f"{labels}.{zone}" if zone != "." else f"{labels}."


def above(name: str, zone: str) -> list[str]:
    """The labels of the absolute `name` above the `zone` that holds it ([] for the zone)."""
    base = name[:-1] if zone == "." else name[: -len(zone) - 1]
    return base.split(".") if base else []


def dashed_ip(ip: str) -> str:
    """10.244.1.18 → 10-244-1-18; fd00::1 → fd00--1 (with a 0 appended after a trailing dash)."""
    if "." in ip:
        return ip.replace(".", "-")
    dashed = ip.replace(":", "-")
    return dashed + "0" if dashed.endswith("-") else dashed


def canonical_ip(text: str) -> str | None:
    """The canonical text form of an IP address (RFC 5952 for IPv6), or None when `text` is
    not one. The input string itself is returned when it is already canonical, so callers
    that store the result share one string object."""
    family = socket.AF_INET6 if ":" in text else socket.AF_INET
    try:
        canonical = socket.inet_ntop(family, socket.inet_pton(family, text))
    except (OSError, ValueError):
        return None
    return text if canonical == text else canonical


def ip_from_dashed(label: str) -> str | None:
    """The IP a pod label names (1-2-3-4, fd00--1), as CoreDNS reads it, or None."""
    if label.count("-") == 3 and "--" not in label:
        return canonical_ip(label.replace("-", "."))
    return canonical_ip(label.replace("-", ":"))


def ip_from_reverse(name: str) -> str | None:
    """1.0.96.10.in-addr.arpa. → 10.96.0.1 (full addresses only; None otherwise)."""
    labels = name.rstrip(".").split(".")
    if labels[-2:] == ["in-addr", "arpa"] and len(labels) == 6:
        return canonical_ip(".".join(reversed(labels[:4])))
    if labels[-2:] == ["ip6", "arpa"] and len(labels) == 34:
        nibbles = "".join(reversed(labels[:32]))
        if all(len(n) == 1 for n in labels[:32]):
            return canonical_ip(":".join(nibbles[i : i + 4] for i in range(0, 32, 4)))
    return None


def ip_family(ip: str) -> int:
    """4 or 6, for an address already in canonical form."""
    return 6 if ":" in ip else 4
