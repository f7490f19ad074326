"""Running the one-shot commands in-process, and reading dumps back as record sets."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner, Result

from clusterdns.audit.zonefile import read_dump
from clusterdns.cli.app import app
from clusterdns.dns.zone import with_serial


def cli(*args: str | Path, stdin: str | None = None) -> Result:
    return CliRunner().invoke(app, [str(arg) for arg in args], input=stdin)


def record_set(path: Path) -> set[tuple[str, int, str, str]]:
    """(name, ttl, type, rdata) of every record of a dump file, the SOA serial set to 0."""
    records = read_dump(path).records
    return {
        tuple(with_serial(r, 0) if r.rtype == "SOA" else r)[:4]  # type: ignore[misc]
        for r in records
    }
