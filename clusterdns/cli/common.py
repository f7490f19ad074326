"""What every command shares: the typer app, the options they have in common, logging set-up
and the one place an error becomes an exit status."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from clusterdns import __version__, compiled
from clusterdns.errors import ClusterDNSError

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
        help="Use a kubectl dump (`kubectl get ns,svc,endpointslices,pods -A -o yaml`) as the "
        "cluster. Default: the bundled demo cluster (unless a live cluster is configured).",
        dir_okay=False,
    ),
]
ContextOption = Annotated[str | None, typer.Option("--context", help="The kubeconfig context.")]
LogLevel = Annotated[str, typer.Option("--log-level", help="debug, info, warning or error.")]
QuietOption = Annotated[bool, typer.Option("--quiet", help="No progress on stderr.")]


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"clusterdns: {message}", err=True)
    return typer.Exit(code)


def failed(exc: ClusterDNSError) -> typer.Exit:
    """The one place an error becomes an exit status (each kind carries its own)."""
    return fail(str(exc), exc.exit_code)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"clusterdns {__version__} (hot path: {compiled.STATUS})")
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


KubeconfigOption = Annotated[
    str | None,
    typer.Option(
        "--kubeconfig",
        help="Read the cluster of this kubeconfig (one full list). Inside a pod the service "
        "account is used without it; with neither (nor --snapshot) the demo cluster is read.",
    ),
]
