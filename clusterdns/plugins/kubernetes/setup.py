"""The `kubernetes` directive: its zones and options, with CoreDNS's defaults and ranges."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from functools import partial
from typing import Any

from clusterdns.config.checks import (
    IPNetwork,
    OptionParser,
    Origins,
    apply_options,
    arguments,
    choice,
    choice_option,
    duration_option,
    fail,
    flag,
    integer_option,
    is_reverse,
    refused,
    zone_origins,
    zone_origins_or,
)
from clusterdns.config.corefile import Directive
from clusterdns.config.registry import Plugin
from clusterdns.plugins.kubernetes.selector import Selector, SelectorError, parse_selector


@dataclass(frozen=True, slots=True)
class KubernetesConfig:
    zones: tuple[str, ...]  # forward zones; the first one names PTR targets
    reverse_zones: tuple[str, ...]  # under in-addr.arpa. or ip6.arpa.
    reverse_networks: tuple[IPNetwork, ...]  # the CIDRs written as zones, if any
    pods: str = "disabled"  # disabled | insecure | verified
    ttl: int = 5
    endpoint_pod_names: bool = False
    namespaces: frozenset[str] = frozenset()  # empty: every namespace is exposed
    fallthrough: tuple[str, ...] | None = None  # None: never; (): for every zone
    noendpoints: bool = False
    ignore_empty_service: bool = False
    kubeconfig: tuple[str, str | None] | None = None  # (path, context)
    endpoint: str | None = None  # API server URL
    startup_timeout: float = 5.0
    labels: Selector | None = None  # services, EndpointSlices and pods served
    namespace_labels: Selector | None = None  # namespaces exposed


def _selector(field: str) -> OptionParser:
    def parse(option: Directive) -> dict[str, Any]:
        # CoreDNS joins the arguments: `labels app in (a, b)` is one selector.
        text = " ".join(arguments(option, 1, None))
        try:
            return {field: parse_selector(text)}
        except SelectorError as exc:
            raise fail(option, f"{field}: {exc}") from None

    return parse


def _fallthrough(option: Directive) -> dict[str, Any]:
    return {"fallthrough": zone_origins(option, option.args).zones}


def _ignore(option: Directive) -> dict[str, Any]:
    (what,) = arguments(option, 1, 1)
    choice(option, what, ("empty_service",))
    return {"ignore_empty_service": True}


def _kubeconfig(option: Directive) -> dict[str, Any]:
    path, *context = arguments(option, 1, 2)
    return {"kubeconfig": (path, context[0] if context else None)}


def _endpoint(option: Directive) -> dict[str, Any]:
    (url,) = arguments(option, 1, 1)
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise fail(option, f"endpoint: '{url}' is not an http:// or https:// URL")
    return {"endpoint": url}


_refused = partial(refused, "kubernetes")
_KUBERNETES_OPTIONS: dict[str, OptionParser] = {
    "pods": choice_option("pods", ("disabled", "insecure", "verified")),
    "ttl": integer_option("ttl", 0, 3600),
    "endpoint_pod_names": flag("endpoint_pod_names"),
    "namespaces": lambda option: {"namespaces": frozenset(arguments(option, 1, None))},
    "fallthrough": _fallthrough,
    "noendpoints": flag("noendpoints"),
    "ignore": _ignore,
    "kubeconfig": _kubeconfig,
    "endpoint": _endpoint,
    "startup_timeout": duration_option("startup_timeout"),
    # CoreDNS 1.14 refuses it too ("unknown property"): it never did anything
    "resyncperiod": _refused("was removed in CoreDNS 1.7 (it had no effect): delete it"),
    # CoreDNS 1.14's, not run here: an error rather than an option that does nothing
    "tls": _refused("(client certificates to the API server) is not supported: use a kubeconfig"),
    "apiserver_qps": _refused("(the API client's rate limit) is not supported"),
    "apiserver_burst": _refused("(the API client's rate limit) is not supported"),
    "apiserver_max_inflight": _refused("(the API client's concurrency) is not supported"),
    "multicluster": _refused("(Multi-Cluster Services) is not supported"),
    "zonal": _refused("(topology-aware answers) is not supported"),
    "labels": _selector("labels"),
    "namespace_labels": _selector("namespace_labels"),
}


def setup(node: Directive, block: Origins) -> KubernetesConfig:
    origins = zone_origins_or(node, node.args, block)
    zones = tuple(zone for zone in origins.zones if not is_reverse(zone))
    if not zones:
        raise fail(node, "kubernetes needs at least one zone that is not a reverse zone")
    options = apply_options(node, _KUBERNETES_OPTIONS)
    if "namespaces" in options and "namespace_labels" in options:
        raise fail(node, "kubernetes: namespaces and namespace_labels cannot both be set")
    return KubernetesConfig(
        zones=zones,
        reverse_zones=tuple(zone for zone in origins.zones if is_reverse(zone)),
        reverse_networks=origins.networks,
        **options,
    )


KUBERNETES = Plugin("kubernetes", setup)
