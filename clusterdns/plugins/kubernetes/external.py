"""What the kubernetes plugin gives k8s_external, as CoreDNS's plugin/kubernetes/external.go
does (its Externaler): the addresses a name of an external zone stands for, the services an
external IP belongs to (PTR), the addresses of the zone's nameserver, the names a transfer
lists, and the zone's serial.

A name under an external zone is read as `service.namespace`, `endpoint.service.namespace`
or `_port._proto.service.namespace`. A Service answers with its external IPs (spec.externalIPs
and its load balancers', a load balancer's host name among them), one target per address
and matching port; with `headless`, a headless Service without external IPs, or an endpoint
name of any Service without them, answers with its ready endpoints instead.

`External` follows the state: the services by external IP, for PTR, and the serial, which
moves when what the external zone serves changes (CoreDNS's ModifiedExternal).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple

from dnslib import RCODE

from clusterdns.dns.names import above, join
from clusterdns.plugins.kubernetes.index import Links
from clusterdns.plugins.kubernetes.objects import Port, Service, ServiceKind
from clusterdns.plugins.kubernetes.records import port_label
from clusterdns.plugins.kubernetes.resolver import Resolver
from clusterdns.plugins.kubernetes.state import Key, StateListener

# (address, or an absolute host name to CNAME to; port, -1 for none; the name it is known by,
# the target of an SRV record: service.namespace.<zone> or endpoint.service.namespace.<zone>)
Target = tuple[str, int, str]

NO_PORTS = (Port("", "", -1),)  # CoreDNS's sentinel for a Service or slice without ports


class View(NamedTuple):
    """What an external zone serves of one service, compared to see it change."""

    external_ips: tuple[str, ...]
    ports: tuple[Port, ...]
    kind: ServiceKind
    endpoints: Links | None  # with `headless`, of a service without external IPs


class External(StateListener):
    def __init__(self, resolver: Resolver, headless: bool) -> None:
        self.index = resolver.index
        self.state = resolver.index.state
        self.ttl = resolver.ttl  # the kubernetes plugin's: CoreDNS's SRV and CNAME records carry it
        self.zones = tuple(zone for zone, _reverse in resolver.zones)  # forward and reverse
        self.own_ips = resolver.settings.own_ips
        self.headless = headless
        self.serial = int(time.time())
        # what the external zone serves of each service that has any, to see it change
        self._views: dict[Key, View] = {}
        self._by_ip: dict[str, tuple[Key, ...]] = {}  # external IP → its services
        self._changed: list[Callable[[], None]] = []
        for key in self.state.services:
            self._follow(key)
        self.state.subscribe(self)

    @property
    def synced(self) -> bool:
        return self.state.synced

    def subscribe(self, changed: Callable[[], None]) -> None:
        """Call `changed` whenever what the external zone serves changes."""
        self._changed.append(changed)

    def close(self) -> None:
        self.state.unsubscribe(self)

    # -- StateListener ---------------------------------------------------------------

    def services_changed(self, keys: Iterable[Key]) -> None:
        if [key for key in keys if self._follow(key)]:
            self._bump()

    def namespaces_changed(self, names: set[str]) -> None:
        if any(key[0] in names for key in self._views):
            self._bump()

    def pods_changed(self) -> None:
        pass  # no pod names under an external zone

    # -- what k8s_external asks ----------------------------------------------------------

    def external(self, name: str, zone: str) -> tuple[list[Target], int]:
        """The targets of `name` (lower case, below `zone`) and the rcode when there are none:
        NXDOMAIN for no such name, NOERROR for a name that exists without them."""
        segs = above(name, zone)
        if not segs:
            return [], RCODE.SERVFAIL  # (the apex is k8s_external's own)
        if "\\" in name or not self.index.namespace_exposed(segs[-1]):
            return [], RCODE.NXDOMAIN
        if len(segs) == 1:
            return [], RCODE.NOERROR  # a namespace
        if len(segs) > 4:
            return [], RCODE.NXDOMAIN
        namespace, service = segs[-1], segs[-2]
        endpoint = port = protocol = ""
        if len(segs) == 3:
            endpoint = segs[0].removeprefix("_")
        elif len(segs) == 4:
            port, protocol = (label.removeprefix("_") for label in segs[:2])
        key = (namespace, service)
        svc = self.state.services.get(key)
        if svc is None:
            return [], RCODE.NXDOMAIN
        base = join(f"{service}.{namespace}", zone)
        targets: list[Target] = []
        endpoints = svc.kind is ServiceKind.HEADLESS or endpoint
        if self.headless and not svc.external_ips and endpoints:
            for addr in self.index.ready(key):
                if endpoint and endpoint != addr.name:
                    continue
                owner = f"{addr.name}.{base}"
                targets += [
                    (addr.ip, p.port, owner) for p in addr.ports or NO_PORTS
                    if _matches(port, protocol, p)
                ]  # fmt: skip
        else:
            ports = [p for p in svc.ports or NO_PORTS if _matches(port, protocol, p)]
            targets = [(host, p.port, base) for host in svc.external_ips for p in ports]
        return targets, RCODE.NOERROR if targets else RCODE.NXDOMAIN

    def reverse(self, ip: str) -> list[str]:
        """`service.namespace` of each Service with this external IP (CoreDNS's
        ExternalReverse: with `namespaces`, those of the namespaces it serves)."""
        index = self.index
        return sorted(
            f"{name}.{namespace}"
            for namespace, name in self._by_ip.get(ip, ())
            if not index.exposed_namespaces or index.namespace_exposed(namespace)
        )

    def addresses(self) -> list[str]:
        """The nameserver's addresses (CoreDNS's nsAddrs for an external zone): of each
        EndpointSlice holding one of our own IPs, its Service's external IPs (with
        `headless`, a headless Service's ready endpoints); our own IPs when no slice holds
        one."""
        ips: list[str] = []
        found = False
        for own in self.own_ips:
            for key, ready in self.index.slices_holding(own):
                found = True
                svc = self.state.services.get(key)
                if svc is None:
                    continue
                if self.headless and svc.kind is ServiceKind.HEADLESS:
                    ips += [addr.ip for addr in ready]
                else:
                    ips += [ip for ip in svc.external_ips if not ip.endswith(".")]
        return list(dict.fromkeys(ips)) if found else list(self.own_ips)

    def names(self, zone: str) -> Iterator[str]:
        """The names of `zone` a transfer lists (CoreDNS's ExternalServices), services by
        name then namespace: each service with external IPs and its named ports; with
        `headless`, each headless service, its named ports and its endpoints."""
        for key in sorted(self.state.services, key=lambda k: (k[1], k[0])):
            svc = self.state.services[key]
            if not self.index.namespace_exposed(svc.namespace):
                continue
            base = join(f"{svc.name}.{svc.namespace}", zone)
            if svc.external_ips:
                yield base
                yield from dict.fromkeys(f"{port_label(p)}.{base}" for p in svc.ports if p.name)
            elif self.headless and svc.kind is ServiceKind.HEADLESS:
                ready = self.index.ready(key)
                yield base
                ports = (port for addr in ready for port in addr.ports if port.name)
                yield from dict.fromkeys(f"{port_label(p)}.{base}" for p in ports)
                yield from dict.fromkeys(f"{addr.name}.{base}" for addr in ready)

    # -- internals -------------------------------------------------------------------

    def _follow(self, key: Key) -> bool:
        """Take in a change to one service; True when what the external zone serves of it
        changed."""
        view = self._view(self.state.services.get(key))
        old = self._views.pop(key, None)
        if view is not None:
            self._views[key] = view
        if old == view:
            return False
        old_ips, new_ips = _addresses(old), _addresses(view)
        for ip in old_ips - new_ips:
            rest = tuple(k for k in self._by_ip[ip] if k != key)
            if rest:
                self._by_ip[ip] = rest
            else:
                del self._by_ip[ip]
        for ip in new_ips - old_ips:
            self._by_ip[ip] = (*self._by_ip.get(ip, ()), key)
        return True

    def _view(self, svc: Service | None) -> View | None:
        """What the external zone serves of `svc`; None for nothing."""
        if svc is None:
            return None
        if svc.external_ips:
            return View(svc.external_ips, svc.ports, svc.kind, None)
        if self.headless and svc.kind is not ServiceKind.EXTERNAL_NAME:
            return View((), svc.ports, svc.kind, self.index.endpoint_links.get(svc.key))
        return None

    def _bump(self) -> None:
        self.serial = max(int(time.time()), self.serial + 1)
        for changed in self._changed:
            changed()


def _addresses(view: View | None) -> set[str]:
    """The external IPs of a service's view (its load balancers' host names left out)."""
    hosts = view.external_ips if view is not None else ()
    return {host for host in hosts if not host.endswith(".")}


def _matches(port: str, protocol: str, candidate: Port) -> bool:
    """CoreDNS's matchPortAndProtocol: an empty port or protocol asked matches any."""
    return (not port or port == candidate.name.lower()) and (
        not protocol or protocol == candidate.protocol.lower()
    )
