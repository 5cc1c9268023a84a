"""The import rules of ARCHITECTURE.md hold: the import-linter contracts in
pyproject.toml are kept, and they cover every package of ``conformance``."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: packages that are no layer: the independent backend (its own contract), the
#: exceptions every layer raises, the version string, the ``python -m`` entry point
OUTSIDE_LAYERS = {"backend", "errors", "_version", "__main__", "__init__"}


def _contracts() -> list[dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts: list[dict[str, object]] = config["tool"]["importlinter"]["contracts"]
    return contracts


def test_every_package_has_a_layer() -> None:
    """A new package of ``conformance`` must be placed in the layers, or it escapes them."""
    (layers,) = [c for c in _contracts() if c["type"] == "layers"]
    named = {
        name.strip().removeprefix("conformance.")
        for layer in layers["layers"]  # type: ignore[attr-defined]
        for name in layer.replace("|", ":").split(":")
    }
    packages = {p.stem for p in (ROOT / "conformance").iterdir() if p.suffix == ".py"} | {
        p.name for p in (ROOT / "conformance").iterdir() if (p / "__init__.py").is_file()
    }
    assert packages - OUTSIDE_LAYERS - named == set()
    assert named <= packages  # no layer names a package that is gone


def test_the_import_contracts_are_kept() -> None:
    pytest.importorskip("importlinter")
    proc = subprocess.run(
        [sys.executable, "-c", "from importlinter.cli import lint_imports_command;"
         " lint_imports_command()"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout
