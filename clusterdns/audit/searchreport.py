"""What a search-path audit found, per namespace and per pod, with the advice that saves the
wasted queries: as aligned text tables or as one JSON object.

Each piece of advice says what it saves on its own; they overlap, so their savings do not add
up: `autopath` saves every walk of the search path from pods; a trailing dot, the walks of one
name in one namespace; an ndots low enough that a pod's external names are asked as they are
first, their walks, less the bare queries it then costs the pod's in-cluster names that have
as many dots.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from clusterdns.audit.searchpath import ClientStats, NameStats, SearchPathAudit

TEXT_NAMES = 3  # names in a row of the text tables


@dataclass(slots=True)
class Row:
    """A namespace's or a pod's counts."""

    namespace: str
    pod: str | None  # None: the namespace's row
    ip: str | None
    pods: int
    stats: ClientStats

    def long_way(self) -> list[tuple[str, NameStats]]:
        """The names that wasted queries, the most wasteful first."""
        names = [(name, s) for name, s in self.stats.names.items() if s.wasted]
        return sorted(names, key=lambda item: (-item[1].wasted, -item[1].long_way, item[0]))


@dataclass(frozen=True, slots=True)
class Advice:
    kind: str  # autopath | ndots | trailing-dot
    saves: int  # queries, on its own
    text: str
    where: dict[str, Any] = field(default_factory=dict)  # namespace, pod, and what to write


@dataclass(frozen=True, slots=True)
class Report:
    audit: SearchPathAudit
    namespaces: list[Row]
    pods: list[Row]
    advice: list[Advice]

    @property
    def queries(self) -> int:
        return sum(row.stats.queries for row in self.pods)

    @property
    def wasted(self) -> int:
        return sum(row.stats.wasted for row in self.pods)


def build_report(audit: SearchPathAudit) -> Report:
    pods = [
        Row(client.namespace, client.pod, client.ip, 1, stats)
        for client, stats in audit.pods.items()
    ]
    by_namespace: dict[str, Row] = {}
    for pod in pods:
        row = by_namespace.get(pod.namespace)
        if row is None:
            row = by_namespace[pod.namespace] = Row(pod.namespace, None, None, 0, ClientStats())
        _merge(row, pod)
    namespaces = list(by_namespace.values())
    advice = _autopath(pods) + [a for pod in pods for a in _ndots(pod)]
    advice += [a for namespace in namespaces for a in _trailing_dots(namespace)]
    advice.sort(key=lambda a: (-a.saves, a.text))
    return Report(audit, _ordered(namespaces), _ordered(pods), advice)


def _merge(into: Row, pod: Row) -> None:
    """Add a pod's counts to its namespace's row."""
    stats = into.stats
    into.pods += 1
    stats.queries += pod.stats.queries
    stats.wasted += pod.stats.wasted
    stats.lookups += pod.stats.lookups
    for name, counts in pod.stats.names.items():
        stats.names.setdefault(name, NameStats()).add(counts)


def _ordered(rows: list[Row]) -> list[Row]:
    return sorted(rows, key=lambda r: (-r.stats.wasted, -r.stats.queries, r.namespace, r.pod))


def _autopath(pods: list[Row]) -> list[Advice]:
    saves = sum(s.autopath for pod in pods for s in pod.stats.names.values())
    text = (
        "Corefile: `autopath @kubernetes` (with `pods verified`): the server walks the "
        "search path, one query per lookup from a pod"
    )
    return [Advice("autopath", saves, text)] if saves else []


def _ndots(pod: Row) -> list[Advice]:
    """The ndots that saves the pod the most: one at or below the dots of the external names
    it looked up the long way, so that they are asked as they are first."""
    names = pod.stats.names
    best: tuple[int, int] | None = None
    for ndots in sorted({_dots(n) for n, s in names.items() if s.at_bare} - {0}):
        asked = [s for n, s in names.items() if _dots(n) >= ndots]
        saves = sum(s.at_bare for s in asked) - sum(s.at_expansion for s in asked)
        if saves > 0 and (best is None or saves >= best[1]):
            best = ndots, saves
    if best is None:
        return []
    ndots, saves = best
    first = sorted(
        (n for n, s in names.items() if s.at_bare and _dots(n) >= ndots),
        key=lambda n: (-names[n].at_bare, n),
    )
    shown = ", ".join(first[:TEXT_NAMES]) + (", ..." if len(first) > TEXT_NAMES else "")
    text = (
        f"pod {pod.namespace}/{pod.pod}: `dnsConfig.options ndots:{ndots}` in its pod "
        f"template (names of {ndots}+ dots asked as written first: {shown})"
    )
    where = {"namespace": pod.namespace, "pod": pod.pod, "ndots": ndots, "names": first}
    return [Advice("ndots", saves, text, where)]


def _trailing_dots(namespace: Row) -> list[Advice]:
    advice = []
    for name, stats in namespace.long_way():
        write = stats.answer or name + "."
        text = f"namespace {namespace.namespace}: ask {write} (trailing dot), not {name}"
        if stats.answer is None:
            text += " (nothing answers it: is it still needed?)"
        where = {"namespace": namespace.namespace, "name": name, "write": write}
        advice.append(Advice("trailing-dot", stats.wasted, text, where))
    return advice


def _dots(name: str) -> int:
    return name.count(".")


def json_text(report: Report, top: int | None) -> str:
    """The report as one JSON object; `top` bounds the pods, names, addresses and advice."""
    audit = report.audit
    unknown = _unknown(report)
    document = {
        "zone": audit.zone,
        "search": list(audit.host_search),
        "lines": audit.lines,
        "skipped": audit.skipped,
        "queries": audit.lines - audit.skipped,  # the pods' and the unknown clients'
        "wasted": report.wasted,
        "namespaces": [_row_json(row, top) for row in report.namespaces],
        "pods": [_row_json(row, top) for row in report.pods[:top]],
        "unknown": {
            "clients": len(unknown),
            "queries": sum(u[1] for u in unknown),
            "nxdomain": sum(u[2] for u in unknown),
            "top": [{"ip": ip, "queries": q, "nxdomain": nx} for ip, q, nx in unknown[:top]],
        },
        "advice": [
            {"kind": a.kind, "saves": a.saves, **a.where, "text": a.text}
            for a in report.advice[:top]
        ],
    }
    return json.dumps(document, indent=2) + "\n"


def _row_json(row: Row, top: int | None) -> dict[str, Any]:
    head: dict[str, Any] = {"namespace": row.namespace}
    if row.pod is None:
        head["pods"] = row.pods
    else:
        head.update(pod=row.pod, ip=row.ip)
    stats = row.stats
    names = [
        {
            "name": name,
            "lookups": s.lookups,
            "long_way": s.long_way,
            "wasted": s.wasted,
            "answer": s.answer,
        }
        for name, s in row.long_way()[:top]
    ]
    return head | {
        "queries": stats.queries,
        "wasted": stats.wasted,
        "lookups": stats.lookups,
        "long_way": names,
    }


def _unknown(report: Report) -> list[tuple[str, int, int]]:
    """(ip, queries, NXDOMAIN) of the addresses no pod holds, the busiest first."""
    rows = [(ip, u.queries, u.nxdomain) for ip, u in report.audit.unknown.items()]
    return sorted(rows, key=lambda row: (-row[1], row[0]))


def text_lines(report: Report, top: int | None) -> Iterator[str]:
    """The report as a person reads it: totals, then tables; `top` bounds the pods,
    addresses and advice."""
    audit = report.audit
    unknown = _unknown(report)
    queries = audit.lines - audit.skipped
    yield (
        f"{_count(audit.lines, 'line')} read: {_count(queries, 'query', 'queries')}, "
        f"{_count(audit.skipped, 'other line')} skipped\n"
    )
    yield (
        f"{_count(report.queries, 'query', 'queries')} from {_count(len(report.pods), 'pod')} "
        f"in {_count(len(report.namespaces), 'namespace')}: {report.wasted} wasted on "
        f"search-path expansions{_share(report.wasted, report.queries)}\n"
    )
    if unknown:
        asked = sum(u[1] for u in unknown)
        yield (
            f"{_count(asked, 'query', 'queries')} from "
            f"{_count(len(unknown), 'address', 'addresses')} that no pod holds\n"
        )
    if report.namespaces:
        yield "\n"
        yield from _table(
            ("NAMESPACE", "PODS", "QUERIES", "WASTED", _LONG_WAY),
            [
                (r.namespace, r.pods, r.stats.queries, r.stats.wasted, _names(r))
                for r in report.namespaces
            ],
        )
        yield "\n"
        yield from _table(
            ("POD", "NAMESPACE", "IP", "QUERIES", "WASTED", _LONG_WAY),
            [
                (r.pod, r.namespace, r.ip, r.stats.queries, r.stats.wasted, _names(r))
                for r in report.pods[:top]
            ],
        )
    if unknown:
        yield "\n"
        yield from _table(("UNKNOWN CLIENT", "QUERIES", "NXDOMAIN"), unknown[:top])
    if report.advice:
        yield "\n"
        yield from _table(
            ("SAVES", "ADVICE (each on its own: they overlap)"),
            [(a.saves, a.text) for a in report.advice[:top]],
        )


_LONG_WAY = "LOOKED UP THE LONG WAY (QUERIES WASTED)"


def _names(row: Row) -> str:
    names = row.long_way()
    text = ", ".join(f"{name} {s.wasted}" for name, s in names[:TEXT_NAMES])
    return text + (", ..." if len(names) > TEXT_NAMES else "")


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def _share(part: int, whole: int) -> str:
    return f" ({100 * part / whole:.0f}%)" if whole else ""


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    """Aligned columns, numbers to the right."""
    body = [list(row) for row in rows]
    right = [bool(body) and isinstance(body[0][i], int) for i in range(len(header))]
    cells = [list(header)] + [[str(value) for value in row] for row in body]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for row in cells:
        cols = zip(row, widths, right, strict=True)
        padded = (cell.rjust(w) if r else cell.ljust(w) for cell, w, r in cols)
        yield "  ".join(padded).rstrip() + "\n"
