"""The stop-string checks (``conformance.checks.stops``): how the stop strings are picked
from the target's own answer, and the verdicts on targets that honour ``stop`` in the ways
real servers do, or break it."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fake_openai import FakeOpenAI, run
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.backend import BackendConfig, serve_in_thread
from conformance.checks.stops import MAX_STOPS, pick_stops
from conformance.engine import RunConfig, run_checks
from conformance.providers import PROVIDERS, get_provider

ONLY = "semantics.stop_*"
IDS = ("semantics.stop_word", "semantics.stop_phrase", "semantics.stop_span", "semantics.stop_list")

TEXT = (
    "The river was quiet at dawn, and mist rose slowly over the water. Herons waded near "
    "the reeds while the first light turned the ripples gold."
)


def _statuses(fake: FakeOpenAI) -> dict[str, str]:
    return {k: str(v.status) for k, v in run(fake, ONLY).items()}


# --------------------------------------------------------------------------- picking


def test_the_stop_strings_come_from_the_middle_of_the_answer() -> None:
    deltas = [w if i == 0 else " " + w for i, w in enumerate(TEXT.split(" "))]
    picked = pick_stops(TEXT, deltas)
    assert set(picked) == {"word", "phrase", "span", "list"}
    word = picked["word"]
    assert isinstance(word, str)  # sent as a plain string
    for case, value in picked.items():
        stops = [value] if isinstance(value, str) else value
        occurring = [s for s in stops if s in TEXT]
        assert len(occurring) == 1, (case, stops)
        at = TEXT.find(occurring[0])
        assert len(TEXT) * 0.25 <= at <= len(TEXT) * 0.75, (case, occurring)
    assert len(picked["list"]) == MAX_STOPS
    (span,) = picked["span"]
    # the span is the end of one delta and the start of the next
    joined = ""
    boundaries = []
    for d in deltas:
        joined += d
        boundaries.append(len(joined))
    at = TEXT.find(span)
    assert any(at < b < at + len(span) for b in boundaries)


def test_a_short_answer_gives_no_stop_strings() -> None:
    assert pick_stops("Hi.") == {}


# --------------------------------------------------------------------------- verdicts


def test_a_correct_target_passes_every_stop_check_in_both_modes() -> None:
    results = run(FakeOpenAI(), ONLY)
    assert {k: str(v.status) for k, v in results.items()} == dict.fromkeys(IDS, "passed")
    assert all("(plain, streamed)" in results[i].detail for i in IDS)


class TrimsBeforeStop(FakeOpenAI):
    """Trims the whitespace in front of the stop string (as some servers do)."""

    def choice(self, body: dict[str, Any], index: int) -> tuple[str, str, int]:
        text, finish, tokens = super().choice(body, index)
        return (text.rstrip() if body.get("stop") else text), finish, tokens


def test_whitespace_trimmed_before_the_stop_is_fine() -> None:
    assert set(_statuses(TrimsBeforeStop()).values()) == {"passed"}


class StopAsCharacters(FakeOpenAI):
    """Iterates a plain-string `stop` as a list: every character is a stop string."""

    def choice(self, body: dict[str, Any], index: int) -> tuple[str, str, int]:
        if isinstance(body.get("stop"), str):
            body = {**body, "stop": list(body["stop"])}
        return super().choice(body, index)


def test_a_plain_string_read_as_characters_fails_the_word() -> None:
    results = run(StopAsCharacters(), ONLY)
    assert str(results["semantics.stop_word"].status) == "failed"
    assert "a character of the stop string" in results["semantics.stop_word"].detail
    assert {str(results[i].status) for i in IDS[1:]} == {"passed"}


class FirstOfListOnly(FakeOpenAI):
    """Honours only the first stop string of a list."""

    def choice(self, body: dict[str, Any], index: int) -> tuple[str, str, int]:
        if isinstance(body.get("stop"), list):
            body = {**body, "stop": body["stop"][:1]}
        return super().choice(body, index)


def test_a_list_read_only_up_to_its_first_item_fails() -> None:
    statuses = _statuses(FirstOfListOnly())
    assert statuses["semantics.stop_list"] == "failed"
    assert statuses["semantics.stop_word"] == "passed"


class NotDeterministic(FakeOpenAI):
    """Words every answer anew (a batching server at temperature 0), honouring stop."""

    def __init__(self) -> None:
        super().__init__()
        self.counter = itertools.count()

    def words(self, body: dict[str, Any], index: int) -> list[str]:
        words = super().words(body, index)
        shift = next(self.counter) % len(words)
        return words[shift:] + words[:shift]


def test_a_target_not_deterministic_at_temperature_zero_only_warns() -> None:
    results = run(NotDeterministic(), ONLY)
    statuses = {k: str(v.status) for k, v in results.items()}
    assert "failed" not in statuses.values(), statuses
    warned = [k for k, s in statuses.items() if s == "warned"]
    assert warned
    for check_id in warned:
        evidence = results[check_id].evidence["differs"][0]
        assert evidence["answer_without_stop"] and "not deterministic" in evidence["problem"]


class RefusesStop(FakeOpenAI):
    """Refuses `stop` with a clean 400 (OpenAI's reasoning models do)."""

    def validate(self, body: Any) -> httpx.Response | None:
        if isinstance(body, dict) and "stop" in body:
            return self.refuse(400, "Unsupported parameter: 'stop'.", "stop")
        return super().validate(body)


def test_a_clean_refusal_of_stop_is_a_skip_by_design() -> None:
    results = run(RefusesStop(), ONLY)
    for check_id in IDS:
        assert str(results[check_id].status) == "skipped"
        assert results[check_id].by_design, check_id
        assert "refuses stop with HTTP 400" in results[check_id].detail


class ParentBreaks(FakeOpenAI):
    """Answers the request without stop with a 500: nothing to pick stop strings from."""

    def handler(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if "sentences" in str(body.get("messages")) and "stop" not in body:
            return httpx.Response(500, json={"error": {"message": "boom", "type": "server_error",
                                                       "param": None, "code": None}})  # fmt: skip
        return super().handler(request)


def test_a_failed_parent_skips_the_stop_checks_never_errors() -> None:
    results = run(ParentBreaks(), ONLY)
    for check_id in IDS:
        assert str(results[check_id].status) == "skipped"
        assert "built from the answer of probe 'stop_free'" in results[check_id].detail
        assert not results[check_id].by_design


# --------------------------------------------------------------------------- the backend


@pytest.fixture(scope="module")
def root() -> Iterator[str]:
    with serve_in_thread(BackendConfig()) as url:
        yield url


def test_the_nondeterministic_backend_makes_the_stop_checks_warn_never_fail(root: str) -> None:
    base = PROVIDERS["openai"].embedded_base_url(root + "/fault/nondeterministic")
    result = run_checks(RunConfig(provider=get_provider("openai", base_url=base), only=ONLY))
    statuses = {r.id: r.status.value for r in result.checks}
    assert set(statuses) == set(IDS)
    assert set(statuses.values()) <= {"warned", "passed", "skipped"}
    assert "warned" in statuses.values()


class CutsAtTokenBoundary(FakeOpenAI):
    """Drops the whole word in which a stop string starts (a server that matches stop
    strings on token boundaries)."""

    def choice(self, body: dict[str, Any], index: int) -> tuple[str, str, int]:
        stops = body.get("stop")
        if not stops:
            return super().choice(body, index)
        stops = [stops] if isinstance(stops, str) else stops
        text, _, tokens = super().choice({**body, "stop": None}, index)
        cut = min(text.find(s) for s in stops if s in text)
        return text[: max(0, text.rfind(" ", 0, cut + 1))], "stop", tokens


def test_a_cut_at_a_token_boundary_only_warns_and_says_so() -> None:
    results = run(CutsAtTokenBoundary(), ONLY)
    span = results["semantics.stop_span"]
    assert str(span.status) == "warned"
    assert "ends early" in span.detail and "token boundary" in span.detail
    assert {str(results[i].status) for i in IDS if i != "semantics.stop_span"} == {"passed"}


_WORDS = st.sampled_from(["river", "dawn", "mist", "heron", "gold", "a", "the", "light", "Reed"])


@settings(max_examples=150, deadline=None)
@given(words=st.lists(_WORDS, min_size=1, max_size=40), cut=st.integers(1, 4),
       punct=st.sampled_from(["", ",", "."]))  # fmt: skip
def test_picked_stop_strings_first_occur_in_the_middle_and_the_list_has_one(
    words: list[str], cut: int, punct: str
) -> None:
    text = " ".join(w + (punct if i % 5 == 4 else "") for i, w in enumerate(words))
    # streamed deltas: the text cut every `cut` characters
    deltas = [text[i : i + cut] for i in range(0, len(text), cut)]
    picked = pick_stops(text, deltas)
    for case, value in picked.items():
        stops = [value] if isinstance(value, str) else value
        assert 1 <= len(stops) <= MAX_STOPS
        occurring = [s for s in stops if s in text]
        assert len(occurring) == 1, (case, stops)
        at = text.find(occurring[0])
        assert at > 0 and len(text) * 0.25 <= at <= len(text) * 0.75
    if "span" in picked:
        (span,) = picked["span"]
        at = text.find(span)
        assert any(at < b < at + len(span) for b in range(0, len(text), cut))
