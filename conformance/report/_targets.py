"""The systems under test as the report names them: short, distinct labels and anchors."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from conformance.report._bench_runs import step_label


@dataclass(frozen=True)
class Target:
    """One system under test as a column of the report."""

    label: str
    provider: str
    model: str
    base_url: str
    anchor: str


def slug(text: str) -> str:
    """A lowercase identifier safe for an HTML id."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def target_labels(results: Sequence[dict[str, Any]]) -> list[Target]:
    """Short, distinct labels for the targets of ``results``.

    The label is ``provider · model``; when two results share it, the host of the base
    URL is added, then the load (for bench results), then a number.
    """
    labels = []
    for r in results:
        provider = str(r.get("provider") or "?")
        model = str(r.get("model") or "")
        labels.append(f"{provider} · {model}" if model else provider)

    def host(r: dict[str, Any]) -> str:
        return urlsplit(str(r.get("base_url") or "")).netloc

    def where(r: dict[str, Any]) -> str:
        parts = urlsplit(str(r.get("base_url") or ""))
        return f"{parts.netloc}{parts.path}".rstrip("/")

    def load(r: dict[str, Any]) -> str:
        if r.get("kind") != "bench":
            return ""
        users, rate = (r.get("load") or {}).get("users"), (r.get("load") or {}).get("rate")
        if r.get("steps") or isinstance(users, list) or isinstance(rate, list):
            return "sweep"
        return step_label(r.get("load") or {})

    # For each group of equal labels, add the first detail that tells them all apart: the
    # load (bench runs), the host, then host and path; else the most telling one and a number.
    groups: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        groups.setdefault(label, []).append(i)
    for label, idx in groups.items():
        if len(idx) < 2:
            continue
        best: list[str] = []
        for extra in (load, host, where):
            values = [extra(results[i]) for i in idx]
            if len(set(values)) > len(set(best)):
                best = values
            if len(set(values)) == len(values) and all(values):
                break
        if len(set(best)) > 1:
            for i, value in zip(idx, best, strict=True):
                labels[i] = f"{label} · {value}" if value else label
    counts = Counter(labels)
    seen: Counter[str] = Counter()
    out = []
    for i, (r, label) in enumerate(zip(results, labels, strict=True)):
        if counts[label] > 1:
            seen[label] += 1
            label = f"{label} (#{seen[label]})"
        out.append(
            Target(
                label=label,
                provider=str(r.get("provider") or ""),
                model=str(r.get("model") or ""),
                base_url=str(r.get("base_url") or ""),
                anchor=f"t{i}-{slug(label)}",
            )
        )
    return out
