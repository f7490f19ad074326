"""The metric families, each declared by the part of the server that counts it, as CoreDNS's
plugins declare theirs (its plugin/*/metrics.go), under CoreDNS's names and labels.

Counting adds to plain ints: a counter's cell and a histogram's bucket slots per label tuple
(the query path finds its cells once, `metrics.requests.QueryCounts`); the Prometheus
families are built only when /metrics is scraped. Counts live as long as the process, across
reloads, as in CoreDNS. `METRICS` is the process's one registry. Every family can give its
counts as plain data (`snapshot`) and add another process's (`add`): how the workers' counts
reach the one that serves /metrics.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator
from typing import Any, Protocol, TypeVar

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, ProcessCollector
from prometheus_client import generate_latest as _generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.utils import floatToGoString

Labels = tuple[str, ...]
Cell = list[int]  # one counter's value, added to in place
# CoreDNS's plugin.TimeBuckets (seconds), shared by every duration histogram
TIME_BUCKETS = tuple(0.00025 * 2**i for i in range(16))


class Family(Protocol):
    name: str

    def collect(self) -> Metric: ...

    def snapshot(self) -> Any:
        """The counts as plain data (picklable), for `add` in another process."""
        ...

    def add(self, snapshot: Any) -> None: ...

    def empty(self) -> Family:
        """A family of the same name and labels with no counts."""
        ...


class Counter:
    """A counter per label tuple; `cell` gives the one int to add to on a hot path."""

    __slots__ = ("cells", "documentation", "label_names", "name")

    def __init__(self, name: str, documentation: str, label_names: Iterable[str] = ()) -> None:
        self.name, self.documentation = name, documentation
        self.label_names = list(label_names)
        self.cells: dict[Labels, Cell] = {}
        if not self.label_names:
            self.cells[()] = [0]  # a plain counter is shown from the start, at 0

    def cell(self, labels: Labels = ()) -> Cell:
        cell = self.cells.get(labels)
        if cell is None:
            cell = self.cells[labels] = [0]
        return cell

    def inc(self, labels: Labels = (), amount: int = 1) -> None:
        self.cell(labels)[0] += amount

    def value(self, labels: Labels = ()) -> int:
        cell = self.cells.get(labels)
        return 0 if cell is None else cell[0]

    def collect(self) -> Metric:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.label_names)
        for labels, cell in self.cells.items():
            family.add_metric(list(labels), cell[0])
        return family

    def snapshot(self) -> dict[Labels, int]:
        return {labels: cell[0] for labels, cell in self.cells.items()}

    def add(self, snapshot: dict[Labels, int]) -> None:
        for labels, count in snapshot.items():
            self.inc(labels, count)

    def empty(self) -> Counter:
        return Counter(self.name, self.documentation, self.label_names)


class Sizes(Protocol):
    """Something whose size a gauge reads on each scrape (a cache's entries)."""

    def sizes(self) -> Iterable[tuple[Labels, int]]: ...


class Gauge:
    """Values per label tuple, set directly or read from `sources` when scraped. Across
    workers, `summed` gauges add up (entries); the others are the same everywhere (info)."""

    __slots__ = ("documentation", "label_names", "name", "sources", "summed", "values")

    def __init__(
        self, name: str, documentation: str, label_names: Iterable[str] = (), summed: bool = True
    ) -> None:
        self.name, self.documentation = name, documentation
        self.label_names = list(label_names)
        self.summed = summed
        self.values: dict[Labels, float] = {}
        self.sources: set[Sizes] = set()

    def set(self, labels: Labels, value: float) -> None:
        self.values[labels] = value

    def current(self) -> dict[Labels, float]:
        values = dict(self.values)
        for source in self.sources:
            for labels, size in source.sizes():
                values[labels] = values.get(labels, 0) + size
        return values

    def collect(self) -> Metric:
        family = GaugeMetricFamily(self.name, self.documentation, labels=self.label_names)
        for labels, value in self.current().items():
            family.add_metric(list(labels), value)
        return family

    def snapshot(self) -> dict[Labels, float]:
        return self.current()

    def add(self, snapshot: dict[Labels, float]) -> None:
        for labels, value in snapshot.items():
            self.values[labels] = self.values.get(labels, 0) + value if self.summed else value

    def empty(self) -> Gauge:
        return Gauge(self.name, self.documentation, self.label_names, self.summed)


class Histogram:
    """Bucket counts per label tuple; `observe` is a bisect and two additions."""

    __slots__ = ("bounds", "documentation", "label_names", "name", "series")

    def __init__(
        self,
        name: str,
        documentation: str,
        label_names: Iterable[str],
        bounds: tuple[float, ...],
    ) -> None:
        self.name, self.documentation = name, documentation
        self.label_names = list(label_names)
        self.bounds = bounds
        self.series: dict[Labels, list[float]] = {}  # per bucket (and +Inf), then the sum

    def observe(self, labels: Labels, value: float) -> None:
        series = self.series_of(labels)
        series[bisect_left(self.bounds, value)] += 1
        series[-1] += value

    def series_of(self, labels: Labels) -> list[float]:
        """The counts behind `labels`, to add to directly (see QueryCounts)."""
        series = self.series.get(labels)
        if series is None:
            series = self.series[labels] = [0] * (len(self.bounds) + 2)
        return series

    def collect(self) -> Metric:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.label_names)
        for labels, series in self.series.items():
            total, buckets = 0.0, []
            for bound, count in zip((*self.bounds, float("inf")), series, strict=False):
                total += count
                buckets.append((floatToGoString(bound), total))
            family.add_metric(list(labels), buckets, series[-1])
        return family

    def snapshot(self) -> dict[Labels, list[float]]:
        return {labels: list(series) for labels, series in self.series.items()}

    def add(self, snapshot: dict[Labels, list[float]]) -> None:
        for labels, series in snapshot.items():
            own = self.series_of(labels)
            own[:] = [a + b for a, b in zip(own, series, strict=True)]

    def empty(self) -> Histogram:
        return Histogram(self.name, self.documentation, self.label_names, self.bounds)


_F = TypeVar("_F", bound=Family)


class Registry:
    """Families by name, in the order they were declared."""

    def __init__(self) -> None:
        self.families: dict[str, Family] = {}

    def counter(self, name: str, documentation: str, label_names: Iterable[str] = ()) -> Counter:
        return self._declare(Counter(name, documentation, label_names))

    def gauge(
        self, name: str, documentation: str, label_names: Iterable[str] = (), summed: bool = True
    ) -> Gauge:
        return self._declare(Gauge(name, documentation, label_names, summed))

    def histogram(
        self, name: str, documentation: str, label_names: Iterable[str], bounds: tuple[float, ...]
    ) -> Histogram:
        return self._declare(Histogram(name, documentation, label_names, bounds))

    def _declare(self, family: _F) -> _F:
        if family.name in self.families:
            raise ValueError(f"metric {family.name} is declared twice")
        self.families[family.name] = family
        return family

    def collect(self) -> Iterator[Metric]:
        for family in self.families.values():
            yield family.collect()

    def snapshot(self) -> dict[str, Any]:
        """Every family's counts as plain data (picklable), by name."""
        return {name: family.snapshot() for name, family in self.families.items()}

    def empty(self) -> Registry:
        """A registry of the same families with no counts."""
        other = Registry()
        other.families = {name: family.empty() for name, family in self.families.items()}
        return other

    def add(self, snapshot: dict[str, Any]) -> None:
        """Add another process's `snapshot` (the same program: the same families)."""
        for name, counts in snapshot.items():
            self.families[name].add(counts)

    def summed(self, snapshots: Iterable[dict[str, Any]]) -> Registry:
        """A registry holding these counts with the snapshots' added."""
        total = self.empty()
        for snapshot in (self.snapshot(), *snapshots):
            total.add(snapshot)
        return total


METRICS = Registry()
_REGISTRY = CollectorRegistry(auto_describe=False)
_REGISTRY.register(METRICS)
# process_cpu_seconds_total, process_resident_memory_bytes…, of this process
PROCESS = ProcessCollector(registry=_REGISTRY)


def exposition() -> tuple[int, str, bytes]:
    """The /metrics response: status, content type, body."""
    return 200, CONTENT_TYPE_LATEST, _generate_latest(_REGISTRY)


def process_values() -> dict[str, float]:
    """This process's CPU, memory and file descriptors, by sample name."""
    return {sample.name: sample.value for family in PROCESS.collect() for sample in family.samples}


def exposition_of(
    snapshots: Iterable[dict[str, Any]], processes: Iterable[dict[str, float]]
) -> tuple[int, str, bytes]:
    """The /metrics response with other workers' counts (`Registry.snapshot`) and process
    figures (`process_values`) added to this process's."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(METRICS.summed(snapshots))
    registry.register(_SummedProcesses([*processes]))
    return 200, CONTENT_TYPE_LATEST, _generate_latest(registry)


class _SummedProcesses:
    """The process families for all workers: CPU, memory and descriptors summed, the
    earliest start time; the descriptor limit is this process's."""

    def __init__(self, others: list[dict[str, float]]) -> None:
        self.others = others

    def collect(self) -> Iterator[Metric]:
        for family in PROCESS.collect():
            summed = Metric(family.name, family.documentation, family.type)
            for sample in family.samples:
                values = [sample.value, *(o[sample.name] for o in self.others if sample.name in o)]
                if sample.name == "process_start_time_seconds":
                    value = min(values)
                elif sample.name == "process_max_fds":
                    value = sample.value
                else:
                    value = sum(values)
                summed.add_sample(sample.name, sample.labels, value)
            yield summed
