"""The pytest plugin (``pytest11`` entry point ``conformance``).

Run the conformance suites as pytest tests, one test per registered check::

    pytest --pyargs conformance.suites --provider openai                 # embedded backend
    pytest --pyargs conformance.suites --provider weai --base-url URL    # a live target
    pytest --pyargs conformance.suites --provider openai --replay fixtures/openai

Options (each also spelled ``--conformance-<name>``, which never clashes with another
plugin): ``--provider``, ``--base-url``, ``--model``, ``--api-key-env``,
``--replay``, ``--max-requests``, ``--conformance-timeout`` (``--timeout`` belongs to
pytest-timeout when that is installed) and ``--conformance-json PATH``.

The session fixture :func:`conformance_run` runs the engine once, for the checks the
session actually collected; a failed check fails its test with the detail and evidence,
a skipped one is skipped with the reason, a warned one passes with a warning. Nothing
here imports the engine until the fixture is used, so other test runs are not slowed.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conformance.results import CheckRun

__all__ = ["ConformanceWarning", "conformance_run", "judge"]

#: (short name, help, extra argparse keywords)
_OPTIONS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    (
        "provider",
        "conformance: provider profile to check (openai, nebulablock, weai, wetrocloud)",
        {},
    ),
    ("base-url", "conformance: the target's base URL (default: the embedded backend)", {}),
    ("model", "conformance: model to ask for (default: the profile's)", {}),
    ("api-key-env", "conformance: environment variable holding the key", {}),
    ("replay", "conformance: run offline against cassettes in this directory", {}),
    ("max-requests", "conformance: requests the run may send at most (default 60)", {"type": int}),
    ("timeout", "conformance: seconds one request may take (default 30)", {"type": float}),
)


class ConformanceWarning(UserWarning):
    """A check that warned: the target deviates from the specification harmlessly."""


def _taken(parser: pytest.Parser) -> set[str]:
    """Option strings other plugins registered before us (best effort)."""
    names: set[str] = set()
    groups = [getattr(parser, "_anonymous", None), *getattr(parser, "_groups", [])]
    for group in groups:
        for option in getattr(group, "options", []) if group is not None else []:
            names.update(option.names())
    return names


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "conformance: check a text-generation API")
    taken = _taken(parser)
    timeout_plugin = importlib.util.find_spec("pytest_timeout") is not None
    for name, help_, extra in _OPTIONS:
        long_name = f"--conformance-{name}"
        names = [long_name]
        short = f"--{name}"
        if short not in taken and not (name == "timeout" and timeout_plugin):
            names.insert(0, short)
        group.addoption(
            *names, dest=f"conformance_{name.replace('-', '_')}", default=None, help=help_, **extra
        )
    group.addoption(
        "--conformance-json",
        dest="conformance_json",
        default=None,
        help="conformance: write the check result JSON here",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "conformance_check(id): a test that reports one conformance check"
    )


def _option(config: pytest.Config, name: str) -> Any:
    return config.getoption(f"conformance_{name}", default=None)


def _selected_ids(session: pytest.Session) -> list[str]:
    """The check ids of the collected suite tests (so ``-k`` narrows the requests too)."""
    ids: list[str] = []
    for item in session.items:
        callspec = getattr(item, "callspec", None)
        params = getattr(callspec, "params", {}) if callspec is not None else {}
        check_id = params.get("check_id")
        if isinstance(check_id, str):
            ids.append(check_id)
    return ids


@pytest.fixture(scope="session")
def conformance_run(request: pytest.FixtureRequest) -> Iterator[CheckRun]:
    """Run the engine once against the configured target and yield every verdict."""
    import contextlib
    from pathlib import Path

    from conformance.engine import DEFAULT_MAX_REQUESTS, DEFAULT_TIMEOUT, RunConfig, run_checks
    from conformance.engine.target import embedded_target, resolve_api_key
    from conformance.errors import ConfigError
    from conformance.providers import get_provider

    config = request.config
    provider_name = _option(config, "provider") or "openai"
    base_url = _option(config, "base_url")
    model = _option(config, "model")
    replay = _option(config, "replay")
    timeout = float(_option(config, "timeout") or DEFAULT_TIMEOUT)
    max_requests = int(_option(config, "max_requests") or DEFAULT_MAX_REQUESTS)
    only = _selected_ids(request.session) or None
    try:
        var, key = resolve_api_key(provider_name, _option(config, "api_key_env"))
    except ConfigError as exc:
        pytest.exit(f"conformance: {exc}", returncode=4)
    secrets = [key] if key else []

    with contextlib.ExitStack() as stack:
        try:
            if replay is not None:
                from conformance.cassettes import open_replay

                if not Path(replay).is_dir():
                    raise ConfigError(f"--replay {replay!r} is not a directory")
                sender = open_replay(Path(replay), base_url=base_url, timeout=timeout)
                provider = get_provider(
                    provider_name,
                    base_url=base_url or sender.cassettes.meta("base_url"),
                    model=model or sender.cassettes.meta("model"),
                )
                run_config = RunConfig(
                    provider=provider,
                    api_key=sender.api_key,
                    sender=sender,
                    mode="replay",
                    timeout=timeout,
                    max_requests=max_requests,
                    only=only,
                )
            elif base_url is None:
                target = stack.enter_context(embedded_target(provider_name, model=model))
                secrets.extend([target.api_key] if target.api_key else [])
                run_config = RunConfig(
                    provider=target.provider,
                    api_key=target.api_key,
                    mode="embedded",
                    timeout=timeout,
                    max_requests=max_requests,
                    only=only,
                )
            else:
                run_config = RunConfig(
                    provider=get_provider(provider_name, base_url=base_url, model=model),
                    api_key=key,
                    mode="live",
                    timeout=timeout,
                    max_requests=max_requests,
                    only=only,
                    facts={"api_key_env": var, "api_key_set": key is not None},
                )
            run = run_checks(run_config)
        except ConfigError as exc:
            pytest.exit(f"conformance: {exc}", returncode=4)
    out = _option(config, "json")
    if out:
        run.write_json(out, secrets=secrets)
    request.config.stash[_SECRETS] = secrets
    yield run


_SECRETS = pytest.StashKey[list[str]]()


def judge(run: CheckRun, check_id: str, config: pytest.Config | None = None) -> None:
    """Turn one check's verdict into the pytest outcome (fail, skip, warn or pass)."""
    import warnings

    from conformance.results import scrub

    secrets = config.stash.get(_SECRETS, []) if config is not None else []
    result = run.by_id().get(check_id)
    if result is None:
        pytest.skip(f"{check_id} does not apply to the {run.provider} profile")
    status = result.status.value
    detail = str(scrub(result.detail, secrets))
    if status == "skipped":
        pytest.skip(detail or "skipped")
    if status in ("failed", "error"):
        evidence = json.dumps(scrub(result.evidence, secrets), indent=2, ensure_ascii=False)
        kind = "FAILED" if status == "failed" else "ERROR (the harness could not judge)"
        pytest.fail(
            f"{kind} [{result.severity.value}] {result.title}\n{detail}\nevidence: {evidence[:4000]}",
            pytrace=False,
        )
    if status == "warned":
        warnings.warn(ConformanceWarning(f"{check_id}: {detail}"), stacklevel=2)
