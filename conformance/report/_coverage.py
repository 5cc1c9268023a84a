"""How much of a check result was actually judged (not skipped), and whether it is enough."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from conformance.report._fields import count_of
from conformance.report._format import as_float


@dataclass(frozen=True)
class Coverage:
    """How many of a check result's checks were actually judged (not skipped)."""

    judged: int
    total: int
    floor: float | None
    met: bool | None

    @property
    def share(self) -> float | None:
        """Judged over total (None when there were no checks)."""
        return self.judged / self.total if self.total else None

    @property
    def thin(self) -> bool:
        """Too little was judged to call the target compatible.

        Below the floor the run states (``coverage`` written by ``check``), or, without
        one, when more checks were skipped than judged.
        """
        if self.met is not None:
            return not self.met
        share = self.share
        if share is None:
            return True
        return share < (self.floor if self.floor is not None else 0.5)


def coverage(result: dict[str, Any]) -> Coverage:
    """The coverage of a check result: its ``coverage`` object when written, else counted.

    Judged checks reached a verdict (passed, failed or warned); the total is the
    applicable checks, that is every check but the skips by design (a skipped check
    marked ``by_design``: a feature the profile does not document, or a clean refusal).
    ``check`` writes ``{"judged", "applicable", "ratio", "min", "enough", ...}``
    (:func:`conformance.results.coverage_of`); a result without it (written before
    coverage was recorded) is counted from its checks the same way.
    """
    checks = [c for c in result.get("checks", []) if isinstance(c, dict)]
    judged = sum(1 for c in checks if c.get("status") in ("passed", "failed", "warned"))
    total = sum(1 for c in checks if not (c.get("status") == "skipped" and c.get("by_design")))
    floor: float | None = None
    met: bool | None = None
    raw = result.get("coverage")
    if isinstance(raw, dict):
        j, t = count_of(raw.get("judged")), count_of(raw.get("applicable"))
        if j is not None and t is not None and t >= j:
            judged, total = j, t
        floor = as_float(raw.get("min"))
        if isinstance(raw.get("enough"), bool):
            met = raw["enough"]
    return Coverage(judged, total, floor, met)
