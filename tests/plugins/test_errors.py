"""`errors`'s consolidation summary names its period as CoreDNS prints a Go duration."""

from __future__ import annotations

import pytest

from clusterdns.plugins.errors import go_duration


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (0.5, "500ms"), (2, "2s"), (30, "30s"), (90, "1m30s"), (300, "5m0s"),
     (3600, "1h0m0s"), (5400.5, "1h30m0.5s")],
)
def test_go_duration(seconds, text):
    assert go_duration(seconds) == text
