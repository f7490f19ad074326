"""One error tree: every exception clusterdns defines is a ClusterDNSError, in the branch
that says whose fault it is, and that branch's exit status is what the CLI exits with."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys

import clusterdns
from clusterdns.errors import (
    AuditError,
    ClusterDNSError,
    ConfigError,
    LoopDetected,
    ProtocolError,
    ServeError,
    SourceError,
)

BRANCHES = (ConfigError, SourceError, ServeError, AuditError, ProtocolError)


def defined_exceptions() -> list[type[BaseException]]:
    found = []
    for info in pkgutil.walk_packages(clusterdns.__path__, "clusterdns."):
        if info.name == "clusterdns.__main__":  # runs the CLI
            continue
        module = importlib.import_module(info.name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__ == info.name:
                found.append(value)
    return found


def test_every_error_clusterdns_defines_is_in_one_branch_of_the_tree():
    errors = defined_exceptions()
    assert len(errors) > len(BRANCHES)  # the walk found the modules' own errors
    for error in errors:
        if error is ClusterDNSError or error in BRANCHES:
            continue
        assert issubclass(error, ClusterDNSError), f"{error.__module__}.{error.__name__}"
        assert sum(issubclass(error, branch) for branch in BRANCHES) == 1, error.__name__


def test_a_forwarding_loop_exits_1_and_every_other_error_2():
    assert LoopDetected.exit_code == 1
    assert {branch.exit_code for branch in BRANCHES} == {2}


def test_the_cli_exits_with_the_errors_status(tmp_path):
    corefile = tmp_path / "Corefile"
    corefile.write_text(".:53 {\n  kubernetes cluster.local {\n    ttl nine\n  }\n}\n")
    result = subprocess.run(
        [sys.executable, "-m", "clusterdns", "dump", "--conf", str(corefile)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == ConfigError.exit_code
    assert f"{corefile}:3:" in result.stderr and "Traceback" not in result.stderr
