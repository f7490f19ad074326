"""CoreDNS's `header`: flags of the queries (for the plugins after it) and of the replies
set or cleared.

    header {
        query|response set|clear FLAGS...
    }

FLAGS are `aa`, `ra` and `rd`; rules apply in order, so the last one on a flag wins. CoreDNS
1.14 takes only these selectors: a bare `set` or `clear` line is an error, as there.
"""

from __future__ import annotations

from dataclasses import dataclass

from clusterdns.config.checks import Origins, arguments, fail
from clusterdns.config.corefile import Directive
from clusterdns.config.registry import Plugin

_FLAGS = {"aa": 0x0400, "ra": 0x0080, "rd": 0x0100}  # in the header's second 16 bits


@dataclass(frozen=True, slots=True)
class Flags:
    """What a selector's rules leave of a message's flags: these bits set, those cleared."""

    set: int = 0
    clear: int = 0

    def __bool__(self) -> bool:
        return bool(self.set | self.clear)

    def applied(self, message: bytes) -> bytes:
        flags = (message[2] << 8 | message[3]) & ~self.clear | self.set
        return message[:2] + flags.to_bytes(2) + message[4:]


@dataclass(frozen=True, slots=True)
class HeaderConfig:
    query: Flags
    response: Flags


def setup(node: Directive, block: Origins) -> HeaderConfig:
    arguments(node, 0, 0)
    rules: dict[str, Flags] = {"query": Flags(), "response": Flags()}
    for option in node.block:
        selector = option.name.lower()
        if selector not in rules:
            raise fail(option, f"header: invalid selector={selector} should be query or response")
        if option.block:
            raise fail(option, "header: a rule holds no block")
        if not option.args:
            raise fail(option, "header: no flag action provided")
        action, *flags = option.args
        if action.lower() not in ("set", "clear"):
            raise fail(option, f"header: unknown flag action={action.lower()}, should be set "
                               "or clear")  # fmt: skip
        if not flags:
            raise fail(option, "header: invalid length for flags, at least one should be provided")
        now = rules[selector]
        for flag in flags:
            bit = _FLAGS.get(flag.lower())
            if bit is None:
                raise fail(option, f"header: unknown/unsupported flag={flag.lower()}")
            if action.lower() == "set":
                now = Flags(now.set | bit, now.clear & ~bit)
            else:
                now = Flags(now.set & ~bit, now.clear | bit)
        rules[selector] = now
    if not node.block:
        raise fail(node, "header: a block of rules is needed ('query|response set|clear FLAGS')")
    return HeaderConfig(rules["query"], rules["response"])


HEADER = Plugin("header", setup)
