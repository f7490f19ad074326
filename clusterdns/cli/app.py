"""The `clusterdns` command line: serve, dump, diff and explain. Importing a command's module
registers it on the one typer app; `--help` lists them in the order imported here."""

from clusterdns.cli import serve  # noqa: I001 - serve first in --help
from clusterdns.cli import audit
from clusterdns.cli.common import app

__all__ = ["app", "audit", "serve"]
