"""One pytest test per registered conformance check.

Run with ``pytest --pyargs conformance.suites --provider NAME [--base-url URL]``; the
plugin's session fixture makes the exchanges once and each test reports its check's
verdict (see :mod:`conformance.plugin`).
"""

from __future__ import annotations

import pytest

from conformance.checks import CHECKS, load_families
from conformance.plugin import judge
from conformance.results import CheckRun

load_families()


@pytest.mark.conformance_check
@pytest.mark.parametrize("check_id", sorted(CHECKS))
def test_check(check_id: str, conformance_run: CheckRun, request: pytest.FixtureRequest) -> None:
    """The target passes the check (see its description in the report)."""
    judge(conformance_run, check_id, request.config)
