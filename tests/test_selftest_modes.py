"""Each per-mode fault of ``tests/selftest/matrix_modes.py`` makes its check name the
mode that broke: a user reading the verdict learns whether plain or streamed answers
are wrong, without opening the evidence."""

from __future__ import annotations

import json

import pytest
from selftest.matrix_modes import TRIPS
from test_selftest_matrix import _run, root  # noqa: F401 - the backend fixture

from conformance.backend import FAULTS
from conformance.checks import CHECKS, Status

_WORD = {"stream": "streamed", "plain": "plain"}
_PAIRS = sorted(
    (check_id, fault)
    for check_id, faults in TRIPS.items()
    for fault in faults
    if fault in FAULTS and FAULTS[fault].mode is not None
)


def test_every_checked_mode_is_tripped_both_ways() -> None:
    """Where a rule is tripped by a per-mode fault, both of its modes are."""
    for check_id, faults in TRIPS.items():
        modes = {(FAULTS[f].base, FAULTS[f].mode) for f in faults if FAULTS[f].mode is not None}
        bases = {base for base, _ in modes}
        for base in bases - {"invalid_500", "invalid_accepted"}:
            assert {(base, "stream"), (base, "plain")} <= modes, (check_id, base)


@pytest.mark.parametrize(("check_id", "fault"), _PAIRS, ids=[f"{c}-{f}" for c, f in _PAIRS])
def test_the_verdict_names_the_broken_mode(root: str, check_id: str, fault: str) -> None:  # noqa: F811
    run = _run(root, "openai", only=[check_id], fault=fault)
    (result,) = [r for r in run.checks if r.id == check_id]
    expected = Status.WARNED if CHECKS[check_id].warn_only else Status.FAILED
    assert result.status is expected, f"{result.status.value}: {result.detail}"
    word = _WORD[FAULTS[fault].mode or ""]
    assert word in result.detail, result.detail
    other = _WORD["plain" if FAULTS[fault].mode == "stream" else "stream"]
    problems = [b.get("problem", "") for b in (result.evidence or {}).get("bad", [])]
    if problems:  # every listed problem is of the broken mode
        assert not any(other in p and word not in p for p in problems), json.dumps(problems)
