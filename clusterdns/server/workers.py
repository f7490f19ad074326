"""How `clusterdns serve` runs: on uvloop when it is installed, in one process or in worker
processes that share the listening port.

Workers: each is a whole server (its own source, state, index and wire answers) bound to the
same address with SO_REUSEPORT, so the kernel spreads clients over them by address hash.
Python answers on one core per process; workers are how a node's cores are used. Each
worker reads the cluster itself (a snapshot, or its own informer: N list/watch streams, as
N CoreDNS replicas would have).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import traceback
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

log = logging.getLogger("clusterdns.runner")
T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)`, on uvloop's event loop when it is installed (`pip install
    clusterdns[speed]`): its socket callbacks cost less per query."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def free_port(host: str) -> int:
    """A port free for UDP and TCP on `host`, for workers told to listen on port 0: they
    must all bind the same one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    while True:
        with socket.socket(family, socket.SOCK_DGRAM) as udp:
            udp.bind((host, 0))
            port: int = udp.getsockname()[1]
            with socket.socket(family, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((host, port))
                except OSError:
                    continue
            return port


def serve_workers(count: int, serve_one: Callable[[int], int]) -> int:
    """Fork `count` workers that each call `serve_one(index)` (binding with SO_REUSEPORT;
    it returns the worker's exit status), pass
    SIGTERM/SIGINT on to them, and wait. When one worker ends on its own the others are
    stopped too: restarting the whole is the supervisor's job (kubelet, systemd). Returns
    the exit code: the first non-zero of the workers'."""
    children: list[int] = []
    for index in range(count):
        pid = os.fork()
        if pid == 0:  # the worker
            os._exit(_run_child(serve_one, index))
        children.append(pid)
    stopping = False

    def stop(signum: int = signal.SIGTERM, _frame: object = None) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    code = 0
    while children:
        pid, status = os.wait()
        children.remove(pid)
        exit_code = os.waitstatus_to_exitcode(status)
        code = code or (exit_code if exit_code > 0 else 0)
        if not stopping:
            log.error("worker %d exited (%d): stopping the others", pid, exit_code)
            code = code or 1
            stop()
    return code


def _run_child(serve_one: Callable[[int], int], index: int) -> int:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        return serve_one(index)
    except BaseException:  # never return into the parent's code after fork
        traceback.print_exc()
        return 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
