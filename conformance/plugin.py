"""The pytest plugin (``pytest11`` entry point ``conformance``).

Run the conformance suites as pytest tests, one test per registered check::

    pytest --pyargs conformance.suites --provider openai                 # embedded backend
    pytest --pyargs conformance.suites --provider weai --base-url URL    # a live target
    pytest --pyargs conformance.suites --provider openai --replay fixtures/openai

Options (each also spelled ``--conformance-<name>``, which never clashes with another
plugin): ``--provider``, ``--base-url``, ``--model``, ``--api-key-env``,
``--replay``, ``--max-requests``, ``--conformance-timeout`` (``--timeout`` belongs to
pytest-timeout when that is installed) and ``--conformance-json PATH``.

``--conformance-min-coverage`` (default 0.5, as ``check --min-coverage``) is the share of
applicable checks that must be judged. ``--conformance-strict-openai`` (also
``--strict-openai``, as ``check --strict-openai``) fails the test of every
OpenAI-compatibility finding; without it a failed check whose basis is ``openai`` (beyond
the provider's document) and that does not break the official SDK in a feature the
document offers passes with a warning that names it a compatibility finding.

Once the suite is collected, the options are validated (a bad one ends the session with
pytest's one-line usage error, exit 4) and the tests that cannot apply to the chosen
provider are deselected, not skipped: checks of another dialect or of a capability the
profile does not document, and the encoding suite's tests of other profiles. Then the
engine runs once, before the first test, for the checks the session kept (``-k``
narrows the requests too); the target is resolved exactly as ``conformance check``
resolves it (:func:`conformance.engine.target.resolve_target`: without ``--model`` a
live target's model list gives the model; cassettes recorded for another provider are
refused; credentials in the base URL are kept out of every output), and an unreachable
or misconfigured target (a refused key, a wrong base URL) is a usage error too. A failed check fails
its test with the detail and evidence, a skipped one is skipped with the reason, a
warned one passes with a warning; a session whose tests pass but that judged less than
the coverage floor fails (exit 1), and the terminal summary states the coverage. Nothing
here imports the engine unless the suite is collected, so other test runs are not slowed.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
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
    (
        "min-coverage",
        "conformance: share of the applicable checks that must be judged (default 0.5); "
        "below it the session fails",
        {"type": float},
    ),
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
    strict = ["--conformance-strict-openai"]
    if "--strict-openai" not in taken:
        strict.insert(0, "--strict-openai")
    group.addoption(
        *strict,
        dest="conformance_strict_openai",
        action="store_true",
        default=False,
        help="conformance: fail on every OpenAI-compatibility finding, not only on those "
        "that break the official SDK (beyond the provider's document, findings are "
        "warnings otherwise)",
    )
    group.addoption(
        "--conformance-json",
        dest="conformance_json",
        default=None,
        help="conformance: write the check result JSON here",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "conformance_check(id=None): a test that reports one conformance check (the id, or "
        "the test's check_id parameter)",
    )
    config.addinivalue_line(
        "markers",
        "conformance_profile(name): a test about one provider profile (deselected when "
        "--provider names another)",
    )


def _option(config: pytest.Config, name: str) -> Any:
    return config.getoption(f"conformance_{name}", default=None)


_RUN = pytest.StashKey["CheckRun"]()
_SECRETS = pytest.StashKey[list[str]]()
_PLAN = pytest.StashKey["_Plan"]()


def _check_id(item: pytest.Item) -> str | None:
    """The check id a suite test reports (``None``: not a per-check test). A per-check
    test carries the ``conformance_check`` marker, with the id as its argument or as the
    ``check_id`` parameter."""
    marker = item.get_closest_marker("conformance_check")
    if marker is None:
        return None
    if marker.args and isinstance(marker.args[0], str):
        return marker.args[0]
    callspec = getattr(item, "callspec", None)
    params = getattr(callspec, "params", {}) if callspec is not None else {}
    check_id = params.get("check_id")
    return check_id if isinstance(check_id, str) else None


class _Plan:
    """The validated options of a session that runs the per-check suite."""

    def __init__(self, config: pytest.Config) -> None:
        from conformance.engine import DEFAULT_MAX_REQUESTS, DEFAULT_TIMEOUT
        from conformance.engine.target import resolve_target

        self.provider_name = str(_option(config, "provider") or "openai").strip().lower()
        self.timeout = float(_option(config, "timeout") or DEFAULT_TIMEOUT)
        self.max_requests = int(_option(config, "max_requests") or DEFAULT_MAX_REQUESTS)
        floor = _option(config, "min_coverage")
        self.min_coverage = 0.5 if floor is None else float(floor)
        if not 0.0 <= self.min_coverage <= 1.0:
            raise _config_error(f"--conformance-min-coverage {floor} is not between 0 and 1")
        if self.timeout <= 0 or self.max_requests < 1:
            raise _config_error("--conformance-timeout and --max-requests must be positive")
        replay = _option(config, "replay")
        # the same resolution as 'conformance check' (unknown provider, base URL, key,
        # replay directory: a usage error before anything is sent)
        self.target = resolve_target(
            self.provider_name,
            base_url=_option(config, "base_url"),
            model=_option(config, "model"),
            api_key_env=_option(config, "api_key_env"),
            replay=Path(replay) if replay is not None else None,
        )
        self.profile = self.target.profile
        self.strict_openai = bool(_option(config, "strict_openai"))
        self.json: str | None = _option(config, "json")
        if self.json is not None:
            from conformance.cli._options import check_output_path

            check_output_path("--conformance-json", Path(self.json))

    def applies(self, check_id: str) -> bool:
        """Whether the check can be judged for this provider at all (its dialect, and a
        capability the profile documents)."""
        from conformance.checks import CHECKS

        spec = CHECKS.get(check_id)
        if spec is None or not spec.applies_to(self.profile.dialect):
            return False
        return not spec.requires or bool(getattr(self.profile.capabilities, spec.requires))

    def run(self, only: list[str] | None) -> tuple[CheckRun, list[str]]:
        """Run the engine once (raises :class:`~conformance.errors.ConfigError`)."""
        from conformance.engine import run_checks

        with self.target.open(timeout=self.timeout) as target:
            config = target.run_config(
                timeout=self.timeout,
                max_requests=self.max_requests,
                only=only,
                min_coverage=self.min_coverage,
            )
            config.strict_openai = self.strict_openai
            return run_checks(config), list(target.secrets)


def _config_error(message: str) -> Exception:
    from conformance.errors import ConfigError

    return ConfigError(message)


def _usage_error(exc: Exception) -> pytest.UsageError:
    """A configuration problem as pytest's own one-line usage error (exit 4)."""
    return pytest.UsageError(f"conformance: {exc}")


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Validate the options once the suite is collected, and deselect what does not apply
    to the chosen provider (other dialects, capabilities the profile does not document,
    the encoding suite's other profiles) instead of reporting it as skipped."""
    suite = [item for item in items if _check_id(item) is not None]
    profiled = [item for item in items if item.get_closest_marker("conformance_profile")]
    if not suite and not profiled:
        return
    from conformance.errors import ConfigError

    try:
        plan = _Plan(config)
    except ConfigError as exc:
        raise _usage_error(exc) from None
    config.stash[_PLAN] = plan
    chosen = _option(config, "provider")
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        check_id = _check_id(item)
        marker = item.get_closest_marker("conformance_profile")
        if (check_id is not None and not plan.applies(check_id)) or (
            marker is not None and chosen and marker.args[0] != plan.provider_name
        ):
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    """Run the engine before the first test, so that an unreachable or misconfigured
    target ends the session with one line (pytest's usage error) instead of a test error
    per check."""
    config = session.config
    plan = config.stash.get(_PLAN, None)
    if plan is None or config.option.collectonly or _RUN in config.stash:
        return
    only = [i for i in (_check_id(item) for item in session.items) if i is not None]
    if not only:
        return
    _run_into_stash(config, plan, only)


def _run_into_stash(config: pytest.Config, plan: _Plan, only: list[str] | None) -> CheckRun:
    from conformance.errors import ConfigError

    try:
        run, secrets = plan.run(only)
    except ConfigError as exc:
        raise _usage_error(exc) from None
    out = _option(config, "json")
    if out:
        run.write_json(out, secrets=secrets)
    config.stash[_RUN] = run
    config.stash[_SECRETS] = secrets
    return run


@pytest.fixture(scope="session")
def conformance_run(request: pytest.FixtureRequest) -> CheckRun:
    """The engine's verdicts for the configured target (run once per session)."""
    config = request.config
    run = config.stash.get(_RUN, None)
    if run is not None:
        return run
    plan = config.stash.get(_PLAN, None)
    if plan is None:
        from conformance.errors import ConfigError

        try:
            plan = _Plan(config)
        except ConfigError as exc:
            raise _usage_error(exc) from None
        config.stash[_PLAN] = plan
    ids = [i for i in (_check_id(item) for item in request.session.items) if i is not None]
    return _run_into_stash(config, plan, ids or None)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A session whose tests all passed or skipped, but which judged less than
    ``--conformance-min-coverage`` of its applicable checks, does not pass (exit 1)."""
    run = session.config.stash.get(_RUN, None)
    if run is not None and not run.covered and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """One line with the coverage: how many applicable checks were judged."""
    run = config.stash.get(_RUN, None)
    if run is None:
        return
    cov = run.coverage()
    line = (
        f"conformance: judged {cov['judged']} of {cov['applicable']} applicable checks "
        f"({cov['ratio']:.0%})"
    )
    if not cov["enough"]:
        line += (
            f", below --conformance-min-coverage {cov['min']:g}: too little was judged to "
            "pass (see the skip reasons)"
        )
    terminalreporter.write_line(line, red=not cov["enough"], bold=not cov["enough"])
    verdicts = run.verdicts()
    own, compat = verdicts["document"], verdicts["openai"]
    beyond = sum(compat["beyond_document"].values())
    terminalreporter.write_line(
        f"conformance: {run.provider}'s document {own['status']} ({own['failed']} failed of "
        f"{own['judged']} judged); OpenAI-client compatibility "
        f"{compat['status'].replace('_', ' ')} ({beyond} finding(s) beyond the document)"
    )


def judge(run: CheckRun, check_id: str, config: pytest.Config | None = None) -> None:
    """Turn one check's verdict into the pytest outcome (fail, skip, warn or pass)."""
    import warnings

    from conformance.results import reported_only, scrub

    secrets = config.stash.get(_SECRETS, []) if config is not None else []
    result = run.by_id().get(check_id)
    if result is None:  # the plugin deselects these; a hand-written test may still ask
        pytest.skip(f"{check_id} does not apply to the {run.provider} profile")
    status = result.status.value
    detail = str(scrub(result.detail, secrets))
    if status == "skipped":
        pytest.skip(detail or "skipped")
    if reported_only(result.to_dict(), strict_openai=run.strict_openai):
        warnings.warn(
            ConformanceWarning(
                f"{check_id}: OpenAI-compatibility finding [{result.severity.value}] beyond "
                f"the {run.provider} document (fails only with --strict-openai): {detail}"
            ),
            stacklevel=2,
        )
        return
    if status in ("failed", "error"):
        evidence = json.dumps(scrub(result.evidence, secrets), indent=2, ensure_ascii=False)
        kind = "FAILED" if status == "failed" else "ERROR (the harness could not judge)"
        pytest.fail(
            f"{kind} [{result.severity.value}] {result.title}\n{detail}\nevidence: {evidence[:4000]}",
            pytrace=False,
        )
    if status == "warned":
        warnings.warn(ConformanceWarning(f"{check_id}: {detail}"), stacklevel=2)
