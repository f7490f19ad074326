"""What a Corefile means: typed configuration, CoreDNS's defaults, and errors naming the line."""

from __future__ import annotations

import ipaddress
import logging
import re
from pathlib import Path
from typing import Any

import pytest

from clusterdns.config.blocks import ServerConfig
from clusterdns.config.checks import parse_duration
from clusterdns.config.corefile import CorefileError
from clusterdns.plugins.bind import BIND
from clusterdns.plugins.cache.setup import CACHE, CacheConfig
from clusterdns.plugins.errors import ERRORS, Consolidate, ErrorsConfig
from clusterdns.plugins.forward.setup import FORWARD, ForwardConfig
from clusterdns.plugins.health import HEALTH, HealthConfig
from clusterdns.plugins.kubernetes.selector import parse_selector
from clusterdns.plugins.kubernetes.setup import KUBERNETES, KubernetesConfig
from clusterdns.plugins.loadbalance import LOADBALANCE
from clusterdns.plugins.log import COMBINED, COMMON, LOG, LogConfig, LogRule
from clusterdns.plugins.loop import LOOP
from clusterdns.plugins.prometheus import PROMETHEUS
from clusterdns.plugins.ready import READY
from clusterdns.plugins.reload import RELOAD, ReloadConfig
from clusterdns.plugins.transfer import TRANSFER, TransferConfig
from clusterdns.server.directives import DEFAULT_COREFILE, load_config, load_config_file


def server(body: str, keys: str = ".:53") -> ServerConfig:
    """The config of one server block; body's first line is Corefile line 2."""
    (config,) = load_config(f"{keys} {{\n{body}\n}}\n")
    return config


def kubernetes(line: str, options: str = "", keys: str = ".:53") -> KubernetesConfig:
    body = f"{line} {{\n{options}\n}}" if options else line
    config = server(body, keys).get(KUBERNETES)
    assert config is not None
    return config


def forward(line: str, options: str = "") -> ForwardConfig:
    body = f"{line} {{\n{options}\n}}" if options else line
    (config,) = server(body).get(FORWARD)
    return config


def cache(line: str, options: str = "") -> CacheConfig:
    body = f"{line} {{\n{options}\n}}" if options else line
    config = server(body).get(CACHE)
    assert config is not None
    return config


def error_of(text: str) -> CorefileError:
    with pytest.raises(CorefileError) as caught:
        load_config(text)
    return caught.value


def test_kubeadm_default_corefile() -> None:
    (config,) = load_config(DEFAULT_COREFILE)
    assert (config.zones, config.port, config.get(BIND)) == ((".",), 53, None)
    assert config.get(KUBERNETES) == KubernetesConfig(
        zones=("cluster.local.",),
        reverse_zones=("in-addr.arpa.", "ip6.arpa."),
        reverse_networks=(),
        pods="insecure",
        ttl=30,
        fallthrough=("in-addr.arpa.", "ip6.arpa."),
    )
    assert config.get(FORWARD) == (
        ForwardConfig(zone=".", to=("/etc/resolv.conf",), max_concurrent=1000),
    )
    assert config.get(CACHE) == CacheConfig(
        zones=(".",),
        success_ttl=30,
        denial_ttl=30,
        disable_success=("cluster.local.",),
        disable_denial=("cluster.local.",),
    )
    assert config.get(HEALTH) == HealthConfig(":8080", 5.0)
    assert (config.get(READY), config.get(PROMETHEUS)) == (":8181", ":9153")
    assert config.get(RELOAD) == ReloadConfig(30.0, 15.0)
    assert [config.uses(p) for p in (ERRORS, LOOP, LOADBALANCE, LOG)] == [True, True, True, False]
    assert config.get(TRANSFER) is None
    assert (config.file, config.line) == ("Corefile", 1)


def test_a_block_without_directives_has_everything_off() -> None:
    config = server("")
    assert config == ServerConfig(zones=(".",), port=53, plugins={}, file="Corefile", line=1)


@pytest.mark.parametrize(
    ("keys", "zones", "port"),
    [
        (".:53", (".",), 53),
        (".", (".",), 53),
        ("cluster.local:53", ("cluster.local.",), 53),
        ("Cluster.LOCAL.:5353", ("cluster.local.",), 5353),
        ("dns://.:53", (".",), 53),
        ("DNS://acme.local", ("acme.local.",), 53),
        ("acme.local", ("acme.local.",), 53),
        ("10.0.0.0/8:53", ("10.in-addr.arpa.",), 53),
        ("fd00::/64:53", ("0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.",), 53),
        ("a.local b.local:53", ("a.local.", "b.local."), 53),
        ("a.local, a.local.", ("a.local.",), 53),
    ],
)
def test_server_keys(keys: str, zones: tuple[str, ...], port: int) -> None:
    config = server("errors", keys)
    assert (config.zones, config.port) == (zones, port)


@pytest.mark.parametrize(
    ("zone_args", "zones", "reverse"),
    [
        (
            "cluster.local in-addr.arpa ip6.arpa",
            ("cluster.local.",),
            ("in-addr.arpa.", "ip6.arpa."),
        ),
        ("Cluster.Local.", ("cluster.local.",), ()),
        ("a.local b.local", ("a.local.", "b.local."), ()),
        ("cluster.local 10.in-addr.arpa", ("cluster.local.",), ("10.in-addr.arpa.",)),
        ("cluster.local 10.0.0.0/8", ("cluster.local.",), ("10.in-addr.arpa.",)),
        ("cluster.local 172.16.5.7/24", ("cluster.local.",), ("5.16.172.in-addr.arpa.",)),
        ("cluster.local 10.0.0.0/7", ("cluster.local.",), ("10.in-addr.arpa.", "11.in-addr.arpa.")),
        (
            "cluster.local 10.96.0.0/22",
            ("cluster.local.",),
            tuple(f"{i}.96.10.in-addr.arpa." for i in range(4)),
        ),
        ("cluster.local 0.0.0.0/0", ("cluster.local.",), ("in-addr.arpa.",)),
        ("cluster.local 10.1.2.3/32", ("cluster.local.",), ("3.2.1.10.in-addr.arpa.",)),
        ("cluster.local fd00::/8", ("cluster.local.",), ("d.f.ip6.arpa.",)),
        (
            "cluster.local fd00::/10",
            ("cluster.local.",),
            tuple(f"{n}.d.f.ip6.arpa." for n in "0123"),
        ),
    ],
)
def test_kubernetes_zones(zone_args: str, zones: tuple[str, ...], reverse: tuple[str, ...]) -> None:
    config = kubernetes(f"kubernetes {zone_args}")
    assert (config.zones, config.reverse_zones) == (zones, reverse)


def test_kubernetes_non_octet_cidr_covers_every_24() -> None:
    config = kubernetes("kubernetes cluster.local 10.0.0.0/20")
    assert config.reverse_zones == tuple(f"{i}.0.10.in-addr.arpa." for i in range(16))
    assert config.reverse_networks == (ipaddress.ip_network("10.0.0.0/20"),)


def test_kubernetes_keeps_the_networks_given() -> None:
    config = kubernetes("kubernetes cluster.local 10.0.0.0/8 fd00::/64")
    assert config.reverse_networks == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("fd00::/64"),
    )


def test_kubernetes_without_zones_takes_the_server_blocks() -> None:
    config = kubernetes("kubernetes", keys="cluster.local 10.0.0.0/16:53")
    assert config.zones == ("cluster.local.",)
    assert config.reverse_zones == ("0.10.in-addr.arpa.",)
    assert config.reverse_networks == (ipaddress.ip_network("10.0.0.0/16"),)


def test_kubernetes_defaults() -> None:
    config = kubernetes("kubernetes cluster.local")
    assert config == KubernetesConfig(
        zones=("cluster.local.",), reverse_zones=(), reverse_networks=()
    )
    assert (config.pods, config.ttl, config.fallthrough, config.startup_timeout) == (
        "disabled",
        5,
        None,
        5.0,
    )


@pytest.mark.parametrize(
    ("option", "field", "value"),
    [
        ("pods disabled", "pods", "disabled"),
        ("pods insecure", "pods", "insecure"),
        ("pods verified", "pods", "verified"),
        ("ttl 0", "ttl", 0),
        ("ttl 3600", "ttl", 3600),
        ("endpoint_pod_names", "endpoint_pod_names", True),
        ("namespaces default kube-system", "namespaces", frozenset({"default", "kube-system"})),
        ("fallthrough", "fallthrough", ()),
        ("fallthrough in-addr.arpa IP6.arpa", "fallthrough", ("in-addr.arpa.", "ip6.arpa.")),
        ("fallthrough 10.0.0.0/8", "fallthrough", ("10.in-addr.arpa.",)),
        ("noendpoints", "noendpoints", True),
        ("ignore empty_service", "ignore_empty_service", True),
        ("kubeconfig /etc/kube.conf", "kubeconfig", ("/etc/kube.conf", None)),
        ("kubeconfig /etc/kube.conf prod", "kubeconfig", ("/etc/kube.conf", "prod")),
        ("endpoint https://10.0.0.1:6443", "endpoint", "https://10.0.0.1:6443"),
        ("endpoint http://localhost:8080", "endpoint", "http://localhost:8080"),
        ("startup_timeout 30s", "startup_timeout", 30.0),
        ("labels environment=prod", "labels", parse_selector("environment=prod")),
        ("labels app in (a, b)", "labels", parse_selector("app in (b,a)")),
        ("namespace_labels team=dns", "namespace_labels", parse_selector("team=dns")),
    ],
)
def test_kubernetes_options(option: str, field: str, value: Any) -> None:
    config = kubernetes("kubernetes cluster.local", option)
    assert getattr(config, field) == value


@pytest.mark.parametrize(
    ("line", "to"),
    [
        ("forward . /etc/resolv.conf", ("/etc/resolv.conf",)),
        ("forward . 8.8.8.8 8.8.4.4", ("8.8.8.8", "8.8.4.4")),
        ("forward . 127.0.0.1:5300", ("127.0.0.1:5300",)),
        ("forward . dns://1.1.1.1", ("dns://1.1.1.1",)),
        ("forward . dns://1.1.1.1:53", ("dns://1.1.1.1:53",)),
        ("forward . 2001:4860:4860::8888", ("2001:4860:4860::8888",)),
        ("forward . [::1]:5300", ("[::1]:5300",)),
        ("forward . ./resolv.conf", ("./resolv.conf",)),
    ],
)
def test_forward_upstreams(line: str, to: tuple[str, ...]) -> None:
    config = forward(line)
    assert (config.zone, config.to) == (".", to)


def test_forward_zone_is_normalised() -> None:
    assert forward("forward Example.COM 8.8.8.8").zone == "example.com."
    assert forward("forward 10.0.0.0/8 8.8.8.8").zone == "10.in-addr.arpa."


def test_forward_defaults() -> None:
    config = forward("forward . 8.8.8.8")
    assert config == ForwardConfig(zone=".", to=("8.8.8.8",))
    assert (config.policy, config.health_check, config.expire, config.max_fails) == (
        "random",
        0.5,
        10.0,
        2,
    )
    assert (config.max_concurrent, config.force_tcp, config.prefer_udp) == (None, False, False)


@pytest.mark.parametrize(
    ("option", "field", "value"),
    [
        ("except cluster.local Example.com", "except_zones", ("cluster.local.", "example.com.")),
        ("max_concurrent 1000", "max_concurrent", 1000),
        ("max_concurrent 0", "max_concurrent", 0),
        ("policy round_robin", "policy", "round_robin"),
        ("policy sequential", "policy", "sequential"),
        ("policy random", "policy", "random"),
        ("health_check 2s", "health_check", 2.0),
        ("expire 1m", "expire", 60.0),
        ("force_tcp", "force_tcp", True),
        ("prefer_udp", "prefer_udp", True),
        ("max_fails 0", "max_fails", 0),
        ("max_fails 5", "max_fails", 5),
    ],
)
def test_forward_options(option: str, field: str, value: Any) -> None:
    assert getattr(forward("forward . 8.8.8.8", option), field) == value


def test_cache_defaults() -> None:
    config = cache("cache")
    assert config == CacheConfig(zones=(".",))
    assert (config.success_capacity, config.success_ttl, config.success_min_ttl) == (9984, 3600, 5)
    assert (config.denial_capacity, config.denial_ttl, config.denial_min_ttl) == (9984, 1800, 5)
    assert (config.prefetch, config.serve_stale, config.servfail_ttl) == (0, None, 5.0)
    assert (config.disable_success, config.disable_denial, config.keepttl) == ((), (), False)


@pytest.mark.parametrize(
    ("line", "zones", "ttls"),
    [
        ("cache 30", (".",), (30, 30)),
        ("cache 300 cluster.local", ("cluster.local.",), (300, 300)),
        ("cache example.com 10.0.0.0/8", ("example.com.", "10.in-addr.arpa."), (3600, 1800)),
    ],
)
def test_cache_arguments(line: str, zones: tuple[str, ...], ttls: tuple[int, int]) -> None:
    config = cache(line)
    assert (config.zones, (config.success_ttl, config.denial_ttl)) == (zones, ttls)


@pytest.mark.parametrize(
    ("option", "fields"),
    [
        ("success 5000", {"success_capacity": 5000, "success_ttl": 30}),
        (
            "success 5000 60 10",
            {"success_capacity": 5000, "success_ttl": 60, "success_min_ttl": 10},
        ),
        ("denial 100 20 0", {"denial_capacity": 100, "denial_ttl": 20, "denial_min_ttl": 0}),
        ("prefetch 2", {"prefetch": 2, "prefetch_duration": 60.0, "prefetch_percentage": 10}),
        (
            "prefetch 5 10m 20%",
            {"prefetch": 5, "prefetch_duration": 600.0, "prefetch_percentage": 20},
        ),
        ("serve_stale", {"serve_stale": 3600.0, "serve_stale_mode": "immediate"}),
        ("serve_stale 10m verify", {"serve_stale": 600.0, "serve_stale_mode": "verify"}),
        ("servfail 10s", {"servfail_ttl": 10.0}),
        ("servfail 0", {"servfail_ttl": 0.0}),
        ("disable success", {"disable_success": (".",), "disable_denial": ()}),
        ("disable denial a.local B.local", {"disable_denial": ("a.local.", "b.local.")}),
        ("keepttl", {"keepttl": True}),
    ],
)
def test_cache_options(option: str, fields: dict[str, Any]) -> None:
    config = cache("cache 30", option)
    assert {name: getattr(config, name) for name in fields} == fields


@pytest.mark.parametrize(
    ("body", "field", "value"),
    [
        ("health", "health", HealthConfig(":8080", 0.0)),
        ("health 127.0.0.1:8081", "health", HealthConfig("127.0.0.1:8081", 0.0)),
        ("health :8080 {\n  lameduck 10s\n}", "health", HealthConfig(":8080", 10.0)),
        ("ready", "ready", ":8181"),
        ("ready 127.0.0.1:9000", "ready", "127.0.0.1:9000"),
        ("prometheus", "prometheus", ":9153"),
        ("prometheus [::]:9253", "prometheus", "[::]:9253"),
        ("errors", "errors", ErrorsConfig()),
        ("errors stdout", "errors", ErrorsConfig()),
        ("errors {\n  consolidate 5m ^timeout\n  consolidate 30s refused warning show_first\n}",
         "errors", ErrorsConfig((
             Consolidate(300.0, re.compile("^timeout")),
             Consolidate(30.0, re.compile("refused"), logging.WARNING, show_first=True),
         ))),
        ("log", "log", LogConfig((LogRule(".", COMMON, frozenset({"all"})),))),
        ("log . {\n  class error\n}", "log", LogConfig((LogRule(".", COMMON, frozenset({"error"})),))),
        ("log example.org cluster.local {combined}", "log", LogConfig((
            LogRule("example.org.", COMBINED, frozenset({"all"})),
            LogRule("cluster.local.", COMBINED, frozenset({"all"})),
        ))),
        ("log a.local\nlog b.local {\n  class denial success\n}", "log", LogConfig((
            LogRule("a.local.", COMMON, frozenset({"all"})),
            LogRule("b.local.", COMMON, frozenset({"denial", "success"})),
        ))),
        ("loop", "loop", True),
        ("loadbalance", "loadbalance", True),
        ("loadbalance round_robin", "loadbalance", True),
        ("reload", "reload", ReloadConfig(30.0, 15.0)),
        ("reload 10s", "reload", ReloadConfig(10.0, 5.0)),  # jitter capped at interval / 2
        ("reload 1m 5s", "reload", ReloadConfig(60.0, 5.0)),
        ("bind 127.0.0.1 ::1", "bind", ("127.0.0.1", "::1")),
        ("bind 127.0.0.1\nbind 10.0.0.1", "bind", ("127.0.0.1", "10.0.0.1")),
    ],
)
def test_small_directives(body: str, field: str, value: Any) -> None:
    assert server(body).plugins[field] == value


@pytest.mark.parametrize(
    ("body", "transfer"),
    [
        ("transfer {\n  to *\n}", (TransferConfig((".",), ("*",)),)),
        (
            "transfer cluster.local {\n  to 10.0.0.1 192.168.0.0/16\n  to [fd00::1]:53\n}",
            (
                TransferConfig(
                    ("cluster.local.",), ("10.0.0.1/32", "192.168.0.0/16", "fd00::1/128")
                ),
            ),
        ),
        (
            "transfer a.local {\n  to *\n}\ntransfer b.local {\n  to 10.0.0.1:53\n}",
            (
                TransferConfig(("a.local.",), ("*",)),
                TransferConfig(("b.local.",), ("10.0.0.1/32",)),
            ),
        ),
    ],
)
def test_transfer(body: str, transfer: tuple[TransferConfig, ...]) -> None:
    assert server(body).get(TRANSFER) == transfer


def test_several_server_blocks() -> None:
    text = (
        "cluster.local:53 {\n  kubernetes\n}\n"
        ".:53 {\n  forward . 8.8.8.8\n  cache\n}\n"
        ".:5353 {\n  bind 127.0.0.1\n  errors\n}\n"
    )
    local, root, other = load_config(text)
    k8s = local.get(KUBERNETES)
    assert k8s is not None and k8s.zones == ("cluster.local.",)
    assert (root.zones, root.line, root.uses(FORWARD)) == ((".",), 4, True)
    assert (other.port, other.get(BIND), other.line) == (5353, ("127.0.0.1",), 8)


def test_same_zone_on_different_addresses_is_allowed() -> None:
    text = ".:53 {\n  bind 127.0.0.1\n}\n.:53 {\n  bind 127.0.0.2\n}\n"
    assert [config.get(BIND) for config in load_config(text)] == [("127.0.0.1",), ("127.0.0.2",)]


# Each case: a server block body (its first line is Corefile line 2), the line to blame and a
# fragment of the message.
BODY_ERRORS = [
    ("erratic", 2, "unknown directive 'erratic'"),
    ("errors\ndnssec", 3, "unknown directive 'dnssec'"),
    ("errors\nrewrite edns0 local set 0xffee {server_ip}", 3, "rewrite: {server_ip} is not supported"),
    ("kubernetes cluster.local {\n  pods insecure\n  multicluster clusterset.local\n}", 4,
     "kubernetes option 'multicluster' (Multi-Cluster Services) is not supported"),
    ("kubernetes cluster.local {\n  zonal\n}", 3, "'zonal' (topology-aware answers) is not"),
    ("kubernetes cluster.local {\n  tls a.crt a.key ca.crt\n}", 3, "'tls' (client certificates"),
    ("kubernetes cluster.local {\n  apiserver_qps 50\n}", 3, "'apiserver_qps' (the API client's"),
    ("kubernetes cluster.local {\n  apiserver_burst 100\n}", 3, "'apiserver_burst' (the API"),
    ("kubernetes cluster.local {\n  apiserver_max_inflight 10\n}", 3, "(the API client's concurrency)"),
    ("kubernetes cluster.local {\n  resynch 1m\n}", 3, "unknown kubernetes option 'resynch'"),
    ("kubernetes cluster.local {\n  ttl 4000\n}", 3, "ttl must be in range 0..3600, got 4000"),
    ("kubernetes cluster.local {\n  ttl -1\n}", 3, "range 0..3600"),
    ("kubernetes cluster.local {\n  ttl thirty\n}", 3, "'thirty' is not an integer"),
    ("kubernetes cluster.local {\n  ttl 5 6\n}", 3, "'ttl' takes 1 argument, got 2"),
    ("kubernetes cluster.local {\n  ttl\n}", 3, "'ttl' takes 1 argument, got 0"),
    ("kubernetes cluster.local {\n  ttl 5\n  ttl 6\n}", 4, "option 'ttl' is given twice"),
    ("kubernetes cluster.local {\n  pods sometimes\n}", 3, "'sometimes' is not one of"),
    ("kubernetes cluster.local {\n  endpoint_pod_names yes\n}", 3, "takes no arguments"),
    ("kubernetes cluster.local {\n  namespaces\n}", 3, "at least 1 argument"),
    ("kubernetes cluster.local {\n  ignore everything\n}", 3, "'everything' is not one of"),
    ("kubernetes cluster.local {\n  kubeconfig a b c\n}", 3, "takes 1 to 2 arguments, got 3"),
    ("kubernetes cluster.local {\n  endpoint 10.0.0.1:6443\n}", 3, "not an http:// or https://"),
    ("kubernetes cluster.local {\n  startup_timeout 5\n}", 3, "invalid duration '5'"),
    ("kubernetes cluster.local {\n  fallthrough 10.0.0.0/33\n}", 3, "neither a domain name nor"),
    ("kubernetes cluster.local {\n  pods insecure {\n    x\n  }\n}", 4, "unknown pods option 'x'"),
    ("kubernetes cluster.local {\n  namespaces a\n  namespace_labels x=y\n}", 2,
     "namespaces and namespace_labels cannot both be set"),
    ("kubernetes cluster.local {\n  resyncperiod 1m\n}", 3, "removed in CoreDNS 1.7"),
    ("kubernetes cluster.local {\n  labels app in nginx\n}", 3, "labels: 'app in nginx': expected '('"),
    ("kubernetes cluster.local {\n  labels size>3\n}", 3, "'>' and '<' are not supported"),
    ("kubernetes cluster.local {\n  namespace_labels team=a b\n}", 3, "expected ','"),
    ("kubernetes cluster.local {\n  labels -bad=1\n}", 3, "'-bad' is not a valid label key"),
    ("kubernetes in-addr.arpa 10.0.0.0/8", 2, "at least one zone that is not a reverse zone"),
    ("kubernetes cluster..local", 2, "'cluster..local' is not a valid domain name"),
    ("kubernetes cluster.local\nkubernetes other.local", 3, "only be used once per server block"),
    ("forward .", 2, "'forward' takes 2 to 16 arguments, got 1"),
    ("forward . " + " ".join(f"10.0.0.{i}" for i in range(16)), 2, "takes 2 to 16 arguments"),
    ("forward . grpc://1.1.1.1", 2, "grpc:// upstreams are not supported"),
    ("forward . dns.google", 2, "host name are not supported"),
    ("forward . 8.8.8.8:99999", 2, "'8.8.8.8:99999' is not an IP address"),
    ("forward 10.0.0.0/20 8.8.8.8", 2, "spans 16 reverse zones"),
    ("forward . 8.8.8.8 {\n  tls_servername dns.google\n}", 3, "is for tls:// upstreams"),
    ("forward . 8.8.8.8 {\n  policy fastest\n}", 3, "'fastest' is not one of"),
    ("forward . 8.8.8.8 {\n  max_concurrent -1\n}", 3, "max_concurrent must be at least 0"),
    ("forward . 8.8.8.8 {\n  health_check 1s rec\n}", 3, "health_check: unknown option rec"),
    ("forward . 8.8.8.8 {\n  expire soon\n}", 3, "invalid duration 'soon'"),
    ("cache 0", 2, "cache must be at least 1, got 0"),
    ("cache {\n  success\n}", 3, "'success' takes 1 to 3 arguments, got 0"),
    ("cache {\n  success 100 0\n}", 3, "success must be at least 1, got 0"),
    ("cache {\n  denial many\n}", 3, "'many' is not an integer"),
    ("cache {\n  prefetch 1 1m 5%\n}", 3, "prefetch must be in range 10..90, got 5"),
    ("cache {\n  prefetch 1 1m 50\n}", 3, "must end with '%'"),
    ("cache {\n  serve_stale 1h later\n}", 3, "'later' is not one of immediate, verify"),
    ("cache {\n  servfail 10m\n}", 3, "over 5 minutes"),
    ("cache {\n  disable everything\n}", 3, "'everything' is not one of success, denial"),
    ("cache {\n  disable success a.local\n  disable success b.local\n}", 4, "given twice"),
    ("cache {\n  keepttl\n  negttl 5\n}", 4, "unknown cache option 'negttl'"),
    ("health :8080 :8081", 2, "'health' takes 0 to 1 arguments, got 2"),
    ("health {\n  lameduck\n}", 3, "'lameduck' takes 1 argument, got 0"),
    ("health {\n  lameduck 5s\n  readiness x\n}", 4, "unknown health option 'readiness'"),
    ("health localhost", 2, "'localhost' is not a [HOST]:PORT address"),
    ("ready :99999", 2, "':99999' is not a [HOST]:PORT address"),
    ("prometheus {\n  port 1\n}", 3, "unknown prometheus option 'port'"),
    ("errors /var/log/dns", 2, "'/var/log/dns' is not one of stdout"),
    ("errors {\n  stacktrace\n  pcap\n}", 4, "unknown errors option 'pcap'"),
    ("errors {\n  consolidate 5m\n}", 3, "'consolidate' takes 2 to 4 arguments, got 1"),
    ("errors {\n  consolidate five .*\n}", 3, "invalid duration 'five'"),
    ("errors {\n  consolidate 5m (\n}", 3, "bad consolidate regex '('"),
    ("errors {\n  consolidate 5m .* info error\n}", 3, "multiple log levels"),
    ("errors {\n  consolidate 5m .* show_first info\n}", 3, "log level must come before"),
    ("errors {\n  consolidate 5m .* loud\n}", 3, "unknown option in consolidate: loud"),
    ("log . {name} {upstream}", 2, "placeholder {upstream} is not supported"),
    ("log . {\n  class nope\n}", 3, "'nope' is not one of all, success, denial, error"),
    ("loop x", 2, "'loop' takes no arguments, got 1"),
    ("loadbalance weighted /etc/w", 2, "'loadbalance' takes 0 to 1 arguments"),
    ("loadbalance weighted", 2, "'weighted' is not one of round_robin"),
    ("reload 1s", 2, "interval must be at least 2s"),
    ("reload 10s 500ms", 2, "jitter must be at least 1s"),
    ("reload 10", 2, "invalid duration '10'"),
    ("bind eth0", 2, "'eth0' is not an IP address"),
    ("bind", 2, "'bind' takes at least 1 argument, got 0"),
    ("bind 127.0.0.1 {\n  except 127.0.0.2\n}", 3, "unknown bind option 'except'"),
    ("transfer", 2, "transfer needs a 'to' option"),
    ("transfer {\n  to\n}", 3, "'to' takes at least 1 argument"),
    ("transfer {\n  to example.com\n}", 3, "'example.com' is not '*', an IP address or a CIDR"),
    ("transfer {\n  to *\n  from *\n}", 4, "unknown transfer option 'from'"),
    ("errors\nerrors", 3, "'errors' can only be used once per server block"),
    ("cache\nreload\ncache", 4, "'cache' can only be used once"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "where", "message"), BODY_ERRORS)
def test_errors_name_the_line(body: str, where: int, message: str) -> None:
    error = error_of(f".:53 {{\n{body}\n}}\n")
    assert str(error).startswith(f"Corefile:{where}: ")
    assert message in error.message


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("tls://.:853 {\n}\n", 1, "transport tls:// is not supported"),
        ("# header\ngrpc://.:443 {\n}\n", 2, "transport grpc:// is not supported"),
        (".:53 .:5353 {\n}\n", 1, "keys of one block use different ports: 53, 5353"),
        (".:99999 {\n}\n", 1, "port 99999 in '.:99999' is out of range"),
        (".: {\n}\n", 1, "'.:' has no port after ':'"),
        (":53 {\n}\n", 1, "':53' has no zone"),
        ("a..b {\n}\n", 1, "'a..b' is not a valid domain name"),
        ("10.0.0.0/40 {\n}\n", 1, "'10.0.0.0/40' is neither a domain name nor a CIDR"),
        (".:53 {\n}\n\nCLUSTER.local .:53 {\n}\n", 4, "zone '.' on port 53 is already served"),
        (".:53 {\n}\n.:53 {\n  bind 127.0.0.1\n}\n", 3, "already served by the block at line 1"),
    ],
)
def test_server_key_errors_name_the_line(text: str, where: int, message: str) -> None:
    error = error_of(text)
    assert str(error).startswith(f"Corefile:{where}: ")
    assert message in error.message


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", 0.0),
        ("5s", 5.0),
        ("1m30s", 90.0),
        ("500ms", 0.5),
        ("2h", 7200.0),
        ("1.5h", 5400.0),
        (".5s", 0.5),
        ("1h2m3s4ms", 3723.004),
        ("250us", 0.00025),
        ("250µs", 0.00025),
        ("100ns", 1e-7),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text, "Corefile", 1) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", "s", "-5s", "+5s", "5 s", "5d", "1m 30s", "5S", "1..5s"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(CorefileError) as caught:
        parse_duration(text, "conf", 7)
    assert str(caught.value).startswith("conf:7: invalid duration")


def test_load_config_file(tmp_path: Path) -> None:
    path = tmp_path / "Corefile"
    path.write_text(DEFAULT_COREFILE)
    assert load_config_file(str(path)) == load_config(DEFAULT_COREFILE, str(path))
    (config,) = load_config_file(str(path))
    assert config.file == str(path)


def test_load_config_file_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "Corefile"
    path.write_text(".:53 {\n  errors\n  erratic\n}\n")
    with pytest.raises(CorefileError, match=rf"^{path}:3: unknown directive 'erratic': a CoreDNS plugin clusterdns does not run \(see README\)$"):
        load_config_file(str(path))


def test_load_config_file_that_cannot_be_read(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(CorefileError) as caught:
        load_config_file(str(missing))
    assert caught.value.file == str(missing)
    assert "cannot read Corefile: No such file or directory" in caught.value.message


def test_load_config_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "Corefile"
    path.write_bytes(b".:53 {\n  errors\n  log \xff\n}\n")
    with pytest.raises(CorefileError, match=r":3: not UTF-8 text$"):
        load_config_file(str(path))
