"""Metadata across a server block's plugins: the labels its log formats write checked against
those its plugins provide (when the Corefile is read), and its log given the block's
collector (when the block is built).

CoreDNS writes `-` for a `{/LABEL}` that nothing in the block provides: a block without
`metadata`, a label no plugin sets, client labels without `pods verified`. Each of those is
an error here naming the log directive's line, and so is `metadata` that nothing reads.
"""

from __future__ import annotations

from dataclasses import replace

from clusterdns.config.blocks import ServerConfig
from clusterdns.config.corefile import CorefileError
from clusterdns.plugins.kubernetes.metadata import (
    CLIENT_LABEL_PREFIX,
    CLIENT_LABELS,
    KubernetesMetadata,
)
from clusterdns.plugins.kubernetes.metadata import LABELS as KUBERNETES_LABELS
from clusterdns.plugins.kubernetes.resolver import PODS_VERIFIED, Resolver
from clusterdns.plugins.kubernetes.setup import KUBERNETES
from clusterdns.plugins.log import LABELS as LOG_LABELS
from clusterdns.plugins.log import LOG, LogConfig
from clusterdns.plugins.metadata import METADATA


def check_metadata(server: ServerConfig) -> None:
    """Raises CorefileError for metadata a log format writes that the block would not have,
    or a `metadata` directive nothing reads."""
    log, metadata, k8s = server.get(LOG), server.get(METADATA), server.get(KUBERNETES)
    used = [(rule, label) for rule in log.rules for label in rule.labels] if log else []
    if metadata is not None and not used:
        message = "metadata: nothing in this server block reads it (a log format's {/LABEL})"
        raise CorefileError(metadata.file, metadata.line, message)
    provided = (*LOG_LABELS, *(KUBERNETES_LABELS if k8s is not None else ()))
    for rule, label in used:
        why = _unprovided(label, metadata is not None, provided, k8s.pods if k8s else None)
        if why is not None:
            raise CorefileError(rule.file, rule.line, f"log: {{/{label}}} {why}")


def _unprovided(
    label: str, collected: bool, provided: tuple[str, ...], pods: str | None
) -> str | None:
    """Why a block would have no value of `label` (`pods`: its kubernetes' mode), or None."""
    if not collected:
        return "needs the metadata plugin in this server block (CoreDNS writes '-')"
    if label.startswith(CLIENT_LABEL_PREFIX):
        return "is not supported: pods are kept without their labels"
    if label not in provided:
        return f"is provided by no plugin of this server block (these are: {', '.join(provided)})"
    if label in CLIENT_LABELS and pods != PODS_VERIFIED:
        return (
            f"needs 'pods verified' in the kubernetes directive (it is 'pods {pods}'): the "
            "client's pod is found by its IP"
        )
    return None


def with_metadata(server: ServerConfig, resolver: Resolver | None) -> LogConfig | None:
    """The block's log, reading the metadata of the block's providers when it has any."""
    log, metadata = server.get(LOG), server.get(METADATA)
    if log is None or metadata is None:
        return log
    kubernetes = resolver if server.uses(KUBERNETES) else None
    providers = (KubernetesMetadata(kubernetes),) if kubernetes is not None else ()
    return replace(log, metadata=replace(metadata, providers=providers).collect)
