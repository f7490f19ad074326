"""The resolver: (record index, question) → answer, for the cluster and reverse zones.

All of SPEC §2–8 lives here. It does no I/O: a name outside our zones (or one that falls
through) comes back with `forward=True`, and an ExternalName target outside our zones comes
back as `chase`, for the server to complete by asking itself (CoreDNS's upstream).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, auto
from typing import Any

from dnslib import AAAA, CNAME, NS, PTR, QTYPE, RCODE, RR, SOA, SRV, TXT, A, DNSLabel
from mypy_extensions import mypyc_attr

from clusterdns.dns.message import Answer
from clusterdns.dns.names import in_zone, ip_family, ip_from_dashed, ip_from_reverse, presentation
from clusterdns.plugins.kubernetes.index import RecordIndex
from clusterdns.plugins.kubernetes.objects import ServiceKind
from clusterdns.plugins.kubernetes.records import BuildOptions, Node, service_name
from clusterdns.plugins.kubernetes.setup import KubernetesConfig
from clusterdns.plugins.kubernetes.state import ClusterState

DNS_SCHEMA_VERSION = "1.1.0"
DNS_VERSION_TTL = 28800
MAX_CNAME_HOPS = 10
PODS_DISABLED, PODS_INSECURE, PODS_VERIFIED = "disabled", "insecure", "verified"
# dnslib's QTYPE is a lookup per attribute read: `decide` runs for most queries
_A, _NS, _CNAME, _SOA, _PTR, _TXT, _AAAA, _SRV, _IXFR, _AXFR = (
    int(getattr(QTYPE, name))
    for name in ("A", "NS", "CNAME", "SOA", "PTR", "TXT", "AAAA", "SRV", "IXFR", "AXFR")
)
_DEFAULT_NS_LABELS = ["ns", "dns"]  # above the zone: the NS name when no Service is ours


class Kind(Enum):
    """What answers a name of our zones (`Resolver.decide`)."""

    DENIED = auto()  # no such name: NXDOMAIN (or fallthrough, or SERVFAIL before sync)
    NODATA = auto()  # the name exists without records of the type
    REFUSED = auto()  # a zone transfer
    APEX_SOA = auto()
    APEX_NS = auto()
    PTR = auto()  # a reverse name of a service or endpoint
    DNS_VERSION = auto()
    NODE = auto()  # a name the index holds, with records of the type
    POD = auto()  # a pod name (`pods` insecure or verified)
    DEFAULT_NS = auto()  # ns.dns.<zone>


# `decide`'s answers that carry nothing, made once, and the kinds that carry something:
# reading an Enum member is a class attribute lookup, and `decide` runs for most queries
_REFUSED, _DENIED, _NODATA = (Kind.REFUSED, None), (Kind.DENIED, None), (Kind.NODATA, None)
_APEX_SOA, _APEX_NS = (Kind.APEX_SOA, None), (Kind.APEX_NS, None)
_DNS_VERSION, _DEFAULT_NS = (Kind.DNS_VERSION, None), (Kind.DEFAULT_NS, None)
_NODE_KIND, _PTR_KIND, _POD_KIND = Kind.NODE, Kind.PTR, Kind.POD


@dataclass(frozen=True, slots=True)
class Question:
    qname: DNSLabel | str  # as asked
    name: str  # lower case
    qtype: int
    zone: str  # the zone it falls in, lower case
    zone_text: str  # that zone spelled as in the question (CoreDNS keeps its case)

    def rezone(self, name: str) -> str:
        """A lower-case name of our zone, with the zone part spelled as asked."""
        return name[: -len(self.zone)] + self.zone_text if name.endswith(self.zone) else name


@dataclass(frozen=True)
class ResolverSettings:
    zones: tuple[str, ...]  # cluster zones, absolute lower case
    reverse_zones: tuple[str, ...] = ()
    ttl: int = 5
    pods: str = PODS_DISABLED
    fallthrough: tuple[str, ...] | None = None  # None: never; (): every zone
    own_ips: tuple[str, ...] = ()  # this server's addresses, for NS answers
    host_search: tuple[str, ...] = ()  # the host's search domains, ending a pod's path


# (compiled: the fault injection of tests and harness/exploding.py subclasses it)
@mypyc_attr(allow_interpreted_subclasses=True)
class Resolver:
    def __init__(self, index: RecordIndex, settings: ResolverSettings) -> None:
        self.index = index
        self.settings = settings
        self.ttl = settings.ttl
        index.follow_own_ips(settings.own_ips)
        # longest zone first, so the most specific zone wins
        self.zones = sorted(
            [(z, False) for z in settings.zones] + [(z, True) for z in settings.reverse_zones],
            key=lambda item: -len(item[0]),
        )

    @property
    def primary_zone(self) -> str:
        return self.settings.zones[0]

    def zone_of(self, name: str) -> tuple[str, bool] | None:
        """(zone, is_reverse) of the longest of our zones that holds `name`."""
        for zone, reverse in self.zones:
            if in_zone(name, zone):
                return zone, reverse
        return None

    def resolve(self, qname: DNSLabel | str, qtype: int) -> Answer:
        """Answer `qname` (absolute, as asked: its case is kept in owner names) for `qtype`.
        Names are compared as label sequences: a label holding a dot (`nginx.demo` as one
        label) is written escaped and matches no name of ours."""
        text = presentation(qname.label) if isinstance(qname, DNSLabel) else qname
        name = text.lower()
        found = self.zone_of(name)
        if found is None:
            return Answer(forward=True, authoritative=False)
        zone, reverse = found
        q = Question(qname, name, qtype, zone, _zone_as_asked(text, zone))
        kind, found_data = self.decide(name, zone, reverse, qtype)
        if kind is Kind.DENIED:
            return self._negative(q)
        if kind is Kind.NODATA:
            return self._nodata(q)
        if kind is Kind.REFUSED:  # (CoreDNS's server writes it: not authoritative)
            return Answer(rcode=RCODE.REFUSED, authoritative=False)
        if kind is Kind.APEX_SOA:
            return Answer(answer=[self.soa(q.zone_text)])
        if kind is Kind.APEX_NS:
            return self._apex_ns(q)
        if kind is Kind.PTR:
            ptrs = [RR(qname, QTYPE.PTR, ttl=self.ttl, rdata=PTR(t)) for t in found_data]
            return Answer(answer=ptrs)
        if kind is Kind.DNS_VERSION:
            txt = RR(qname, QTYPE.TXT, ttl=DNS_VERSION_TTL, rdata=TXT(DNS_SCHEMA_VERSION))
            return Answer(answer=[txt])
        if kind is Kind.POD:
            return Answer(answer=[self._address(qname, found_data)])
        if kind is Kind.DEFAULT_NS:
            return self._default_ns(q)
        return self._from_node(q, found_data)

    def decide(self, name: str, zone: str, reverse: bool, qtype: int) -> tuple[Kind, Any]:
        """What answers `name` (lower case, in our `zone`; `reverse` for a reverse zone) for
        `qtype`, found without building a record: the kind, and the node, PTR targets or pod
        IP it is answered from. DENIED and NODATA replies are the zone's SOA alone, which
        the server writes from the query's bytes without asking further."""
        if qtype in (_AXFR, _IXFR):
            return _REFUSED
        if "\\" in name:  # an escaped byte: no Kubernetes name holds one
            return _DENIED
        if name == zone:
            if qtype == _SOA:
                return _APEX_SOA
            if qtype == _NS:
                return _APEX_NS
            # CoreDNS: TXT exists only at dns-version
            return _DENIED if qtype == _TXT else _NODATA
        if reverse:
            ip = ip_from_reverse(name)
            targets = self.index.ptr_targets(ip) if ip else []
            if not targets:
                return _DENIED
            return (_PTR_KIND, targets) if qtype == _PTR else _NODATA
        if qtype == _SOA:
            return _NODATA  # SOA only at the apex; CoreDNS answers NODATA elsewhere
        labels = name[: -len(zone) - 1].split(".")  # (above the zone: read once)
        node = self._node(name, zone, labels)
        if qtype == _TXT:
            if name == f"dns-version.{zone}":
                return _DNS_VERSION
            exists = node is not None or self._pod_ip(labels) is not None
            return _NODATA if exists else _DENIED
        if node is not None:
            if node.cname is not None:
                answered = qtype in (_CNAME, _A, _AAAA)
            else:
                answered = (
                    (qtype == _A and bool(node.a))
                    or (qtype == _AAAA and bool(node.aaaa))
                    or (qtype == _SRV and bool(node.srv))
                )
            return (_NODE_KIND, node) if answered else _NODATA
        pod_ip = self._pod_ip(labels)
        if pod_ip is not None:
            if qtype in (_A, _AAAA) and _rtype(pod_ip) == qtype:
                return _POD_KIND, pod_ip
            return _NODATA
        if self._structural(labels):
            return _NODATA
        if labels == _DEFAULT_NS_LABELS and qtype != _PTR:  # ns.dns.<zone>
            return _DEFAULT_NS
        return _DENIED

    def autopath_search(self, name: str, client_ip: str) -> list[str] | None:
        """The search path of the pod at `client_ip` for a name of our zones (CoreDNS's
        kubernetes AutoPath): its namespace's svc domain, svc, the zone, the host's search
        domains. None for a client that is no running pod we know (`pods verified`)."""
        found = self.zone_of(name)
        pod = self.index.state.pod_with_ip(client_ip) if found is not None else None
        if found is None or pod is None:
            return None
        zone = found[0]
        svc = "svc." if zone == "." else f"svc.{zone}"
        return [f"{pod.namespace}.{svc}", svc, zone, *self.settings.host_search]

    def denies(self, name: str) -> bool:
        """A DENIED name gets NXDOMAIN: no fallthrough takes it and the state is synced."""
        return self.index.state.synced and not self._falls_through(name)

    def _falls_through(self, name: str) -> bool:
        fallthrough = self.settings.fallthrough
        return fallthrough is not None and (
            not fallthrough or any(in_zone(name, zone) for zone in fallthrough)
        )

    # -- zones ---------------------------------------------------------------------

    def _apex_ns(self, q: Question) -> Answer:
        answer = Answer()
        for ns_name, ip in self.nameservers(q.zone):
            target = q.rezone(ns_name)
            record = RR(q.qname, QTYPE.NS, ttl=self.ttl, rdata=NS(target))
            if record not in answer.answer:
                answer.answer.append(record)
            answer.additional.append(self._address(target, ip))
        return answer if answer.answer else self._nodata(q)

    def _default_ns(self, q: Question) -> Answer:
        """ns.dns.<zone>, the NS name when no Service of ours is found: its A and AAAA are
        the addresses of the NS glue, whatever names the glue has, and every other type
        (but TXT and PTR, NXDOMAIN) is NODATA — CoreDNS's Services (isDefaultNS, in
        plugin/kubernetes/kubernetes.go) answers it from nsAddrs, whose plugin.A dedups."""
        ips = dict.fromkeys(ip for _name, ip in self.nameservers(q.zone) if _rtype(ip) == q.qtype)
        answer = [self._address(q.qname, ip) for ip in ips]
        return Answer(answer=answer) if answer else self._nodata(q)

    # -- names -----------------------------------------------------------------------

    def _node(self, name: str, zone: str, labels: list[str] | None = None) -> Node | None:
        """The node of `name` in `zone` (`labels`: those of `name` above the zone)."""
        node = self.index.nodes.get(name)
        if node is not None:
            return node
        if labels is None:
            labels = name[: -len(zone) - 1].split(".")
        if len(labels) == 4 and labels[3] == "svc":
            # an endpoint of a ClusterIP service: not stored, built from the state
            return self.index.endpoint_nodes((labels[2], labels[1]), zone).get(name)
        # CoreDNS reads the two labels above a service as port and protocol with or without
        # their leading underscores: http.tcp.svc.ns.svc.<zone> means _http._tcp.svc...
        if len(labels) == 5 and labels[4] == "svc":
            port, proto = (label.removeprefix("_") for label in labels[:2])
            return self.index.nodes.get(f"_{port}._{proto}." + ".".join(labels[2:]) + "." + zone)
        return None

    def _structural(self, labels: list[str]) -> bool:
        """zone/svc/pod names and namespace names (by their labels above the zone), which
        exist without records (NODATA)."""
        count = len(labels)
        if count == 1:
            return labels[0] in ("svc", "pod")
        if count == 2 and labels[1] == "svc":
            return self.index.namespace_exposed(labels[0])
        if count == 2 and labels[1] == "pod":
            return self.settings.pods != PODS_DISABLED and self.index.namespace_exposed(labels[0])
        return False

    def _pod_ip(self, labels: list[str]) -> str | None:
        """The IP a `a-b-c-d.<ns>.pod.<zone>` name (by its labels above the zone) answers,
        per the `pods` mode; else None."""
        if self.settings.pods == PODS_DISABLED:
            return None
        if len(labels) != 3 or labels[2] != "pod":
            return None
        label, namespace = labels[0], labels[1]
        if not self.index.namespace_exposed(namespace):
            return None
        ip = ip_from_dashed(label)
        if ip is None:
            return None
        if self.settings.pods == PODS_VERIFIED and not self.index.state.pod_ip_running(
            namespace, ip
        ):
            return None
        return ip

    # -- answers from a node ------------------------------------------------------------

    def _from_node(self, q: Question, node: Node) -> Answer:
        """A type the node has records of (`decide` said so)."""
        if node.cname is not None:
            if q.qtype == QTYPE.CNAME:
                cname = RR(q.qname, QTYPE.CNAME, ttl=self.ttl, rdata=CNAME(node.cname))
                return Answer(answer=[cname])
            return self._follow_cname(q, node.cname)
        if q.qtype == QTYPE.SRV:
            return self._srv_answer(q, node)
        ips = node.a if q.qtype == QTYPE.A else node.aaaa
        return Answer(answer=[self._address(q.qname, ip) for ip in ips])

    def _srv_answer(self, q: Question, node: Node) -> Answer:
        answer = Answer()
        seen: set[tuple[str, str]] = set()
        for port, name in node.srv:
            target = q.rezone(name)
            rdata = SRV(0, node.srv_weight, port, target)
            answer.answer.append(RR(q.qname, QTYPE.SRV, ttl=self.ttl, rdata=rdata))
            target_node = self._node(name, q.zone)
            if target_node is None:
                continue
            for ip in (*target_node.a, *target_node.aaaa):
                if (name, ip) not in seen:
                    seen.add((name, ip))
                    answer.additional.append(self._address(target, ip))
        return answer

    def _follow_cname(self, q: Question, target: str) -> Answer:
        """An ExternalName: CNAME, then the target's records (SPEC §3)."""
        chain = [RR(q.qname, QTYPE.CNAME, ttl=self.ttl, rdata=CNAME(target))]
        seen = {q.name}
        while target not in seen and len(chain) <= MAX_CNAME_HOPS:
            seen.add(target)
            found = self.zone_of(target)
            if found is None or found[1]:
                return Answer(answer=chain, chase=target)  # outside: the server completes it
            node = self._node(target, found[0])
            if node is None:
                break
            if node.cname is None:
                ips = node.a if q.qtype == QTYPE.A else node.aaaa
                if not ips:
                    break
                return Answer(answer=chain + [self._address(target, ip) for ip in ips])
            chain.append(RR(target, QTYPE.CNAME, ttl=self.ttl, rdata=CNAME(node.cname)))
            target = node.cname
        return self._nodata(q)  # an internal target that yields nothing drops the CNAME

    # -- negative answers and special records ------------------------------------------------

    def _nodata(self, q: Question) -> Answer:
        return Answer(authority=[self.soa(q.zone_text)])

    def _negative(self, q: Question) -> Answer:
        """The name does not exist: fall through, SERVFAIL before sync, else NXDOMAIN."""
        if self.denies(q.name):
            return Answer(rcode=RCODE.NXDOMAIN, authority=[self.soa(q.zone_text)])
        if not self.index.state.synced and not self._falls_through(q.name):
            return Answer(rcode=RCODE.SERVFAIL, authority=[self.soa(q.zone_text)])
        return Answer(forward=True, authoritative=False)

    def soa(self, zone: str) -> RR:
        """The zone's SOA; `zone` may carry the question's case, which CoreDNS keeps."""
        rdata = SOA(
            f"ns.dns.{zone}",
            f"hostmaster.{zone}",
            (self.index.serial, 7200, 1800, 86400, self.ttl),
        )
        return RR(zone, QTYPE.SOA, ttl=min(self.ttl, 300), rdata=rdata)

    def nameservers(self, zone: str) -> list[tuple[str, str]]:
        """(NS name, address) pairs as CoreDNS's nsAddrs (plugin/kubernetes/ns.go) makes them:
        for each EndpointSlice with a ready address that is one of our own IPs, in any
        namespace (in a cluster: kube-dns's), its Service's name with each cluster IP, or for
        a headless Service every ready address of that slice under its endpoint name. Our
        own IPs under ns.dns.<zone> only when no slice holds one: a slice whose Service does
        not exist gives no pair at all, and then the apex has no NS records (NODATA)."""
        pairs: list[tuple[str, str]] = []
        found = False
        for own in self.settings.own_ips:
            for key, ready in self.index.slices_holding(own):
                found = True
                svc = self.index.state.services.get(key)
                if svc is None:
                    continue
                base = service_name(svc, zone)
                if svc.kind is ServiceKind.HEADLESS:
                    pairs += [(f"{addr.name}.{base}", addr.ip) for addr in ready]
                else:
                    pairs += [(base, ip) for ip in svc.cluster_ips]
        if found:
            return pairs
        return [(f"ns.dns.{zone}", ip) for ip in self.settings.own_ips]

    def _address(self, name: DNSLabel | str, ip: str) -> RR:
        rdata = A(ip) if ip_family(ip) == 4 else AAAA(ip)
        return RR(name, _rtype(ip), ttl=self.ttl, rdata=rdata)


def _rtype(ip: str) -> int:
    return QTYPE.A if ip_family(ip) == 4 else QTYPE.AAAA


def _zone_as_asked(text: str, zone: str) -> str:
    suffix = text[-len(zone) :] if zone != "." else "."
    return suffix if suffix.lower() == zone else zone


def build_resolver(
    state: ClusterState,
    k8s: KubernetesConfig,
    own_ips: tuple[str, ...],
    host_search: tuple[str, ...] = (),
) -> Resolver:
    options = BuildOptions(
        endpoint_pod_names=k8s.endpoint_pod_names,
        noendpoints=k8s.noendpoints,
        ignore_empty_service=k8s.ignore_empty_service,
    )
    index = RecordIndex(state, k8s.zones, options, k8s.namespaces)
    settings = ResolverSettings(
        zones=k8s.zones,
        reverse_zones=k8s.reverse_zones,
        ttl=k8s.ttl,
        pods=k8s.pods,
        fallthrough=k8s.fallthrough,
        own_ips=own_ips,
        host_search=host_search,
    )
    return Resolver(index, settings)
