"""``load_families`` fails loudly: a family listed but missing is an error, not a gap."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import conformance.checks as checks


def test_a_missing_family_module_is_an_error_that_names_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(checks, "_loaded", False)
    monkeypatch.setattr(checks, "FAMILIES", (*checks.FAMILIES, "conformance.checks.no_such_family"))
    with pytest.raises(ModuleNotFoundError, match="no_such_family") as raised:
        checks.load_families()
    assert "does not exist" in str(raised.value)
    assert "FAMILIES" in str(raised.value)
    assert checks._loaded is False  # the next call tries again, and fails again
    with pytest.raises(ModuleNotFoundError, match="no_such_family"):
        checks.load_families()


def test_a_family_whose_dependency_is_missing_names_the_dependency(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A family that exists but imports something missing is not reported as missing."""
    (tmp_path / "family_needing_a_dependency.py").write_text(
        "import no_such_dependency_of_a_family\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(checks, "_loaded", False)
    monkeypatch.setattr(checks, "FAMILIES", (*checks.FAMILIES, "family_needing_a_dependency"))
    try:
        with pytest.raises(ModuleNotFoundError) as raised:
            checks.load_families()
    finally:
        sys.modules.pop("family_needing_a_dependency", None)
    assert raised.value.name == "no_such_dependency_of_a_family"
    assert "FAMILIES" not in str(raised.value)
    assert checks._loaded is False


def test_every_listed_family_loads_and_registers_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checks, "_loaded", False)
    registered = checks.load_families()
    families = {spec.id.split(".")[0] for spec in registered.values()}
    assert {"sse", "schema", "errors", "auth", "robustness", "models"} <= families
