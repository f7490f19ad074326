"""The `clusterdns` command line: serve, dump, diff and explain."""

from __future__ import annotations

import enum
import logging
import os
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from dnslib import QTYPE

from clusterdns import __version__
from clusterdns.audit.axfr import fetch_zone
from clusterdns.audit.diff import diff_dumps
from clusterdns.audit.diff import json_text as diff_json
from clusterdns.audit.diff import text_lines as diff_text
from clusterdns.audit.explain import explain as explain_answer
from clusterdns.audit.sources import Source, cluster_source, snapshot_source
from clusterdns.audit.zonefile import (
    Header,
    json_lines,
    normalized,
    read_dump,
    zone_lines,
)
from clusterdns.cli.progress import Progress
from clusterdns.config.addresses import parse_listen
from clusterdns.dns.names import fqdn
from clusterdns.dns.zone import Record, with_serial
from clusterdns.errors import ClusterDNSError
from clusterdns.plugins.forward.forward import RESOLV_CONF
from clusterdns.plugins.kubernetes.resolver import Resolver, build_resolver
from clusterdns.plugins.kubernetes.snapshot import DEMO_CLUSTER
from clusterdns.plugins.kubernetes.zone import zone_records
from clusterdns.server.app import ClusterDNS, ServeOptions, own_addresses, wants_live_cluster
from clusterdns.server.directives import kubernetes_block, load_servers
from clusterdns.server.workers import free_port, run, serve_workers
from clusterdns.server.workerstats import WorkerLinks

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


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"clusterdns: {message}", err=True)
    return typer.Exit(code)


def _failed(exc: ClusterDNSError) -> typer.Exit:
    """The one place an error becomes an exit status (each kind carries its own)."""
    return _fail(str(exc), exc.exit_code)


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
    log_level: LogLevel = "info",
) -> None:
    """Answer DNS for the cluster zones, and forward the rest as the Corefile says.

    With no arguments: the bundled demo cluster on 127.0.0.1:5353, e.g.
    `dig @127.0.0.1 -p 5353 web-0.web.demo.svc.cluster.local`.
    Exit status: 0 after SIGTERM/SIGINT (and the lameduck), 1 on a forwarding loop,
    2 on a configuration error.
    """
    _setup_logging(log_level)
    options = ServeOptions(
        conf, snapshot, listen, kubeconfig, context, resolv_conf, udp_buffer=udp_buffer
    )
    if workers == 1:
        code = _serve(options)
    else:
        if listen is not None:
            try:
                host, port = parse_listen(listen)
            except ClusterDNSError as exc:
                raise _failed(exc) from None
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
        return _failed(exc).exit_code


KubeconfigOption = Annotated[
    str | None,
    typer.Option(
        "--kubeconfig",
        help="Read the cluster of this kubeconfig (one full list). Inside a pod the service "
        "account is used without it; with neither (nor --snapshot) the demo cluster is read.",
    ),
]


class DumpFormat(enum.StrEnum):
    zone = "zone"
    json = "json"


def _resolver_for(
    conf: Path | None,
    snapshot: Path | None,
    kubeconfig: str | None,
    context: str | None,
    progress: Progress,
) -> tuple[Resolver, Source]:
    """The resolver over the state a one-shot command reads: as `serve` would (a snapshot,
    else the cluster of a kubeconfig or the pod's service account, else the demo)."""
    _, k8s = kubernetes_block(load_servers(conf))
    if wants_live_cluster(ServeOptions(conf, snapshot, None, kubeconfig, context), k8s):
        source = cluster_source(k8s, kubeconfig, context)
    else:
        source = snapshot_source(snapshot or DEMO_CLUSTER, k8s)
    state = source.state
    progress.note(f"read {len(state.services)} services, {len(state.slices)} slices")
    resolver = build_resolver(state, k8s, own_addresses("127.0.0.1"))
    progress.note(f"indexed {len(resolver.index.nodes)} names")
    return resolver, source


def _write(output: Path | None, lines: Iterable[str]) -> None:
    """To stdout, or to `output` atomically: a reader sees the old file or the whole new one."""
    if output is None:
        try:
            sys.stdout.writelines(lines)
            sys.stdout.flush()
        except BrokenPipeError:  # `dump | head`: the reader has all it wants
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return
    fd, tmp = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.writelines(lines)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # as a plain open() would have made it
        os.replace(tmp, output)
    except BaseException:
        os.unlink(tmp)
        raise


@app.command()
def dump(
    conf: ConfOption = None,
    snapshot: SnapshotOption = None,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    from_server: Annotated[
        str | None,
        typer.Option(
            "--from-server",
            metavar="HOST:PORT",
            help="Read the zone from a running DNS server by AXFR instead.",
        ),
    ] = None,
    zone: Annotated[
        str | None, typer.Option("--zone", help="Cluster zone to dump. Default: the first one.")
    ] = None,
    fmt: Annotated[
        DumpFormat,
        typer.Option(
            "--format",
            help="zone: an RFC 1035 zone file; json: one object per record with the "
            "Service, EndpointSlice, endpoint and pod it comes from.",
        ),
    ] = DumpFormat.zone,
    stable: Annotated[
        bool,
        typer.Option(
            "--stable",
            help="Leave out the header (source, time, resourceVersion) and write SOA serial 0: "
            "the same state then dumps byte-identical.",
        ),
    ] = False,
    output: Annotated[
        Path | None,
        typer.Option(
            "-o", "--output", help="Write here (atomically) instead of stdout.", dir_okay=False
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress on stderr.")] = False,
    log_level: LogLevel = "warning",
) -> None:
    """Write the served zone, records in SPEC §10 order: SOA; NS and glue; every service by
    name then namespace; SOA. Progress of a long dump goes to stderr."""
    _setup_logging(log_level)
    progress = Progress("dump", enabled=not quiet)
    now = f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}"
    try:
        if from_server is not None:
            host, port = parse_listen(from_server)
            name = fqdn(zone or kubernetes_block(load_servers(conf))[1].zones[0])
            records: Iterable[Record] = [normalized(r) for r in fetch_zone(host, port, name)]
            if stable:
                records = [with_serial(r, 0) if r.rtype == "SOA" else r for r in records]
            header = Header(f"clusterdns {__version__}", f"AXFR from {from_server}", now)
        else:
            resolver, source = _resolver_for(conf, snapshot, kubeconfig, context, progress)
            name = fqdn(zone) if zone else resolver.primary_zone
            if name not in resolver.settings.zones:
                zones = ", ".join(resolver.settings.zones)
                raise _fail(f"{name} is not a cluster zone (zones: {zones})")
            records = zone_records(
                resolver,
                name,
                serial=0 if stable else None,
                origins=fmt is DumpFormat.json,
                progress=progress.count,
            )
            header = Header(
                f"clusterdns {__version__}", source.description, now, source.resource_version
            )
        write = json_lines if fmt is DumpFormat.json else zone_lines
        _write(output, write(records, name, None if stable else header))
    except ClusterDNSError as exc:
        raise _failed(exc) from None
    except OSError as exc:  # writing the output
        raise _fail(str(exc)) from None
    progress.note(f"wrote {output or 'stdout'}")


@app.command()
def diff(
    old: Annotated[str, typer.Argument(help="A zone file or JSON dump; - for stdin.")],
    new: Annotated[str, typer.Argument(help="A zone file or JSON dump; - for stdin.")],
    as_json: Annotated[bool, typer.Option("--json", help="Write the changes as JSON.")] = False,
) -> None:
    """Every record added, removed or changed between two dumps, grouped by service.

    Exit status: 0 when equal, 1 when they differ, 2 on error (as diff(1)).
    Compare with a live cluster: `clusterdns dump --kubeconfig K | clusterdns diff OLD -`."""
    try:
        before, after = (read_dump(None if arg == "-" else Path(arg)) for arg in (old, new))
    except ClusterDNSError as exc:
        raise _failed(exc) from None
    changes = diff_dumps(before, after)
    if as_json:
        sys.stdout.write(diff_json(before, after, changes))
    else:
        sys.stdout.writelines(diff_text(changes))
    raise typer.Exit(1 if changes else 0)


@app.command()
def explain(
    name: Annotated[
        str, typer.Argument(help="The name asked, e.g. web-0.web.demo.svc.cluster.local")
    ],
    qtype: Annotated[str, typer.Argument(metavar="[TYPE]", help="The type asked.")] = "A",
    conf: ConfOption = None,
    snapshot: SnapshotOption = None,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    log_level: LogLevel = "warning",
) -> None:
    """Why NAME TYPE gets its answer: the zone and name form, the Service and EndpointSlices
    used, the endpoints skipped and why, why NXDOMAIN or NODATA, and the answer itself
    (the resolver's own)."""
    _setup_logging(log_level)
    number = QTYPE.reverse.get(qtype.upper())
    if number is None:
        raise _fail(f"unknown record type '{qtype}'")
    try:
        resolver, _ = _resolver_for(conf, snapshot, kubeconfig, context, Progress("explain"))
    except ClusterDNSError as exc:
        raise _failed(exc) from None
    sys.stdout.write(explain_answer(resolver, fqdn(name), number).text())
