"""Provider profiles: registry, encoders, request round trips and decoders."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.requests import Request as StarletteRequest

from conformance._version import __version__
from conformance.errors import ConfigError
from conformance.providers import (
    PROVIDERS,
    DecodeError,
    Dialect,
    NebulaBlockProvider,
    OpenAIProvider,
    Provider,
    WeAIProvider,
    WetrocloudProvider,
    get_provider,
)
from conformance.providers.wetrocloud import parse_form
from conformance.schemas import (
    ChatCompletion,
    ChatCompletionChunk,
    ErrorEnvelope,
    WetrocloudError,
    WetrocloudResponse,
    schemas_for,
    violations,
)
from conformance.wire.sse import parse_sse

MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "what is a large language model? é ✓"},
]
OPENAI_STYLE = ["openai", "nebulablock", "weai"]


# -- registry -----------------------------------------------------------------------------


def test_registry_holds_the_four_profiles_under_their_names() -> None:
    assert set(PROVIDERS) == {"openai", "nebulablock", "weai", "wetrocloud"}
    for name, cls in PROVIDERS.items():
        assert cls.name == name
        assert issubclass(cls, Provider)


def test_unknown_provider_is_a_config_error_listing_the_known_names() -> None:
    with pytest.raises(ConfigError) as info:
        get_provider("acme")
    message = str(info.value)
    assert "acme" in message
    for name in PROVIDERS:
        assert name in message


def test_bad_base_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="http"):
        get_provider("openai", base_url="localhost:8000/v1")


@pytest.mark.parametrize(
    ("name", "base_url", "endpoint", "env", "scheme", "model"),
    [
        (
            "openai",
            "https://api.openai.com/v1",
            "/chat/completions",
            "OPENAI_API_KEY",
            "Bearer",
            "gpt-4o-mini",
        ),
        (
            "nebulablock",
            "https://inference.nebulablock.com/v1",
            "/chat/completions",
            "NEBULABLOCK_API_KEY",
            "Bearer",
            None,
        ),
        (
            "weai",
            "https://weai.productscience.ai/v1",
            "/chat/completions",
            "WEAI_API_KEY",
            "Bearer",
            "llama3.1-8B",
        ),
        (
            "wetrocloud",
            "https://api.wetrocloud.com",
            "/v1/text-generation/",
            "WETROCLOUD_API_KEY",
            "Token",
            "llama-3.3-70b",
        ),
    ],
)
def test_profile_declarations(
    name: str, base_url: str, endpoint: str, env: str, scheme: str, model: str | None
) -> None:
    provider = get_provider(name)
    assert provider.base_url == base_url
    assert provider.endpoint == endpoint
    assert provider.url == base_url + endpoint
    assert provider.api_key_env == env
    assert provider.auth_headers("k3y") == {"Authorization": f"{scheme} k3y"}
    assert provider.auth_headers(None) == {}
    if model is not None:
        assert provider.model == model
    assert provider.model == provider.models[0]


def test_weai_documents_two_models_and_model_overrides() -> None:
    assert WeAIProvider.models == ("llama3.1-8B", "llama3.1-70B")
    assert get_provider("weai", model="llama3.1-70B").model == "llama3.1-70B"
    assert WeAIProvider.capabilities.temperature_range == (0.0, 2.0)


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("openai", "http://127.0.0.1:9/v1/chat/completions"),
        ("nebulablock", "http://127.0.0.1:9/nebulablock/v1/chat/completions"),
        ("weai", "http://127.0.0.1:9/weai/v1/chat/completions"),
        ("wetrocloud", "http://127.0.0.1:9/v1/text-generation/"),
    ],
)
def test_embedded_urls_follow_the_contract(name: str, url: str) -> None:
    cls = PROVIDERS[name]
    assert cls(base_url=cls.embedded_base_url("http://127.0.0.1:9/")).url == url
    faulty = cls(base_url=cls.embedded_base_url("http://127.0.0.1:9/fault/no_done"))
    assert faulty.url == url.replace(":9/", ":9/fault/no_done/")


def test_capabilities_say_what_each_provider_documents() -> None:
    wetro = WetrocloudProvider.capabilities
    assert not wetro.streaming and not wetro.max_tokens and not wetro.temperature
    assert not any((wetro.n, wetro.stop, wetro.seed, wetro.tools, wetro.top_p))
    assert wetro.system_role and wetro.multi_turn
    nebula = NebulaBlockProvider.capabilities
    assert nebula.streaming and nebula.max_tokens and nebula.temperature and nebula.top_p
    assert not any((nebula.n, nebula.stop, nebula.seed, nebula.tools))
    assert OpenAIProvider.capabilities.streaming and OpenAIProvider.capabilities.n
    assert WetrocloudProvider.dialect is Dialect.WETROCLOUD
    assert {PROVIDERS[n].dialect for n in OPENAI_STYLE} == {Dialect.OPENAI}


# -- OpenAI-style encoders ----------------------------------------------------------------


@pytest.mark.parametrize("name", OPENAI_STYLE)
def test_openai_style_encoding(name: str) -> None:
    provider = get_provider(name, base_url="http://127.0.0.1:9/x/v1")
    params = {"max_tokens": 8, "temperature": 0.5, "seed": None, "stop": None}
    request = provider.encode(MESSAGES, params, api_key="sk-test")
    assert request.method == "POST"
    assert request.url.path == "/x/v1/chat/completions"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.headers["user-agent"] == f"conformance/{__version__}"
    assert request.headers["accept"] == "application/json"
    body = json.loads(request.content)
    assert body == {
        "model": provider.model,
        "messages": MESSAGES,
        "max_tokens": 8,
        "temperature": 0.5,
    }
    assert "null" not in request.content.decode()


@pytest.mark.parametrize("name", OPENAI_STYLE)
def test_openai_style_streaming_asks_for_an_event_stream(name: str) -> None:
    provider = get_provider(name)
    params = {"stream": True, "stream_options": {"include_usage": True}}
    request = provider.encode(MESSAGES, params)
    assert request.headers["accept"] == "text/event-stream"
    assert "authorization" not in request.headers
    assert json.loads(request.content)["stream_options"] == {"include_usage": True}


def test_model_parameter_overrides_the_profile_model() -> None:
    provider = get_provider("openai")
    request = provider.encode(MESSAGES, {"model": "other"})
    assert json.loads(request.content)["model"] == "other"
    assert provider.decode_request(request) == (MESSAGES, {"model": "other"})


# -- Wetrocloud encoder ----------------------------------------------------------------


def test_wetrocloud_encodes_the_documented_multipart_form() -> None:
    provider = get_provider("wetrocloud", base_url="http://127.0.0.1:9")
    request = provider.encode(MESSAGES, {"max_tokens": 5, "temperature": 0.1}, api_key="tok")
    assert request.method == "POST"
    assert str(request.url) == "http://127.0.0.1:9/v1/text-generation/"
    assert request.headers["authorization"] == "Token tok"
    ctype = request.headers["content-type"]
    assert ctype.startswith("multipart/form-data; boundary=")
    fields = parse_form(ctype, request.content)
    assert set(fields) == {"messages", "model"}  # nothing undocumented is sent
    assert isinstance(fields["messages"], str)
    assert json.loads(fields["messages"]) == MESSAGES
    assert fields["model"] == "llama-3.3-70b"
    assert b"filename=" not in request.content  # text fields, no file parts
    assert provider.dropped_params({"max_tokens": 5, "temperature": 0.1, "seed": None}) == [
        "max_tokens",
        "temperature",
    ]
    assert get_provider("openai").dropped_params({"max_tokens": 5}) == []


def test_wetrocloud_form_is_read_by_starlette_like_the_backend_reads_it() -> None:
    provider = get_provider("wetrocloud", base_url="http://127.0.0.1:9")
    request = provider.encode(MESSAGES, api_key="tok")

    async def read_form() -> dict[str, Any]:
        body = request.content
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        scope = {
            "type": "http",
            "method": "POST",
            "path": "/v1/text-generation/",
            "headers": [(k.lower(), v) for k, v in request.headers.raw],
            "query_string": b"",
        }
        form = await StarletteRequest(scope, receive).form()
        return dict(form)

    form = asyncio.run(read_form())
    assert json.loads(form["messages"]) == MESSAGES
    assert form["model"] == "llama-3.3-70b"


def test_wetrocloud_decode_request_accepts_a_urlencoded_form_too() -> None:
    provider = get_provider("wetrocloud")
    request = httpx.Request(
        "POST", provider.url, data={"messages": json.dumps(MESSAGES), "model": "llama-3.3-70b"}
    )
    assert provider.decode_request(request) == (MESSAGES, {})


def test_wetrocloud_decode_request_rejects_bad_forms() -> None:
    provider = get_provider("wetrocloud")
    with pytest.raises(DecodeError):
        provider.decode_request(httpx.Request("POST", provider.url, json={"messages": []}))
    with pytest.raises(DecodeError, match="messages"):
        provider.decode_request(httpx.Request("POST", provider.url, data={"model": "m"}))
    with pytest.raises(DecodeError, match="JSON"):
        provider.decode_request(
            httpx.Request("POST", provider.url, data={"messages": "[not json", "model": "m"})
        )


# -- round trips ----------------------------------------------------------------------------

_text = st.text(st.characters(codec="utf-8"), max_size=30)
_messages = st.lists(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["system", "user", "assistant"]), "content": _text}
    ),
    min_size=1,
    max_size=4,
)
_params = st.fixed_dictionaries(
    {},
    optional={
        "max_tokens": st.integers(1, 4096),
        "temperature": st.floats(0, 2, allow_nan=False),
        "top_p": st.floats(0, 1, allow_nan=False),
        "stream": st.booleans(),
        "n": st.integers(1, 4),
        "stop": st.one_of(_text, st.lists(_text, max_size=3)),
        "seed": st.one_of(st.none(), st.integers(0, 2**31)),
        "model": st.sampled_from(["m-1", "llama3.1-70B"]),
    },
)


@pytest.mark.parametrize("name", sorted(PROVIDERS))
@given(messages=_messages, params=_params)
def test_decode_request_inverts_encode(
    name: str, messages: list[dict[str, Any]], params: dict[str, Any]
) -> None:
    provider = get_provider(name)
    request = provider.encode(messages, params, api_key="secret-key")
    got_messages, got_params = provider.decode_request(request)
    assert got_messages == messages
    sent = {k: v for k, v in params.items() if v is not None}
    if sent.get("model") == provider.model:
        del sent["model"]
    if provider.sent_params is not None:
        sent = {k: v for k, v in sent.items() if k in provider.sent_params}
    assert got_params == sent


# -- decoders: non-streamed -----------------------------------------------------------------


def completion(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
    body.update(overrides)
    return body


def test_decode_completion() -> None:
    gen = get_provider("openai").decode(json.dumps(completion()).encode())
    assert gen.text == "Hello"
    assert gen.choices[0].finish_reason == "stop"
    assert gen.choices[0].role == "assistant"
    assert gen.usage is not None
    assert (gen.usage.prompt_tokens, gen.usage.completion_tokens, gen.usage.total_tokens) == (
        3,
        1,
        4,
    )
    assert gen.id == "chatcmpl-1" and gen.model == "m"


def test_decode_completion_with_several_choices_tool_calls_and_content_parts() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    body = completion(
        choices=[
            {
                "index": 1,
                "message": {"role": "assistant", "content": None, "tool_calls": [call]},
                "finish_reason": "tool_calls",
            },
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
                },
                "finish_reason": "length",
            },
        ]
    )
    gen = get_provider("openai").decode(json.dumps(body).encode())
    assert [c.index for c in gen.choices] == [0, 1]
    assert gen.choices[0].text == "ab"
    assert gen.choices[1].text == "" and gen.choices[1].tool_calls == [call]


def test_decode_nebulablock_extras() -> None:
    body = completion(service_tier="default", prompt_logprobs=None)
    body["choices"][0]["message"]["function_calls"] = [{"name": "f"}]
    gen = get_provider("nebulablock").decode(json.dumps(body).encode())
    assert gen.extras["service_tier"] == "default"
    assert gen.extras["message_extras"] == {0: {"function_calls": [{"name": "f"}]}}
    assert violations(schemas_for("nebulablock").response, body) == []


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "object"),
        (b'{"id": "x"}', "choices"),
        (b'{"choices": [{"index": 0}]}', "message"),
        (b'{"choices": [{"index": "0", "message": {}}]}', "index"),
        (b'{"error": {"message": "boom"}}', "boom"),
        (b'{"choices": [{"index": 0, "message": {"content": 5}}]}', "content"),
    ],
)
def test_decode_rejects_what_is_not_a_completion(body: bytes, match: str) -> None:
    with pytest.raises(DecodeError, match=match):
        get_provider("openai").decode(body)


def test_decode_wetrocloud_response() -> None:
    body = {"response": "A large language model is...", "tokens": 1475, "success": True}
    gen = get_provider("wetrocloud").decode(json.dumps(body).encode())
    assert gen.text == "A large language model is..."
    assert gen.usage is not None and gen.usage.total_tokens == 1475
    assert gen.usage.prompt_tokens is None and gen.choices[0].finish_reason is None
    assert gen.extras == {"success": True}
    assert violations(schemas_for("wetrocloud").response, body) == []


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b'{"success": false, "error": "bad model"}', "bad model"),
        (b'{"tokens": 3, "success": true}', "response"),
        (b"<html>", "JSON"),
    ],
)
def test_decode_wetrocloud_rejects(body: bytes, match: str) -> None:
    with pytest.raises(DecodeError, match=match):
        get_provider("wetrocloud").decode(body)


def test_wetrocloud_does_not_stream() -> None:
    with pytest.raises(DecodeError, match="does not stream"):
        get_provider("wetrocloud").decode_stream([])


# -- decoders: streams ---------------------------------------------------------------------


def sse(*chunks: Any, done: bool = True) -> bytes:
    out = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks)
    return out + (b"data: [DONE]\n\n" if done else b"")


def chunk(choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": choices,
        **extra,
    }


def test_decode_stream_accumulates_per_choice_with_usage_chunk() -> None:
    body = sse(
        chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]),
        chunk(
            [{"index": 1, "delta": {"role": "assistant", "content": "x"}, "finish_reason": None}]
        ),
        chunk([{"index": 0, "delta": {"content": "Hel"}, "finish_reason": None}]),
        chunk([{"index": 0, "delta": {"content": "lo"}, "finish_reason": "stop"}]),
        chunk([{"index": 1, "delta": {}, "finish_reason": "length"}]),
        chunk([], usage={"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}),
    )
    events, _ = parse_sse(body)
    gen = get_provider("openai").decode_stream(events)
    assert [(c.index, c.role, c.text, c.finish_reason) for c in gen.choices] == [
        (0, "assistant", "Hello", "stop"),
        (1, "assistant", "x", "length"),
    ]
    assert gen.usage is not None and gen.usage.completion_tokens == 3
    assert gen.id == "c" and gen.model == "m"
    assert len(gen.raw) == 6


def test_decode_stream_merges_tool_call_deltas() -> None:
    body = sse(
        chunk(
            [
                {
                    "index": 0,
                    "delta": {
                        "role": "assistant",
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "t1",
                                "type": "function",
                                "function": {"name": "get", "arguments": ""},
                            }
                        ],
                    },
                }
            ]
        ),
        chunk(
            [
                {
                    "index": 0,
                    "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '{"a":'}}]},
                }
            ]
        ),
        chunk(
            [
                {
                    "index": 0,
                    "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]},
                    "finish_reason": "tool_calls",
                }
            ]
        ),
    )
    gen = get_provider("weai").decode_stream(parse_sse(body)[0])
    assert gen.choices[0].tool_calls == [
        {"id": "t1", "type": "function", "function": {"name": "get", "arguments": '{"a":1}'}}
    ]
    assert gen.choices[0].finish_reason == "tool_calls"


def test_decode_stream_ignores_events_after_done_and_events_without_data() -> None:
    body = (
        b"event: ping\n\n"
        + sse(chunk([{"index": 0, "delta": {"content": "a"}}]))
        + b"data: garbage\n\n"
    )
    gen = get_provider("openai").decode_stream(parse_sse(body)[0])
    assert gen.text == "a"


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"data: not json\n\n", "not JSON"),
        (b"data: [1]\n\n", "object"),
        (b'event: error\ndata: {"error": {"message": "overloaded"}}\n\n', "overloaded"),
        (b"event: error\ndata: upstream died\n\n", "upstream died"),
        (b'data: {"error": {"message": "boom", "type": "server_error"}}\n\n', "boom"),
        (b"data: [DONE]\n\n", "no chunks"),
        (b'data: {"choices": {"index": 0}}\n\n', "array"),
        (b'data: {"choices": [{"index": 0, "delta": "x"}]}\n\n', "delta"),
    ],
)
def test_decode_stream_raises_decode_error(body: bytes, match: str) -> None:
    with pytest.raises(DecodeError, match=match):
        get_provider("openai").decode_stream(parse_sse(body)[0])


# -- error decoder ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            b'{"error": {"message": "bad", "type": "invalid_request_error", "param": "model", "code": "x"}}',
            ("bad", "invalid_request_error", "model", "x"),
        ),
        (b'{"error": {"message": "bad", "code": 400}}', ("bad", None, None, 400)),
        (b'{"error": "rate limited"}', ("rate limited", None, None, None)),
        (b'{"detail": "Not authenticated"}', ("Not authenticated", None, None, None)),
        (
            b'{"detail": [{"loc": ["body", "messages"], "msg": "field required", "type": "missing"}]}',
            ("messages: field required", None, "messages", None),
        ),
        (b'{"success": false, "error": "invalid token"}', ("invalid token", None, None, None)),
        (b'{"message": "nope"}', ("nope", None, None, None)),
        (b"Internal Server Error", ("Internal Server Error", None, None, None)),
        (b"", (None, None, None, None)),
        (b"\xff\xfe", ("\ufffd\ufffd", None, None, None)),
        (b'"just a string"', ("just a string", None, None, None)),
    ],
)
@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_decode_error_shapes(name: str, body: bytes, expected: tuple[Any, ...]) -> None:
    err = get_provider(name).decode_error(418, body)
    assert err.status == 418
    assert (err.message, err.type, err.param, err.code) == expected


def test_decode_error_cuts_long_text() -> None:
    err = get_provider("openai").decode_error(502, b"x" * 5000)
    assert err.message is not None and len(err.message) < 600


@pytest.mark.parametrize("name", sorted(PROVIDERS))
@given(
    body=st.one_of(
        st.binary(max_size=200),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=10),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(
                    st.sampled_from(["error", "detail", "message", "code", "type", "x"]),
                    inner,
                    max_size=4,
                )
            ),
            max_leaves=10,
        ).map(lambda v: json.dumps(v).encode()),
    )
)
def test_decode_error_never_raises(name: str, body: bytes) -> None:
    err = get_provider(name).decode_error(500, body)
    assert err.status == 500
    assert err.message is None or isinstance(err.message, str)
    assert err.code is None or isinstance(err.code, str | int)


@pytest.mark.parametrize("name", OPENAI_STYLE)
@given(body=st.binary(max_size=300))
def test_decoders_raise_only_decode_error(name: str, body: bytes) -> None:
    provider = get_provider(name)
    with contextlib.suppress(DecodeError):
        provider.decode(body)
    with contextlib.suppress(DecodeError):
        provider.decode_stream(parse_sse(body)[0])


_vocab_json = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 2) | st.sampled_from(["", "a", "stop", "[DONE]"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "choices",
                    "index",
                    "message",
                    "delta",
                    "content",
                    "role",
                    "tool_calls",
                    "function",
                    "arguments",
                    "name",
                    "id",
                    "usage",
                    "finish_reason",
                    "error",
                    "type",
                    "text",
                ]
            ),
            inner,
            max_size=5,
        )
    ),
    max_leaves=20,
)


@pytest.mark.parametrize("name", sorted(PROVIDERS))
@given(docs=st.lists(_vocab_json, min_size=1, max_size=4))
def test_decoders_on_completion_shaped_noise_raise_only_decode_error(
    name: str, docs: list[Any]
) -> None:
    provider = get_provider(name)
    for doc in docs:
        with contextlib.suppress(DecodeError):
            provider.decode(json.dumps(doc).encode())
    stream = b"".join(b"data: " + json.dumps(d).encode() + b"\n\n" for d in docs)
    with contextlib.suppress(DecodeError):
        provider.decode_stream(parse_sse(stream)[0])


# -- schemas ------------------------------------------------------------------------------------


def locs(model: Any, data: Any) -> list[str]:
    return [v.loc for v in violations(model, data)]


def test_completion_schema_accepts_a_correct_body_with_extra_fields() -> None:
    body = completion(system_fingerprint="fp", vendor_extra={"x": 1})
    body["choices"][0]["message"]["reasoning_content"] = "hmm"
    assert violations(ChatCompletion, body) == []


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"created": 1.7e9}, "created"),
        ({"created": "1700000000"}, "created"),
        ({"created": True}, "created"),
        ({"object": "chat.completion.chunk"}, "object"),
        ({"id": 5}, "id"),
        ({"choices": {"index": 0}}, "choices"),
        ({"usage": {"prompt_tokens": 1, "completion_tokens": 1}}, "usage.total_tokens"),
        (
            {"usage": {"prompt_tokens": "1", "completion_tokens": 1, "total_tokens": 2}},
            "usage.prompt_tokens",
        ),
    ],
)
def test_completion_schema_is_strict_where_the_spec_is(change: dict[str, Any], loc: str) -> None:
    assert loc in locs(ChatCompletion, completion(**change))


def test_finish_reason_enum_and_index_type_are_enforced_with_locations() -> None:
    body = completion()
    body["choices"][0]["finish_reason"] = "eos"
    body["choices"][0]["index"] = "0"
    found = violations(ChatCompletion, body)
    assert {v.loc for v in found} == {"choices.0.finish_reason", "choices.0.index"}
    assert all(str(v).startswith(v.loc) for v in found)
    assert {v.type for v in found} == {"literal_error", "int_type"}


def test_chunk_schema() -> None:
    good = chunk(
        [{"index": 0, "delta": {"role": "assistant", "content": "a"}, "finish_reason": None}]
    )
    assert violations(ChatCompletionChunk, good) == []
    usage_only = chunk([], usage={"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3})
    assert violations(ChatCompletionChunk, usage_only) == []
    bad = chunk(
        [{"index": 0, "delta": {"role": "user"}, "finish_reason": "done"}], object="chat.completion"
    )
    assert set(locs(ChatCompletionChunk, bad)) == {
        "object",
        "choices.0.delta.role",
        "choices.0.finish_reason",
    }


def test_error_envelope_needs_all_four_keys() -> None:
    full = {"error": {"message": "m", "type": "invalid_request_error", "param": None, "code": None}}
    assert violations(ErrorEnvelope, full) == []
    assert violations(ErrorEnvelope, {"error": {**full["error"], "code": 400}}) == []
    assert set(locs(ErrorEnvelope, {"error": {"message": "m"}})) == {
        "error.type",
        "error.param",
        "error.code",
    }
    assert locs(ErrorEnvelope, {"error": "text"}) == ["error"]
    assert locs(ErrorEnvelope, {"detail": "x"}) == ["error"]


def test_wetrocloud_schemas() -> None:
    assert violations(WetrocloudResponse, {"response": "a", "tokens": 3, "success": True}) == []
    assert set(locs(WetrocloudResponse, {"response": 1, "tokens": "3", "success": "true"})) == {
        "response",
        "tokens",
        "success",
    }
    assert violations(WetrocloudError, {"success": False, "error": "bad"}) == []
    assert violations(WetrocloudError, {"detail": "Invalid token."}) == []
    assert violations(WetrocloudError, {"success": False}) != []
    assert violations(WetrocloudError, {"success": True, "error": "x"}) != []


def test_schemas_for_names_objects_and_unknowns() -> None:
    assert schemas_for("openai").chunk is ChatCompletionChunk
    assert schemas_for(get_provider("weai")).response is ChatCompletion
    assert schemas_for("wetrocloud").chunk is None
    assert schemas_for("nebulablock").response is not ChatCompletion

    class Acme(OpenAIProvider):
        name = "acme"

    assert schemas_for(Acme()).response is ChatCompletion
    with pytest.raises(ConfigError):
        schemas_for("acme")


@pytest.mark.parametrize(
    ("name", "given", "url"),
    [
        ("openai", "http://h:1/v1/chat/completions", "http://h:1/v1/chat/completions"),
        ("openai", "http://h:1/v1/chat/completions/", "http://h:1/v1/chat/completions"),
        ("openai", "http://h:1/v1/", "http://h:1/v1/chat/completions"),
        ("wetrocloud", "http://h:1/v1/text-generation/", "http://h:1/v1/text-generation/"),
        ("wetrocloud", "http://h:1", "http://h:1/v1/text-generation/"),
    ],
)
def test_a_full_endpoint_url_given_as_base_url_still_reaches_the_endpoint(
    name: str, given: str, url: str
) -> None:
    assert get_provider(name, base_url=given).url == url


@pytest.mark.parametrize("name", ["openai", "weai", "nebulablock", "wetrocloud"])
def test_a_query_in_the_base_url_stays_after_the_endpoint_path(name: str) -> None:
    """Azure-style deployments put ``?api-version=...`` in the base URL."""
    provider = get_provider(name, base_url="http://h:1/v1/?api-version=2024-10-21")
    request = provider.encode([{"role": "user", "content": "hi"}])
    assert request.url.path == "/v1" + provider.endpoint
    assert request.url.params["api-version"] == "2024-10-21"
    full = get_provider(name, base_url=f"http://h:1/v1{provider.endpoint}?api-version=1")
    assert str(full.encode([{"role": "user", "content": "hi"}]).url) == (
        f"http://h:1/v1{provider.endpoint}?api-version=1"
    )


_REFUSES_MAX_TOKENS = json.dumps(
    {
        "error": {
            "message": "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead.",
            "type": "invalid_request_error",
            "param": "max_tokens",
            "code": "unsupported_parameter",
        }
    }
).encode()


def test_a_target_that_refuses_max_tokens_gets_max_completion_tokens() -> None:
    provider = get_provider("openai", base_url="http://x.test/v1")
    assert json.loads(provider.encode(MESSAGES, {"max_tokens": 7}).content)["max_tokens"] == 7
    adaptation = provider.adapt_to_refusal(400, _REFUSES_MAX_TOKENS)
    assert adaptation is not None and adaptation.capability == "max_tokens"
    assert "max_completion_tokens" in adaptation.reason
    body = json.loads(provider.encode(MESSAGES, {"max_tokens": 7}).content)
    assert "max_tokens" not in body and body["max_completion_tokens"] == 7
    # an explicit max_completion_tokens wins; adapting twice changes nothing
    both = json.loads(
        provider.encode(MESSAGES, {"max_tokens": 7, "max_completion_tokens": 3}).content
    )
    assert both["max_completion_tokens"] == 3
    assert provider.adapt_to_refusal(400, _REFUSES_MAX_TOKENS) is None


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (401, _REFUSES_MAX_TOKENS),  # not a parameter refusal
        (400, b'{"error": {"message": "max_tokens must be at least 1", "param": "max_tokens"}}'),
        (400, b'{"error": {"message": "temperature: use max_completion_tokens"}}'),
        (400, b"<html>bad request</html>"),
    ],
)
def test_other_refusals_are_not_adapted_to(status: int, body: bytes) -> None:
    provider = get_provider("openai", base_url="http://x.test/v1")
    assert provider.adapt_to_refusal(status, body) is None
    assert "max_tokens" in json.loads(provider.encode(MESSAGES, {"max_tokens": 7}).content)


def test_wetrocloud_adapts_to_nothing() -> None:
    provider = get_provider("wetrocloud", base_url="http://x.test")
    assert provider.adapt_to_refusal(400, _REFUSES_MAX_TOKENS) is None
