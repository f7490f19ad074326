"""The snapshot source: a kubectl dump (`kubectl get ns,svc,endpointslices,pods -A -o yaml`
or `-o json`: a v1 List, or a multi-document YAML of the same objects) loaded into state.

All or nothing: any error names the file and the item, and nothing is loaded.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from clusterdns.errors import SourceError
from clusterdns.plugins.kubernetes.objects import KINDS, KubeObject, ObjectError, parse_object
from clusterdns.plugins.kubernetes.selector import Selector
from clusterdns.plugins.kubernetes.state import ClusterState

log = logging.getLogger("clusterdns.snapshot")

DEMO_CLUSTER = Path(__file__).parents[2] / "data" / "demo-cluster.yaml"


class SnapshotError(SourceError):
    """The snapshot file cannot be served; the message says where and why."""


def read_items(path: Path) -> list[Any]:
    """The raw items of a snapshot file, flattening v1 Lists."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise SnapshotError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        message = f"not UTF-8 text (byte {exc.start}): not a kubectl dump in YAML or JSON"
        raise SnapshotError(f"{path}: {message}") from exc
    is_json = path.suffix == ".json"
    try:
        documents = [json.loads(text)] if is_json else list(yaml.safe_load_all(text))
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise SnapshotError(f"{path}: not valid {'JSON' if is_json else 'YAML'}: {exc}") from exc
    items: list[Any] = []
    for doc in documents:
        if doc is None:
            continue
        if isinstance(doc, dict) and doc.get("kind", "").endswith("List") and "items" in doc:
            if not isinstance(doc["items"], list):
                raise SnapshotError(f"{path}: 'items' of the {doc['kind']} is not a list")
            items.extend(doc["items"] or [])
        else:
            items.append(doc)
    return items


def load_snapshot(
    path: Path, labels: Selector | None = None, namespace_labels: Selector | None = None
) -> dict[type, list[KubeObject]]:
    """Parse every known object of the file, by record type: the Services, EndpointSlices
    and Pods `labels` selects, the Namespaces `namespace_labels` selects, as the API server
    would list them for the informer. Raises SnapshotError."""
    objects: dict[type, list[KubeObject]] = {kind: [] for kind in KINDS.values()}
    skipped: Counter[str] = Counter()
    unselected = 0
    for i, item in enumerate(read_items(path)):
        if not isinstance(item, dict):
            raise SnapshotError(f"{path}: item {i}: not a mapping but {type(item).__name__}")
        kind = item.get("kind")
        if kind not in KINDS:
            skipped[str(kind)] += 1
            continue
        selector = namespace_labels if kind == "Namespace" else labels
        if selector is not None and not selector.matches(_labels(item)):
            unselected += 1
            continue
        try:
            obj = parse_object(kind, item)
        except ObjectError as exc:
            raise SnapshotError(f"{path}: item {i} ({kind} {_item_name(item)}): {exc}") from exc
        objects[KINDS[kind]].append(obj)
    if skipped:
        log.info(
            "%s: skipped %d objects of other kinds (%s)",
            path,
            sum(skipped.values()),
            ", ".join(f"{k}: {n}" for k, n in sorted(skipped.items())),
        )
    if unselected:
        log.info("%s: left out %d objects the label selectors do not select", path, unselected)
    log.info("%s: %s", path, ", ".join(f"{len(v)} {k.__name__}s" for k, v in objects.items()))
    return objects


def _labels(item: dict[str, Any]) -> dict[str, str]:
    meta = item.get("metadata")
    labels = meta.get("labels") if isinstance(meta, dict) else None
    return labels if isinstance(labels, dict) else {}


def _item_name(item: dict[str, Any]) -> str:
    meta = item.get("metadata")
    if not isinstance(meta, dict):
        meta = {}
    name = meta.get("name", "<no name>")
    return f"{meta['namespace']}/{name}" if meta.get("namespace") else str(name)


def populate(state: ClusterState, objects: dict[type, list[KubeObject]]) -> None:
    """Make the state exactly the snapshot's objects, and mark it synced."""
    for kind, items in objects.items():
        state.replace(kind, items)
    state.mark_synced()
