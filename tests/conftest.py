"""Test-wide settings: Hypothesis profiles bound the number of generated examples;
the ``no_network`` and ``check_registry_loaded`` fixtures.

Select one with ``HYPOTHESIS_PROFILE=dev|ci|thorough``; CI (``CI=true``) uses ``ci``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=50, deadline=None)
settings.register_profile(
    "thorough", max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck)
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every socket connection is refused: what runs under it must work offline
    (replaying cassettes, the shipped fixtures)."""

    def refuse(self: socket.socket, *args: object) -> None:
        raise OSError("network disabled by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    yield


@pytest.fixture(scope="session")
def check_registry_loaded() -> None:
    """Every built-in check family is imported once, before any ``pytester`` test.

    ``pytester`` restores ``sys.modules`` when its test ends, dropping the modules first
    imported during the test, while the registries (``CHECKS``, ``PROBES``) keep their
    entries. The next import of such a module would run it again and register a second,
    different function under the same name. A session fixture is set up before the
    function-scoped ``pytester`` takes its snapshot, so the families are in it.
    """
    from conformance.checks import load_families

    load_families()
