"""Where things are in the repository."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "zones" / "demo-cluster.yaml"  # the bundled demo cluster snapshot
TEST_DATA = REPO / "tests" / "data"  # imported tables (CoreDNS's), see its README.md
