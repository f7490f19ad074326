"""The `k8s_external` plugin answering: what CoreDNS's plugin/k8s_external answers
(external.go, apex.go, msg_to_dns.go), from the block's `kubernetes` through `Externaler`.

- A name outside its zones (or of another class than IN) passes to the next plugin.
- The apex: SOA; NS `ns1.<apex>.<zone>` with the nameserver's addresses as glue; any other
  type NODATA. `<apex>.<zone>`: NODATA; `ns1.<apex>.<zone>`: those addresses (A, AAAA);
  any other name under `<apex>.<zone>`: NXDOMAIN.
- `service.namespace.<zone>` (and `_port._proto.` or `endpoint.` in front): A and AAAA from
  the external IPs, a load balancer's host name as a CNAME followed by that name's records
  of the type (TC when their reply had it); SRV to `service.namespace.<zone>` (or the
  endpoint's name) with the addresses as additional records, or to the host name with its
  A and AAAA records as additional ones (after the addresses': CoreDNS's order when host
  names come last among the ingress entries). A host name's records are asked of the server
  itself (CoreDNS's upstream: routed to its block, through every plugin there).
  PTR of an external IP (when a zone of it is a reverse zone): `service.namespace.<first
  zone>`. A name that exists without records of the type: NODATA.
- A name that does not exist (a Service without external IPs among them): NXDOMAIN, or the
  next plugin when `fallthrough` covers it; SERVFAIL before the cluster state is synced.

A and AAAA, PTR, SOA, NS and glue carry the plugin's `ttl`; SRV and CNAME records the
`kubernetes` plugin's, as in CoreDNS (they are made from its msg.Service, which carries it).
Records that would repeat (one per port of each address, in CoreDNS) are written once, and
a host name is asked once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Protocol

from dnslib import AAAA, CLASS, CNAME, NS, PTR, QTYPE, RCODE, RR, SOA, SRV, A, DNSLabel

from clusterdns.dns.lookup import Lookup, answer_records, cnames_followed
from clusterdns.dns.message import CLASS_ANY, Answer
from clusterdns.dns.names import above, in_zone, ip_family, ip_from_reverse, join
from clusterdns.dns.request import Request
from clusterdns.plugins.k8s_external.setup import ExternalConfig

HOSTMASTER = "hostmaster"
NAMESERVER = "ns1"
# (address, or an absolute host name to CNAME to; port, -1 for none; the name it is known by)
Target = tuple[str, int, str]


class Externaler(Protocol):
    """What the block's `kubernetes` plugin offers (CoreDNS's Externaler interface)."""

    @property
    def ttl(self) -> int: ...  # its own TTL

    @property
    def zones(self) -> tuple[str, ...]: ...  # its own zones (where replies are kept)

    @property
    def serial(self) -> int: ...  # of the external zones

    @property
    def synced(self) -> bool: ...

    def external(self, name: str, zone: str) -> tuple[list[Target], int]:
        """The targets of `name` (lower case, below `zone`), and NXDOMAIN or NOERROR (a name
        that exists without them) when there are none."""
        ...

    def reverse(self, ip: str) -> list[str]:
        """`service.namespace` of each Service with this external IP."""
        ...

    def addresses(self) -> list[str]:
        """The addresses of the external zones' nameserver."""
        ...

    def names(self, zone: str) -> Iterator[str]:
        """The names of `zone` a transfer lists."""
        ...

    def subscribe(self, changed: Callable[[], None]) -> None: ...

    def close(self) -> None: ...


class K8sExternal:
    name = "k8s_external"  # the `plugin` label of the replies it writes

    def __init__(self, config: ExternalConfig, source: Externaler) -> None:
        self.config = config
        self.source = source
        self.zones = config.zones
        self._longest_first = sorted(config.zones, key=len, reverse=True)
        self._apexes = tuple(join(config.apex, zone) for zone in config.zones)
        self._ttl = config.ttl

    # -- the Answerer's lifecycle --------------------------------------------------------

    def subscribe(self, changed: Callable[[], None]) -> None:
        """Replies kept past this plugin are the kubernetes plugin's, of its own zones: they
        go stale when the external data changes only where those zones and ours overlap."""
        if any(in_zone(a, b) or in_zone(b, a) for a in self.zones for b in self.source.zones):
            self.source.subscribe(changed)

    def start(self) -> None:
        pass

    def close(self) -> None:
        self.source.close()

    def passes(self, name: str, qtype: int) -> bool:
        return self.zone_of(name) is None

    # -- answers ---------------------------------------------------------------------------

    def zone_of(self, name: str) -> str | None:
        """The longest of our zones that holds `name` (absolute, lower case)."""
        return next((zone for zone in self._longest_first if in_zone(name, zone)), None)

    def answer(self, request: Request) -> Answer | None:
        """The reply, or None to pass the query to the next plugin."""
        name = request.name
        zone = self.zone_of(name)
        if zone is None or request.qclass not in (CLASS.IN, CLASS_ANY):
            return None
        qname, qtype = request.query.question.qname, request.qtype
        for each, apex in zip(self.zones, self._apexes, strict=True):
            if name == each:
                return self._apex(qname, zone, qtype)
            if in_zone(name, apex):
                return self._sub_apex(qname, name, zone, qtype)
        if qtype == QTYPE.PTR:
            ip = ip_from_reverse(name)
            if ip is not None:
                hosts = self.source.reverse(ip)
                if not hosts:
                    return self._denial(name, zone, RCODE.NXDOMAIN)
                names = dict.fromkeys(join(host, self.zones[0]) for host in hosts)
                ptrs = [RR(qname, QTYPE.PTR, ttl=self._ttl, rdata=PTR(n)) for n in names]
                return Answer(answer=ptrs)
        targets, rcode = self.source.external(name, zone)
        if not targets or qtype == QTYPE.PTR:  # (a PTR of a name that is no reverse one)
            return self._denial(name, zone, rcode if not targets else RCODE.NOERROR)
        answer = Answer()
        if qtype in (QTYPE.A, QTYPE.AAAA):
            answer.answer = self.addresses(qname, targets, qtype)
            if any(rr.rtype == QTYPE.CNAME for rr in answer.answer):
                answer.follow = partial(_addresses_followed, answer, qtype)
        elif qtype == QTYPE.SRV:
            answer.answer, answer.additional = self.services(qname, targets)
            hosts = [host for host, port, _owner in targets if port != -1 and host.endswith(".")]
            if hosts:
                answer.follow = partial(_services_followed, answer, list(dict.fromkeys(hosts)))
        if not answer.answer:
            answer.authority = [self.soa(zone)]
        return answer

    def addresses(self, qname: DNSLabel | str, targets: list[Target], qtype: int) -> list[RR]:
        """CoreDNS's a() and aaaa(): the addresses of the type, a host name's CNAME."""
        family = 4 if qtype == QTYPE.A else 6
        records: list[RR] = []
        for host in dict.fromkeys(host for host, _port, _owner in targets):
            if host.endswith("."):
                records.append(RR(qname, QTYPE.CNAME, ttl=self.source.ttl, rdata=CNAME(host)))
            elif ip_family(host) == family:
                records.append(self._address(qname, host))
        return records

    def services(self, qname: DNSLabel | str, targets: list[Target]) -> tuple[list[RR], list[RR]]:
        """CoreDNS's srv(): an SRV record per target and port, weighted over all the
        targets; an address's owner as the target with the address as an additional
        record, or the host name itself."""
        if not targets:
            return [], []
        weight = max(1, 100 // len(targets))
        records: list[RR] = []
        extra: list[RR] = []
        seen: set[tuple[str, object]] = set()
        for host, port, owner in targets:
            if port == -1:
                continue  # no port declared: no SRV record
            named = host.endswith(".")
            target = host if named else owner
            if (target, port) not in seen:
                seen.add((target, port))
                rdata = SRV(0, weight, port, target)
                records.append(RR(qname, QTYPE.SRV, ttl=self.source.ttl, rdata=rdata))
            if not named and (owner, host) not in seen:
                seen.add((owner, host))
                extra.append(self._address(owner, host))
        return records, extra

    def soa(self, zone: str) -> RR:
        apex = self.config.apex
        rdata = SOA(
            join(f"{NAMESERVER}.{apex}", zone),
            join(f"{HOSTMASTER}.{apex}", zone),
            (self.source.serial, 7200, 1800, 86400, self._ttl),
        )
        return RR(zone, QTYPE.SOA, ttl=self._ttl, rdata=rdata)

    def nameserver(self, zone: str) -> RR:
        target = join(f"{NAMESERVER}.{self.config.apex}", zone)
        return RR(zone, QTYPE.NS, ttl=self._ttl, rdata=NS(target))

    def glue(self, owner: str) -> list[RR]:
        """The nameserver's addresses under `owner`."""
        return [self._address(owner, ip) for ip in self.source.addresses()]

    def _apex(self, qname: DNSLabel, zone: str, qtype: int) -> Answer:
        if qtype == QTYPE.SOA:
            return Answer(answer=[self.soa(zone)])
        if qtype == QTYPE.NS:  # the glue's owner spelled as asked, as CoreDNS writes it
            owner = join(f"{NAMESERVER}.{self.config.apex}", str(qname))
            return Answer(answer=[self.nameserver(zone)], additional=self.glue(owner))
        return Answer(authority=[self.soa(zone)])

    def _sub_apex(self, qname: DNSLabel, name: str, zone: str, qtype: int) -> Answer:
        """`<apex>.<zone>` and below, where the nameserver lives."""
        labels = above(name, zone)
        if len(labels) > 2 or (len(labels) == 2 and labels[0] != NAMESERVER):
            return Answer(rcode=RCODE.NXDOMAIN, authority=[self.soa(zone)])
        found = []
        if len(labels) == 2 and qtype in (QTYPE.A, QTYPE.AAAA):
            family = 4 if qtype == QTYPE.A else 6
            ips = (ip for ip in self.source.addresses() if ip_family(ip) == family)
            found = [self._address(qname, ip) for ip in ips]
        return Answer(answer=found) if found else Answer(authority=[self.soa(zone)])

    def _denial(self, name: str, zone: str, rcode: int) -> Answer | None:
        """No records: NODATA, or NXDOMAIN (the next plugin's with `fallthrough`; SERVFAIL
        before the cluster state is synced)."""
        fallthrough = self.config.fallthrough
        if rcode == RCODE.NXDOMAIN:
            if fallthrough is not None and any(in_zone(name, z) for z in fallthrough):
                return None
            if not self.source.synced:
                rcode = RCODE.SERVFAIL
        return Answer(rcode=rcode, authority=[self.soa(zone)])

    def _address(self, owner: DNSLabel | str, ip: str) -> RR:
        if ip_family(ip) == 4:
            return RR(owner, QTYPE.A, ttl=self._ttl, rdata=A(ip))
        return RR(owner, QTYPE.AAAA, ttl=self._ttl, rdata=AAAA(ip))


async def _addresses_followed(answer: Answer, qtype: int, lookup: Lookup) -> Answer:
    """CoreDNS's a() and aaaa() for a load balancer's host name: after its CNAME, the answer
    records of the name asked of the server itself with the query's type; the reply
    truncated (TC) when one of those replies was."""
    answer.answer, truncated = await cnames_followed(answer.answer, qtype, lookup)
    answer.truncated, answer.follow = any(truncated), None
    return answer


async def _services_followed(answer: Answer, hosts: list[str], lookup: Lookup) -> Answer:
    """CoreDNS's srv() for the host names SRV records point to: the answer records of each
    asked of the server itself, A then AAAA, as additional records (no TC)."""
    for host in hosts:
        for qtype in (QTYPE.A, QTYPE.AAAA):
            found = await answer_records(lookup, host, qtype)
            if found is not None:
                answer.additional += found[0]
    answer.follow = None
    return answer
