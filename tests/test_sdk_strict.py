"""The official ``openai`` SDK, validating strictly, accepts the reference backend.

With ``_strict_response_validation=True`` the SDK validates every response against its
own models instead of building them leniently, so a wrong type or a missing field
fails here. The backend runs on 127.0.0.1 in a thread, as ``conformance serve`` would.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest

from conformance.backend import FAULTS, BackendConfig, serve_in_thread

KEY = "sdk-test-key"
MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Describe a river valley."},
]


def _client(base_url: str, key: str = KEY) -> openai.OpenAI:
    return openai.OpenAI(
        api_key=key,
        base_url=base_url,
        max_retries=0,
        timeout=10.0,
        _strict_response_validation=True,
    )


@pytest.fixture(scope="module")
def root() -> Iterator[str]:
    with serve_in_thread(BackendConfig(api_keys=(KEY,), models=("m",))) as url:
        yield url


@pytest.fixture(scope="module")
def client(root: str) -> Iterator[openai.OpenAI]:
    with _client(root + "/v1") as sdk:
        yield sdk


def test_non_stream_with_n_max_tokens_and_stop(client: openai.OpenAI) -> None:
    free = client.chat.completions.create(model="reference-small", messages=MESSAGES, seed=2)
    text = free.choices[0].message.content or ""
    stop = text.split()[3]
    capped = client.chat.completions.create(
        model="reference-small", messages=MESSAGES, seed=2, n=2, max_tokens=3
    )
    assert [c.index for c in capped.choices] == [0, 1]
    assert all(c.finish_reason == "length" for c in capped.choices)
    assert capped.usage is not None and capped.usage.completion_tokens == 6
    assert capped.usage.total_tokens == capped.usage.prompt_tokens + 6
    stopped = client.chat.completions.create(
        model="reference-small", messages=MESSAGES, seed=2, n=2, max_tokens=50, stop=[stop]
    )
    first = stopped.choices[0]
    assert first.finish_reason == "stop"
    assert first.message.content == text[: text.index(stop)]
    assert first.message.role == "assistant" and first.message.refusal is None
    assert stopped.object == "chat.completion" and isinstance(stopped.created, int)


def test_stream_with_include_usage(client: openai.OpenAI) -> None:
    plain = client.chat.completions.create(model="m", messages=MESSAGES, seed=5, max_tokens=12)
    stream = client.chat.completions.create(
        model="m",
        messages=MESSAGES,
        seed=5,
        max_tokens=12,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == plain.choices[0].message.content
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 12
    assert all(c.usage is None for c in chunks[:-1])
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"


def test_stream_helper_accumulates_the_final_completion(client: openai.OpenAI) -> None:
    plain = client.chat.completions.create(model="m", messages=MESSAGES, seed=8, n=2)
    with client.chat.completions.stream(
        model="m", messages=MESSAGES, seed=8, n=2, stream_options={"include_usage": True}
    ) as stream:
        deltas = [e.delta for e in stream if e.type == "content.delta"]
        final = stream.get_final_completion()
    assert deltas
    for index in (0, 1):
        assert final.choices[index].message.content == plain.choices[index].message.content
        assert final.choices[index].finish_reason == plain.choices[index].finish_reason
    assert final.usage is not None and final.usage == plain.usage


def test_logprobs_pass_strict_validation(client: openai.OpenAI) -> None:
    done = client.chat.completions.create(
        model="m", messages=MESSAGES, logprobs=True, top_logprobs=2, max_tokens=5
    )
    logprobs = done.choices[0].logprobs
    assert logprobs is not None and logprobs.content is not None
    assert "".join(e.token for e in logprobs.content) == done.choices[0].message.content
    assert all(len(e.top_logprobs) == 2 and e.logprob <= 0 for e in logprobs.content)
    stream = client.chat.completions.create(
        model="m", messages=MESSAGES, logprobs=True, max_tokens=5, stream=True
    )
    tokens = [
        c.choices[0].logprobs.content[0].token
        for c in stream
        if c.choices and c.choices[0].logprobs and c.choices[0].logprobs.content
    ]
    assert "".join(tokens) == done.choices[0].message.content


def test_json_mode_gives_a_json_object(client: openai.OpenAI) -> None:
    done = client.chat.completions.create(
        model="m", messages=MESSAGES, response_format={"type": "json_object"}
    )
    assert isinstance(json.loads(done.choices[0].message.content or ""), dict)


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def test_tool_calls_pass_strict_validation(client: openai.OpenAI) -> None:
    forced = {"type": "function", "function": {"name": "get_weather"}}
    done = client.chat.completions.create(
        model="m", messages=MESSAGES, tools=[WEATHER_TOOL], tool_choice=forced, seed=3
    )
    choice = done.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    calls = choice.message.tool_calls or []
    assert len(calls) == 1 and calls[0].type == "function"
    assert set(json.loads(calls[0].function.arguments)) == {"city"}
    with client.chat.completions.stream(
        model="m", messages=MESSAGES, tools=[WEATHER_TOOL], tool_choice=forced, seed=3
    ) as stream:
        final = stream.get_final_completion()
    streamed = final.choices[0].message.tool_calls or []
    assert [(c.id, c.function.name, c.function.arguments) for c in streamed] == [
        (calls[0].id, "get_weather", calls[0].function.arguments)
    ]
    assert final.choices[0].finish_reason == "tool_calls"


def test_invalid_temperature_is_a_bad_request_with_the_envelope(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="m", messages=MESSAGES, temperature=5)
    error = caught.value
    assert error.status_code == 400
    assert isinstance(error.body, dict)
    assert set(error.body) == {"message", "type", "param", "code"}
    assert error.param == "temperature"
    assert error.code == "decimal_above_max_value"
    assert error.type == "invalid_request_error"


def test_wrong_key_is_an_authentication_error(root: str) -> None:
    with (
        _client(root + "/v1", key="not-the-key") as sdk,
        pytest.raises(openai.AuthenticationError) as caught,
    ):
        sdk.chat.completions.create(model="m", messages=MESSAGES)
    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"


@pytest.mark.parametrize("prefix", ["/nebulablock/v1", "/weai/v1"])
def test_flavours_pass_strict_validation(root: str, prefix: str) -> None:
    with _client(root + prefix) as sdk:
        model = sdk.models.list().data[0].id  # the flavour's own model, read strictly
        assert sdk.models.retrieve(model).id == model
        done = sdk.chat.completions.create(model=model, messages=MESSAGES, max_tokens=4)
        assert done.choices[0].finish_reason == "length"
        streamed = sdk.chat.completions.create(
            model=model, messages=MESSAGES, max_tokens=4, stream=True
        )
        text = "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)
        assert text == done.choices[0].message.content


@pytest.mark.parametrize(
    "variant",
    sorted(n for n, f in FAULTS.items() if f.correct and "openai" in f.dialects),
)
def test_sdk_accepts_every_valid_variant(root: str, variant: str) -> None:
    with _client(f"{root}/fault/{variant}/v1") as sdk, _client(root + "/v1") as reference:
        expected = reference.chat.completions.create(model="m", messages=MESSAGES, seed=1, n=2)
        stream = sdk.chat.completions.create(
            model="m",
            messages=MESSAGES,
            seed=1,
            n=2,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
        for index in (0, 1):
            text = "".join(
                c.delta.content or "" for ch in chunks for c in ch.choices if c.index == index
            )
            assert text == expected.choices[index].message.content
        assert chunks[-1].usage == expected.usage
        plain = sdk.chat.completions.create(model="m", messages=MESSAGES, seed=1, n=2)
        assert plain.choices[1].message.content == expected.choices[1].message.content


@pytest.mark.parametrize("fault", ["event_without_data", "unparseable_event"])
def test_sdk_fails_on_events_it_cannot_decode(root: str, fault: str) -> None:
    """The faults whose point is that the official SDK cannot read the stream."""
    with _client(f"{root}/fault/{fault}/v1") as sdk:
        stream = sdk.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        with pytest.raises(json.JSONDecodeError):
            list(stream)


def test_sdk_loses_the_role_chunk_behind_a_bom(root: str) -> None:
    with _client(f"{root}/fault/bom/v1") as sdk:
        chunks = list(sdk.chat.completions.create(model="m", messages=MESSAGES, stream=True))
    assert chunks and all(c.choices[0].delta.role is None for c in chunks if c.choices)
