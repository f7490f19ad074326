"""CoreDNS's `errors` plugin: a failed forward is logged (`[ERROR] plugin/errors: ...`).

    errors [stdout] {
        stacktrace
        consolidate DURATION REGEXP [warning|error|info|debug] [show_first]
    }

`stacktrace`: an internal error (CoreDNS's recovered panic), answered SERVFAIL and logged at
most a few times per window, is logged with its traceback (metrics.panics); for the whole
process while any block has it, as `debug`.

An error whose text matches a `consolidate` regex (the first that does) is counted instead of
logged; DURATION after the first such error one line says how many there were
(`N errors like 'REGEXP' occurred in last DURATION`) at the given level (error by default).
With `show_first` the first error of each period is logged as it happens, and the summary only
when more followed. The errors logged are the relay's (a forward that failed).
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass

from clusterdns.config.checks import (
    Origins,
    arguments,
    choice,
    duration,
    fail,
    no_block,
    switch,
)
from clusterdns.config.corefile import Directive
from clusterdns.config.registry import Plugin

log = logging.getLogger("clusterdns.errors")

LEVELS = {
    "warning": logging.WARNING, "error": logging.ERROR, "info": logging.INFO,
    "debug": logging.DEBUG,
}
MAX_REGEX_LENGTH = 10000  # CoreDNS's maxRegexpLen


@dataclass(frozen=True)
class Consolidate:
    period: float  # seconds
    pattern: re.Pattern[str]
    level: int = logging.ERROR
    show_first: bool = False


@dataclass(frozen=True)
class ErrorsConfig:
    consolidate: tuple[Consolidate, ...] = ()
    stacktrace: bool = False


class ErrorLog:
    """Where the relay reports a failed query: logged, or counted under a consolidate rule and
    summed up once per period (a timer thread per open period, as CoreDNS's time.AfterFunc);
    `close` sums up the open periods at once, as CoreDNS does when it stops or reloads."""

    def __init__(self, config: ErrorsConfig) -> None:
        self._rules = config.consolidate
        self._counts = [0] * len(self._rules)
        self._timers: list[threading.Timer | None] = [None] * len(self._rules)
        self._lock = threading.Lock()

    def report(self, rcode: int, name: str, qtype: str, error: str) -> None:
        level = logging.ERROR
        for index, rule in enumerate(self._rules):
            if rule.pattern.search(error):
                if self._consolidated(index):
                    return
                level = rule.level
                break
        log.log(level, "plugin/errors: %d %s %s: %s", rcode, name, qtype, error)

    def _consolidated(self, index: int) -> bool:
        with self._lock:
            self._counts[index] += 1
            first = self._counts[index] == 1
        if not first:
            return True
        rule = self._rules[index]
        timer = threading.Timer(rule.period, self._summarize, (index,))
        timer.daemon = True
        self._timers[index] = timer
        timer.start()
        return not rule.show_first

    def _summarize(self, index: int) -> None:
        with self._lock:
            count, self._counts[index] = self._counts[index], 0
        rule = self._rules[index]
        if count > 1 or (count and not rule.show_first):
            log.log(rule.level, "plugin/errors: %d errors like '%s' occurred in last %s",
                    count, rule.pattern.pattern, go_duration(rule.period))

    def close(self) -> None:
        for index, timer in enumerate(self._timers):
            if timer is not None:
                timer.cancel()
                self._summarize(index)


def go_duration(seconds: float) -> str:
    """Go's time.Duration.String() for whole milliseconds and up: 500ms, 30s, 5m0s, 1h0m0s."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms" if seconds else "0s"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{secs:g}s"
    if hours or minutes:
        text = f"{int(minutes)}m{text}"
    if hours:
        text = f"{int(hours)}h{text}"
    return text


def setup(node: Directive, block: Origins) -> ErrorsConfig:
    for arg in arguments(node, 0, 1):
        choice(node, arg, ("stdout",))
    rules, stacktrace = [], False
    for option in node.block:
        no_block(option)
        if option.name == "stacktrace":
            stacktrace = switch(option)
        elif option.name == "consolidate":
            rules.append(_consolidate(option))
        else:
            raise fail(option, f"unknown errors option '{option.name}'")
    return ErrorsConfig(tuple(rules), stacktrace)


def _consolidate(option: Directive) -> Consolidate:
    period_text, regex, *extra = arguments(option, 2, 4)
    period = duration(option, period_text)
    if len(regex) > MAX_REGEX_LENGTH:
        raise fail(option, f"regex pattern too long: {len(regex)} > {MAX_REGEX_LENGTH}")
    try:
        pattern = re.compile(regex)
    except re.error as exc:
        raise fail(option, f"bad consolidate regex '{regex}': {exc}") from None
    level, show_first = None, False
    for word in extra:
        if word in LEVELS:
            if level is not None:
                raise fail(option, "multiple log levels specified in consolidate")
            if show_first:
                raise fail(option, "log level must come before show_first in consolidate")
            level = LEVELS[word]
        elif word == "show_first":
            show_first = True
        else:
            raise fail(option, f"unknown option in consolidate: {word}")
    return Consolidate(period, pattern, logging.ERROR if level is None else level, show_first)


ERRORS = Plugin("errors", setup)
