"""`clusterdns` under tracemalloc, for bench/soak.py --trace-malloc: on SIGUSR2 the process
writes a snapshot of the allocations traced so far to DIRECTORY/N.tracemalloc (N counting
from 0; written to a temporary name first, so a file that is there is whole).

    python -m bench.traced DIRECTORY FRAMES serve ARGS...
"""

from __future__ import annotations

import signal
import sys
import tracemalloc
from pathlib import Path
from types import FrameType

from clusterdns.cli.app import app


def main() -> None:
    directory, frames, *command = sys.argv[1:]
    tracemalloc.start(int(frames))
    dumped = 0

    def dump(_signum: int, _frame: FrameType | None) -> None:
        nonlocal dumped
        path = Path(directory) / f"{dumped}.tracemalloc"
        tracemalloc.take_snapshot().dump(str(path.with_suffix(".part")))
        path.with_suffix(".part").replace(path)
        dumped += 1

    signal.signal(signal.SIGUSR2, dump)
    sys.argv = ["clusterdns", *command]
    app()


if __name__ == "__main__":
    main()
