"""The modules compiled with mypyc (the query's hot path), and when their sources run instead.

`pip install` compiles these modules (setup.py) into extension modules beside their sources,
and Python imports an extension module before a source of the same name. In a source
checkout an edit after the build would then run the old code without a word, so when a
source of the package is newer than the compiled modules, every compiled module is loaded
from its source instead, and `STATUS` says why (`make setup` compiles them again). All of
them, not only the edited one: compiled modules call one another directly, never through
another's source. `CLUSTERDNS_PURE_PYTHON=1` runs the sources too (and, when building,
compiles nothing).

This module imports nothing of the package: setup.py reads MODULES from it.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Sequence
from importlib.abc import MetaPathFinder
from pathlib import Path
from types import ModuleType

MODULES = (
    "clusterdns.dns.request",
    "clusterdns.metrics.requests",
    "clusterdns.plugins.kubernetes.answers",
    "clusterdns.plugins.kubernetes.resolver",
    "clusterdns.server.block",
    "clusterdns.server.handler",
)
PURE_PYTHON = "CLUSTERDNS_PURE_PYTHON"  # set (to anything but "" or "0"): no compiled code
PACKAGE = Path(__file__).parent
STATUS = "not chosen yet"  # how the hot path runs, for the log and `--version`


def source_of(module: str) -> Path:
    """The source file of one of MODULES."""
    return PACKAGE.parent.joinpath(*module.split(".")).with_suffix(".py")


def _compiled_of(module: str) -> Path | None:
    source = source_of(module)
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        candidate = source.with_suffix(suffix)
        if candidate.exists():
            return candidate
    return None


def _newer_source(compiled: Sequence[Path]) -> Path | None:
    """In a source checkout (setup.py beside the package), a source of the package edited
    after the oldest compiled module was built; None when none is, or when installed."""
    if not PACKAGE.parent.joinpath("setup.py").exists():
        return None  # an installed package: its files are written once
    built = min(path.stat().st_mtime for path in compiled)
    for source in PACKAGE.rglob("*.py"):
        if source.stat().st_mtime > built:
            return source
    return None


class _Sources(MetaPathFinder):
    """Finds MODULES as their sources, ahead of the compiled modules beside them."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MODULES:
            return None
        return importlib.util.spec_from_file_location(fullname, source_of(fullname))


def choose() -> None:
    """Decide, before any of MODULES is imported, whether they run compiled; say so in
    STATUS."""
    global STATUS
    compiled = [_compiled_of(module) for module in MODULES]
    if os.environ.get(PURE_PYTHON, "") not in ("", "0"):
        reason = f"pure Python ({PURE_PYTHON} is set)"
    elif all(path is None for path in compiled):
        STATUS = f"pure Python (not compiled: built with {PURE_PYTHON} set?)"
        return  # nothing to hide: the sources are what Python finds
    elif None in compiled:
        reason = f"pure Python ({MODULES[compiled.index(None)]} is not compiled)"
    else:
        newer = _newer_source([path for path in compiled if path is not None])
        if newer is None:
            STATUS = "compiled with mypyc"
            return
        reason = (
            f"pure Python ({newer.relative_to(PACKAGE.parent)} is newer than the compiled "
            "modules: `make setup` compiles them again)"
        )
    if not any(isinstance(finder, _Sources) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Sources())
    STATUS = reason
