"""The real `dig` (bind9-dnsutils), run against a server, or from inside a network namespace."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence

from harness.query import Address

MISSING = "dig is not installed (make system-deps installs bind9-dnsutils)"


def installed() -> bool:
    return shutil.which("dig") is not None


class DigFailed(AssertionError):
    """dig got no reply at all (its exit status is 0 for any rcode)."""


def dig(
    *args: str, server: Address | None = None, prefix: Sequence[str] = (), tries: int = 1,
    wait: int = 3, timeout: float = 30,
) -> str:
    """dig's output for ARGS, asking `server` (else the resolv.conf nameserver of where it
    runs); `prefix` runs it through another command (`ip netns exec NS`)."""
    at = [f"@{server.host}", "-p", str(server.port)] if server is not None else []
    cmd = [*prefix, "dig", *at, f"+tries={tries}", f"+time={wait}", *args]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise DigFailed(f"{' '.join(cmd)} exited {result.returncode}:\n"
                        f"{result.stdout}{result.stderr}")
    return result.stdout


def status(output: str) -> str:
    """The rcode dig printed (NOERROR, NXDOMAIN, ...)."""
    for line in output.splitlines():
        if "status:" in line:
            return line.split("status:")[1].split(",")[0].strip()
    raise AssertionError(f"no status in dig output:\n{output}")


def answers(output: str) -> set[str]:
    """The records of `+noall +answer` output as {"TYPE RDATA"}."""
    records = (line.split() for line in output.splitlines() if not line.startswith(";"))
    return {" ".join(fields[3:]) for fields in records if fields}
