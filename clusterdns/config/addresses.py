"""Addresses as a Corefile and the command line write them: listen addresses, upstreams,
ACL entries, and the `host:port` form CoreDNS's metric labels use."""

from __future__ import annotations

import ipaddress

from clusterdns.errors import ConfigError


def parse_listen(text: str, default_port: int = 53) -> tuple[str, int]:
    """'127.0.0.1:5353', '[::1]:53', ':53', '0.0.0.0', '5353' → (host, port)."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":") or str(default_port)
    elif text.count(":") > 1:
        host, port = text, str(default_port)  # a bare IPv6 address
    elif ":" in text:
        host, port = text.rsplit(":", 1)
    elif text.isdigit():
        host, port = "", text
    else:
        host, port = text, str(default_port)
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"bad port in listen address {text!r}")
    return host or "0.0.0.0", int(port)


def ip_address_or_none(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def split_ip_port(text: str) -> tuple[str, str | None]:
    """Split "1.2.3.4:53" / "[::1]:53" into address and port; bare addresses have no port."""
    if text.startswith("[") and "]:" in text:
        host, port = text[1:].split("]:", 1)
        return host, port
    if text.count(":") == 1:
        host, port = text.split(":")
        return host, port
    return text, None


def valid_port(port: str | None) -> bool:
    return port is None or (port.isdigit() and 0 < int(port) <= 65535)


def address_label(host: str, port: int) -> str:
    """host:port as CoreDNS writes an upstream (`to` label): [v6]:port for IPv6."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
