"""CoreDNS's `reload`: re-read the Corefile when its content, or an imported file's, changes.

Every `interval` ± `jitter` the file's SHA-512 is compared with the one running; new content is
handed to `apply`, which swaps the new configuration in or logs why it cannot (the old one
keeps serving) and says which reload settings are in force afterwards. Each content is tried
once: a broken file is not re-applied on every tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from clusterdns.config.checks import Origins, arguments, duration, fail, no_block
from clusterdns.config.corefile import Directive, read_corefile
from clusterdns.config.registry import Plugin
from clusterdns.errors import ClusterDNSError
from clusterdns.metrics.registry import METRICS

log = logging.getLogger("clusterdns.reload")

_MIN_INTERVAL = 2.0
_MIN_JITTER = 1.0


@dataclass(frozen=True, slots=True)
class ReloadConfig:
    interval: float = 30.0
    jitter: float = 15.0


def setup(node: Directive, block: Origins) -> ReloadConfig:
    no_block(node)
    args = arguments(node, 0, 2)
    interval = duration(node, args[0]) if args else 30.0
    jitter = duration(node, args[1]) if len(args) > 1 else 15.0
    if interval < _MIN_INTERVAL:
        raise fail(node, f"reload: interval must be at least {_MIN_INTERVAL:g}s")
    if jitter < _MIN_JITTER:
        raise fail(node, f"reload: jitter must be at least {_MIN_JITTER:g}s")
    # As CoreDNS: the jitter is capped at half the interval.
    return ReloadConfig(interval, min(jitter, interval / 2))


RELOAD = Plugin("reload", setup, chain=False)

# Applies the Corefile (its new digest given); returns the reload settings now in force
# (None: stop watching).
Apply = Callable[[str], Awaitable[ReloadConfig | None]]


FAILED = METRICS.counter(
    "coredns_reload_failed_total", "Counter of the number of failed reload attempts."
)
VERSION_INFO = METRICS.gauge(
    "coredns_reload_version_info",
    "A metric with a constant '1' value labeled by hash, and value which type of hash generated.",
    ["hash", "value"],
    summed=False,
)


def show_version(digest: str | None) -> None:
    """`coredns_reload_version_info` names the running Corefile's digest (none: no reload)."""
    VERSION_INFO.values = {("sha512", digest): 1} if digest else {}


def corefile_digest(path: Path) -> str:
    """SHA-512 of the Corefile, then of each file it imports as they are now (a Corefile
    without imports hashes as CoreDNS hashes it). Raises OSError when it cannot be read."""
    data = path.read_bytes()
    hasher = hashlib.sha512(data)
    try:
        imported = read_corefile(data.decode("utf-8"), str(path)).files
    except (UnicodeDecodeError, ClusterDNSError):
        imported = ()  # broken: applying it says why; a fix changes the Corefile's hash
    for name in imported:
        with contextlib.suppress(OSError):  # gone since: the next read says so
            hasher.update(Path(name).read_bytes())
    return hasher.hexdigest()


class CorefileWatcher:
    def __init__(self, path: Path, config: ReloadConfig, running: str, apply: Apply) -> None:
        self.path = path
        self.config = config
        self.digest = running  # corefile_digest of what is running
        self.apply = apply
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        while True:
            jitter = self.config.jitter
            await asyncio.sleep(self.config.interval + random.uniform(-jitter, jitter))
            try:
                digest = corefile_digest(self.path)
            except OSError as exc:
                log.warning("plugin/reload: cannot read %s: %s", self.path, exc.strerror or exc)
                continue
            if digest == self.digest:
                continue
            self.digest = digest
            config = await self.apply(digest)
            if config is None:
                log.info(
                    "plugin/reload: reload is no longer configured; not watching %s", self.path
                )
                return
            self.config = config
