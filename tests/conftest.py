"""Fixtures shared by the whole suite: the test Corefile and the real server on the demo
cluster. Everything else the tests share is in harness/."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.paths import DEMO
from harness.server import TEST_COREFILE, ServerProcess, start_server, stop_server
from harness.upstream import FakeUpstream


@pytest.fixture(scope="session")
def test_corefile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("conf") / "Corefile"
    path.write_text(TEST_COREFILE)
    return path


@pytest.fixture(scope="session")
def demo_server(test_corefile: Path) -> Iterator[ServerProcess]:
    """The real server on the demo cluster, on a free loopback port."""
    server = start_server(["--conf", str(test_corefile), "--snapshot", str(DEMO)])
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    """A loopback upstream to forward to (never the machine's resolver), one per module
    (a module needing other records defines its own)."""
    with FakeUpstream() as fake:
        yield fake


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip a `root` test, with the reason, where what it needs is missing: root itself
    (`root("why")`) or tools that `make system-deps` installs (`root(tools=[...])`)."""
    for mark in item.iter_markers("root"):
        reason = mark.args[0] if mark.args else mark.kwargs.get("reason")
        if reason and os.geteuid() != 0:
            pytest.skip(f"needs root: {reason} (CI runs the suite as root)")
        missing = [tool for tool in mark.kwargs.get("tools", ()) if shutil.which(tool) is None]
        if missing:
            it = "it" if len(missing) == 1 else "them"
            pytest.skip(f"{', '.join(missing)} not installed (`make system-deps`, as root, "
                        f"installs {it})")
