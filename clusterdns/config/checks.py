"""The checks every directive's setup shares: argument counts, integers, durations, choices,
zone names and CIDRs, listen addresses, and option blocks read through a table of parsers.

Each failure is a CorefileError naming the file and line of what was written, so the rest of
the server never sees a string from the Corefile it has to interpret.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from dnslib import RCODE

from clusterdns.config.corefile import CorefileError, Directive, ServerBlock

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Go's time.ParseDuration: a sequence of decimal numbers, each with a unit; "0" needs none.
_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1,
    "m": 60,
    "h": 3600,
}
_DURATION_PART = r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)"
_DURATION = re.compile(f"(?:{_DURATION_PART})+")
INTEGER = re.compile(r"[+-]?\d+")
METADATA_LABEL = re.compile(r"[^/]+/.+")  # CoreDNS's metadata.IsLabel: plugin/NAME
_BAD_ZONE_CHAR = re.compile(r"[\s/]")


def parse_duration(text: str, file: str, line: int) -> float:
    """Seconds in a Go duration such as 5s, 1m30s, 500ms or 2h."""
    if text == "0":
        return 0.0
    if not _DURATION.fullmatch(text):
        raise CorefileError(file, line, f"invalid duration '{text}' (write e.g. 5s, 1m30s, 500ms)")
    return sum(float(n) * _DURATION_UNITS[unit] for n, unit in re.findall(_DURATION_PART, text))


Node = Directive | ServerBlock  # anything with a file and line to blame


class Origins(NamedTuple):
    zones: tuple[str, ...]
    networks: tuple[IPNetwork, ...]


def fail(node: Node, message: str) -> CorefileError:
    return CorefileError(node.file, node.line, message)


def arguments(node: Directive, least: int, most: int | None) -> tuple[str, ...]:
    """node's arguments, whose count must lie in least..most (most None: no limit)."""
    count = len(node.args)
    if least <= count and (most is None or count <= most):
        return node.args
    if least == most:
        expected = f"{least} argument{'s' if least != 1 else ''}" if least else "no arguments"
    elif most is None:
        expected = f"at least {least} argument{'s' if least != 1 else ''}"
    else:
        expected = f"{least} to {most} arguments"
    raise fail(node, f"'{node.name}' takes {expected}, got {count}")


def no_block(node: Directive) -> None:
    if node.block:
        option = node.block[0]
        raise fail(option, f"unknown {node.name} option '{option.name}'")


def switch(node: Directive, allowed: tuple[str, ...] = ()) -> bool:
    """A directive that is on when written: no block, and no argument or one of `allowed`."""
    no_block(node)
    for arg in arguments(node, 0, 1 if allowed else 0):
        choice(node, arg, allowed)
    return True


def integer(node: Directive, text: str, least: int, most: int | None) -> int:
    if not INTEGER.fullmatch(text):
        raise fail(node, f"{node.name}: '{text}' is not an integer")
    value = int(text)
    if value < least or (most is not None and value > most):
        allowed = f"in range {least}..{most}" if most is not None else f"at least {least}"
        raise fail(node, f"{node.name} must be {allowed}, got {value}")
    return value


def duration(node: Directive, text: str) -> float:
    return parse_duration(text, node.file, node.line)


def choice(node: Directive, text: str, allowed: tuple[str, ...]) -> str:
    if text not in allowed:
        raise fail(node, f"{node.name}: '{text}' is not one of {', '.join(allowed)}")
    return text


def zone_name(node: Node, text: str) -> str:
    """text as a lower-case, fully qualified domain name."""
    if text == ".":
        return "."
    name = text.lower().removesuffix(".")
    labels = name.split(".")
    if (
        "" in labels
        or any(len(label) > 63 for label in labels)
        or len(name) > 253
        or _BAD_ZONE_CHAR.search(name)
    ):
        raise fail(node, f"'{text}' is not a valid domain name")
    return name + "."


def reverse_zones(network: IPNetwork) -> list[str]:
    """The reverse zones covering network, as CoreDNS computes them.

    Reverse names can only delegate on label boundaries (8 bits of IPv4, 4 of IPv6), so a
    prefix in between is split into the longer boundary prefixes it covers: a /20 is 16 /24s.
    """
    step = 8 if network.version == 4 else 4
    boundary = -(-network.prefixlen // step) * step
    subnets = network.subnets(new_prefix=boundary) if boundary != network.prefixlen else [network]
    zones = []
    for subnet in subnets:
        labels = subnet.network_address.reverse_pointer.split(".")
        host_labels = (subnet.max_prefixlen - subnet.prefixlen) // step
        zones.append(".".join(labels[host_labels:]) + ".")
    return zones


def zone_origins(node: Node, args: Iterable[str]) -> Origins:
    """Zones written as arguments, each a domain name or a CIDR (which becomes reverse zones)."""
    zones: list[str] = []
    networks: list[IPNetwork] = []
    for arg in args:
        if "/" in arg:
            try:
                network = ipaddress.ip_network(arg, strict=False)
            except ValueError:
                raise fail(node, f"'{arg}' is neither a domain name nor a CIDR") from None
            networks.append(network)
            zones.extend(reverse_zones(network))
        else:
            zones.append(zone_name(node, arg))
    return Origins(tuple(dict.fromkeys(zones)), tuple(networks))


def zone_origins_or(node: Directive, args: tuple[str, ...], default: Origins) -> Origins:
    """The zones in args, or the server block's when there are none."""
    return zone_origins(node, args) if args else default


def is_reverse(zone: str) -> bool:
    return any(zone == apex or zone.endswith("." + apex) for apex in ("in-addr.arpa.", "ip6.arpa."))


def listen_address(node: Directive, default: str) -> str:
    """The optional [HOST]:PORT argument of health, ready and prometheus."""
    (address,) = arguments(node, 0, 1) or (default,)
    _, colon, port = address.rpartition(":")
    if not colon or not port.isdigit() or int(port) > 65535:
        raise fail(node, f"{node.name}: '{address}' is not a [HOST]:PORT address")
    return address


# Option parsers: each turns one option line into the ServerConfig fields it sets.
OptionParser = Callable[[Directive], dict[str, Any]]


def apply_options(node: Directive, parsers: dict[str, OptionParser]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for option in node.block:
        parser = parsers.get(option.name)
        if parser is None:
            raise fail(option, f"unknown {node.name} option '{option.name}'")
        no_block(option)
        values = parser(option)
        if fields.keys() & values.keys():
            raise fail(option, f"{node.name} option '{option.name}' is given twice")
        fields.update(values)
    return fields


# How CoreDNS's plugins read an rcode name (miekg/dns's StringToRcode), for the header's
# four bits: NOERROR to NOTZONE, and miekg's NOTIMPL spelling of NOTIMP.
RCODE_NAMES: dict[str, int] = {**RCODE.reverse, "NOTIMPL": RCODE.NOTIMP}


def refused(directive: str, why: str) -> OptionParser:
    """An option of CoreDNS's `directive` that clusterdns does not run: an error naming its
    line and why (never accepted and ignored)."""

    def parse(option: Directive) -> dict[str, Any]:
        raise fail(option, f"{directive} option '{option.name}' {why}")

    return parse


def flag(field: str) -> OptionParser:
    def parse(option: Directive) -> dict[str, Any]:
        arguments(option, 0, 0)
        return {field: True}

    return parse


def duration_option(field: str) -> OptionParser:
    def parse(option: Directive) -> dict[str, Any]:
        (text,) = arguments(option, 1, 1)
        return {field: duration(option, text)}

    return parse


def choice_option(field: str, allowed: tuple[str, ...]) -> OptionParser:
    def parse(option: Directive) -> dict[str, Any]:
        (text,) = arguments(option, 1, 1)
        return {field: choice(option, text, allowed)}

    return parse


def integer_option(field: str, least: int, most: int | None) -> OptionParser:
    def parse(option: Directive) -> dict[str, Any]:
        (text,) = arguments(option, 1, 1)
        return {field: integer(option, text, least, most)}

    return parse
