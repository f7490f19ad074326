"""`clusterdns explain`: the answer a query gets, and the chain of reasons behind it.

The answer is the resolver's own (explain calls it). Everything else here only reads the
state and the index to say why: the zone and name form (SPEC §2), the Service and
EndpointSlices used, which endpoints were skipped and why, and why a negative answer is
NXDOMAIN rather than NODATA.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dnslib import QTYPE, RCODE

from clusterdns.dns.message import Answer
from clusterdns.dns.names import (
    canonical_ip,
    dashed_ip,
    in_zone,
    ip_family,
    ip_from_dashed,
    ip_from_reverse,
)
from clusterdns.dns.zone import record_from_rr
from clusterdns.plugins.kubernetes.objects import (
    IP_ADDRESS_TYPES,
    EndpointSlice,
    Port,
    Service,
    ServiceKind,
)
from clusterdns.plugins.kubernetes.provenance import SliceAddress, slice_addresses
from clusterdns.plugins.kubernetes.records import ReadyAddress, port_label, ready_addresses
from clusterdns.plugins.kubernetes.resolver import PODS_DISABLED, PODS_VERIFIED, Resolver

MAX_ENDPOINT_LINES = 30  # a service with thousands of endpoints: show these, count the rest


@dataclass
class Explanation:
    question: str
    lines: list[tuple[str, str]] = field(default_factory=list)  # (topic, text), in order
    verdict: str = ""
    answer: Answer = field(default_factory=Answer)

    def add(self, topic: str, text: str) -> None:
        self.lines.append((topic, text))

    def text(self) -> str:
        rows = [("question", self.question), *self.lines, ("result", self.verdict)]
        for section, records in (
            ("answer", self.answer.answer),
            ("authority", self.answer.authority),
            ("additional", self.answer.additional),
        ):
            rows += [(section, record_from_rr(rr).text().replace("\t", " ")) for rr in records]
        width = max(len(topic) for topic, _ in rows)
        return "".join(f"{topic:<{width}}  {text}\n" for topic, text in rows)


def explain(resolver: Resolver, name: str, qtype: int) -> Explanation:
    """Why `name` (absolute, lower case) answers `qtype` the way the resolver answers it."""
    answer = resolver.resolve(name, qtype)
    explainer = _Explainer(resolver, name, qtype)
    explainer.run()
    result = explainer.result
    result.answer = answer
    result.verdict = _verdict(answer, qtype, explainer.absent, explainer.nodata)
    return result


def _verdict(answer: Answer, qtype: int, absent: str, nodata: str) -> str:
    type_name = QTYPE.get(qtype)
    if answer.forward:
        return "forwarded: the upstream resolvers answer the whole question"
    if answer.chase:
        return (
            f"CNAME to {answer.chase}, outside the cluster zones: the server asks itself "
            "for that name and appends its records (an NXDOMAIN leaves the CNAME alone)"
        )
    if answer.rcode == RCODE.SERVFAIL:
        return "SERVFAIL: the first full sync is not done, and no name is claimed absent before"
    if answer.rcode == RCODE.NXDOMAIN:
        return f"NXDOMAIN: {absent or 'the name does not exist'}"
    if answer.rcode == RCODE.REFUSED:
        return "REFUSED: zone transfers only over TCP, from clients a `transfer` block allows"
    if answer.rcode != RCODE.NOERROR:
        return RCODE.get(answer.rcode)
    if not answer.answer:
        why = nodata or f"it has no {type_name} records"
        return f"NODATA (NOERROR, no answer): the name exists, but {why}"
    count = len(answer.answer)
    return f"NOERROR: {count} record{'s' if count != 1 else ''}"


class _Explainer:
    def __init__(self, resolver: Resolver, name: str, qtype: int) -> None:
        self.resolver = resolver
        self.index = resolver.index
        self.state = resolver.index.state
        self.name = name
        self.qtype = qtype
        self.result = Explanation(f"{name} {QTYPE.get(qtype)}")
        self.absent = ""  # why the name does not exist, when it does not
        self.nodata = ""  # why an existing name has no records of the type

    def run(self) -> None:
        found = self.resolver.zone_of(self.name)
        if found is None:
            zones = ", ".join(self.resolver.settings.zones + self.resolver.settings.reverse_zones)
            self.result.add("zone", f"none of the kubernetes zones ({zones})")
            return
        zone, reverse = found
        self.result.add("zone", f"{zone} ({'reverse' if reverse else 'cluster'} zone)")
        if self.qtype in (QTYPE.AXFR, QTYPE.IXFR):
            self.result.add("form", "zone transfer")
        elif self.name == zone:
            self._apex()
        elif reverse:
            self._reverse()
        else:
            self._cluster(self.name[: -len(zone) - 1].split("."))
        fallthrough = self.resolver.settings.fallthrough
        if fallthrough is not None and (
            not fallthrough or any(in_zone(self.name, z) for z in fallthrough)
        ):
            self.result.add("fallthrough", "names here that do not exist are asked upstream")

    # -- name forms ------------------------------------------------------------------------

    def _apex(self) -> None:
        self.result.add("form", "apex: SOA and NS live here")
        if self.qtype == QTYPE.TXT:
            self.absent = "TXT exists only at dns-version.<zone>; CoreDNS denies it at the apex"
        else:
            self.nodata = "the apex holds only SOA and NS"

    def _cluster(self, labels: list[str]) -> None:
        form = self.result.add
        count, last = len(labels), labels[-1]
        if labels == ["dns-version"]:
            form("form", "dns-version: the schema version, a TXT record")
            self.nodata = "dns-version holds only its TXT record"
        elif labels == ["ns", "dns"]:
            form("form", "the name of this server in the apex NS records")
            self.nodata = f"this server has no {QTYPE.get(self.qtype)} address"
            self.absent = "the NS records name a service that fronts this server instead"
        elif labels in (["svc"], ["pod"]):
            form("form", f"{last}.<zone>: exists with no records of its own")
            self.nodata = f"{last}.<zone> holds no records"
        elif count == 2 and last == "svc":
            form("form", f"namespace: <namespace>.svc → namespace {labels[0]}")
            if self._namespace(labels[0]):
                self.nodata = "a namespace name holds no records"
        elif count == 2 and last == "pod":
            form("form", f"pod namespace: <namespace>.pod → namespace {labels[0]}")
            if self._pods_enabled() and self._namespace(labels[0]):
                self.nodata = "a namespace name holds no records"
        elif count == 3 and last == "pod":
            form("form", f"pod: <dashed-ip>.<namespace>.pod → {labels[0]} in {labels[1]}")
            self._pod(labels[0], labels[1])
        elif count == 3 and last == "svc":
            form("form", f"service: <service>.<namespace>.svc → {labels[1]}/{labels[0]}")
            self._service(labels[1], labels[0])
        elif count == 4 and last == "svc":
            form(
                "form",
                "endpoint: <endpoint>.<service>.<namespace>.svc → "
                f"{labels[0]} of {labels[2]}/{labels[1]}",
            )
            self._service(labels[2], labels[1], endpoint=labels[0])
        elif count == 5 and last == "svc":
            port, proto = (label.removeprefix("_") for label in labels[:2])
            form(
                "form",
                "port: _<port>._<protocol>.<service>.<namespace>.svc → "
                f"port {port}, protocol {proto} of {labels[3]}/{labels[2]}",
            )
            self._service(labels[3], labels[2], port=(port, proto))
        else:
            form("form", "none: not a name of the Kubernetes DNS schema (SPEC §2)")
            self.absent = "no such name form"

    def _reverse(self) -> None:
        ip = ip_from_reverse(self.name)
        if ip is None:
            self.result.add("form", "reverse: not a whole IPv4 or IPv6 address")
            self.absent = "only whole addresses have PTR records"
            return
        self.result.add("form", f"reverse: the PTR of {ip}")
        if self.index.cluster_ip_owners(ip):
            owners = sorted(self.index.cluster_ip_owners(ip))
            for ns, svc in owners:
                self.result.add("service", f"{ns}/{svc} has cluster IP {ip}")
            if len(owners) > 1:
                self.result.add("rule", "a cluster IP answers one PTR: the first by name")
        elif self.index.owners_of(ip):
            for ns, svc in self.index.owners_of(ip):
                self.result.add("endpoint", f"{ip} is a ready endpoint of {ns}/{svc}")
        else:
            self.absent = f"no service or ready endpoint has the address {ip}"
            for ns, svc in sorted(self.state.slices_by_service):
                for found in slice_addresses(self.state.slices_of((ns, svc)), False):
                    if found.address == ip:
                        self.result.add(
                            "endpoint",
                            f"{ip} of {ns}/{svc} (slice {found.slice.name}): not ready, so no PTR",
                        )
        if self.qtype != QTYPE.PTR:
            self.nodata = "reverse names hold only PTR records"

    # -- objects --------------------------------------------------------------------------

    def _namespace(self, namespace: str) -> bool:
        exposed = self.index.exposed_namespaces
        if not self.state.has_namespace(namespace):
            self.result.add("namespace", f"{namespace}: no such Namespace")
            self.absent = f"namespace {namespace} does not exist"
            return False
        if exposed and namespace not in exposed:
            self.result.add("namespace", f"{namespace}: not in the `namespaces` option")
            self.absent = f"namespace {namespace} is not exposed"
            return False
        self.result.add("namespace", f"{namespace}: exists")
        return True

    def _pods_enabled(self) -> bool:
        mode = self.resolver.settings.pods
        self.result.add("pods", f"`pods {mode}`")
        if mode == PODS_DISABLED:
            self.absent = "pod records are disabled (`pods disabled`)"
            return False
        return True

    def _pod(self, label: str, namespace: str) -> None:
        if not self._pods_enabled() or not self._namespace(namespace):
            return
        ip = ip_from_dashed(label)
        if ip is None:
            self.result.add("pod", f"{label}: not a dashed IP address")
            self.absent = f"{label} is not a dashed IP address"
            return
        self.result.add("pod", f"{label} → {ip}")
        if self.resolver.settings.pods == PODS_VERIFIED:
            running = self.state.pod_ip_running(namespace, ip)
            state = "a running pod has" if running else "no running pod has"
            self.result.add("pod", f"{state} {ip} in {namespace} (`pods verified`)")
            if not running:
                self.absent = f"no running pod in {namespace} has {ip}"
                return
        self._address_name("a pod name", srv=False)

    def _service(
        self,
        namespace: str,
        name: str,
        endpoint: str | None = None,
        port: tuple[str, str] | None = None,
    ) -> None:
        if not self._namespace(namespace):
            return
        svc = self.state.services.get((namespace, name))
        if svc is None:
            self.result.add("service", f"{namespace}/{name}: no such Service")
            self.absent = f"there is no service {name} in {namespace}"
            return
        self.result.add("service", f"{namespace}/{name}: {_describe(svc)}")
        if svc.kind is ServiceKind.EXTERNAL_NAME:
            self._external_name(svc, endpoint is not None or port is not None)
            return
        slices = self.state.slices_of(svc.key)
        ready = self._endpoints(svc, slices, endpoint)
        if (namespace, name) not in self.index.by_service:
            if svc.kind is ServiceKind.HEADLESS:
                self.absent = "a headless service without ready endpoints has no names"
            else:
                self.absent = "`ignore empty_service`: a service without ready endpoints"
            return
        if endpoint is not None:
            self._endpoint_name(endpoint, ready)
        elif port is not None:
            self._port(svc, slices, port)
        else:
            self._address_name("a service name")

    def _external_name(self, svc: Service, below: bool) -> None:
        if below:
            self.absent = "an ExternalName service has no endpoint or port names"
        elif not svc.external_name or canonical_ip(svc.external_name):
            self.absent = "an ExternalName that is an IP address is ignored"
        elif self.qtype not in (QTYPE.A, QTYPE.AAAA, QTYPE.CNAME):
            self.nodata = "an ExternalName answers CNAME, and A/AAAA through it"
        else:
            target = svc.external_name + "."
            inside = self.resolver.zone_of(target) is not None
            where = "inside our zones: followed here" if inside else "outside: via upstream"
            self.result.add("cname", f"{target} ({where})")
            self.nodata = "the CNAME target yields no such records, so the CNAME is dropped"

    def _endpoints(
        self, svc: Service, slices: list[EndpointSlice], endpoint: str | None
    ) -> list[ReadyAddress]:
        """Describe the slices and every endpoint address; return the served addresses."""
        if not slices:
            self.result.add("slices", f"none labelled kubernetes.io/service-name={svc.name}")
            return []
        for sl in slices:
            ports = ", ".join(_port_text(p) for p in sl.ports) or "no ports"
            count = f"{len(sl.endpoints)} endpoint{'s' if len(sl.endpoints) != 1 else ''}"
            known = sl.address_type in IP_ADDRESS_TYPES
            skipped = "" if known else f"; skipped: addressType {sl.address_type} is not served"
            self.result.add("slice", f"{sl.name}: {sl.address_type}, {count}, {ports}{skipped}")
        options = self.index.options
        ready = [] if options.noendpoints else ready_addresses(slices, options.endpoint_pod_names)
        served = {(address.name, address.ip) for address in ready}
        # a ClusterIP service answers its cluster IPs; its endpoints only their own names
        uses = endpoint is not None or svc.kind is ServiceKind.HEADLESS
        lines = [
            self._endpoint_line(found, served, endpoint, uses)
            for found in slice_addresses(slices, options.endpoint_pod_names)
        ]
        for text in lines[:MAX_ENDPOINT_LINES]:
            self.result.add("endpoint", text)
        if len(lines) > MAX_ENDPOINT_LINES:
            more = lines[MAX_ENDPOINT_LINES:]
            used = sum(": used" in text for text in more)
            self.result.add("endpoint", f"… {len(more)} more ({used} used)")
        return ready

    def _endpoint_line(
        self, found: SliceAddress, served: set[tuple[str, str]], endpoint: str | None, uses: bool
    ) -> str:
        ep = found.endpoint
        where = f"slice {found.slice.name}" + (f", pod {ep.pod_name}" if ep.pod_name else "")
        head = f"{found.address} ({where})"
        if found.slice.address_type not in IP_ADDRESS_TYPES:
            return f"{head}: skipped: addressType {found.slice.address_type} is not served"
        if not ep.ready:
            return f"{head}: skipped: not ready"
        if self.index.options.noendpoints:
            return f"{head}: skipped: `noendpoints`"
        if (found.name, found.address) not in served:
            return f"{head}: skipped: a duplicate of an address served already"
        head += f" named {found.name}"
        if not uses:
            return f"{head}: ready"
        if endpoint is not None and found.name != endpoint:
            if dashed_ip(found.address) == endpoint:
                return f"{head}: not used: an endpoint with a name is not reachable by its IP"
            return f"{head}: not used: another name"
        if self.qtype in (QTYPE.A, QTYPE.AAAA) and _qtype_of(found.address) != self.qtype:
            return f"{head}: not used: the other address family"
        return f"{head}: used"

    def _endpoint_name(self, endpoint: str, ready: list[ReadyAddress]) -> None:
        if not any(address.name == endpoint for address in ready):
            self.absent = f"no ready endpoint of the service is named {endpoint}"
            return
        self._address_name("an endpoint name")

    def _port(self, svc: Service, slices: list[EndpointSlice], port: tuple[str, str]) -> None:
        label = f"_{port[0]}._{port[1]}"
        if svc.kind is ServiceKind.CLUSTER_IP:
            ports, whose = svc.ports, "service"
        else:
            ports, whose = tuple(p for sl in slices for p in sl.ports), "ready slices'"
        named = sorted({port_label(p) for p in ports if p.name})
        self.result.add("ports", f"{whose} named ports: {', '.join(named) or 'none'}")
        if label not in named:
            self.absent = f"no {whose} port is named {port[0]} with protocol {port[1]}"
        elif self.qtype != QTYPE.SRV:
            self.nodata = "this port name answers SRV, and A/AAAA with the service's addresses"

    def _address_name(self, what: str, srv: bool = True) -> None:
        """Why a name that answers addresses (and SRV when `srv`) may have none of the type."""
        if self.qtype in (QTYPE.A, QTYPE.AAAA):
            self.nodata = f"it has no IPv{4 if self.qtype == QTYPE.A else 6} address"
        elif self.qtype == QTYPE.SRV and srv:
            self.nodata = "it has no named ports to answer SRV with"
        else:
            self.nodata = f"{what} answers {'A, AAAA and SRV' if srv else 'A and AAAA'} only"


def _describe(svc: Service) -> str:
    ports = ", ".join(_port_text(p) for p in svc.ports) or "no ports"
    if svc.kind is ServiceKind.EXTERNAL_NAME:
        return f"ExternalName {svc.external_name or '(empty)'}"
    if svc.kind is ServiceKind.HEADLESS:
        return f"headless (clusterIP None), {ports}"
    return f"ClusterIP {', '.join(svc.cluster_ips)}, {ports}"


def _port_text(port: Port) -> str:
    return f"{port.name or '(unnamed)'}/{port.protocol} {port.port}"


def _qtype_of(ip: str) -> int:
    return QTYPE.A if ip_family(ip) == 4 else QTYPE.AAAA
