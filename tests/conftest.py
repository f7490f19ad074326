"""Fixtures shared by the whole suite: the test Corefile and the real server on the demo
cluster. Everything else the tests share is in harness/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.paths import DEMO
from harness.server import TEST_COREFILE, ServerProcess, start_server, stop_server


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
