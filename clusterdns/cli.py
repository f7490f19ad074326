"""The `clusterdns` command line: serve and dump."""

from __future__ import annotations

import asyncio
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from clusterdns import __version__
from clusterdns.app import ClusterDNS, ServeOptions, build_resolver, kubernetes_block, load_servers
from clusterdns.corefile import CorefileError
from clusterdns.dump import zone_text
from clusterdns.kubeclient import KubeClientError
from clusterdns.names import fqdn
from clusterdns.snapshot import DEMO_CLUSTER, SnapshotError, load_snapshot, populate
from clusterdns.state import ClusterState

app = typer.Typer(
    help="clusterdns: a CoreDNS-compatible Kubernetes cluster DNS server.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ConfOption = Annotated[
    Path | None,
    typer.Option(
        "--conf",
        help="CoreDNS Corefile to run. "
        "Default: the kubeadm Corefile (cluster.local, pods insecure, ttl 30).",
        dir_okay=False,
    ),
]
SnapshotOption = Annotated[
    Path | None,
    typer.Option(
        "--snapshot",
        help="Serve a kubectl dump (`kubectl get ns,svc,endpointslices,pods -A -o yaml`). "
        "Default: the bundled demo cluster.",
        dir_okay=False,
    ),
]
LogLevel = Annotated[str, typer.Option("--log-level", help="debug, info, warning or error.")]


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"clusterdns: {message}", err=True)
    return typer.Exit(code)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"clusterdns {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=_print_version, is_eager=True
        ),
    ] = False,
) -> None:
    """clusterdns: a CoreDNS-compatible Kubernetes cluster DNS server."""


@app.command()
def serve(
    conf: ConfOption = None,
    snapshot: SnapshotOption = None,
    listen: Annotated[
        str | None,
        typer.Option(
            "--listen",
            help="HOST:PORT for UDP and TCP, overriding the Corefile. "
            "Default without --conf: 127.0.0.1:5353 (no root needed).",
        ),
    ] = None,
    kubeconfig: Annotated[
        str | None,
        typer.Option(
            "--kubeconfig",
            help="Watch the cluster of this kubeconfig. Inside a pod the service account is "
            "used without it; with neither (nor --snapshot) the demo cluster is served.",
        ),
    ] = None,
    context: Annotated[
        str | None, typer.Option("--context", help="The kubeconfig context to use.")
    ] = None,
    log_level: LogLevel = "info",
) -> None:
    """Answer DNS for the cluster zones.

    With no arguments: the bundled demo cluster on 127.0.0.1:5353, e.g.
    `dig @127.0.0.1 -p 5353 web-0.web.demo.svc.cluster.local`.
    """
    _setup_logging(log_level)
    try:
        options = ServeOptions(conf, snapshot, listen, kubeconfig, context)
        server = ClusterDNS(options)
        asyncio.run(server.run_forever())
    except (CorefileError, SnapshotError, KubeClientError, ValueError) as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:
        raise _fail(f"cannot listen: {exc}") from None


@app.command()
def dump(
    conf: ConfOption = None,
    snapshot: SnapshotOption = None,
    zone: Annotated[
        str | None, typer.Option("--zone", help="Cluster zone to dump. Default: the first one.")
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "-o", "--output", help="Write here (atomically) instead of stdout.", dir_okay=False
        ),
    ] = None,
    log_level: LogLevel = "warning",
) -> None:
    """Write the served zone as an RFC 1035 zone file (SPEC §10 order)."""
    _setup_logging(log_level)
    try:
        _, k8s = kubernetes_block(load_servers(conf))
        path = snapshot or DEMO_CLUSTER
        state = ClusterState()
        populate(state, load_snapshot(path))
    except (CorefileError, SnapshotError, ValueError) as exc:
        raise _fail(str(exc)) from None
    resolver = build_resolver(state, k8s, ("127.0.0.1",))
    name = fqdn(zone) if zone else k8s.zones[0]
    if name not in k8s.zones:
        raise _fail(f"{name} is not a cluster zone (zones: {', '.join(k8s.zones)})")
    now = datetime.now(UTC)
    header = (
        f"clusterdns {__version__} dump of {name}\nsource: {path}\n"
        f"time: {now:%Y-%m-%dT%H:%M:%SZ}"
    )
    text = zone_text(resolver, name, header)
    if output is None:
        sys.stdout.write(text)
        return
    tmp = output.with_name(output.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(output)
