"""The `hosts` plugin answering: what CoreDNS's plugin/hosts/hosts.go answers.

- A name outside its zones passes to the next plugin (a PTR question is looked up anyway).
- A/AAAA: the addresses the hosts data holds (the file's, then the inline ones); PTR: the
  names an address has (no match passes on, whatever `fallthrough` says).
- A name it holds, asked another type: NODATA (authoritative, no SOA: there is none), unless
  `fallthrough_unsupported` passes it on.
- A name it does not hold: the next plugin with `fallthrough` for it, else SERVFAIL, "because
  of /etc/hosts' setup we don't have a SOA" to deny with.

The file is read again every `reload` when its modification time or size changed, and those
who keep replies made past this plugin (the wire answers) are told the data changed.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable

from dnslib import AAAA, PTR, QTYPE, RCODE, RR, A

from clusterdns.dns.message import Answer
from clusterdns.dns.names import in_zone, ip_from_reverse
from clusterdns.dns.request import Request
from clusterdns.plugins.hosts import metrics
from clusterdns.plugins.hosts.hostsfile import HostsMap, parse_hosts
from clusterdns.plugins.hosts.setup import HostsConfig

log = logging.getLogger("clusterdns.hosts")


class Hosts:
    name = "hosts"  # the `plugin` label of the replies it writes

    def __init__(self, config: HostsConfig) -> None:
        self.config = config
        self.inline = parse_hosts(config.inline, config.zones, config.reverse)
        self.file = HostsMap()
        self._stat: tuple[float, int] | None = None
        self._changed: list[Callable[[], None]] = []
        self._task: asyncio.Task[None] | None = None
        if not os.path.exists(config.path):
            log.warning("hosts file %s does not exist: the inline entries serve", config.path)
        self.read()

    def subscribe(self, changed: Callable[[], None]) -> None:
        """Call `changed` whenever the hosts data changes."""
        self._changed.append(changed)

    def start(self) -> None:
        if self.config.reload > 0 and self._task is None:
            self._task = asyncio.ensure_future(self._watch())

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.config.reload)
            self.read()

    def read(self) -> None:
        """Parse the file again if its modification time or size changed."""
        try:
            stat = os.stat(self.config.path)
        except OSError:
            return  # missing: said at start; the inline entries serve
        if (stat.st_mtime, stat.st_size) == self._stat:
            return
        try:
            with open(self.config.path, encoding="utf-8", errors="replace") as lines:
                self.file = parse_hosts(lines, self.config.zones, self.config.reverse)
        except OSError as exc:
            log.warning("cannot read hosts file %s: %s", self.config.path, exc.strerror or exc)
            return
        log.debug("plugin/hosts: Parsed hosts file into %d entries", len(self.file))
        first = self._stat is None
        self._stat = (stat.st_mtime, stat.st_size)
        metrics.ENTRIES.set((self.config.path,), len(self.file) + len(self.inline))
        metrics.RELOAD_TIMESTAMP.set((), stat.st_mtime)
        if not first:
            log.info("hosts file %s changed: %d entries", self.config.path, len(self.file))
        for changed in self._changed:
            changed()

    def passes(self, name: str, qtype: int) -> bool:
        if qtype == QTYPE.PTR:
            ip = ip_from_reverse(name)
            return not (ip and (self.file.names.get(ip) or self.inline.names.get(ip)))
        if not any(in_zone(name, zone) for zone in self.config.zones):
            return True
        if not self._falls_through(name):
            return False  # it answers every name of its zones
        unsupported = qtype not in (QTYPE.A, QTYPE.AAAA) and self.config.fallthrough_unsupported
        return unsupported or not self._holds(name)

    def answer(self, request: Request) -> Answer | None:
        """The reply, or None to pass the query to the next plugin."""
        name, qtype = request.name, request.qtype
        config = self.config
        if not any(in_zone(name, zone) for zone in config.zones) and qtype != QTYPE.PTR:
            return None
        owner = request.query.question.qname
        if qtype == QTYPE.PTR:
            ip = ip_from_reverse(name)
            names = (self.file.names.get(ip, []) + self.inline.names.get(ip, [])) if ip else []
            if not names:
                return None
            ptrs = [RR(owner, QTYPE.PTR, ttl=config.ttl, rdata=PTR(n)) for n in names]
            return Answer(answer=ptrs)
        records: list[RR] = []
        if qtype in (QTYPE.A, QTYPE.AAAA):
            v6 = qtype == QTYPE.AAAA
            rdata = AAAA if v6 else A
            ips = self.file.addresses(name, v6) + self.inline.addresses(name, v6)
            records = [RR(owner, qtype, ttl=config.ttl, rdata=rdata(ip)) for ip in ips]
        elif config.fallthrough_unsupported and self._falls_through(name):
            return None
        if not records and not self._holds(name):
            if self._falls_through(name):
                return None
            return Answer(rcode=RCODE.SERVFAIL, authoritative=False)
        return Answer(answer=records)

    def _holds(self, name: str) -> bool:
        return any(
            each.addresses(name, v6) for each in (self.file, self.inline) for v6 in (False, True)
        )

    def _falls_through(self, name: str) -> bool:
        zones = self.config.fallthrough
        return zones is not None and any(in_zone(name, zone) for zone in zones)
