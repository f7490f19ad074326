"""A `kubernetes` ApiClient for the informer: kubeconfig, explicit endpoint, or in-cluster.

Precedence follows CoreDNS: a kubeconfig file (its server overridden by `endpoint` when both
are given), else a bare `endpoint` (no credentials, e.g. `kubectl proxy`), else the pod's
service account when KUBERNETES_SERVICE_HOST is set.
"""

from __future__ import annotations

import os
from pathlib import Path

from kubernetes import config
from kubernetes.client import ApiClient, Configuration

from clusterdns.errors import SourceError
from clusterdns.plugins.kubernetes.setup import KubernetesConfig

IN_CLUSTER_ENV = "KUBERNETES_SERVICE_HOST"


class KubeClientError(SourceError):
    """No usable Kubernetes API configuration; the message says what to do."""


def cluster_api_client(
    k8s: KubernetesConfig, kubeconfig: str | None, context: str | None
) -> ApiClient:
    """The client for a `kubernetes` block: the command line's kubeconfig/context win over
    the Corefile's `kubeconfig` option; the Corefile's `endpoint` applies either way."""
    if kubeconfig is None and k8s.kubeconfig is not None:
        kubeconfig, context = k8s.kubeconfig[0], context or k8s.kubeconfig[1]
    return make_api_client(kubeconfig, context, k8s.endpoint)


def make_api_client(
    kubeconfig: str | None, context: str | None = None, endpoint: str | None = None
) -> ApiClient:
    configuration = Configuration()
    if kubeconfig is not None:
        _load_kubeconfig(configuration, kubeconfig, context)
    elif endpoint is None:
        _load_in_cluster(configuration)
    if endpoint is not None:
        configuration.host = endpoint.rstrip("/")
    # The informer owns retries: urllib3 would otherwise silently retry a 503 that carries
    # Retry-After (sleeping inside the call), hiding an outage from the backoff and the logs.
    configuration.retries = False
    configuration.client_go_retries = False
    # Kernel keepalive notices a silently dead peer on long-lived watch connections.
    configuration.keep_alive = True
    return ApiClient(configuration)


def _load_kubeconfig(configuration: Configuration, kubeconfig: str, context: str | None) -> None:
    path = Path(kubeconfig).expanduser()
    if not path.is_file():
        raise KubeClientError(f"kubeconfig {path}: no such file (check --kubeconfig)")
    try:
        config.load_kube_config(
            config_file=str(path),
            context=context,
            client_configuration=configuration,
            persist_config=False,
        )
    except Exception as exc:  # the loader raises ConfigException, YAML, OS and key errors
        where = f"kubeconfig {path}" + (f", context {context!r}" if context else "")
        raise KubeClientError(f"{where}: {exc}") from exc


def _load_in_cluster(configuration: Configuration) -> None:
    if not os.environ.get(IN_CLUSTER_ENV):
        raise KubeClientError(
            "no Kubernetes API configured: pass --kubeconfig FILE (and --context NAME), "
            f"or run in a pod with a service account ({IN_CLUSTER_ENV} is not set)"
        )
    try:
        config.load_incluster_config(client_configuration=configuration)
    except config.ConfigException as exc:
        raise KubeClientError(
            f"in-cluster configuration: {exc} (is the service account token mounted? "
            "check automountServiceAccountToken)"
        ) from exc
