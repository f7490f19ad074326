"""CoreDNS's `chaos` plugin: who we are, over the CH class (OpenShift serves
`hostname.bind:5353 { chaos }`).

    chaos [VERSION] [AUTHORS...]

CH TXT `version.bind`/`version.server` answer the version (default `clusterdns-<version>`),
`hostname.bind`/`id.server` this host's name, `authors.bind` the authors (in random order, as
CoreDNS); any other question passes to the next plugin. Each string at most 255 bytes.
"""

from __future__ import annotations

import random
import socket
from dataclasses import dataclass

from dnslib import CLASS, QTYPE, RR, TXT

from clusterdns import __version__
from clusterdns.config.checks import Origins, no_block
from clusterdns.config.corefile import Directive
from clusterdns.config.registry import Plugin
from clusterdns.dns.message import Answer, FixedAnswers
from clusterdns.dns.request import Request

DEFAULT_AUTHORS = ("clusterdns",)
_CH = 3


@dataclass(frozen=True, slots=True)
class ChaosConfig:
    version: str
    authors: tuple[str, ...]


def setup(node: Directive, block: Origins) -> ChaosConfig:
    no_block(node)
    args = [arg[:255] for arg in node.args]
    version = args[0] if args else f"clusterdns-{__version__}"
    authors = tuple(sorted(set(args[1:]))) if len(args) > 1 else DEFAULT_AUTHORS
    return ChaosConfig(version, authors)


CHAOS = Plugin("chaos", setup)


class Chaos(FixedAnswers):
    name = "chaos"

    def __init__(self, config: ChaosConfig) -> None:
        self.config = config

    def passes(self, name: str, qtype: int) -> bool:
        return True  # it answers class CH only

    def answer(self, request: Request) -> Answer | None:
        if request.qclass != _CH or request.qtype != QTYPE.TXT:
            return None
        texts = {
            "version.bind.": lambda: [self.config.version],
            "version.server.": lambda: [self.config.version],
            "hostname.bind.": _hostname,
            "id.server.": _hostname,
            "authors.bind.": lambda: random.sample(self.config.authors, len(self.config.authors)),
        }.get(request.name)
        if texts is None:
            return None
        owner = request.query.question.qname
        return Answer(
            answer=[RR(owner, QTYPE.TXT, CLASS.CH, ttl=0, rdata=TXT(text)) for text in texts()],
            authoritative=False,
        )


def _hostname() -> list[str]:
    try:
        return [socket.gethostname()[:255]]
    except OSError:
        return ["localhost"]
