"""Proof that every check can fail, and that none fails a correct server.

- every registered check has at least one tripping fault in a ``tests/selftest/matrix_*.py``;
- each check fails (warns, when warn-only) against each of its tripping faults;
- every check passes or is skipped against the correct reference backend, for every
  profile, and against every valid variant (``correct=True`` faults).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import httpx
import pytest
from selftest import MockFault, RewritingTransport, load_matrices

from conformance.backend import FAULTS, BackendConfig, create_app, serve_in_thread
from conformance.checks import CHECKS, Status, load_families
from conformance.engine import RunConfig, run_checks
from conformance.providers import PROVIDERS, get_provider
from conformance.providers.base import Dialect
from conformance.results import CheckRun
from conformance.wire.client import WireClient

load_families()
TRIPS, MOCKS, MODULES = load_matrices()
KEY = "sk-selftest-" + secrets.token_hex(8)
_DIALECT_PROFILE = {Dialect.OPENAI: "openai", Dialect.WETROCLOUD: "wetrocloud"}


@pytest.fixture(scope="module")
def root() -> Iterator[str]:
    with serve_in_thread(BackendConfig(api_keys=(KEY,), hang_s=10)) as url:
        yield url


def _profile_for(check_id: str, fault: str) -> str:
    """The profile to run ``check_id`` against ``fault`` with."""
    if fault in MOCKS:
        return MOCKS[fault].provider
    spec = CHECKS[check_id]
    for dialect, profile in _DIALECT_PROFILE.items():
        if dialect in spec.dialects and dialect.value in FAULTS[fault].dialects:
            return profile
    raise AssertionError(f"fault {fault!r} cannot apply to check {check_id!r} (no common dialect)")


def _run(
    root: str,
    profile: str,
    *,
    only: list[str] | None = None,
    fault: str | None = None,
    mock: MockFault | None = None,
) -> CheckRun:
    cls = PROVIDERS[profile]
    timeout = 1.0 if fault is not None and FAULTS[fault].hangs else 5.0
    sender = None
    if mock is not None:
        app = create_app(BackendConfig(api_keys=(KEY,)))
        transport = RewritingTransport(httpx.ASGITransport(app=app), mock.rewrite)
        sender = WireClient(timeout=timeout, transport=transport)
        base = cls.embedded_base_url("http://mock.invalid")
    else:
        base = cls.embedded_base_url(root + (f"/fault/{fault}" if fault else ""))
    config = RunConfig(
        provider=get_provider(profile, base_url=base),
        api_key=KEY,
        timeout=timeout,
        only=only,
        sender=sender,
        mode="embedded",
    )
    return run_checks(config)


def _problems(run: CheckRun) -> list[str]:
    return [
        f"{r.id}: {r.status.value}: {r.detail}"
        for r in run.checks
        if r.status not in (Status.PASSED, Status.SKIPPED)
    ]


def test_matrix_modules_found() -> None:
    assert "matrix_core" in MODULES


def test_every_check_has_a_tripping_fault() -> None:
    missing = sorted(check_id for check_id in CHECKS if not TRIPS.get(check_id))
    assert not missing, f"checks without a tripping fault in tests/selftest/matrix_*.py: {missing}"


def test_trips_name_known_checks_and_faults() -> None:
    unknown_checks = sorted(set(TRIPS) - set(CHECKS))
    assert not unknown_checks, f"TRIPS names unregistered checks: {unknown_checks}"
    for check_id, faults in TRIPS.items():
        for fault in faults:
            assert fault in FAULTS or fault in MOCKS, f"{check_id}: unknown fault {fault!r}"
            if fault in FAULTS:
                assert not FAULTS[fault].correct, f"{check_id}: {fault!r} is a valid variant"


_PAIRS = sorted((check_id, fault) for check_id, faults in TRIPS.items() for fault in faults)


@pytest.mark.parametrize(("check_id", "fault"), _PAIRS, ids=[f"{c}-{f}" for c, f in _PAIRS])
def test_fault_trips_check(root: str, check_id: str, fault: str) -> None:
    spec = CHECKS[check_id]
    run = _run(
        root,
        _profile_for(check_id, fault),
        only=[check_id],
        fault=None if fault in MOCKS else fault,
        mock=MOCKS.get(fault),
    )
    (result,) = [r for r in run.checks if r.id == check_id]
    expected = Status.WARNED if spec.warn_only else Status.FAILED
    assert result.status is expected, (
        f"{check_id} against {fault}: {result.status.value} ({result.detail}), "
        f"expected {expected.value}"
    )
    assert result.detail
    if result.status is Status.FAILED:
        assert result.evidence, f"{check_id} failed without evidence"


@pytest.mark.parametrize("profile", sorted(PROVIDERS))
def test_correct_backend_passes_every_check(root: str, profile: str) -> None:
    run = _run(root, profile)
    assert not _problems(run), "\n".join(_problems(run))
    assert run.summary()["passed"] > 0


_VARIANTS = sorted(
    (name, _DIALECT_PROFILE[Dialect(dialect)])
    for name, fault in FAULTS.items()
    if fault.correct
    for dialect in fault.dialects
)


@pytest.mark.parametrize(("fault", "profile"), _VARIANTS, ids=[f"{f}-{p}" for f, p in _VARIANTS])
def test_valid_variant_passes_every_check(root: str, fault: str, profile: str) -> None:
    run = _run(root, profile, fault=fault)
    assert not _problems(run), "\n".join(_problems(run))


#: (check, fault) pairs where the deviation is only worth a warning: optional in the
#: specification, but a loss for clients
_WARN_PAIRS = [("schema.usage", "mock:usage_missing")]


@pytest.mark.parametrize(
    ("check_id", "fault"), _WARN_PAIRS, ids=[f"{c}-{f}" for c, f in _WARN_PAIRS]
)
def test_fault_makes_check_warn(root: str, check_id: str, fault: str) -> None:
    run = _run(root, _profile_for(check_id, fault), only=[check_id], mock=MOCKS[fault])
    (result,) = [r for r in run.checks if r.id == check_id]
    assert result.status is Status.WARNED, f"{check_id} against {fault}: {result.status.value}"
    assert result.detail and result.evidence
