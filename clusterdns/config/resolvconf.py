"""resolv.conf as the plugins read it: the nameservers (forward) and the search list
(autopath), with glibc's rules: the last `search` or `domain` line gives the list."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

RESOLV_CONF = "/etc/resolv.conf"


@dataclass(frozen=True, slots=True)
class ResolvConf:
    nameservers: tuple[str, ...]
    search: tuple[str, ...]  # absolute, lower case


def parse_resolv_conf(text: str) -> ResolvConf:
    nameservers: list[str] = []
    search: list[str] = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 2:
            continue
        if fields[0] == "nameserver":
            nameservers.append(fields[1])
        elif fields[0] in ("search", "domain"):
            search = [_absolute(domain) for domain in fields[1:]]
    return ResolvConf(tuple(nameservers), tuple(dict.fromkeys(search)))


def read_resolv_conf(path: str) -> ResolvConf:
    """Raises OSError when the file cannot be read."""
    return parse_resolv_conf(Path(path).read_text(encoding="utf-8", errors="replace"))


def _absolute(domain: str) -> str:
    domain = domain.lower()
    return domain if domain.endswith(".") else domain + "."
