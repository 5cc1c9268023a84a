"""``load_families`` fails loudly: a family listed but missing is an error, not a gap."""

from __future__ import annotations

import pytest

import conformance.checks as checks


def test_a_missing_family_module_is_an_import_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checks, "_loaded", False)
    monkeypatch.setattr(checks, "FAMILIES", (*checks.FAMILIES, "conformance.checks.no_such_family"))
    with pytest.raises(ModuleNotFoundError, match="no_such_family"):
        checks.load_families()
    assert checks._loaded is False  # the next call tries again, and fails again


def test_every_listed_family_loads_and_registers_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checks, "_loaded", False)
    registered = checks.load_families()
    families = {spec.id.split(".")[0] for spec in registered.values()}
    assert {"sse", "schema", "errors", "auth", "robustness", "models"} <= families
