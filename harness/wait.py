"""Waiting for a condition, the one way every test and benchmark does it."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

# Long enough that a loaded machine never makes a healthy wait time out; a wait that does
# time out means the awaited thing did not happen, and says which.
TIMEOUT = 30.0


def wait_for(
    condition: Callable[[], T | None], *, what: str, timeout: float = TIMEOUT,
    interval: float = 0.02,
) -> T:
    """Call `condition` until it returns something truthy, and return that. After `timeout`
    seconds, fail with an AssertionError naming `what` was awaited and the last value seen.
    An exception raised by `condition` (a failed assertion in it) ends the wait at once."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        _check(deadline, timeout, what, value)
        time.sleep(interval)


async def wait_for_async(
    condition: Callable[[], T | Awaitable[T | None] | None], *, what: str, timeout: float = TIMEOUT,
    interval: float = 0.02,
) -> T:
    """wait_for in a coroutine, for a condition that needs the running loop (which goes on
    running between calls); `condition` may be a coroutine function."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        _check(deadline, timeout, what, value)
        await asyncio.sleep(interval)


def _check(deadline: float, timeout: float, what: str, value: object) -> None:
    if time.monotonic() >= deadline:
        raise AssertionError(f"timed out after {timeout:g} s waiting for {what} (last: {value!r})")
