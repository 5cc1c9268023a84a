"""Behaviour of the reference backend, in process (httpx.ASGITransport)."""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_backend_helpers import (
    assert_valid_completion,
    assert_valid_stream,
    chat_body,
    chunks_of,
    streamed_text,
)

from conformance.backend import BackendConfig, create_app
from conformance.backend.generation import (
    VOCABULARY,
    Sampling,
    complete,
    count_prompt_tokens,
    count_tokens,
    prompt_key,
)
from conformance.errors import ConfigError

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _client(config: BackendConfig | None = None) -> httpx.AsyncClient:
    app = create_app(config or BackendConfig())
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://backend")


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with _client() as c:
        yield c


async def _chat(
    client: httpx.AsyncClient, path: str = "/v1/chat/completions", **params: Any
) -> httpx.Response:
    return await client.post(path, json=chat_body(**params))


# ---------------------------------------------------------------- completions


async def test_completion_is_a_full_chat_completion(client: httpx.AsyncClient) -> None:
    response = await _chat(client, n=2, max_tokens=6)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert_valid_completion(body, n=2)
    assert body["model"] == "reference-small"
    assert {c["finish_reason"] for c in body["choices"]} == {"length"}
    assert body["usage"]["completion_tokens"] == 12
    prompt = count_prompt_tokens(["Tell me about rivers and mountains."])
    assert body["usage"]["prompt_tokens"] == prompt == 1 + 7  # role + 6 words + "."


async def test_text_is_deterministic_and_seeded(client: httpx.AsyncClient) -> None:
    first = (await _chat(client, seed=7)).json()["choices"][0]["message"]["content"]
    again = (await _chat(client, seed=7)).json()["choices"][0]["message"]["content"]
    other = (await _chat(client, seed=8)).json()["choices"][0]["message"]["content"]
    assert first == again
    assert first != other
    words = first.replace(",", " ").replace(".", " ").split()
    assert words and set(words) <= set(VOCABULARY)


async def test_stream_and_non_stream_give_the_same_text(client: httpx.AsyncClient) -> None:
    plain = (await _chat(client, seed=3, n=2)).json()
    response = await _chat(client, seed=3, n=2, stream=True)
    chunks = assert_valid_stream(response.content, response.headers["content-type"], n=2)
    for index in (0, 1):
        assert streamed_text(chunks, index) == plain["choices"][index]["message"]["content"]


async def test_usage_is_honest_under_the_documented_tokenizer(client: httpx.AsyncClient) -> None:
    body = (await _chat(client, seed=11)).json()
    text = body["choices"][0]["message"]["content"]
    assert body["choices"][0]["finish_reason"] == "stop"
    assert count_tokens(text) == body["usage"]["completion_tokens"]


@pytest.mark.parametrize("name", ["max_tokens", "max_completion_tokens"])
async def test_token_limit_is_enforced(client: httpx.AsyncClient, name: str) -> None:
    body = (await _chat(client, **{name: 4})).json()
    choice = body["choices"][0]
    assert choice["finish_reason"] == "length"
    assert count_tokens(choice["message"]["content"]) == 4 == body["usage"]["completion_tokens"]


async def test_stop_sequences_are_honoured_and_excluded(client: httpx.AsyncClient) -> None:
    text = (await _chat(client, seed=5)).json()["choices"][0]["message"]["content"]
    stop = text.split()[3]
    assert stop in VOCABULARY
    for form in (stop, [stop], ["zzz-never", stop]):
        body = (await _chat(client, seed=5, stop=form)).json()
        choice = body["choices"][0]
        assert choice["finish_reason"] == "stop"
        assert choice["message"]["content"] == text[: text.index(stop)]
        assert stop not in choice["message"]["content"]
    response = await _chat(client, seed=5, stop=stop, stream=True)
    chunks = assert_valid_stream(response.content, response.headers["content-type"])
    assert streamed_text(chunks) == text[: text.index(stop)]


async def test_stream_with_usage_ends_with_usage_chunk(client: httpx.AsyncClient) -> None:
    response = await _chat(
        client, stream=True, n=3, max_tokens=3, stream_options={"include_usage": True}
    )
    assert response.status_code == 200
    chunks = assert_valid_stream(
        response.content, response.headers["content-type"], n=3, include_usage=True
    )
    assert chunks[-1]["usage"]["completion_tokens"] == 9
    assert all("usage" in c for c in chunks)
    content_chunks = [c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")]
    assert all(len(c["choices"]) == 1 for c in content_chunks)
    assert len(content_chunks) == 9  # one token per chunk


async def test_stream_without_usage_has_no_usage_key(client: httpx.AsyncClient) -> None:
    response = await _chat(client, stream=True, max_tokens=2)
    chunks = assert_valid_stream(response.content, response.headers["content-type"])
    assert all("usage" not in c for c in chunks)


async def test_temperature_zero_is_greedy(client: httpx.AsyncClient) -> None:
    body = (await _chat(client, temperature=0, n=2, seed=1)).json()
    texts = {c["message"]["content"] for c in body["choices"]}
    again = (await _chat(client, temperature=0, seed=99)).json()
    assert len(texts) == 1 and texts == {again["choices"][0]["message"]["content"]}


@given(
    prompt=st.text(max_size=40),
    max_tokens=st.none() | st.integers(1, 40),
    stops=st.lists(st.sampled_from((*VOCABULARY, ",", "r", " ")), max_size=4),
    seed=st.none() | st.integers(-(2**63), 2**63 - 1),
)
def test_generation_invariants(
    prompt: str, max_tokens: int | None, stops: list[str], seed: int | None
) -> None:
    key = prompt_key((("user", prompt),))
    done = complete(key, Sampling(seed=seed), 0, max_tokens=max_tokens, stops=stops)
    plain = complete(key, Sampling(seed=seed), 0, max_tokens=max_tokens)
    assert done == complete(key, Sampling(seed=seed), 0, max_tokens=max_tokens, stops=stops)
    if max_tokens is not None:
        assert done.tokens <= max_tokens
    assert plain.text.startswith(done.text)
    for stop in stops:
        assert stop not in done.text
    if done.finish_reason == "length":
        assert done.tokens == max_tokens
        assert done.text == plain.text
    if not stops:
        assert count_tokens(done.text) == done.tokens


def test_vocabulary_words_do_not_contain_each_other() -> None:
    for word in VOCABULARY:
        assert all(word not in other for other in VOCABULARY if other != word)


async def test_logprobs_are_honest(client: httpx.AsyncClient) -> None:
    body = (await _chat(client, logprobs=True, top_logprobs=3, max_tokens=10, seed=4)).json()
    choice = body["choices"][0]
    entries = choice["logprobs"]["content"]
    assert "".join(e["token"] for e in entries) == choice["message"]["content"]
    for entry in entries:
        assert bytes(entry["bytes"]) == entry["token"].encode()
        assert entry["logprob"] <= 0
        assert len(entry["top_logprobs"]) == 3
        assert entry["top_logprobs"][0]["token"] == entry["token"]
        if entry["token"] in {",", "."}:
            assert entry["logprob"] == 0.0
        else:  # a uniform draw from all 64 words (top_p 1, no penalty)
            assert entry["logprob"] == pytest.approx(-math.log(len(VOCABULARY)))
    greedy = (await _chat(client, logprobs=True, temperature=0, max_tokens=3)).json()
    assert {e["logprob"] for e in greedy["choices"][0]["logprobs"]["content"]} == {0.0}
    response = await _chat(client, logprobs=True, max_tokens=10, seed=4, stream=True)
    chunks = assert_valid_stream(response.content, response.headers["content-type"])
    streamed = [c["logprobs"]["content"][0] for ch in chunks for c in ch["choices"]
                if c["delta"].get("content")]  # fmt: skip
    assert [e["token"] for e in streamed] == [e["token"] for e in entries]
    assert all(e["top_logprobs"] == [] for e in streamed)
    plain = (await _chat(client, max_tokens=10, seed=4)).json()
    assert plain["choices"][0]["logprobs"] is None


async def test_json_mode_answers_a_json_object(client: httpx.AsyncClient) -> None:
    mode = {"type": "json_object"}
    body = (await _chat(client, response_format=mode, seed=6, logprobs=True)).json()
    choice = body["choices"][0]
    content = choice["message"]["content"]
    assert choice["finish_reason"] == "stop"
    parsed = json.loads(content)
    assert isinstance(parsed, dict) and isinstance(parsed["text"], str)
    assert count_tokens(content) == body["usage"]["completion_tokens"]
    assert "".join(e["token"] for e in choice["logprobs"]["content"]) == content
    response = await _chat(client, response_format=mode, seed=6, stream=True)
    chunks = assert_valid_stream(response.content, response.headers["content-type"])
    assert streamed_text(chunks) == content
    cut = (await _chat(client, response_format=mode, seed=6, max_tokens=5)).json()
    assert cut["choices"][0]["finish_reason"] == "length"
    with pytest.raises(json.JSONDecodeError):
        json.loads(cut["choices"][0]["message"]["content"])


PET_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "colour": {"enum": ["red", "green"]},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
        "owner": {"type": "object", "properties": {"age": {"type": "integer", "minimum": 3}},
                  "required": ["age"], "additionalProperties": False},
    },
    "required": ["name", "colour", "tags", "owner"],
    "additionalProperties": False,
}  # fmt: skip


async def test_json_schema_answers_json_that_validates(client: httpx.AsyncClient) -> None:
    from jsonschema import Draft202012Validator

    fmt = {"type": "json_schema", "json_schema": {"name": "pet", "strict": True,
                                                  "schema": PET_SCHEMA}}  # fmt: skip
    body = (await _chat(client, response_format=fmt, seed=6)).json()
    choice = body["choices"][0]
    content = choice["message"]["content"]
    assert choice["finish_reason"] == "stop"
    Draft202012Validator(PET_SCHEMA).validate(json.loads(content))
    assert count_tokens(content) == body["usage"]["completion_tokens"]
    response = await _chat(client, response_format=fmt, seed=6, stream=True)
    chunks = assert_valid_stream(response.content, response.headers["content-type"])
    assert streamed_text(chunks) == content
    cut = (await _chat(client, response_format=fmt, seed=6, max_tokens=4)).json()
    assert cut["choices"][0]["finish_reason"] == "length"
    assert cut["usage"]["completion_tokens"] == 4


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer", "minimum": 2},
                "units": {"enum": ["celsius", "fahrenheit"]},
                "hourly": {"type": "boolean"},
                "tags": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["city"],
        },
    },
}


async def test_forced_tool_calls(client: httpx.AsyncClient) -> None:
    named = {"type": "function", "function": {"name": "get_weather"}}
    for choice in ("required", named):
        body = (await _chat(client, tools=[WEATHER], tool_choice=choice, n=2)).json()
        assert_valid_completion(body, n=2)
        for c in body["choices"]:
            assert c["finish_reason"] == "tool_calls"
            assert c["message"]["content"] is None
            (call,) = c["message"]["tool_calls"]
            assert call["type"] == "function" and call["id"].startswith("call_")
            assert call["function"]["name"] == "get_weather"
            arguments = json.loads(call["function"]["arguments"])
            assert set(arguments) == {"city", "days", "units", "hourly", "tags"}
            assert arguments["city"] in VOCABULARY and arguments["days"] == 2
            assert arguments["units"] == "celsius" and arguments["hourly"] is True
        calls = [c["message"]["tool_calls"][0]["function"]["arguments"] for c in body["choices"]]
        tokens = sum(1 + count_tokens(a) for a in calls)
        assert body["usage"]["completion_tokens"] == tokens
    plain = (await _chat(client, tools=[WEATHER], tool_choice="required", seed=1)).json()
    response = await _chat(client, tools=[WEATHER], tool_choice="required", seed=1, stream=True)
    chunks = assert_valid_stream(response.content, response.headers["content-type"])
    parts = [c["delta"]["tool_calls"][0] for ch in chunks for c in ch["choices"]
             if c["delta"].get("tool_calls")]  # fmt: skip
    expected = plain["choices"][0]["message"]["tool_calls"][0]
    assert parts[0]["id"] == expected["id"] and parts[0]["function"]["name"] == "get_weather"
    assert "".join(p["function"]["arguments"] for p in parts) == expected["function"]["arguments"]
    finish = [c["finish_reason"] for ch in chunks for c in ch["choices"] if c["finish_reason"]]
    assert finish == ["tool_calls"]


async def test_tool_calls_respect_the_token_limit(client: httpx.AsyncClient) -> None:
    body = (await _chat(client, tools=[WEATHER], tool_choice="required", max_tokens=4)).json()
    choice = body["choices"][0]
    assert choice["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 4
    with pytest.raises(json.JSONDecodeError):
        json.loads(choice["message"]["tool_calls"][0]["function"]["arguments"])


async def test_auto_and_none_tool_choice_answer_in_text(client: httpx.AsyncClient) -> None:
    for choice in (None, "auto", "none"):
        params = {"tools": [WEATHER]} | ({"tool_choice": choice} if choice else {})
        body = (await _chat(client, **params)).json()
        message = body["choices"][0]["message"]
        assert message["content"] and "tool_calls" not in message


# ---------------------------------------------------------------- validation

INVALID: list[tuple[str, Any, str | None, int]] = [
    ("temperature above 2", chat_body(temperature=5), "temperature", 400),
    ("temperature below 0", chat_body(temperature=-0.1), "temperature", 400),
    ("temperature a string", chat_body(temperature="hot"), "temperature", 400),
    ("top_p above 1", chat_body(top_p=1.5), "top_p", 400),
    ("n zero", chat_body(n=0), "n", 400),
    ("n above cap", chat_body(n=129), "n", 400),
    ("n a float", chat_body(n=2.0), "n", 400),
    ("n a boolean", chat_body(n=True), "n", 400),
    ("max_tokens zero", chat_body(max_tokens=0), "max_tokens", 400),
    (
        "max_tokens above the model limit",
        chat_body(max_tokens=10**6, ignore_eos=True),
        "max_tokens",
        400,
    ),
    (
        "max_completion_tokens negative",
        chat_body(max_completion_tokens=-3),
        "max_completion_tokens",
        400,
    ),
    ("presence_penalty", chat_body(presence_penalty=2.5), "presence_penalty", 400),
    ("frequency_penalty", chat_body(frequency_penalty=-3), "frequency_penalty", 400),
    ("five stop sequences", chat_body(stop=["a", "b", "c", "d", "e"]), "stop", 400),
    ("stop a number", chat_body(stop=3), "stop", 400),
    ("empty messages", chat_body(messages=[]), "messages", 400),
    ("messages not a list", chat_body(messages="hi"), "messages", 400),
    ("bad role", chat_body(messages=[{"role": "robot", "content": "x"}]), "messages[0].role", 400),
    (
        "content a number",
        chat_body(messages=[{"role": "user", "content": 3}]),
        "messages[0].content",
        400,
    ),
    ("content missing", chat_body(messages=[{"role": "user"}]), "messages[0].content", 400),
    (
        "tool message without id",
        chat_body(messages=[{"role": "tool", "content": "x"}]),
        "messages[0].tool_call_id",
        400,
    ),
    ("model missing", {"messages": [{"role": "user", "content": "x"}]}, "model", 400),
    ("model a number", chat_body(model=3), "model", 400),
    ("stream a string", chat_body(stream="yes"), "stream", 400),
    (
        "stream_options without stream",
        chat_body(stream_options={"include_usage": True}),
        "stream_options",
        400,
    ),
    ("unknown parameter", chat_body(temprature=1), "temprature", 400),
    ("tools empty", chat_body(tools=[]), "tools", 400),
    (
        "custom tool refused",
        chat_body(tools=[{"type": "custom", "custom": {"name": "f"}}]),
        "tools[0].type",
        400,
    ),
    (
        "tool name invalid",
        chat_body(tools=[{"type": "function", "function": {"name": "a b"}}]),
        "tools[0].function.name",
        400,
    ),
    ("tool_choice without tools", chat_body(tool_choice="required"), "tool_choice", 400),
    (
        "tool_choice names no offered tool",
        chat_body(
            tools=[{"type": "function", "function": {"name": "f"}}],
            tool_choice={"type": "function", "function": {"name": "g"}},
        ),
        "tool_choice.function.name",
        400,
    ),
    ("deprecated functions refused", chat_body(functions=[{"name": "f"}]), "functions", 400),
    ("top_logprobs without logprobs", chat_body(top_logprobs=2), "top_logprobs", 400),
    ("top_logprobs above 20", chat_body(logprobs=True, top_logprobs=21), "top_logprobs", 400),
    (
        "json_schema without a name",
        chat_body(response_format={"type": "json_schema", "json_schema": {"schema": {}}}),
        "response_format.json_schema.name",
        400,
    ),
    (
        "json_schema schema not an object",
        chat_body(
            response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": []}}
        ),
        "response_format.json_schema.schema",
        400,
    ),
    (
        "unknown response_format",
        chat_body(response_format={"type": "yaml"}),
        "response_format.type",
        400,
    ),
    (
        "image input refused",
        chat_body(
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "http://x"}}],
                }
            ]
        ),
        "messages[0].content[0].type",
        400,
    ),
    ("body an array", [1, 2], None, 400),
    ("body a string", "hello", None, 400),
]


@pytest.mark.parametrize(
    ("body", "param", "status"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID]
)
async def test_invalid_requests_get_the_error_envelope(
    client: httpx.AsyncClient, body: Any, param: str | None, status: int
) -> None:
    response = await client.post("/v1/chat/completions", json=body)
    assert response.status_code == status
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert isinstance(error["message"], str) and error["message"]


async def test_malformed_json_is_a_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/chat/completions", content=b'{"model": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"


async def test_content_parts_and_optional_fields_are_accepted(client: httpx.AsyncClient) -> None:
    body = chat_body(
        messages=[
            {"role": "developer", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "hello"}]},
            {"role": "assistant", "content": None, "tool_calls": [{"id": "c1"}]},
            {"role": "tool", "content": "42", "tool_call_id": "c1"},
        ],
        user="u1",
        metadata={"a": "b"},
        response_format={"type": "text"},
        stop=None,
        temperature=None,
    )
    response = await client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text


# ---------------------------------------------------------------- flavours


async def test_weai_knows_only_its_models(client: httpx.AsyncClient) -> None:
    ok = await _chat(client, "/weai/v1/chat/completions", model="llama3.1-8B")
    assert ok.status_code == 200
    assert ok.json()["model"] == "llama3.1-8B"
    missing = await _chat(client, "/weai/v1/chat/completions", model="gpt-4o")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "model_not_found"
    hot = await _chat(client, "/weai/v1/chat/completions", model="llama3.1-70B", temperature=2.5)
    assert hot.status_code == 400
    models = (await client.get("/weai/v1/models")).json()
    assert [m["id"] for m in models["data"]] == ["llama3.1-8B", "llama3.1-70B"]


async def test_nebulablock_adds_its_fields(client: httpx.AsyncClient) -> None:
    model = "meta-llama/Llama-3.3-70B-Instruct"
    body = (await _chat(client, "/nebulablock/v1/chat/completions", model=model)).json()
    assert_valid_completion(body)
    assert body["service_tier"] and "prompt_logprobs" in body
    assert "function_calls" in body["choices"][0]["message"]


@pytest.mark.parametrize(
    ("prefix", "models"),
    [
        ("/v1", ["gpt-4o-mini", "reference-small", "reference-large"]),
        ("/nebulablock/v1", ["meta-llama/Llama-3.3-70B-Instruct"]),
        ("/weai/v1", ["llama3.1-8B", "llama3.1-70B"]),
    ],
)
async def test_each_path_lists_and_serves_only_its_documented_models(
    client: httpx.AsyncClient, prefix: str, models: list[str]
) -> None:
    listed = (await client.get(f"{prefix}/models")).json()
    assert listed["object"] == "list"
    assert [m["id"] for m in listed["data"]] == models
    for entry in listed["data"]:
        assert entry["object"] == "model" and isinstance(entry["created"], int)
        assert isinstance(entry["owned_by"], str) and entry["owned_by"]
    ok = await _chat(client, f"{prefix}/chat/completions", model=models[-1])
    assert ok.status_code == 200 and ok.json()["model"] == models[-1]
    unknown = await _chat(client, f"{prefix}/chat/completions", model="no-such-model")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "model_not_found"
    assert unknown.json()["error"]["param"] == "model"
    streamed = await _chat(client, f"{prefix}/chat/completions", model="nope", stream=True)
    assert streamed.status_code == 404


async def test_one_model_is_retrieved_with_its_id_percent_encoded(
    client: httpx.AsyncClient,
) -> None:
    one = await client.get("/nebulablock/v1/models/meta-llama%2FLlama-3.3-70B-Instruct")
    assert one.status_code == 200
    assert one.json() == {
        "id": "meta-llama/Llama-3.3-70B-Instruct",
        "object": "model",
        "created": 1700000000,
        "owned_by": "nebulablock",
    }
    missing = await client.get("/v1/models/no-such-model")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"


async def test_extra_models_are_listed_and_answered_on_every_openai_path() -> None:
    async with _client(BackendConfig(models=("my-model",))) as client:
        for prefix in ("/v1", "/weai/v1"):
            ids = [m["id"] for m in (await client.get(f"{prefix}/models")).json()["data"]]
            assert ids[-1] == "my-model"
            answer = await _chat(client, f"{prefix}/chat/completions", model="my-model")
            assert answer.status_code == 200 and answer.json()["model"] == "my-model"
    with pytest.raises(ConfigError):
        BackendConfig(models=(" padded",))
    config = BackendConfig(models=("a",))
    assert BackendConfig.from_json(config.to_json()).models == ("a",)


async def test_models_routes_need_the_key_like_the_chat_route() -> None:
    async with _client(BackendConfig(api_keys=("k-1",))) as client:
        assert (await client.get("/v1/models")).status_code == 401
        assert (await client.get("/v1/models/gpt-4o-mini")).status_code == 401
        headers = {"Authorization": "Bearer k-1"}
        assert (await client.get("/v1/models", headers=headers)).status_code == 200
        assert (await client.get("/v1/models/gpt-4o-mini", headers=headers)).status_code == 200


# ---------------------------------------------------------------- Wetrocloud

WC_MESSAGES = json.dumps([{"role": "user", "content": "what is a large language model?"}])


async def test_wetrocloud_multipart(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/text-generation/", files={"messages": (None, WC_MESSAGES), "model": (None, "m")}
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"response", "tokens", "success"}
    assert body["success"] is True
    prompt = count_prompt_tokens(["what is a large language model?"])
    assert body["tokens"] == prompt + count_tokens(body["response"])
    again = await client.post("/v1/text-generation/", data={"messages": WC_MESSAGES, "model": "m"})
    assert again.json() == body


@pytest.mark.parametrize(
    ("form", "status"),
    [
        ({"model": "m"}, 400),
        ({"messages": "not json", "model": "m"}, 400),
        ({"messages": "[]", "model": "m"}, 400),
        ({"messages": json.dumps([{"role": "robot", "content": "x"}]), "model": "m"}, 400),
        ({"messages": WC_MESSAGES}, 400),
    ],
)
async def test_wetrocloud_errors(
    client: httpx.AsyncClient, form: dict[str, str], status: int
) -> None:
    response = await client.post(
        "/v1/text-generation/", files={k: (None, v) for k, v in form.items()}
    )
    assert response.status_code == status
    body = response.json()
    assert body["success"] is False and isinstance(body["error"], str)


async def test_wetrocloud_refuses_json_bodies(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/text-generation/", json={"messages": WC_MESSAGES})
    assert response.status_code == 415
    assert response.json()["success"] is False


# ---------------------------------------------------------------- auth


async def test_without_keys_any_key_or_none_is_accepted(client: httpx.AsyncClient) -> None:
    for headers in ({}, {"Authorization": "Bearer anything"}, {"Authorization": "junk"}):
        response = await client.post("/v1/chat/completions", json=chat_body(), headers=headers)
        assert response.status_code == 200


async def test_with_keys_only_those_are_accepted() -> None:
    async with _client(BackendConfig(api_keys=("k-1", "k-2"))) as client:
        url = "/v1/chat/completions"
        missing = await client.post(url, json=chat_body())
        assert missing.status_code == 401
        assert missing.json()["error"]["code"] == "missing_api_key"
        wrong = await client.post(url, json=chat_body(), headers={"Authorization": "Bearer x"})
        assert wrong.status_code == 401
        assert set(wrong.json()["error"]) == {"message", "type", "param", "code"}
        assert wrong.json()["error"]["code"] == "invalid_api_key"
        for key in ("k-1", "k-2"):
            ok = await client.post(
                url, json=chat_body(), headers={"Authorization": f"Bearer {key}"}
            )
            assert ok.status_code == 200
        token = await client.post(url, json=chat_body(), headers={"Authorization": "Token k-1"})
        assert token.status_code == 401
        assert (await client.get("/v1/models")).status_code == 401
        wc = {"messages": (None, WC_MESSAGES), "model": (None, "m")}
        right = await client.post(
            "/v1/text-generation/", files=wc, headers={"Authorization": "Token k-2"}
        )
        assert right.status_code == 200
        bearer = await client.post(
            "/v1/text-generation/", files=wc, headers={"Authorization": "Bearer k-2"}
        )
        assert bearer.status_code == 401
        assert bearer.json() == {"success": False, "error": "Incorrect API key provided."}


# ---------------------------------------------------------------- routes, stats, faults


async def test_stats_and_reset(client: httpx.AsyncClient) -> None:
    await _chat(client, stream=True, max_tokens=3)
    stats = (await client.get("/stats")).json()
    assert stats["requests"] == 1 and stats["streams"] == 1
    assert stats["ttft_lateness_ms"]["count"] == 1
    assert stats["itl_lateness_ms"]["count"] == 2
    assert set(stats["itl_lateness_ms"]) == {"count", "mean", "p50", "p90", "p99", "max"}
    assert stats["configured"] == {"ttft_ms": 0.0, "itl_ms": 0.0}
    reset = (await client.post("/stats/reset")).json()
    assert reset["requests"] == 0 and reset["ttft_lateness_ms"]["p50"] is None


async def test_unknown_paths_and_methods(client: httpx.AsyncClient) -> None:
    assert (await client.get("/nowhere")).json()["error"]["code"] == "unknown_url"
    wrong_method = await client.get("/v1/chat/completions")
    assert wrong_method.status_code == 405
    assert set(wrong_method.json()["error"]) == {"message", "type", "param", "code"}
    unknown_fault = await client.post("/fault/nope/v1/chat/completions", json=chat_body())
    assert unknown_fault.status_code == 404
    assert unknown_fault.json()["error"]["code"] == "unknown_fault"
    info = (await client.get("/")).json()
    assert any(r["path"] == "/v1/chat/completions" for r in info["routes"])
    faults = (await client.get("/faults")).json()
    assert "no_done" in faults and faults["ok_crlf"]["correct"] is True


async def test_bad_timing_header_is_a_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/chat/completions", json=chat_body(), headers={"X-Conformance-TTFT-Ms": "soon"}
    )
    assert response.status_code == 400


async def test_fault_selection_prefix_header_server_and_none() -> None:
    async with _client(BackendConfig(fault="n_ignored")) as client:
        server_wide = (await _chat(client, n=2)).json()
        assert len(server_wide["choices"]) == 1
        off = await client.post(
            "/v1/chat/completions", json=chat_body(n=2), headers={"X-Conformance-Fault": "none"}
        )
        assert len(off.json()["choices"]) == 2
        by_header = await client.post(
            "/v1/chat/completions",
            json=chat_body(n=2),
            headers={"X-Conformance-Fault": "choice_index_wrong"},
        )
        assert [c["index"] for c in by_header.json()["choices"]] == [1, 2]
        by_prefix = await client.post(
            "/fault/choice_index_wrong/weai/v1/chat/completions",
            json=chat_body(n=2, model="llama3.1-8B"),
        )
        assert [c["index"] for c in by_prefix.json()["choices"]] == [1, 2]


async def test_midstream_error_header_sends_an_error_event(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/chat/completions",
        json=chat_body(stream=True),
        headers={"X-Conformance-Midstream-Error": "2"},
    )
    chunks = chunks_of(response.content)
    assert chunks[-1]["error"]["type"] == "server_error"
    assert set(chunks[-1]["error"]) == {"message", "type", "param", "code"}
    assert b"[DONE]" not in response.content
    assert streamed_text(chunks[:-1]) != ""


def test_readme_lists_every_fault() -> None:
    from pathlib import Path

    from conformance.backend.faults import fault_table

    readme = Path(__file__).parent.parent / "conformance" / "backend" / "README.md"
    assert fault_table() in readme.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"n": 3, "max_tokens": 4},
        {"stream_options": {"include_usage": True}, "n": 2},
        {"stop": [" ", ","], "stream_options": {"include_usage": True}},
        {"max_tokens": 1, "seed": 3, "model": 'quote"model\u00e9'},
    ],
)
def test_fast_stream_path_writes_the_same_bytes_as_the_general_one(params: dict[str, Any]) -> None:
    from conformance.backend.chat import RequestContext, generate, plan_stream
    from conformance.backend.stats import Stats
    from conformance.backend.validate import validate_chat

    config = BackendConfig()
    ctx = RequestContext(config, Stats(0, 0), None, "openai", 0.0, 0.0, 0.0)
    request = validate_chat(chat_body(stream=True, **params))
    answer = generate(request, ctx)
    fast = plan_stream(answer, request, ctx)
    general = plan_stream(answer, request, ctx, fast=False)
    assert fast == general


async def test_oversized_bodies_are_refused() -> None:
    async with _client(BackendConfig(max_body_bytes=2048)) as client:
        big = chat_body(messages=[{"role": "user", "content": "word " * 1000}])
        chat = await client.post("/v1/chat/completions", json=big)
        assert chat.status_code == 413
        assert chat.json()["error"]["code"] == "request_too_large"
        form = {"messages": (None, WC_MESSAGES + " " * 5000), "model": (None, "m")}
        sized = await client.post("/v1/text-generation/", files=form)
        assert sized.status_code == 413 and sized.json()["success"] is False
        boundary = "b0undary"
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="messages"\r\n\r\n'
            f"{WC_MESSAGES}{' ' * 5000}\r\n--{boundary}--\r\n"
        ).encode()

        async def parts() -> AsyncIterator[bytes]:
            yield body[:1000]
            yield body[1000:]

        streamed = await client.post(
            "/v1/text-generation/",
            content=parts(),
            headers={"content-type": f"multipart/form-data; boundary={boundary}"},
        )
        assert streamed.status_code == 413 and streamed.json()["success"] is False
