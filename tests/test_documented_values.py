"""Documented parameter values sent live (conformance.checks.ranges): a correct server
passes them for every profile, each fault fails its check, and the strategies only call a
value out of range where the document states the range."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Iterator

import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

from conformance.backend import BackendConfig, serve_in_thread
from conformance.checks import Status, load_families
from conformance.checks.errors import generate_invalid_cases
from conformance.checks.ranges import temperature_values, top_p_values
from conformance.engine import RunConfig, collect_exchanges, run_checks
from conformance.providers import NULL, PROVIDERS, get_provider
from conformance.results import CheckResult, CheckRun
from conformance.strategies import (
    RANGED_PARAMETERS,
    InvalidRequest,
    invalid_requests,
    parameters,
    range_cases,
)

load_families()
KEY = "sk-documented-" + secrets.token_hex(8)
VALUE_CHECKS = ("semantics.max_tokens_null", "semantics.top_p", "semantics.temperature_bounds")
RANGE_CHECKS = ("errors.temperature_range", "errors.top_p_range")


@pytest.fixture(scope="module")
def root() -> Iterator[str]:
    with serve_in_thread(BackendConfig(api_keys=(KEY,))) as url:
        yield url


def _run(root: str, profile: str, fault: str | None = None) -> CheckRun:
    base = PROVIDERS[profile].embedded_base_url(root + (f"/fault/{fault}" if fault else ""))
    config = RunConfig(
        provider=get_provider(profile, base_url=base),
        api_key=KEY,
        timeout=5.0,
        only=[*VALUE_CHECKS, *RANGE_CHECKS],
        mode="embedded",
    )
    return run_checks(config)


def _by_id(run: CheckRun) -> dict[str, CheckResult]:
    return {r.id: r for r in run.checks}


# --------------------------------------------------------------------------- live


#: (profile, check) -> the verdict against the correct backend
_CORRECT = {
    "openai": dict.fromkeys((*VALUE_CHECKS, *RANGE_CHECKS), Status.PASSED),
    "nebulablock": {
        **dict.fromkeys(VALUE_CHECKS, Status.PASSED),
        **dict.fromkeys(RANGE_CHECKS, Status.SKIPPED),
    },
    "weai": {
        "semantics.max_tokens_null": Status.SKIPPED,
        "semantics.top_p": Status.SKIPPED,
        "semantics.temperature_bounds": Status.PASSED,
        "errors.temperature_range": Status.PASSED,
        "errors.top_p_range": Status.SKIPPED,
    },
}


@pytest.mark.parametrize("profile", sorted(_CORRECT))
def test_correct_backend_answers_every_documented_value(root: str, profile: str) -> None:
    results = _by_id(_run(root, profile))
    for check_id, expected in _CORRECT[profile].items():
        result = results[check_id]
        assert result.status is expected, (check_id, result.status, result.detail)
        if expected is Status.SKIPPED:
            # undocumented for this profile: a skip by design, not missing evidence
            assert result.detail.startswith(f"not documented by {profile}"), result.detail


def test_weai_temperatures_span_its_documented_range(root: str) -> None:
    detail = _by_id(_run(root, "weai"))["semantics.temperature_bounds"].detail
    for sent in ("temperature=0.0/plain", "temperature=0.2/plain", "temperature=1.2/plain",
                 "temperature=2.0/plain", "temperature=2.0/streamed"):  # fmt: skip
        assert sent in detail, detail


def test_nebulablock_sends_max_tokens_null_on_the_wire(root: str) -> None:
    base = PROVIDERS["nebulablock"].embedded_base_url(root)
    config = RunConfig(
        provider=get_provider("nebulablock", base_url=base),
        api_key=KEY,
        timeout=5.0,
        only=["semantics.max_tokens_null"],
        mode="embedded",
    )
    collected = asyncio.run(collect_exchanges(config))
    exchanges = collected.exchanges["max_tokens_null"]
    assert {ex.meta["label"] for ex in exchanges} == {
        "max_tokens=null/plain",
        "max_tokens=null/streamed",
    }
    for ex in exchanges:
        body = json.loads(ex.request.body or b"")
        assert "max_tokens" in body and body["max_tokens"] is None
        assert ex.meta["params"]["max_tokens"] is None  # JSON-ready in the record
        assert "stream_options" not in body  # NebulaBlock documents none


#: (profile, fault, check, verdict, words in the detail)
_FAULTS = [
    ("nebulablock", "max_tokens_null_500", "semantics.max_tokens_null", Status.FAILED,
     "HTTP 500"),
    ("nebulablock", "top_p_500", "semantics.top_p", Status.FAILED,
     "nebulablock documents top_p without a range"),
    ("weai", "temperature_high_malformed", "semantics.temperature_bounds", Status.FAILED,
     "inside the documented range 0..2"),
    ("weai", "sampling_range_clamped", "errors.temperature_range", Status.WARNED,
     "outside the documented range 0..2"),
    ("openai", "sampling_range_clamped", "errors.top_p_range", Status.WARNED,
     "outside the documented range 0..1"),
    ("weai", "invalid_500", "errors.temperature_range", Status.FAILED, "HTTP 500"),
    ("openai", "invalid_500", "errors.top_p_range", Status.FAILED, "HTTP 500"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("profile", "fault", "check_id", "status", "words"),
    _FAULTS,
    ids=[f"{p}-{f}-{c}" for p, f, c, _s, _w in _FAULTS],
)
def test_fault_trips_its_check(
    root: str, profile: str, fault: str, check_id: str, status: Status, words: str
) -> None:
    result = _by_id(_run(root, profile, fault))[check_id]
    assert result.status is status, (result.status, result.detail)
    assert words in result.detail, result.detail
    assert result.evidence


def test_a_malformed_answer_is_named_in_each_mode(root: str) -> None:
    result = _by_id(_run(root, "weai", "temperature_high_malformed"))[
        "semantics.temperature_bounds"
    ]
    modes = {bad["mode"] for bad in result.evidence["bad"]}
    assert modes == {"plain", "streamed"}
    sent = {bad["sent"] for bad in result.evidence["bad"]}
    assert "temperature=0.0/plain" not in sent  # temperature 0 is answered correctly


# --------------------------------------------------------------------------- values


def test_values_stay_inside_the_documented_range() -> None:
    assert temperature_values((0.0, 2.0)) == (0.0, 1.5, 2.0)
    assert temperature_values((0.0, 2.0), (0.2, 1.2)) == (0.0, 0.2, 1.2, 2.0)
    assert temperature_values((0.0, 2.0), (5.0,)) == (0.0, 1.5, 2.0)
    assert temperature_values(None) == (0.5, 1.0)
    assert temperature_values(None, (0.2, 1.2)) == (0.2, 0.5, 1.0)
    assert top_p_values((0.0, 1.0)) == (0.1, 1.0)
    assert top_p_values(None) == (0.1, 1.0)


@given(
    low=st.floats(min_value=-5, max_value=5, allow_nan=False),
    width=st.floats(min_value=0.01, max_value=10, allow_nan=False),
    examples=st.lists(st.floats(min_value=-20, max_value=20, allow_nan=False), max_size=3),
)
def test_probe_values_never_leave_a_range(low: float, width: float, examples: list[float]) -> None:
    """Whatever the range and the document's examples, every value sent is inside the
    range, both ends are sent, and an example is sent exactly when it is inside."""
    bounds = (low, low + width)
    temperatures = temperature_values(bounds, tuple(examples))
    for value in (*temperatures, *top_p_values(bounds)):
        assert bounds[0] <= value <= bounds[1]
    assert temperatures[0] == bounds[0] and temperatures[-1] == bounds[1]
    assert list(temperatures) == sorted(temperatures)
    for example in examples:
        assert (example in temperatures) is (bounds[0] <= example <= bounds[1])


# --------------------------------------------------------------------------- strategies


@pytest.mark.parametrize("name", sorted(PROVIDERS))
@pytest.mark.parametrize("param", RANGED_PARAMETERS)
def test_range_cases_only_where_a_bound_is_documented(name: str, param: str) -> None:
    provider = get_provider(name)
    caps = provider.capabilities
    bounds = getattr(caps, f"{param}_range")
    cases = range_cases(provider, param)
    if bounds is None or not getattr(caps, param):
        assert cases == []
        return
    assert len(cases) == 2
    word = f"outside the documented range {bounds[0]:g}..{bounds[1]:g}"
    for case in cases:
        assert case.kind == "out_of_range" and case.param == param
        assert word in case.label
        value = case.body[param]
        assert not bounds[0] <= value <= bounds[1]


@pytest.mark.parametrize(
    "name", sorted(n for n, p in PROVIDERS.items() if p.dialect.value == "openai")
)
def test_invalid_cases_claim_no_undocumented_range(name: str) -> None:
    """No drawn case says "documented range" or a minimum the document does not state."""
    caps = PROVIDERS[name].capabilities

    @settings(max_examples=150, database=None, deadline=None)
    @given(invalid_requests(provider=name, kinds=["out_of_range", "wrong_type"]))
    def check(case: InvalidRequest) -> None:
        if "documented range" in case.label:
            assert getattr(caps, f"{case.param}_range") is not None, case.label
        if "documented minimum" in case.label:
            assert caps.max_tokens_min is not None, case.label
        if case.param in RANGED_PARAMETERS and case.kind == "out_of_range":
            assert getattr(caps, f"{case.param}_range") is not None, case.label

    check()


def test_max_tokens_zero_is_probed_only_where_a_minimum_is_documented() -> None:
    for name in ("nebulablock", "weai"):
        labels = [c.label for c in generate_invalid_cases(get_provider(name), count=40)]
        assert not any(label.startswith("max_tokens is 0") for label in labels), labels
        assert not any("max_tokens is -1" in label for label in labels), labels
    openai = invalid_requests(provider="openai", kinds=["out_of_range"])
    found = find(openai, lambda c: c.param == "max_tokens")
    assert "documented minimum is 1" in found.label


def test_ranged_cases_leave_the_generic_invalid_probe() -> None:
    """Out-of-range temperature and top_p are judged once, by errors.*_range."""
    for name in ("openai", "weai"):
        for case in generate_invalid_cases(get_provider(name), count=40):
            assert not (case.kind == "out_of_range" and case.param in RANGED_PARAMETERS)


def test_max_tokens_null_is_drawn_only_where_documented() -> None:
    found = find(parameters(provider="nebulablock", names=["max_tokens"]), lambda p: bool(p))
    assert found["max_tokens"] in (NULL, 1)
    assert find(
        parameters(provider="nebulablock", names=["max_tokens"]),
        lambda p: p.get("max_tokens") is NULL,
    ) == {"max_tokens": NULL}

    @settings(max_examples=100, database=None, deadline=None)
    @given(parameters(provider="weai", names=["max_tokens"]))
    def never(params: dict[str, object]) -> None:
        assert params.get("max_tokens") is not NULL

    never()


def test_null_round_trips_through_the_profile() -> None:
    provider = get_provider("nebulablock")
    request = provider.encode([{"role": "user", "content": "hi"}], {"max_tokens": NULL})
    assert json.loads(request.content)["max_tokens"] is None
    _messages, params = provider.decode_request(request)
    assert params == {"max_tokens": NULL}
    unset = provider.encode([{"role": "user", "content": "hi"}], {"max_tokens": None})
    assert "max_tokens" not in json.loads(unset.content)


def test_a_model_limit_is_a_refusal_only_where_the_document_allows_it(root: str) -> None:
    """OpenAI's reference says reasoning models take no top_p and only temperature 1: the
    openai profile skips those refusals by design. NebulaBlock's document names top_p for
    every model: the same refusal breaks it."""
    openai = _by_id(_run(root, "openai", "ok_reasoning_model"))
    assert openai["semantics.top_p"].status is Status.SKIPPED
    assert openai["semantics.temperature_bounds"].status is Status.SKIPPED
    assert "unsupported" in openai["semantics.top_p"].detail.lower()
    nebula = _by_id(_run(root, "nebulablock", "ok_reasoning_model"))
    assert nebula["semantics.top_p"].status is Status.FAILED
    assert nebula["semantics.temperature_bounds"].status is Status.FAILED


def test_weai_is_sent_wrong_only_what_its_guide_names() -> None:
    """WeAI's probes carry max_tokens and stream, but its guide names neither: no invalid
    request puts them wrong on purpose (a WeAI server may ignore them)."""
    provider = get_provider("weai")
    assert provider.named_params() == frozenset({"temperature"})
    assert get_provider("openai").named_params() is None
    nebula = get_provider("nebulablock").named_params()
    assert nebula == frozenset({"max_tokens", "temperature", "top_p", "stream"})

    @settings(max_examples=200, database=None, deadline=None)
    @given(invalid_requests(provider="weai"))
    def check(case: InvalidRequest) -> None:
        assert case.param not in {"max_tokens", "stream", "top_p", "n", "stop"}, case.label

    check()
    assert find(invalid_requests(provider="weai"), lambda c: c.param == "temperature")


def test_answers_without_usage_skip_the_details_by_design(root: str) -> None:
    """A server that sends no usage at all (WeAI's guide names none) leaves
    schema.usage_details skipped by design, not as missing evidence."""
    from conformance.backend.server import serve_in_thread as serve

    with serve(BackendConfig(only_document="weai", api_keys=(KEY,))) as doc_root:
        config = RunConfig(
            provider=get_provider("weai", base_url=doc_root + "/v1"),
            api_key=KEY,
            timeout=5.0,
            only=["schema.usage_details"],
            mode="embedded",
        )
        (result,) = run_checks(config).checks
    assert result.status is Status.SKIPPED and result.by_design, result.detail
