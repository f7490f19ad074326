"""The kubernetes plugin's metadata (CoreDNS's plugin/kubernetes/metadata.go): the pod that
asked, found by the client's IP among the pods the informer watches (`pods verified`), and
the parts of a name of our zones as CoreDNS's parseRequest reads them.

For `_http._tcp.web.demo.svc.cluster.local.`: port-name `http`, protocol `tcp`, service
`web`, namespace `demo`, kind `svc`, endpoint empty. A part the name has not is the empty
string (CoreDNS's too); a name of our zones that no rule reads (`a.b.c.d.demo.svc...`, a
reverse name) has only `kubernetes/parse-error`; a name outside them has none.
"""

from __future__ import annotations

import re

from clusterdns.dns.request import Request
from clusterdns.plugins.kubernetes.resolver import PODS_VERIFIED, Resolver

CLIENT_NAMESPACE = "kubernetes/client-namespace"
CLIENT_POD_NAME = "kubernetes/client-pod-name"
CLIENT_LABELS = (CLIENT_NAMESPACE, CLIENT_POD_NAME)  # `pods verified` only, as CoreDNS
# the parts of the name, in `parse_name`'s order
NAME_LABELS = (
    "kubernetes/port-name",
    "kubernetes/protocol",
    "kubernetes/endpoint",
    "kubernetes/service",
    "kubernetes/namespace",
    "kubernetes/kind",
)
PARSE_ERROR = "kubernetes/parse-error"
INVALID = "invalid query name"  # CoreDNS's errInvalidRequest
LABELS = (*CLIENT_LABELS, *NAME_LABELS, PARSE_ERROR)
CLIENT_LABEL_PREFIX = "kubernetes/client-label/"  # CoreDNS's; we keep no pod labels
_LABEL = re.compile(r"(?:[^.\\]|\\.)+")  # a label of a presentation name (escapes kept)
_KINDS = ("svc", "pod")
_NO_PARTS = ("", *_KINDS)  # names above the zone with no parts: the apex, svc, pod
_EMPTY = ("", "", "", "", "", "")


def parse_name(name: str, zone: str) -> tuple[str, str, str, str, str, str] | None:
    """(port, protocol, endpoint, service, namespace, kind) of `name` in `zone` (both
    absolute, lower case), "" for each part it lacks; None when it is no such name."""
    base = name[:-1] if zone == "." else name[: -len(zone) - 1]  # ("" for the apex)
    if base in _NO_PARTS:
        return _EMPTY
    *rest, kind = _LABEL.findall(base) if "\\" in base else base.split(".")
    if kind not in _KINDS or len(rest) > 4:
        return None
    namespace = rest.pop() if rest else ""
    service = rest.pop() if rest else ""
    if len(rest) == 2:  # _port._protocol.service...
        port, protocol = (label.removeprefix("_") for label in rest)
        return port, protocol, "", service, namespace, kind
    return "", "", rest[0] if rest else "", service, namespace, kind


class KubernetesMetadata:
    """The metadata provider of a block's kubernetes plugin."""

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        self.clients = resolver.settings.pods == PODS_VERIFIED  # else no pod is known by IP

    def metadata(self, request: Request) -> dict[str, str]:
        values: dict[str, str] = {}
        resolver = self.resolver
        if self.clients and request.peer is not None:
            pod = resolver.index.state.pod_with_ip(request.peer[0])
            if pod is not None:
                values[CLIENT_NAMESPACE], values[CLIENT_POD_NAME] = pod.namespace, pod.name
        found = resolver.zone_of(request.name)
        if found is not None:
            parts = parse_name(request.name, found[0])
            if parts is None:
                values[PARSE_ERROR] = INVALID
            else:
                values.update(zip(NAME_LABELS, parts, strict=True))
        return values
