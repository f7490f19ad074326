"""The compact, immutable records of the Kubernetes objects DNS needs (SPEC §1).

Both sources (snapshot files and the informer) turn raw API JSON into these with
`parse_object`, so both feed the same state with the same validation.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from os.path import commonprefix
from sys import intern
from typing import Any, overload

from clusterdns.dns.names import canonical_ip, dashed_ip
from clusterdns.errors import SourceError

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
TRIGGER_TIME_ANNOTATION = "endpoints.kubernetes.io/last-change-trigger-time"


class ObjectError(SourceError):
    """A Kubernetes object lacks a field DNS needs, or has one of the wrong shape."""


class ServiceKind(enum.Enum):
    CLUSTER_IP = "ClusterIP"
    HEADLESS = "Headless"
    EXTERNAL_NAME = "ExternalName"


@dataclass(frozen=True, slots=True)
class Port:
    name: str
    protocol: str  # upper case as in the API: TCP, UDP, SCTP
    port: int


@dataclass(frozen=True, slots=True)
class Service:
    namespace: str
    name: str
    kind: ServiceKind
    cluster_ips: tuple[str, ...]
    external_name: str
    ports: tuple[Port, ...]
    # CoreDNS's ExternalIPs, what k8s_external answers: spec.externalIPs, then each
    # status.loadBalancer.ingress's ip, else its hostname (absolute: "elb.example.com.", the
    # trailing dot tells it from an address); () for most services
    external_ips: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)


@dataclass(frozen=True, slots=True)
class Endpoint:
    addresses: tuple[str, ...]
    ready: bool
    hostname: str | None
    pod_name: str | None


class Endpoints(Sequence[Endpoint]):
    """The endpoints of one EndpointSlice, kept by column; an Endpoint is made when read.

    Memory: at 100k endpoints, an object, an address tuple and a pod name string for each
    cost twice what the addresses do. Here an endpoint is a reference to its address (a
    string shared with the index; a tuple only when it has several), a bit if it is not
    ready, and its pod name's last characters in one string per slice."""

    __slots__ = ("_addresses", "_hostnames", "_not_ready", "_pod_names")

    def __init__(self, endpoints: Iterable[Endpoint] = ()) -> None:
        items = tuple(endpoints)
        self._addresses: tuple[str | tuple[str, ...], ...] = tuple(
            ep.addresses[0] if len(ep.addresses) == 1 else ep.addresses for ep in items
        )
        self._not_ready = sum(1 << i for i, ep in enumerate(items) if not ep.ready)
        hostnames = tuple(ep.hostname for ep in items)
        self._hostnames = hostnames if any(h is not None for h in hostnames) else None
        self._pod_names = _joined([ep.pod_name for ep in items])

    def __len__(self) -> int:
        return len(self._addresses)

    def __iter__(self) -> Iterator[Endpoint]:
        count = len(self._addresses)
        hostnames = self._hostnames or (None,) * count
        pod_names = _split(self._pod_names, count)
        for i, address in enumerate(self._addresses):
            addresses = address if isinstance(address, tuple) else (address,)
            ready = not (self._not_ready >> i) & 1
            yield Endpoint(addresses, ready, hostnames[i], pod_names[i])

    @overload
    def __getitem__(self, index: int) -> Endpoint: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[Endpoint, ...]: ...

    def __getitem__(self, index: int | slice) -> Endpoint | tuple[Endpoint, ...]:
        return tuple(self)[index]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Endpoints):
            return NotImplemented
        return self._columns() == other._columns()

    def __hash__(self) -> int:
        return hash(self._columns())

    def __repr__(self) -> str:
        return f"Endpoints({tuple(self)!r})"

    def _columns(self) -> tuple[object, ...]:
        return (self._addresses, self._not_ready, self._hostnames, self._pod_names)


# Pod names in one string: their common prefix (the pods of a workload share all but the last
# few characters), then the rest of each, joined with a character no Kubernetes name holds;
# "" stands for None (no targetRef). Names that would not read back (an empty one, one with
# the separator) stay a tuple.
_SEPARATOR = "\n"


def _joined(names: list[str | None]) -> str | tuple[str | None, ...] | None:
    present = [name for name in names if name is not None]
    if not present:
        return None
    if not all(name and _SEPARATOR not in name for name in present):
        return tuple(names)
    # by characters (names, not paths); shorter than every name, so that no name's rest is
    # "", which stands for None
    prefix = commonprefix(present)[: min(map(len, present)) - 1]  # noqa: RUF071
    rest = (name[len(prefix) :] if name is not None else "" for name in names)
    return _SEPARATOR.join((prefix, *rest))


def _split(joined: str | tuple[str | None, ...] | None, count: int) -> Sequence[str | None]:
    if joined is None:
        return (None,) * count
    if isinstance(joined, str):
        prefix, *rest = joined.split(_SEPARATOR)
        return [prefix + name if name else None for name in rest]
    return joined


@dataclass(frozen=True, slots=True)
class EndpointSlice:
    namespace: str
    name: str
    service: str  # the kubernetes.io/service-name label; "" when absent
    address_type: str  # IPv4, IPv6 or FQDN
    endpoints: Sequence[Endpoint]  # any sequence given is kept as Endpoints
    ports: tuple[Port, ...]
    trigger_time: str | None  # endpoints.kubernetes.io/last-change-trigger-time

    def __post_init__(self) -> None:
        if not isinstance(self.endpoints, Endpoints):
            object.__setattr__(self, "endpoints", Endpoints(self.endpoints))

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)

    @property
    def service_key(self) -> tuple[str, str]:
        return (self.namespace, self.service)


@dataclass(frozen=True, slots=True)
class Namespace:
    name: str

    @property
    def key(self) -> tuple[str, str]:
        return ("", self.name)


@dataclass(frozen=True, slots=True)
class Pod:
    namespace: str
    name: str
    ips: tuple[str, ...]
    running: bool  # not finished (Succeeded/Failed) and not being deleted

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)


KubeObject = Service | EndpointSlice | Namespace | Pod
IP_ADDRESS_TYPES = ("IPv4", "IPv6")  # an EndpointSlice's addressType DNS serves (not FQDN)

# API kind → the record type it becomes.
KINDS: dict[str, type] = {
    "Service": Service,
    "EndpointSlice": EndpointSlice,
    "Namespace": Namespace,
    "Pod": Pod,
}


def _field(obj: dict[str, Any], path: str, expected: type, default: Any = ...) -> Any:
    """Follow a dotted path; raise ObjectError naming it when missing or mistyped."""
    value: Any = obj
    for part in path.split("."):
        if not isinstance(value, dict) or value.get(part) is None:
            if default is ...:
                raise ObjectError(f"{path} is missing")
            return default
        value = value[part]
    if not isinstance(value, expected):
        raise ObjectError(f"{path} must be a {expected.__name__}, not {type(value).__name__}")
    return value


def _ports(items: list[Any], path: str) -> tuple[Port, ...]:
    ports = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise ObjectError(f"{path}[{i}] must be a mapping")
        number = item.get("port")
        if number is None:
            continue  # EndpointSlice ports may leave the port unset: "all ports"
        if not isinstance(number, int) or not 0 <= number <= 65535:
            raise ObjectError(f"{path}[{i}].port must be a port number, not {number!r}")
        ports.append(
            Port(
                name=intern(str(item.get("name") or "")),
                protocol=intern(str(item.get("protocol") or "TCP").upper()),
                port=number,
            )
        )
    return _shared(tuple(ports))


# Memory at 10k services: the strings and port lists that repeat across objects (namespaces,
# port names, whole port lists like http/80) are stored once instead of once per object.
@lru_cache(maxsize=4096)
def _shared(ports: tuple[Port, ...]) -> tuple[Port, ...]:
    return ports


def parse_service(obj: dict[str, Any]) -> Service:
    namespace = intern(_field(obj, "metadata.namespace", str, "default"))
    name = intern(_field(obj, "metadata.name", str))  # shared with its slices' label
    spec = _field(obj, "spec", dict, {})
    svc_type = _field(spec, "type", str, "ClusterIP")
    ports = _ports(_field(spec, "ports", list, []), "spec.ports")
    outside = _external_ips(spec, _field(obj, "status.loadBalancer.ingress", list, []))
    if svc_type == "ExternalName":
        external = _field(spec, "externalName", str, "").rstrip(".").lower()
        return Service(namespace, name, ServiceKind.EXTERNAL_NAME, (), external, ports, outside)
    ips = _field(spec, "clusterIPs", list, [])
    if not ips:
        single = _field(spec, "clusterIP", str, "")
        ips = [single] if single else []
    if not all(isinstance(ip, str) for ip in ips):
        raise ObjectError("spec.clusterIPs must be a list of strings")
    if ips and ips[0] == "None":
        return Service(namespace, name, ServiceKind.HEADLESS, (), "", ports, outside)
    path = "spec.clusterIPs" if spec.get("clusterIPs") else "spec.clusterIP"
    cluster_ips = _canonical_ips(ips, path)
    return Service(namespace, name, ServiceKind.CLUSTER_IP, cluster_ips, "", ports, outside)


def _external_ips(spec: dict[str, Any], ingress: list[Any]) -> tuple[str, ...]:
    """CoreDNS's Service.ExternalIPs (object/service.go): spec.externalIPs, then each load
    balancer ingress's ip, or its hostname when it has no ip (absolute, lower case). An
    ingress with neither is left out (CoreDNS would CNAME to the root)."""
    texts = _field(spec, "externalIPs", list, [])
    if not all(isinstance(ip, str) for ip in texts):
        raise ObjectError("spec.externalIPs must be a list of strings")
    found = list(_canonical_ips(texts, "spec.externalIPs"))
    for i, item in enumerate(ingress):
        where = f"status.loadBalancer.ingress[{i}]"
        if not isinstance(item, dict):
            raise ObjectError(f"{where} must be a mapping")
        ip, hostname = item.get("ip") or "", item.get("hostname") or ""
        if not isinstance(ip, str) or not isinstance(hostname, str):
            raise ObjectError(f"{where}: ip and hostname must be strings")
        if ip:
            found += _canonical_ips([ip], f"{where}.ip")
        elif hostname:
            found.append(_hostname(hostname, f"{where}.hostname"))
    return tuple(found)


def _hostname(text: str, path: str) -> str:
    """A load balancer's hostname as an absolute lower-case name; an ObjectError naming
    `path` when it cannot be one (a label over 63 characters, an empty one, a space)."""
    name = text.lower().removesuffix(".")
    spaced = any(char.isspace() for char in name)
    if spaced or len(name) > 253 or any(not 0 < len(label) <= 63 for label in name.split(".")):
        raise ObjectError(f"{path}: {text!r} is not a host name")
    return name + "."


def _canonical_ips(texts: list[str], path: str) -> tuple[str, ...]:
    """Addresses in canonical form, parsed once here so nothing downstream parses them again.
    Text that is no IP address is an ObjectError naming its field: the API server validates
    them, so this is a hand-made snapshot or a broken source, never something to serve."""
    ips = []
    for i, text in enumerate(texts):
        ip = canonical_ip(text)
        if ip is None:
            where = f"{path}[{i}]" if path.endswith("s") else path
            raise ObjectError(f"{where}: {text!r} is not an IP address")
        ips.append(ip)
    return tuple(ips)


def parse_endpoint_slice(obj: dict[str, Any]) -> EndpointSlice:
    namespace = intern(_field(obj, "metadata.namespace", str, "default"))
    name = _field(obj, "metadata.name", str)
    labels = _field(obj, "metadata.labels", dict, {})
    annotations = _field(obj, "metadata.annotations", dict, {})
    address_type = intern(_field(obj, "addressType", str))
    endpoints = []
    for i, item in enumerate(_field(obj, "endpoints", list, [])):
        if not isinstance(item, dict):
            raise ObjectError(f"endpoints[{i}] must be a mapping")
        try:
            endpoints.append(_endpoint(item, address_type in IP_ADDRESS_TYPES))
        except ObjectError as exc:
            raise ObjectError(f"endpoints[{i}].{exc}") from None
    return EndpointSlice(
        namespace=namespace,
        name=name,
        service=intern(str(labels.get(SERVICE_NAME_LABEL) or "")),
        address_type=address_type,
        endpoints=Endpoints(endpoints),
        ports=_ports(_field(obj, "ports", list, []), "ports"),
        trigger_time=annotations.get(TRIGGER_TIME_ANNOTATION),
    )


def _endpoint(item: dict[str, Any], ips: bool) -> Endpoint:
    """`ips`: the slice holds IP addresses; an FQDN slice's are not served, and not kept."""
    # The hot loop of a large list (100k endpoints): plain dict access, not _field's paths.
    addresses = item.get("addresses")
    if not isinstance(addresses, list):
        if addresses is None:
            raise ObjectError("addresses is missing")
        raise ObjectError(f"addresses must be a list, not {type(addresses).__name__}")
    if not all(isinstance(a, str) for a in addresses):
        raise ObjectError("addresses must be a list of strings")
    conditions = item.get("conditions")
    ready = conditions.get("ready") if isinstance(conditions, dict) else None
    if ready is not None and not isinstance(ready, bool):
        raise ObjectError(f"conditions.ready must be a bool, not {type(ready).__name__}")
    hostname = item.get("hostname")
    if hostname is not None and not isinstance(hostname, str):
        raise ObjectError(f"hostname must be a str, not {type(hostname).__name__}")
    return Endpoint(
        addresses=_canonical_ips(addresses, "addresses") if ips else (),
        ready=ready is not False,
        hostname=hostname or None,
        pod_name=_pod_name(item),
    )


def _pod_name(endpoint: dict[str, Any]) -> str | None:
    ref = endpoint.get("targetRef")
    if isinstance(ref, dict) and ref.get("kind", "Pod") == "Pod":
        name = ref.get("name")
        return name if isinstance(name, str) else None
    return None


def parse_namespace(obj: dict[str, Any]) -> Namespace:
    return Namespace(_field(obj, "metadata.name", str))


def parse_pod(obj: dict[str, Any]) -> Pod:
    namespace = _field(obj, "metadata.namespace", str, "default")
    name = _field(obj, "metadata.name", str)
    status = _field(obj, "status", dict, {})
    ips = [p.get("ip") for p in _field(status, "podIPs", list, []) if isinstance(p, dict)]
    if not ips and status.get("podIP"):
        ips = [status["podIP"]]
    phase = _field(status, "phase", str, "")
    deleting = _field(obj, "metadata.deletionTimestamp", str, None) is not None
    running = phase not in ("Succeeded", "Failed") and not deleting
    texts = [ip for ip in ips if isinstance(ip, str)]
    if len(texts) != len(ips):
        raise ObjectError("status.podIPs: every ip must be a string")
    return Pod(namespace, name, _canonical_ips(texts, "status.podIPs"), running)


PARSERS: dict[str, Callable[[dict[str, Any]], KubeObject]] = {
    "Service": parse_service,
    "EndpointSlice": parse_endpoint_slice,
    "Namespace": parse_namespace,
    "Pod": parse_pod,
}


def parse_object(kind: str, obj: dict[str, Any]) -> KubeObject:
    """Raw API JSON of a known kind → its compact record. Raises ObjectError."""
    return PARSERS[kind](obj)


def endpoint_name(endpoint: Endpoint, address: str, use_pod_name: bool) -> str:
    """The label an endpoint address is known by (SPEC §4), lower case. A hostname or pod
    name that cannot be one DNS label (a pod name may be 253 characters, dots included) is
    passed over for the dashed IP: a name we cannot write is no name to answer to."""
    if endpoint.hostname and _is_label(endpoint.hostname):
        return endpoint.hostname.lower()
    if use_pod_name and endpoint.pod_name and _is_label(endpoint.pod_name):
        return endpoint.pod_name.lower()
    return dashed_ip(address).lower()


def _is_label(name: str) -> bool:
    return len(name) <= 63 and "." not in name
