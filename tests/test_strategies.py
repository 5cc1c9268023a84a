"""Properties of the Hypothesis strategies in :mod:`conformance.strategies`."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from conformance.providers import PROVIDERS, get_provider
from conformance.providers.base import NULL, Dialect, plain_params
from conformance.providers.wetrocloud import parse_form
from conformance.strategies import (
    INVALID_KINDS,
    PARAMETER_NAMES,
    UNDOCUMENTED_RANGE,
    InvalidRequest,
    conversations,
    invalid_requests,
    parameters,
)

NAMES = sorted(PROVIDERS)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    assert isinstance(content, list) and content
    for part in content:
        assert part["type"] == "text" and isinstance(part["text"], str)
    return "".join(p["text"] for p in content)


# --------------------------------------------------------------------------- conversations


@pytest.mark.parametrize("name", [None, *NAMES])
@given(data=st.data())
def test_conversations_are_well_formed(name: str | None, data: st.DataObject) -> None:
    messages = data.draw(conversations(provider=name, max_turns=3, max_content_size=300))
    assert messages and messages[-1]["role"] in {"user", "tool"}
    pending: set[str] = set()
    users = 0
    for i, msg in enumerate(messages):
        role = msg["role"]
        if role in {"system", "developer"}:
            assert i == 0
        if role == "user":
            users += 1
        if role == "tool":
            assert msg["tool_call_id"] in pending, "a tool message answers an earlier call"
            pending.discard(msg["tool_call_id"])
        else:
            assert not pending, "every tool call is answered before the conversation goes on"
        if role == "assistant" and "tool_calls" in msg:
            for call in msg["tool_calls"]:
                assert call["type"] == "function"
                json.loads(call["function"]["arguments"])
                pending.add(call["id"])
        if "content" in msg:
            text = _text_of(msg["content"])
            text.encode("utf-8")  # no lone surrogates
            if isinstance(msg["content"], str):
                assert len(text) <= 300
        else:
            assert role == "assistant" and msg["tool_calls"]
    assert 1 <= users <= 3
    json.dumps(messages, ensure_ascii=False).encode("utf-8")


@pytest.mark.parametrize("name", NAMES)
@given(data=st.data())
def test_conversations_keep_to_what_the_provider_documents(name: str, data: st.DataObject) -> None:
    provider = get_provider(name)
    messages = data.draw(conversations(provider=name))
    roles = {m["role"] for m in messages}
    if provider.dialect is Dialect.WETROCLOUD:
        assert roles <= {"system", "user", "assistant"}
        assert all(isinstance(m["content"], str) for m in messages)
    if not provider.capabilities.tools:
        assert "tool" not in roles
        assert not any("tool_calls" in m for m in messages)
    if not provider.capabilities.system_role:
        assert not roles & {"system", "developer"}
    if name != "openai":
        assert "developer" not in roles


def _features(messages: list[dict[str, Any]]) -> set[str]:
    """Which of the issue's listed features a conversation shows."""
    seen: set[str] = set()
    for m in messages:
        seen.add(m["role"])
        content = m.get("content")
        if isinstance(content, list):
            seen.add("parts")
        text = _text_of(content) if content is not None else ""
        if text == "":
            seen.add("empty")
        if len(text) >= 200:
            seen.add("long")
        if any(ord(c) > 0xFFFF for c in text):
            seen.add("astral")
        if any(0x0590 <= ord(c) <= 0x06FF for c in text):
            seen.add("rtl")
        if any(0x0300 <= ord(c) <= 0x036F for c in text):
            seen.add("combining")
    if sum(m["role"] == "user" for m in messages) > 1:
        seen.add("multi-turn")
    return seen


@pytest.mark.parametrize(
    "feature",
    ["system", "developer", "user", "assistant", "tool", "parts", "empty", "long", "astral",
     "rtl", "combining", "multi-turn"],
)  # fmt: skip
def test_conversations_reach_every_listed_feature(feature: str) -> None:
    """find() stops at the first conversation that shows the feature (the bound is only a
    ceiling for a search that normally ends within a few dozen draws)."""
    found = find(
        conversations(max_turns=4, max_content_size=600),
        lambda messages: feature in _features(messages),
        settings=settings(
            max_examples=2000, database=None, derandomize=True, phases=[Phase.generate]
        ),
    )
    assert feature in _features(found)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_turns": 0},
        {"max_turns": 0},
        {"min_turns": 3, "max_turns": 2},
        {"max_content_size": 0},
        {"min_content_size": 10, "max_content_size": 5},
        {"min_turns": 1.5},
        {"provider": "nope"},
        {"provider": 42},
    ],
)
def test_conversations_reject_bad_arguments_early(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgument):
        conversations(**kwargs)


def test_conversations_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        conversations("openai")  # type: ignore[misc]


# --------------------------------------------------------------------------- parameters


@pytest.mark.parametrize("name", [None, *NAMES])
@given(data=st.data())
def test_parameters_are_valid_and_documented(name: str | None, data: st.DataObject) -> None:
    params = data.draw(parameters(provider=name))
    assert None not in params.values()
    assert set(params) <= set(PARAMETER_NAMES)
    if name is not None:
        provider = get_provider(name)
        caps = provider.capabilities
        if provider.dialect is Dialect.WETROCLOUD:
            assert params == {}
        low, high = caps.temperature_range or UNDOCUMENTED_RANGE
        if "temperature" in params:
            assert low <= params["temperature"] <= high
        if params.get("max_tokens") is NULL:
            assert caps.max_tokens_null, "max_tokens: null drawn where no document allows it"
        for flag, keys in {
            "n": ["n"],
            "stop": ["stop"],
            "seed": ["seed"],
            "tools": ["tools", "tool_choice"],
            "logprobs": ["logprobs", "top_logprobs"],
            "response_format": ["response_format"],
            "streaming": ["stream", "stream_options"],
            "stream_usage": ["stream_options"],
            "max_completion_tokens": ["max_completion_tokens"],
        }.items():
            if not getattr(caps, flag):
                assert not set(keys) & set(params), (flag, params)
        if name != "openai":
            assert not {"presence_penalty", "frequency_penalty", "user"} & set(params)
    if "top_p" in params:
        assert 0 < params["top_p"] <= 1
    for key in ("presence_penalty", "frequency_penalty"):
        if key in params:
            assert -2 <= params[key] <= 2
    if "n" in params:
        assert params["n"] >= 1
    for key in ("max_tokens", "max_completion_tokens"):
        if key in params and params[key] is not NULL:
            assert isinstance(params[key], int) and params[key] >= 1
    assert not ("max_tokens" in params and "max_completion_tokens" in params)
    if "stop" in params:
        stops = [params["stop"]] if isinstance(params["stop"], str) else params["stop"]
        assert 1 <= len(stops) <= 4 and all(stops)
    if "stream_options" in params:
        assert params.get("stream") is True
    if "top_logprobs" in params:
        assert params.get("logprobs") is True and 0 <= params["top_logprobs"] <= 20
    if "tool_choice" in params:
        assert params.get("tools")
    json.dumps(plain_params(params))


def test_weai_temperature_stays_within_zero_to_two() -> None:
    @given(parameters(provider="weai", names=["temperature"]))
    def check(params: dict[str, Any]) -> None:
        assert 0 <= params.get("temperature", 0) <= 2

    check()


@given(parameters(stream=True))
def test_parameters_stream_can_be_fixed(params: dict[str, Any]) -> None:
    assert params["stream"] is True


@given(parameters(names=["max_tokens", "stop"], stream=False))
def test_parameters_names_narrow_the_draw(params: dict[str, Any]) -> None:
    assert set(params) <= {"max_tokens", "stop", "stream"}
    assert params.get("stream", False) is False


@pytest.mark.parametrize(
    "kwargs",
    [
        {"names": ["temprature"]},
        {"names": "temperature"},
        {"stream": "yes"},
        {"provider": "wetrocloud", "stream": True},
        {"provider": "unknown"},
    ],
)
def test_parameters_reject_bad_arguments_early(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgument):
        parameters(**kwargs)


# --------------------------------------------------------------------------- invalid requests


@pytest.mark.parametrize("name", NAMES)
@given(data=st.data())
def test_invalid_requests_are_labelled_and_sendable(name: str, data: st.DataObject) -> None:
    provider = get_provider(name, base_url="http://127.0.0.1:9/v1")
    case = data.draw(invalid_requests(provider=provider))
    assert isinstance(case, InvalidRequest)
    assert case.kind in INVALID_KINDS and case.label
    assert case.strictness in {"must_refuse", "should_refuse"}
    assert sum(x is not None for x in (case.body, case.form, case.raw)) == 1
    request = case.to_request(provider, api_key="sk-x")
    assert isinstance(request, httpx.Request)
    assert request.method == "POST" and str(request.url) == provider.url
    assert request.headers["authorization"].endswith(" sk-x")
    summary = case.describe()
    json.dumps(summary)
    assert summary["label"] == case.label
    if provider.dialect is Dialect.WETROCLOUD:
        assert case.kind in {"malformed_multipart", "messages_not_json", "messages_not_array",
                             "missing_field"}  # fmt: skip
        if case.form is not None:
            fields = parse_form(request.headers["content-type"], request.content)
            assert fields == dict(case.form)
    else:
        assert case.form is None
        if case.body is not None:
            assert json.loads(request.content) == case.body
            assert request.headers["content-type"] == "application/json"
            if case.param is not None and isinstance(case.body, dict):
                base = dict(case.base or {})
                assert case.body != base


@given(data=st.data())
def test_invalid_requests_streamed_keep_the_mistake(data: st.DataObject) -> None:
    case = data.draw(invalid_requests(provider=get_provider("openai")))
    streamed = case.streamed()
    if not isinstance(case.body, dict) or case.param in ("stream", "stream_options"):
        assert streamed is None  # raw/non-object bodies, or the mistake is about stream
        return
    assert streamed is not None
    assert streamed.body == {**case.body, "stream": True}
    assert (streamed.kind, streamed.param, streamed.strictness) == (
        case.kind, case.param, case.strictness,
    )  # fmt: skip
    assert streamed.label.endswith("(streamed)") and streamed.label.startswith(case.label)
    assert case.body.get("stream") is None  # the original is not changed


_LISTED_MISTAKES = [
    "temperature is 5", "temperature is -1", "top_p is 1.5", "n is 0", "max_tokens is 0",
    "max_tokens is -1", "presence_penalty is 3", '"hot"', "messages is a string",
    "max_tokens is 1.5", "stream is the string", "model is missing", "messages is missing",
    '"wizard"', "empty array", "has no content", "5 strings", "stream_options",
    "cut-off JSON", "JSON array, not an object",
]  # fmt: skip


@pytest.mark.parametrize("needle", _LISTED_MISTAKES)
def test_invalid_requests_cover_the_listed_mistakes(needle: str) -> None:
    found = find(
        invalid_requests(provider="openai"),
        lambda case: needle in case.label,
        settings=settings(
            max_examples=2000, database=None, derandomize=True, phases=[Phase.generate]
        ),
    )
    assert needle in found.label


@pytest.mark.parametrize(
    "needle", ["cut off", "different boundary", "not JSON", "JSON object, not an array",
               "model field is missing", "messages field is missing"],
)  # fmt: skip
def test_invalid_requests_cover_the_multipart_mistakes(needle: str) -> None:
    found = find(
        invalid_requests(provider="wetrocloud"),
        lambda case: needle in case.label,
        settings=settings(
            max_examples=2000, database=None, derandomize=True, phases=[Phase.generate]
        ),
    )
    assert needle in found.label


def test_invalid_requests_narrowing() -> None:
    @given(invalid_requests(kinds=["malformed_json"], strictness=["must_refuse"]))
    def check(case: InvalidRequest) -> None:
        assert case.kind == "malformed_json" and case.raw is not None

    check()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kinds": ["typo"]},
        {"strictness": ["maybe"]},
        {"model": ""},
        {"provider": "wetrocloud", "kinds": ["too_many_stop"]},
        {"provider": "openai", "kinds": ["messages_not_json"]},
    ],
)
def test_invalid_requests_reject_bad_arguments_early(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgument):
        invalid_requests(**kwargs)
