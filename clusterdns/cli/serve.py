"""`clusterdns serve`: the server, one process or several workers."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

import typer

from clusterdns.cli.common import (
    ConfOption,
    ContextOption,
    LogLevel,
    SnapshotOption,
    app,
    failed,
    setup_logging,
)
from clusterdns.config.addresses import parse_listen
from clusterdns.config.resolvconf import RESOLV_CONF
from clusterdns.errors import ClusterDNSError
from clusterdns.plugins.kubernetes.informer import STALL_TIMEOUT
from clusterdns.server.app import ClusterDNS, ServeOptions
from clusterdns.server.workers import free_port, run, serve_workers
from clusterdns.server.workerstats import WorkerLinks


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
    context: ContextOption = None,
    resolv_conf: Annotated[
        str,
        typer.Option(
            "--resolv-conf",
            help="The file read where the Corefile forwards to /etc/resolv.conf.",
        ),
    ] = RESOLV_CONF,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            help="Processes answering on the same port (SO_REUSEPORT), about a core each. "
            "Each reads the cluster itself; the first serves health, readiness (of all) and "
            "metrics (the counts of all).",
        ),
    ] = 1,
    udp_buffer: Annotated[
        int | None,
        typer.Option(
            "--udp-buffer",
            min=4096,
            metavar="BYTES",
            help="Receive buffer of each UDP socket: queries a burst may queue before the "
            "kernel drops them. Default: the kernel's (net.core.rmem_default); above "
            "net.core.rmem_max it needs CAP_NET_ADMIN.",
        ),
    ] = None,
    watch_stall: Annotated[
        float,
        typer.Option(
            "--watch-stall",
            min=5.0,
            metavar="SECONDS",
            help="A watch of the API silent this long (no event, no bookmark: the API server "
            "sends one about every minute) is taken for dead and the kind listed again.",
        ),
    ] = STALL_TIMEOUT,
    log_level: LogLevel = "info",
) -> None:
    """Answer DNS for the cluster zones, and forward the rest as the Corefile says.

    With no arguments: the bundled demo cluster on 127.0.0.1:5353, e.g.
    `dig @127.0.0.1 -p 5353 web-0.web.demo.svc.cluster.local`.
    Exit status: 0 after SIGTERM/SIGINT (and the lameduck), 1 on a forwarding loop,
    2 on a configuration error.
    """
    setup_logging(log_level)
    options = ServeOptions(
        conf, snapshot, listen, kubeconfig, context, resolv_conf, udp_buffer=udp_buffer,
        watch_stall=watch_stall,
    )  # fmt: skip
    if workers == 1:
        code = _serve(options)
    else:
        if listen is not None:
            try:
                host, port = parse_listen(listen)
            except ClusterDNSError as exc:
                raise failed(exc) from None
            if port == 0:  # every worker must bind the same port
                port = free_port(host)
                listen = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        options = replace(options, listen=listen)
        links = WorkerLinks(workers)
        code = serve_workers(
            workers,
            lambda worker: _serve(replace(options, worker=worker, peers=links.kept_by(worker))),
        )
    if code:
        raise typer.Exit(code)


def _serve(options: ServeOptions) -> int:
    """Run one server process until it stops: its exit status."""
    try:
        server = ClusterDNS(options)
        return run(server.run_forever())
    except ClusterDNSError as exc:
        return failed(exc).exit_code
