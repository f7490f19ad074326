"""The auditor's commands: `dump`, `diff`, `explain` and `searchpath`."""

from __future__ import annotations

import enum
import io
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from dnslib import QTYPE

from clusterdns import __version__
from clusterdns.audit.axfr import AXFR_CARRIES, fetch_zone
from clusterdns.audit.diff import diff_dumps
from clusterdns.audit.diff import json_text as diff_json
from clusterdns.audit.diff import text_lines as diff_text
from clusterdns.audit.explain import explain as explain_answer
from clusterdns.audit.searchpath import SearchPathAudit, pod_clients
from clusterdns.audit.searchreport import build_report
from clusterdns.audit.searchreport import json_text as searchpath_json
from clusterdns.audit.searchreport import text_lines as searchpath_text
from clusterdns.audit.sources import Source, cluster_source, snapshot_source
from clusterdns.audit.zonefile import (
    Header,
    json_lines,
    normalized,
    read_dump,
    zone_lines,
)
from clusterdns.cli.common import (
    ConfOption,
    ContextOption,
    KubeconfigOption,
    LogLevel,
    QuietOption,
    SnapshotOption,
    app,
    fail,
    failed,
    setup_logging,
)
from clusterdns.cli.progress import Progress
from clusterdns.config.addresses import parse_listen
from clusterdns.dns.names import fqdn
from clusterdns.dns.zone import Record, with_serial
from clusterdns.errors import ClusterDNSError
from clusterdns.plugins.kubernetes.resolver import Resolver, build_resolver
from clusterdns.plugins.kubernetes.setup import KubernetesConfig
from clusterdns.plugins.kubernetes.snapshot import DEMO_CLUSTER
from clusterdns.plugins.kubernetes.zone import zone_records
from clusterdns.server.app import ServeOptions, own_addresses, wants_live_cluster
from clusterdns.server.directives import kubernetes_block, load_servers


class DumpFormat(enum.StrEnum):
    zone = "zone"
    json = "json"


def _source_for(
    conf: Path | None,
    snapshot: Path | None,
    kubeconfig: str | None,
    context: str | None,
    *,
    pods: bool = False,
) -> tuple[Source, KubernetesConfig]:
    """The cluster a one-shot command reads, as `serve` would: a snapshot, else the cluster
    of a kubeconfig or the pod's service account, else the demo; its Pods too with `pods`."""
    _, k8s = kubernetes_block(load_servers(conf))
    if wants_live_cluster(ServeOptions(conf, snapshot, None, kubeconfig, context), k8s):
        return cluster_source(k8s, kubeconfig, context, pods=pods), k8s
    return snapshot_source(snapshot or DEMO_CLUSTER, k8s), k8s


def _resolver_for(
    conf: Path | None,
    snapshot: Path | None,
    kubeconfig: str | None,
    context: str | None,
    progress: Progress,
) -> tuple[Resolver, Source]:
    """The resolver over the state a one-shot command reads."""
    source, k8s = _source_for(conf, snapshot, kubeconfig, context)
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
            help="Read the zone from a running DNS server by AXFR instead: what a transfer "
            "carries, which from clusterdns (or CoreDNS) is CoreDNS's transfer, fewer names "
            "than they answer and than a dump from a cluster or snapshot lists.",
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
    quiet: QuietOption = False,
    log_level: LogLevel = "warning",
) -> None:
    """Write the served zone, every name the server answers, records in SPEC §10 order: SOA;
    NS and glue; every service by name then namespace; SOA. With --from-server, what the
    server's zone transfer carries instead. Progress of a long dump goes to stderr."""
    setup_logging(log_level)
    progress = Progress("dump", enabled=not quiet)
    now = f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}"
    try:
        if from_server is not None:
            host, port = parse_listen(from_server)
            name = fqdn(zone or kubernetes_block(load_servers(conf))[1].zones[0])
            records: Iterable[Record] = [normalized(r) for r in fetch_zone(host, port, name)]
            if stable:
                records = [with_serial(r, 0) if r.rtype == "SOA" else r for r in records]
            read = f"AXFR from {from_server} (a zone transfer: {AXFR_CARRIES})"
            header = Header(f"clusterdns {__version__}", read, now)
        else:
            resolver, source = _resolver_for(conf, snapshot, kubeconfig, context, progress)
            name = fqdn(zone) if zone else resolver.primary_zone
            if name not in resolver.settings.zones:
                zones = ", ".join(resolver.settings.zones)
                raise fail(f"{name} is not a cluster zone (zones: {zones})")
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
        raise failed(exc) from None
    except OSError as exc:  # writing the output
        raise fail(str(exc)) from None
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
        raise failed(exc) from None
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
    setup_logging(log_level)
    number = QTYPE.reverse.get(qtype.upper())
    if number is None:
        raise fail(f"unknown record type '{qtype}'")
    try:
        resolver, _ = _resolver_for(conf, snapshot, kubeconfig, context, Progress("explain"))
    except ClusterDNSError as exc:
        raise failed(exc) from None
    sys.stdout.write(explain_answer(resolver, fqdn(name), number).text())


# One string a paragraph: --help keeps a paragraph's line breaks after the first.
_SEARCHPATH_HELP = "\n\n".join(
    [
        "Which pods waste queries on their DNS search path, on which names, and what would "
        "save them.",
        "A pod's resolv.conf (ndots:5) makes it ask a name with fewer than five dots, such as "
        "api.example.com or nginx.demo, with every search domain first: X.<ns>.svc.<zone>, "
        "X.svc.<zone>, X.<zone>, X.<--search domain>..., and only then X. as it is.",
        "This reads the query logs, finds the pod behind each client address (the Pods of "
        "--snapshot or of the live cluster; an address that no pod holds, or that several "
        "hold (host network), is an unknown client), groups each pod's queries into such "
        "lookups (by client and type, in log order), and counts the wasted ones: the "
        "expansions asked before the one that answered, or all of them when the lookup went "
        "on to the bare name. Other lines of the logs are counted and skipped.",
        "It reports, per namespace and per pod, the queries, the wasted ones and the names "
        "looked up the long way, and advice with the queries each saves on its own: "
        "`autopath @kubernetes` in the Corefile, `dnsConfig.options ndots:N` for a pod whose "
        "external names would then be asked as they are, a trailing dot on a name.",
        "Example: kubectl -n kube-system logs -l k8s-app=kube-dns --tail=-1 | clusterdns "
        "searchpath --kubeconfig ~/.kube/config -",
    ]
)


@app.command(help=_SEARCHPATH_HELP)
def searchpath(
    logs: Annotated[
        list[str],
        typer.Argument(
            metavar="LOG",
            help="Query logs in the log plugin's default format, CoreDNS's or ours (`kubectl "
            "logs` output as it is); - for stdin.",
        ),
    ],
    conf: ConfOption = None,
    snapshot: SnapshotOption = None,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    zone: Annotated[
        str | None,
        typer.Option(
            "--zone",
            help="The cluster zone in the pods' search path. Default: the Corefile's first "
            "(cluster.local).",
        ),
    ] = None,
    search: Annotated[
        list[str] | None,
        typer.Option(
            "--search",
            metavar="DOMAIN",
            help="A search domain the pods have from their node's resolv.conf, after the "
            "cluster's (repeat it for each, in order).",
        ),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Write one JSON object: namespaces, pods, unknown and advice."),
    ] = False,
    top: Annotated[
        int,
        typer.Option(
            "--top",
            min=0,
            help="At most N pods, names a namespace or pod looked up the long way, unknown "
            "addresses and pieces of advice; 0 for all.",
        ),
    ] = 10,
    quiet: QuietOption = False,
    log_level: LogLevel = "warning",
) -> None:
    """The search-path audit; its help is _SEARCHPATH_HELP."""
    setup_logging(log_level)
    progress = Progress("searchpath", enabled=not quiet)
    try:
        source, k8s = _source_for(conf, snapshot, kubeconfig, context, pods=True)
    except ClusterDNSError as exc:
        raise failed(exc) from None
    progress.note(f"read {len(source.state.pods)} pods")
    audit = SearchPathAudit(
        pod_clients(source.state.pods.values()), zone or k8s.zones[0], search or ()
    )
    if isinstance(sys.stdin, io.TextIOWrapper):
        sys.stdin.reconfigure(errors="replace")  # a stray byte is one line that is no query
    for log in logs:
        try:
            with nullcontext(sys.stdin) if log == "-" else open(log, errors="replace") as lines:
                audit.read(_counted(lines, "stdin" if log == "-" else log, progress))
        except OSError as exc:
            raise fail(f"{log}: cannot read: {exc.strerror or exc}") from None
        progress.note(f"read {log}")
    report = build_report(audit)
    limit = top or None
    sys.stdout.writelines(
        searchpath_json(report, limit) if as_json else searchpath_text(report, limit)
    )


def _counted(lines: Iterable[str], name: str, progress: Progress) -> Iterator[str]:
    """The lines, with progress on a long log."""
    for count, line in enumerate(lines, 1):
        if not count % 65536:
            progress.status(f"{name}: {count} lines")
        yield line
