"""The metrics a bench result declares, as the report reads them.

A bench result carries its metrics table (``metric_definitions``, written from
:mod:`conformance.metrics.definitions`): what each metric is called, its unit, which
way is worse and which statistics are compared. The report and the comparison take
labels, units and directions from there, so a metric added to the table shows up
without touching the report. A result written before the block existed (or one whose
block is unreadable) is read with the harness's own table instead.

The block comes from a file and is untrusted: a name must be a plain identifier and a
label or unit plain words (letters, digits, spaces and ``./%()+,:'-``, at most 60
characters), so that nothing in it can act as Markdown, HTML or a terminal control
sequence. A block with any entry that is not so is ignored as a whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from conformance.metrics import definitions

#: What a metric's name may be (a key of ``metrics``), and its label and unit.
_NAME = re.compile(r"[a-z][a-z0-9_]{0,59}")
_WORDS = re.compile(r"(?:[^\W_]|[ ./%()+,:'-]){1,60}")


@dataclass(frozen=True)
class MetricInfo:
    """One metric of a result: a distribution (``metrics.<name>`` is a summary) or a rate."""

    name: str
    kind: str  # "distribution" | "rate"
    label: str
    unit: str
    lower_is_better: bool
    compared: tuple[str, ...] = ()
    in_table: bool = False
    headline: tuple[str, ...] = ()
    headline_rank: int = 100
    buckets: str | None = None


def metric_table(result: dict[str, Any]) -> tuple[MetricInfo, ...]:
    """The metrics ``result`` declares, or the harness's table when it declares none."""
    raw = result.get("metric_definitions")
    if isinstance(raw, list) and raw:
        parsed = [_parse(entry) for entry in raw]
        if all(p is not None for p in parsed):
            return tuple(p for p in parsed if p is not None)
    return tuple(info for info in (_parse(entry) for entry in definitions.result_block()) if info)


def distributions(result: dict[str, Any]) -> tuple[MetricInfo, ...]:
    """The distribution metrics of ``result``, in its order."""
    return tuple(m for m in metric_table(result) if m.kind == "distribution")


def rate(result: dict[str, Any], name: str) -> MetricInfo:
    """The rate ``name`` as ``result`` declares it (the harness's own when it does not)."""
    for m in metric_table(result):
        if m.kind == "rate" and m.name == name:
            return m
    for entry in definitions.result_block():
        info = _parse(entry)
        if info is not None and info.name == name:
            return info
    raise KeyError(name)


def headline(results: Iterable[dict[str, Any]]) -> list[tuple[MetricInfo, str]]:
    """The (metric, statistic) columns of the Markdown summary for these results."""
    seen: dict[str, MetricInfo] = {}
    for r in results:
        for m in distributions(r):
            if m.headline and m.name not in seen:
                seen[m.name] = m
    ordered = sorted(seen.values(), key=lambda m: m.headline_rank)
    return [(m, stat) for m in ordered for stat in m.headline]


def _parse(entry: Any) -> MetricInfo | None:
    """One entry of ``metric_definitions``; None when it is not one a report can use."""
    if not isinstance(entry, dict):
        return None
    name, kind, label, unit = (entry.get(k) for k in ("name", "kind", "label", "unit"))
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        return None
    if not isinstance(label, str) or not _WORDS.fullmatch(label):
        return None
    if not isinstance(unit, str) or not _WORDS.fullmatch(unit):
        return None
    if kind not in ("distribution", "rate"):
        return None
    lower = entry.get("lower_is_better")
    rank = entry.get("headline_rank", 100)
    buckets = entry.get("buckets")
    return MetricInfo(
        name=name,
        kind=str(kind),
        label=label,
        unit=unit,
        lower_is_better=lower if isinstance(lower, bool) else True,
        compared=_stats(entry.get("compared")),
        in_table=entry.get("in_table") is True,
        headline=_stats(entry.get("headline")),
        headline_rank=rank if isinstance(rank, int) and not isinstance(rank, bool) else 100,
        buckets=buckets if isinstance(buckets, str) else None,
    )


def _stats(value: Any) -> tuple[str, ...]:
    """A list of statistic names (``p50``, ``p99``...); anything else is left out."""
    if not isinstance(value, list):
        return ()
    return tuple(s for s in value if isinstance(s, str) and _is_stat(s))


def _is_stat(stat: str) -> bool:
    if stat in ("mean", "min", "max"):
        return True
    return stat.startswith("p") and stat[1:].isdigit() and 0 < int(stat[1:]) < 100
