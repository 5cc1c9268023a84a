"""The engine's honest verdicts: configuration diagnosis, skips by design, coverage.

- :func:`conformance.engine._diagnose.diagnose` blames the setup only for a plain request
  answered 401/403/404/405, confirms with at most one request, and never blames it for a
  5xx, a 400 or a request that is not plain;
- a feature the target refuses cleanly is a skip *by design* and does not lower the
  coverage, a missing exchange does;
- the result file round-trips the coverage and the exit code is 3 below the floor.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fake_openai import BASE_URL, KEY, FakeOpenAI, mocked, run

from conformance.checks import USE_DEFAULT_KEY, ProbeRequest, Severity, Status
from conformance.engine import RunConfig, run_checks
from conformance.engine._diagnose import diagnose, is_plain
from conformance.engine.target import check_api_key, resolve_api_key
from conformance.errors import ConfigError
from conformance.providers import get_provider
from conformance.results import EXIT_THIN, CheckResult, CheckRun, coverage_of
from conformance.wire.exchange import Exchange, RecordedRequest

PLAIN = ProbeRequest(messages=[{"role": "user", "content": "hi"}], params={"max_tokens": 8})


def _exchange(status: int, body: bytes = b"") -> Exchange:
    request = RecordedRequest(
        method="POST", url="http://t.test/v1/chat/completions", headers=[], body=b""
    )
    return Exchange(probe="chat", request=request, status=status, body=body)


class _Sender:
    """Answers each confirmation request with the next status; records the requests."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.sent: list[httpx.Request] = []

    async def __call__(self, request: httpx.Request) -> Exchange:
        self.sent.append(request)
        return _exchange(self.statuses.pop(0))


def _diagnose(
    status: int,
    *,
    base_url: str = "http://t.test/v1",
    provider: str = "openai",
    key: str | None = KEY,
    preq: ProbeRequest = PLAIN,
    confirm: tuple[int, ...] = (),
) -> tuple[str | None, _Sender, list[str]]:
    sender = _Sender(*confirm)
    notes: list[str] = []
    line = asyncio.run(
        diagnose(
            get_provider(provider, base_url=base_url),
            preq,
            _exchange(status, b'{"error": {"message": "nope ' + KEY.encode() + b'"}}'),
            sender,
            api_key=key,
            key_variable="MY_KEY",
            notes=notes,
        )
    )
    return line, sender, notes


@pytest.mark.parametrize("status", [200, 400, 422, 429, 500, 503])
def test_what_the_target_does_wrong_is_not_blamed_on_the_setup(status: int) -> None:
    line, sender, _ = _diagnose(status)
    assert line is None and not sender.sent


def test_a_request_that_is_not_plain_is_never_diagnosed() -> None:
    for preq in (
        ProbeRequest(messages=PLAIN.messages, api_key=None),
        ProbeRequest(messages=PLAIN.messages, path="/nope"),
        ProbeRequest(messages=PLAIN.messages, body=b"{"),
        ProbeRequest(messages=PLAIN.messages, headers={"x": "y"}),
    ):
        assert not is_plain(preq)
        assert _diagnose(404, preq=preq)[0] is None
    assert is_plain(PLAIN) and PLAIN.api_key is USE_DEFAULT_KEY


def test_a_refused_key_is_named_by_its_variable_and_masked() -> None:
    line, sender, _ = _diagnose(401, confirm=(401,))
    assert line is not None and "the key in $MY_KEY was refused" in line
    assert KEY not in line and "<redacted>" in line  # the server's words, key masked
    (other,) = sender.sent  # one confirmation: the same request under the other scheme
    assert other.headers["authorization"] == f"Token {KEY}"


def test_a_key_accepted_under_the_other_scheme_is_the_targets_fault() -> None:
    line, sender, notes = _diagnose(
        401, provider="wetrocloud", base_url="http://t.test", confirm=(200,)
    )
    assert line is None
    assert sender.sent[0].headers["authorization"] == f"Bearer {KEY}"
    assert notes and "accepted under 'Bearer'" in notes[0]


def test_no_key_sent_says_which_variable_to_set() -> None:
    line, sender, _ = _diagnose(403, key=None)
    assert line is not None and "no key was sent" in line and "$MY_KEY" in line
    assert not sender.sent  # nothing to confirm


def test_a_missing_v1_is_confirmed_with_one_request() -> None:
    line, sender, _ = _diagnose(404, base_url="http://t.test", confirm=(200,))
    assert line is not None and "use --base-url http://t.test/v1" in line
    assert str(sender.sent[0].url) == "http://t.test/v1/chat/completions"
    line, _, _ = _diagnose(405, base_url="http://t.test/api", confirm=(404,))
    assert line is not None and "try http://t.test/api/v1" in line
    line, sender, _ = _diagnose(404, base_url="http://t.test/v1/x")
    assert line is not None and "try" not in line and not sender.sent  # /v1 already there


# --- keys ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key", ["sk-a\nb", "sk-a\rb", "sk-a\x00b", "sk-a\x7fb", "sk-\u00e9", "sk-\u2014x"]
)
def test_keys_no_header_can_carry_are_refused_without_echoing_them(key: str) -> None:
    with pytest.raises(ConfigError) as raised:
        check_api_key(key, "MY_KEY")
    assert "$MY_KEY" in str(raised.value) and key not in str(raised.value)


def test_a_key_with_surrounding_whitespace_is_trimmed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_KEY", "  sk-fine-key\n")
    assert resolve_api_key("openai", "MY_KEY") == ("MY_KEY", "sk-fine-key")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert resolve_api_key("openai", None) == ("OPENAI_API_KEY", None)  # default: no key


# --- skips by design and coverage ---------------------------------------------------------


class RefusesN(FakeOpenAI):
    """Refuses ``n > 1`` cleanly with a 400, as many servers do."""

    def validate(self, body: Any) -> httpx.Response | None:
        if isinstance(body, dict) and body.get("n", 1) != 1:
            return self.refuse(400, "n > 1 is not supported", "n")
        return super().validate(body)


def test_a_clean_refusal_is_a_skip_by_design() -> None:
    results = run(RefusesN(), "semantics.n_choices")
    result = results["semantics.n_choices"]
    assert result.status is Status.SKIPPED and result.by_design
    assert "refuses" in result.detail


def test_a_probe_cut_by_the_budget_is_not_a_skip_by_design() -> None:
    with mocked(FakeOpenAI()):
        cut = run_checks(
            RunConfig(
                provider=get_provider("openai", base_url=BASE_URL),
                api_key=KEY,
                only="semantics",
                max_requests=1,
            )
        )
    skipped = [r for r in cut.checks if r.status is Status.SKIPPED]
    assert any("--max-requests" in r.detail for r in skipped)
    assert skipped and not any(r.by_design for r in skipped)
    assert not cut.covered and cut.exit_code == EXIT_THIN


def _result(status: str, *, by_design: bool = False) -> CheckResult:
    return CheckResult(
        id=f"x.{status}{by_design}",
        title="t",
        severity=Severity.CLIENT,
        status=Status(status),
        by_design=by_design,
    )


def test_coverage_counts_judged_of_applicable() -> None:
    checks = [
        _result("passed"),
        _result("failed"),
        _result("warned"),
        _result("error"),
        _result("skipped"),
        _result("skipped", by_design=True),
    ]
    coverage = coverage_of(c.to_dict() for c in checks)
    assert coverage == {
        "checks": 6,
        "applicable": 5,
        "judged": 3,
        "skipped_by_design": 1,
        "not_judged": 2,
        "ratio": 0.6,
    }
    assert coverage_of([])["ratio"] == 0.0  # nothing applicable: nothing was proved


def test_the_exit_code_is_3_below_the_floor_and_a_failure_wins() -> None:
    thin = CheckRun(
        provider="openai",
        base_url="http://t",
        model="m",
        checks=[_result("passed"), _result("skipped"), _result("skipped")],
    )
    assert thin.exit_code == EXIT_THIN == 3
    thin.min_coverage = 0.3
    assert thin.exit_code == 0
    thin.min_coverage = 0.0
    thin.checks = [_result("skipped")]
    assert thin.exit_code == 0  # the floor turned off
    failing = CheckRun(
        provider="openai", base_url="http://t", model="m", checks=[_result("failed")]
    )
    failing.checks += [_result("skipped") for _ in range(9)]
    assert failing.exit_code == 1


def test_the_result_file_round_trips_the_coverage() -> None:
    run_ = CheckRun(
        provider="openai",
        base_url="http://t",
        model="m",
        checks=[_result("passed"), _result("skipped", by_design=True)],
        min_coverage=0.8,
    )
    data = run_.to_dict()
    assert data["coverage"]["min"] == 0.8 and data["coverage"]["enough"] is True
    assert data["checks"][1]["by_design"] is True and "by_design" not in data["checks"][0]
    again = CheckRun.from_dict(data)
    assert again.min_coverage == 0.8 and again.checks[1].by_design
    assert again.coverage() == data["coverage"]
