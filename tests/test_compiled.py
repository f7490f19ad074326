"""The hot path compiled with mypyc (setup.py, clusterdns/compiled.py): what the suite runs,
byte for byte what its sources answer, and never stale in a checkout."""

from __future__ import annotations

import importlib
import importlib.machinery
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from clusterdns import compiled

REPO = Path(__file__).resolve().parent.parent
PURE = {compiled.PURE_PYTHON: "1"}


def run(*args: str, cwd: Path = REPO, env: dict[str, str] | None = None) -> str:
    environment = {k: v for k, v in os.environ.items() if k != compiled.PURE_PYTHON}
    environment["PYTHONPATH"] = str(cwd)
    result = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=environment | (env or {}),
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_suite_runs_the_compiled_hot_path():
    """`make test` compiles before the suite runs: a source edited since would make the
    suite test the sources instead of what is shipped."""
    if os.environ.get(compiled.PURE_PYTHON, "") not in ("", "0"):
        pytest.skip(f"{compiled.PURE_PYTHON} is set: the suite runs the sources on purpose")
    assert compiled.STATUS == "compiled with mypyc", compiled.STATUS
    for name in compiled.MODULES:
        module = importlib.import_module(name)
        assert module.__file__ is not None
        assert module.__file__.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)), name


def test_compiled_and_sources_give_the_same_bytes():
    """The demo cluster (every name, type and variant, mixed case) and the benchmark's large
    mix, each question asked twice: the same replies whether compiled or not."""
    compiled_run = run("-m", "harness.digest").split(maxsplit=2)
    pure_run = run("-m", "harness.digest", env=PURE).split(maxsplit=2)
    assert compiled_run[2].strip() == compiled.STATUS
    assert pure_run[2].startswith("pure Python")
    assert compiled_run[:2] == pure_run[:2]
    assert int(pure_run[1]) > 70_000


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A copy of the checkout's package as built (compiled modules and all, times kept)."""
    if not compiled.STATUS.startswith("compiled"):
        pytest.skip(f"nothing compiled to go stale: {compiled.STATUS}")
    shutil.copytree(REPO / "clusterdns", tmp_path / "clusterdns",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    for path in [REPO / "setup.py", *REPO.glob("clusterdns_native__mypyc*")]:
        shutil.copy2(path, tmp_path / path.name)
    return tmp_path


HANDLER = (
    "import clusterdns.server.handler as h, clusterdns.compiled as c; print(h.__file__); "
    "print(c.STATUS)"
)


def test_a_source_edited_after_the_build_runs_the_sources(checkout):
    """An edit after the build would run the old code; every compiled module then runs from
    its source, and STATUS says which file is newer."""
    built, status = run("-c", HANDLER, cwd=checkout).splitlines()
    assert not built.endswith(".py") and status == "compiled with mypyc"
    edited = checkout / "clusterdns" / "dns" / "names.py"
    edited.write_text(edited.read_text() + "\n")
    source, status = run("-c", HANDLER, cwd=checkout).splitlines()
    assert source == str(checkout / "clusterdns" / "server" / "handler.py")
    assert status.startswith("pure Python (clusterdns/dns/names.py is newer")
    for name in compiled.MODULES:
        check = f"import {name} as m; print(m.__file__)"
        assert run("-c", check, cwd=checkout).strip().endswith(".py"), name


def test_pure_python_is_chosen_by_its_variable(checkout):
    source, status = run("-c", HANDLER, cwd=checkout, env=PURE).splitlines()
    assert source.endswith("handler.py")
    assert status == f"pure Python ({compiled.PURE_PYTHON} is set)"
