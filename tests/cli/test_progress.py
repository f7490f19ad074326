"""The progress lines of the one-shot commands (cli/progress.py)."""

from __future__ import annotations

import io

from clusterdns.cli.progress import Progress


def test_progress_goes_quiet_for_quick_work_and_counts_long_work():
    quick, slow = io.StringIO(), io.StringIO()
    Progress("dump", stream=quick).note("read 9 services")
    progress = Progress("dump", delay=0, stream=slow)
    progress._last -= 1  # a second has passed since the start
    progress.count(5, 10)
    progress.note("wrote out.zone")
    assert quick.getvalue() == ""
    lines = slow.getvalue().splitlines()
    assert lines[0] == "clusterdns dump: 5/10 services"
    assert lines[1].startswith("clusterdns dump: wrote out.zone (")
