"""Every fault mode visibly breaks its property; every valid variant stays valid.

The backend runs on 127.0.0.1 in a thread; hang faults are bounded by a 0.5 s read
timeout. Adding a fault to the registry without a breakage test here fails
``test_every_fault_has_a_breakage_test``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from test_backend_helpers import (
    FINISH_REASONS,
    assert_valid_completion,
    assert_valid_stream,
    chat_body,
    chunks_of,
    parse_sse,
    streamed_text,
)

from conformance.backend import FAULTS, BackendConfig, serve_in_thread

KEY = "test-key-1"
WC_FORM = {
    "messages": (None, json.dumps([{"role": "user", "content": "what is an LLM?"}])),
    "model": (None, "llama-3.3-70b"),
}
STREAM = {"stream": True, "n": 2, "seed": 4, "stream_options": {"include_usage": True}}


@dataclass
class Target:
    """Two servers (open and keyed) and a client with short timeouts."""

    open_url: str
    keyed_url: str
    client: httpx.Client

    def raw(
        self,
        fault: str,
        body: dict[str, Any],
        path: str = "/v1/chat/completions",
        url: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[httpx.Response, bytes]:
        """POST and read the whole raw body."""
        base = url or self.open_url
        with self.client.stream(
            "POST", f"{base}/fault/{fault}{path}", json=body, headers=headers or {}
        ) as response:
            data = response.read()
        return response, data

    def stream(self, fault: str, **params: Any) -> tuple[str, bytes]:
        response, data = self.raw(fault, chat_body(**{**STREAM, **params}))
        assert response.status_code == 200
        return response.headers["content-type"], data

    def plain(self, fault: str, **params: Any) -> httpx.Response:
        response, _data = self.raw(fault, chat_body(**params))
        return response

    def wetrocloud(
        self, fault: str, *, url: str | None = None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return self.client.post(
            f"{url or self.open_url}/fault/{fault}/v1/text-generation/",
            files=WC_FORM,
            headers=headers or {},
        )


@pytest.fixture(scope="module")
def target() -> Iterator[Target]:
    config = BackendConfig(huge_body_bytes=1_000_000, hang_s=10)
    with (
        serve_in_thread(config) as open_url,
        serve_in_thread(BackendConfig(api_keys=(KEY,))) as keyed_url,
        httpx.Client(timeout=httpx.Timeout(5.0, read=0.5), trust_env=False) as client,
    ):
        yield Target(open_url, keyed_url, client)


def _events(data: bytes) -> list[str | None]:
    return parse_sse(data)


# ---------------------------------------------------------------- breakage per fault


def no_done(t: Target) -> None:
    _ctype, data = t.stream("no_done")
    assert b"[DONE]" not in data
    assert chunks_of(data)[-1]["usage"] is not None  # everything else is there


def bom(t: Target) -> None:
    _, data = t.stream("bom")
    assert data.startswith(b"\xef\xbb\xbfdata: ")


def no_blank_line(t: Target) -> None:
    _, data = t.stream("no_blank_line")
    assert b"\n\n" not in data and data.count(b"data: ") > 3
    assert len(_events(data)) == 1  # the whole stream reads as one event


def event_without_data(t: Target) -> None:
    _, data = t.stream("event_without_data")
    assert b"event: message\n\n" in data
    assert None in _events(data)


def wrong_content_type(t: Target) -> None:
    ctype, data = t.stream("wrong_content_type")
    assert ctype == "application/json"
    assert data.startswith(b"data: ")


def json_instead_of_stream(t: Target) -> None:
    response = t.plain("json_instead_of_stream", stream=True)
    assert response.headers["content-type"] == "application/json"
    assert_valid_completion(response.json())


def chunk_object_wrong(t: Target) -> None:
    _, data = t.stream("chunk_object_wrong")
    assert {c["object"] for c in chunks_of(data)} == {"chat.completion"}


def created_string(t: Target) -> None:
    _, data = t.stream("created_string")
    assert all(isinstance(c["created"], str) for c in chunks_of(data))
    assert isinstance(t.plain("created_string").json()["created"], str)


def created_missing(t: Target) -> None:
    _, data = t.stream("created_missing")
    assert all("created" not in c for c in chunks_of(data))
    assert "created" not in t.plain("created_missing").json()


def created_changes(t: Target) -> None:
    _, data = t.stream("created_changes")
    chunks = chunks_of(data)
    assert all(isinstance(c["created"], int) for c in chunks)
    assert len({c["created"] for c in chunks}) == len(chunks)


def id_changes(t: Target) -> None:
    _, data = t.stream("id_changes")
    chunks = chunks_of(data)
    assert len({c["id"] for c in chunks}) == len(chunks)


def id_missing(t: Target) -> None:
    _, data = t.stream("id_missing")
    assert all("id" not in c for c in chunks_of(data))


def no_role(t: Target) -> None:
    _, data = t.stream("no_role")
    assert all("role" not in c["delta"] for ch in chunks_of(data) for c in ch["choices"])


def role_every_delta(t: Target) -> None:
    _, data = t.stream("role_every_delta")
    deltas = [c["delta"] for ch in chunks_of(data) for c in ch["choices"]]
    assert len(deltas) > 4 and all(d.get("role") == "assistant" for d in deltas)


def finish_never(t: Target) -> None:
    _, data = t.stream("finish_never")
    chunks = chunks_of(data)
    assert all(c["finish_reason"] is None for ch in chunks for c in ch["choices"])
    assert data.endswith(b"data: [DONE]\n\n")
    body = t.plain("finish_never").json()
    assert body["choices"][0]["finish_reason"] is None


def finish_twice(t: Target) -> None:
    _, data = t.stream("finish_twice")
    finishes = [c["index"] for ch in chunks_of(data) for c in ch["choices"] if c["finish_reason"]]
    assert sorted(finishes) == [0, 0, 1, 1]


def finish_bad_value(t: Target) -> None:
    _, data = t.stream("finish_bad_value")
    reasons = {c["finish_reason"] for ch in chunks_of(data) for c in ch["choices"]} - {None}
    assert reasons == {"eos"} and not reasons & FINISH_REASONS
    assert t.plain("finish_bad_value").json()["choices"][0]["finish_reason"] == "eos"


def usage_ignored(t: Target) -> None:
    _, data = t.stream("usage_ignored")
    chunks = chunks_of(data)
    assert all(c.get("usage") is None for c in chunks)
    assert all(c["choices"] for c in chunks)


def usage_every_chunk(t: Target) -> None:
    _, data = t.stream("usage_every_chunk", stream_options=None)
    assert all(isinstance(c.get("usage"), dict) for c in chunks_of(data))


def usage_chunk_with_choices(t: Target) -> None:
    _, data = t.stream("usage_chunk_with_choices")
    with_usage = [c for c in chunks_of(data) if c.get("usage")]
    assert len(with_usage) == 1 and with_usage[0]["choices"]


def usage_unrequested(t: Target) -> None:
    _, data = t.stream("usage_unrequested", stream_options=None)
    chunks = chunks_of(data)
    carriers = [c for c in chunks if c.get("usage") is not None]
    assert len(carriers) == 1 and carriers[0] is chunks[-1] and carriers[0]["choices"] == []
    _, correct = t.stream("none", stream_options=None)
    assert all(c.get("usage") is None for c in chunks_of(correct))


def usage_total_wrong(t: Target) -> None:
    usage = t.plain("usage_total_wrong").json()["usage"]
    assert usage["total_tokens"] != usage["prompt_tokens"] + usage["completion_tokens"]
    _, data = t.stream("usage_total_wrong")
    usage = chunks_of(data)[-1]["usage"]
    assert usage["total_tokens"] != usage["prompt_tokens"] + usage["completion_tokens"]


def max_tokens_ignored(t: Target) -> None:
    body = t.plain("max_tokens_ignored", max_tokens=3).json()
    assert body["usage"]["completion_tokens"] > 3
    assert body["choices"][0]["finish_reason"] == "stop"
    _, data = t.stream("max_tokens_ignored", max_tokens=3, n=1)
    pieces = [c for ch in chunks_of(data) for c in ch["choices"] if c["delta"].get("content")]
    assert len(pieces) > 3


def stop_left_in(t: Target) -> None:
    text = t.plain("none", seed=9).json()["choices"][0]["message"]["content"]
    stop = text.split()[2]
    body = t.plain("stop_left_in", seed=9, stop=stop).json()
    assert body["choices"][0]["message"]["content"].endswith(stop)
    assert body["choices"][0]["finish_reason"] == "stop"


_ONE = {"seed": 9, "temperature": 0}


def _greedy_text(t: Target) -> str:
    return str(t.plain("none", **_ONE).json()["choices"][0]["message"]["content"])


def _stream_of(t: Target, fault: str, **params: Any) -> tuple[str, list[str | None]]:
    """(text, finish reasons) of choice 0 of a greedy stream."""
    _, data = t.stream(fault, n=1, **_ONE, **params)
    chunks = chunks_of(data)
    finishes = [c.get("finish_reason") for ch in chunks for c in ch["choices"] if c["index"] == 0]
    return streamed_text(chunks), finishes


def _plain_of(t: Target, fault: str, **params: Any) -> tuple[str, str | None]:
    choice = t.plain(fault, **_ONE, **params).json()["choices"][0]
    return choice["message"]["content"], choice["finish_reason"]


def stop_ignored_stream(t: Target) -> None:
    word = _greedy_text(t).split()[4].strip(",.")
    text, _ = _plain_of(t, "stop_ignored_stream", stop=word)
    assert word not in text
    text, _ = _stream_of(t, "stop_ignored_stream", stop=word)
    assert word in text


def stop_leak_delta(t: Target) -> None:
    words = _greedy_text(t).split()
    phrase = f"{words[3]} {words[4]}"
    correct, _ = _plain_of(t, "none", stop=[phrase])
    assert _plain_of(t, "stop_leak_delta", stop=[phrase])[0] == correct  # plain is right
    text, finishes = _stream_of(t, "stop_leak_delta", stop=[phrase])
    assert phrase not in text and text.startswith(correct)
    leaked = text[len(correct) :].strip()
    assert leaked and phrase.startswith(leaked)
    assert "stop" in finishes


def stop_list_first_only(t: Target) -> None:
    word = _greedy_text(t).split()[4].strip(",.")
    assert word not in _plain_of(t, "none", stop=["qqqq", word])[0]
    assert word in _plain_of(t, "stop_list_first_only", stop=["qqqq", word])[0]
    assert word not in _plain_of(t, "stop_list_first_only", stop=[word, "qqqq"])[0]


def _stop_finish(t: Target, fault: str, expected: str | None) -> None:
    word = _greedy_text(t).split()[4].strip(",.")
    text, finish = _plain_of(t, fault, stop=word)
    assert word not in text and finish == expected
    text, finishes = _stream_of(t, fault, stop=word)
    assert word not in text and "stop" not in finishes
    assert _plain_of(t, fault)[1] == "stop"  # an answer that ends on its own is right


def stop_finish_length(t: Target) -> None:
    _stop_finish(t, "stop_finish_length", "length")


def stop_finish_null(t: Target) -> None:
    _stop_finish(t, "stop_finish_null", None)


def nondeterministic(t: Target) -> None:
    assert _greedy_text(t) == _greedy_text(t)
    first, _ = _plain_of(t, "nondeterministic")
    assert first != _plain_of(t, "nondeterministic")[0]


def n_ignored(t: Target) -> None:
    assert len(t.plain("n_ignored", n=3).json()["choices"]) == 1
    _, data = t.stream("n_ignored", n=3)
    assert {c["index"] for ch in chunks_of(data) for c in ch["choices"]} == {0}


def choice_index_wrong(t: Target) -> None:
    assert [c["index"] for c in t.plain("choice_index_wrong", n=2).json()["choices"]] == [1, 2]
    _, data = t.stream("choice_index_wrong")
    assert {c["index"] for ch in chunks_of(data) for c in ch["choices"]} == {1, 2}


def logprobs_ignored(t: Target) -> None:
    response = t.plain("logprobs_ignored", logprobs=True, top_logprobs=2)
    assert response.status_code == 200
    assert response.json()["choices"][0]["logprobs"] is None
    assert t.plain("none", logprobs=True).json()["choices"][0]["logprobs"]["content"]


TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]


def tools_ignored(t: Target) -> None:
    response = t.plain("tools_ignored", tools=TOOLS, tool_choice="required")
    assert response.status_code == 200
    message = response.json()["choices"][0]["message"]
    assert message["content"] and not message.get("tool_calls")
    honoured = t.plain("none", tools=TOOLS, tool_choice="required").json()
    assert honoured["choices"][0]["message"]["tool_calls"]


def response_format_ignored(t: Target) -> None:
    response = t.plain("response_format_ignored", response_format={"type": "json_object"})
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.json()["choices"][0]["message"]["content"])
    honoured = t.plain("none", response_format={"type": "json_object"}).json()
    assert isinstance(json.loads(honoured["choices"][0]["message"]["content"]), dict)


def length_reported_as_stop(t: Target) -> None:
    body = t.plain("length_reported_as_stop", max_tokens=3).json()
    assert body["usage"]["completion_tokens"] == 3
    assert body["choices"][0]["finish_reason"] == "stop"


def invalid_accepted(t: Target) -> None:
    response = t.plain("invalid_accepted", temperature=5)
    assert response.status_code == 200 and response.json()["choices"]
    assert t.wetrocloud("invalid_accepted").status_code == 200
    bad = t.client.post(
        f"{t.open_url}/fault/invalid_accepted/v1/text-generation/", files={"model": (None, "m")}
    )
    assert bad.status_code == 200


def invalid_500(t: Target) -> None:
    response = t.plain("invalid_500", temperature=5)
    assert response.status_code == 500
    assert response.json()["error"]["type"] == "server_error"


def error_not_envelope(t: Target) -> None:
    response = t.plain("error_not_envelope", temperature=5)
    assert response.status_code == 400
    assert isinstance(response.json()["error"], str)


def midstream_error_plain(t: Target) -> None:
    _, data = t.stream("midstream_error_plain")
    assert b"\nInternal Server Error: generation failed\n" in data
    assert b"[DONE]" not in data and b'"error"' not in data


def wrong_key_accepted(t: Target) -> None:
    wrong = {"Authorization": "Bearer not-the-key"}
    response, _ = t.raw("wrong_key_accepted", chat_body(), url=t.keyed_url, headers=wrong)
    assert response.status_code == 200
    missing, _ = t.raw("wrong_key_accepted", chat_body(), url=t.keyed_url)
    assert missing.status_code == 401
    wc = t.wetrocloud(
        "wrong_key_accepted", url=t.keyed_url, headers={"Authorization": "Token nope"}
    )
    assert wc.status_code == 200


def missing_key_accepted(t: Target) -> None:
    response, _ = t.raw("missing_key_accepted", chat_body(), url=t.keyed_url)
    assert response.status_code == 200
    wrong = {"Authorization": "Bearer not-the-key"}
    response, _ = t.raw("missing_key_accepted", chat_body(), url=t.keyed_url, headers=wrong)
    assert response.status_code == 401


def hang_before_headers(t: Target) -> None:
    with pytest.raises(httpx.ReadTimeout):
        t.client.post(
            f"{t.open_url}/fault/hang_before_headers/v1/chat/completions", json=chat_body()
        )
    with pytest.raises(httpx.ReadTimeout):
        t.wetrocloud("hang_before_headers")


def hang_mid_stream(t: Target) -> None:
    received = b""
    url = f"{t.open_url}/fault/hang_mid_stream/v1/chat/completions"
    with (
        pytest.raises(httpx.ReadTimeout),
        t.client.stream("POST", url, json=chat_body(**STREAM)) as response,
    ):
        assert response.status_code == 200
        for part in response.iter_raw():
            received += part
    assert b"data: " in received and b"[DONE]" not in received


def truncated_stream(t: Target) -> None:
    _, data = t.stream("truncated_stream")
    chunks = chunks_of(data)
    assert chunks and b"[DONE]" not in data
    finished = {c["index"] for ch in chunks for c in ch["choices"] if c["finish_reason"]}
    assert finished != {0, 1}
    response = t.plain("truncated_stream")
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


def connection_dropped(t: Target) -> None:
    url = f"{t.open_url}/fault/connection_dropped/v1/chat/completions"
    for body in (chat_body(**STREAM), chat_body()):
        received = b""
        with (
            pytest.raises(httpx.RemoteProtocolError),
            t.client.stream("POST", url, json=body) as response,
        ):
            assert response.status_code == 200
            for part in response.iter_raw():
                received += part
        assert received and b"[DONE]" not in received


def unparseable_event(t: Target) -> None:
    _, data = t.stream("unparseable_event")
    broken = 0
    for event in _events(data):
        try:
            json.loads(event or "")
        except json.JSONDecodeError:
            broken += event != "[DONE]"
    assert broken == 1


def huge_body(t: Target) -> None:
    _, data = t.stream("huge_body")
    assert len(data) >= 1_000_000 and b"[DONE]" not in data
    response = t.plain("huge_body")
    assert len(response.content) >= 1_000_000
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)
    assert len(t.wetrocloud("huge_body").content) >= 1_000_000


def wc_tokens_string(t: Target) -> None:
    assert isinstance(t.wetrocloud("wc_tokens_string").json()["tokens"], str)


def wc_success_string(t: Target) -> None:
    assert t.wetrocloud("wc_success_string").json()["success"] == "true"


def wc_multipart_rejected(t: Target) -> None:
    assert t.wetrocloud("wc_multipart_rejected").status_code == 415
    assert t.wetrocloud("none").status_code == 200


def wc_token_scheme_rejected(t: Target) -> None:
    token = {"Authorization": f"Token {KEY}"}
    assert (
        t.wetrocloud("wc_token_scheme_rejected", url=t.keyed_url, headers=token).status_code == 401
    )
    assert t.wetrocloud("none", url=t.keyed_url, headers=token).status_code == 200


def _get(t: Target, fault: str, path: str) -> httpx.Response:
    return t.client.get(f"{t.open_url}/fault/{fault}{path}")


def models_missing(t: Target) -> None:
    assert _get(t, "models_missing", "/v1/models").status_code == 404
    assert _get(t, "models_missing", "/weai/v1/models/llama3.1-8B").status_code == 404
    assert _get(t, "none", "/v1/models").status_code == 200


def models_bare_array(t: Target) -> None:
    listed = _get(t, "models_bare_array", "/v1/models").json()
    assert isinstance(listed, list) and listed[0]["object"] == "model"


def models_ollama_shape(t: Target) -> None:
    listed = _get(t, "models_ollama_shape", "/v1/models").json()
    assert "data" not in listed and listed["models"][0]["name"] == "gpt-4o-mini"


def models_unlisted(t: Target) -> None:
    ids = [m["id"] for m in _get(t, "models_unlisted", "/weai/v1/models").json()["data"]]
    assert ids == ["llama3.1-70B"]
    answered = t.raw("models_unlisted", chat_body(model="llama3.1-8B"), "/weai/v1/chat/completions")
    assert answered[0].status_code == 200


def models_retrieve_broken(t: Target) -> None:
    one = _get(t, "models_retrieve_broken", "/v1/models/gpt-4o-mini").json()
    assert one["object"] == "list" and "id" not in one
    assert _get(t, "none", "/v1/models/gpt-4o-mini").json()["id"] == "gpt-4o-mini"


def unknown_model_served(t: Target) -> None:
    response, data = t.raw("unknown_model_served", chat_body(model="no-such-model"))
    assert response.status_code == 200
    assert json.loads(data)["model"] == "gpt-4o-mini"
    assert t.raw("none", chat_body(model="no-such-model"))[0].status_code == 404


def unknown_model_500(t: Target) -> None:
    response, data = t.raw("unknown_model_500", chat_body(model="no-such-model"))
    assert response.status_code == 500 and json.loads(data)["error"]["message"]


def model_renamed(t: Target) -> None:
    _, data = t.raw("model_renamed", chat_body(model="gpt-4o-mini", **STREAM))
    chunks = [c for c in chunks_of(data) if c.get("choices")]
    assert chunks and {c["model"] for c in chunks} == {"unrelated-model-7b"}


TWO_TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "parameters": {}}},
    {"type": "function", "function": {"name": "get_local_time", "parameters": {}}},
]
SCHEMA_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "pet",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "colour": {"enum": ["red", "blue"]}},
            "required": ["name", "colour"],
            "additionalProperties": False,
        },
    },
}


def _called(body: dict[str, Any]) -> list[str]:
    calls = body["choices"][0]["message"].get("tool_calls") or []
    return [c["function"]["name"] for c in calls]


def tool_choice_none_ignored(t: Target) -> None:
    params = {"tools": TOOLS, "tool_choice": "none"}
    assert _called(t.plain("tool_choice_none_ignored", **params).json()) == ["get_weather"]
    assert _called(t.plain("none", **params).json()) == []


def tool_name_ignored(t: Target) -> None:
    params = {"tools": TWO_TOOLS,
              "tool_choice": {"type": "function", "function": {"name": "get_local_time"}}}  # fmt: skip
    assert _called(t.plain("tool_name_ignored", **params).json()) == ["get_weather"]
    assert _called(t.plain("none", **params).json()) == ["get_local_time"]


def top_logprobs_wrong(t: Target) -> None:
    body = t.plain("top_logprobs_wrong", logprobs=True, top_logprobs=2).json()
    entries = body["choices"][0]["logprobs"]["content"]
    assert entries and all(len(e["top_logprobs"]) == 3 for e in entries)


def json_schema_violated(t: Target) -> None:
    body = t.plain("json_schema_violated", response_format=SCHEMA_FORMAT).json()
    value = json.loads(body["choices"][0]["message"]["content"])
    assert "colour" not in value or value["colour"] not in ("red", "blue")
    honoured = json.loads(
        t.plain("none", response_format=SCHEMA_FORMAT).json()["choices"][0]["message"]["content"]
    )
    assert honoured["colour"] in ("red", "blue") and isinstance(honoured["name"], str)


def seed_ignored(t: Target) -> None:
    params = {"seed": 4, "temperature": 1.0, "max_tokens": 30}
    texts = {t.plain("seed_ignored", **params).json()["choices"][0]["message"]["content"]
             for _ in range(3)}  # fmt: skip
    assert len(texts) > 1
    same = {t.plain("none", **params).json()["choices"][0]["message"]["content"] for _ in range(3)}
    assert len(same) == 1


def usage_prompt_zero(t: Target) -> None:
    usage = t.plain("usage_prompt_zero").json()["usage"]
    assert usage["prompt_tokens"] == 0 and usage["total_tokens"] == usage["completion_tokens"] > 0


def usage_completion_zero(t: Target) -> None:
    body = t.plain("usage_completion_zero").json()
    assert body["choices"][0]["message"]["content"]
    usage = body["usage"]
    assert usage["completion_tokens"] == 0 and usage["total_tokens"] == usage["prompt_tokens"]


def usage_over_cap(t: Target) -> None:
    body = t.plain("usage_over_cap", max_tokens=3).json()
    assert body["usage"]["completion_tokens"] > 3
    assert body["choices"][0]["finish_reason"] == "length"


def invalid_stream_event(t: Target) -> None:
    response, data = t.raw("invalid_stream_event", chat_body(temperature=5, stream=True))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert json.loads(parse_sse(data)[0] or "")["error"]["param"] == "temperature"
    assert t.plain("invalid_stream_event", temperature=5).status_code == 400


def max_tokens_null_500(t: Target) -> None:
    assert t.plain("max_tokens_null_500", max_tokens=None).status_code == 500
    assert t.plain("none", max_tokens=None).status_code == 200
    assert t.plain("max_tokens_null_500", max_tokens=8).status_code == 200


def top_p_500(t: Target) -> None:
    assert t.plain("top_p_500", top_p=0.5).status_code == 500
    assert t.plain("none", top_p=0.5).status_code == 200
    assert t.plain("top_p_500").status_code == 200


def temperature_high_malformed(t: Target) -> None:
    for stream in (False, True):
        response, data = t.raw("temperature_high_malformed",
                               chat_body(temperature=1.5, stream=stream))  # fmt: skip
        assert response.status_code == 200
        assert not isinstance(json.loads(data)["choices"], list)
    assert isinstance(t.plain("temperature_high_malformed", temperature=1.0).json()["choices"],
                      list)  # fmt: skip
    assert t.plain("none", temperature=2.0).status_code == 200


def sampling_range_clamped(t: Target) -> None:
    for params in ({"temperature": 5}, {"temperature": -1}, {"top_p": 1.5}):
        assert t.plain("sampling_range_clamped", **params).status_code == 200
        assert t.plain("none", **params).status_code == 400


#: a request that shows each per-mode fault's base fault
_SHOWN_BY: dict[str, dict[str, Any]] = {
    "max_tokens_ignored": {"max_tokens": 3},
    "length_reported_as_stop": {"max_tokens": 3},
    "n_ignored": {"n": 2},
    "logprobs_ignored": {"logprobs": True, "top_logprobs": 2},
    "top_logprobs_wrong": {"logprobs": True, "top_logprobs": 2},
    "tools_ignored": {"tools": TOOLS, "tool_choice": "required"},
    "tool_choice_none_ignored": {"tools": TOOLS, "tool_choice": "none"},
    "tool_name_ignored": {"tools": TWO_TOOLS, "tool_choice": {
        "type": "function", "function": {"name": "get_local_time"}}},
    "response_format_ignored": {"response_format": {"type": "json_object"}},
    "json_schema_violated": {"response_format": SCHEMA_FORMAT},
    "seed_ignored": {"seed": 4, "temperature": 1.0},
    "usage_total_wrong": {},
    "usage_prompt_zero": {},
    "usage_completion_zero": {},
    "usage_over_cap": {"max_tokens": 3},
    "invalid_500": {"temperature": 5},
    "invalid_accepted": {"temperature": 5},
}  # fmt: skip


def _summary(t: Target, fault: str, params: dict[str, Any], *, stream: bool) -> Any:
    """What a client sees of one answer, without ids and timestamps: (status, per choice
    (index, text, finish, tool calls, alternatives per token), usage)."""
    extra = {"stream": True, "stream_options": {"include_usage": True}} if stream else {}
    response, data = t.raw(fault, chat_body(**{"seed": 4, **params, **extra}))
    if response.status_code != 200:
        return response.status_code, json.loads(data)["error"]["type"]
    choices: dict[int, dict[str, Any]] = {}
    if stream:
        chunks = chunks_of(data)
        usage = chunks[-1].get("usage")
        for chunk in chunks:
            for c in chunk["choices"]:
                got = choices.setdefault(c["index"], {"text": "", "finish": None, "calls": "",
                                                      "alternatives": []})  # fmt: skip
                got["text"] += c["delta"].get("content") or ""
                for call in c["delta"].get("tool_calls") or []:
                    got["calls"] += call["function"].get("name") or ""
                    got["calls"] += call["function"].get("arguments") or ""
                got["finish"] = c["finish_reason"] or got["finish"]
                for entry in (c.get("logprobs") or {}).get("content") or []:
                    got["alternatives"].append(len(entry["top_logprobs"]))
    else:
        body = json.loads(data)
        usage = body["usage"]
        for c in body["choices"]:
            calls = c["message"].get("tool_calls") or []
            entries = (c.get("logprobs") or {}).get("content") or []
            choices[c["index"]] = {
                "text": c["message"]["content"] or "",
                "finish": c["finish_reason"],
                "calls": "".join(x["function"]["name"] + x["function"]["arguments"] for x in calls),
                "alternatives": [len(e["top_logprobs"]) for e in entries],
            }
    return 200, sorted(choices.items()), usage


def _per_mode_breaks(name: str) -> Callable[[Target], None]:
    fault = FAULTS[name]
    assert fault.base is not None and fault.mode is not None

    def breaks(t: Target) -> None:
        params = _SHOWN_BY[fault.base or ""]
        own = fault.mode == "stream"
        correct = _summary(t, "none", params, stream=own)
        broken = _summary(t, name, params, stream=own)
        assert broken != correct, f"{name} does not break its own mode"
        if fault.base != "seed_ignored":  # the seed fault draws anew each time
            assert broken == _summary(t, fault.base or "", params, stream=own)
        other = _summary(t, name, params, stream=not own)
        assert other == _summary(t, "none", params, stream=not own), f"{name} leaks"

    breaks.__name__ = name
    return breaks


BREAKAGE: dict[str, Callable[[Target], None]] = {
    name: fn
    for name, fn in list(globals().items())
    if name in FAULTS and callable(fn) and not FAULTS[name].correct
} | {name: _per_mode_breaks(name) for name, fault in FAULTS.items() if fault.mode is not None}


def test_every_fault_has_a_breakage_test() -> None:
    faults = {name for name, fault in FAULTS.items() if not fault.correct}
    assert faults == set(BREAKAGE)
    assert len(faults) >= 25


@pytest.mark.parametrize("name", sorted(BREAKAGE))
def test_fault_breaks_its_property(target: Target, name: str) -> None:
    BREAKAGE[name](target)


def test_the_correct_server_passes_what_the_faults_break(target: Target) -> None:
    ctype, data = target.stream("none")
    assert_valid_stream(data, ctype, n=2, include_usage=True)
    assert_valid_completion(target.plain("none", n=2).json(), n=2)
    assert target.plain("none", temperature=5).status_code == 400
    body = target.wetrocloud("none").json()
    assert isinstance(body["tokens"], int) and body["success"] is True


# ---------------------------------------------------------------- valid variants

VALID = sorted(name for name, fault in FAULTS.items() if fault.correct)


@pytest.mark.parametrize("name", VALID)
def test_valid_variant_stays_valid(target: Target, name: str) -> None:
    _reference_type, reference = target.stream("none")
    ctype, data = target.stream(name)
    chunks = assert_valid_stream(data, ctype, n=2, include_usage=True)
    expected = chunks_of(reference)
    for index in (0, 1):
        assert streamed_text(chunks, index) == streamed_text(expected, index)
    assert chunks[-1]["usage"] == expected[-1]["usage"]
    if "openai" in FAULTS[name].dialects:
        assert_valid_completion(target.plain(name, n=2).json(), n=2)
    if "wetrocloud" in FAULTS[name].dialects:
        body = target.wetrocloud(name).json()
        assert isinstance(body["tokens"], int) and body["success"] is True


def test_valid_variants_differ_on_the_wire(target: Target) -> None:
    _, reference = target.stream("none")
    for name in VALID:
        if name in {"ok_split_writes", "ok_coalesced_writes"}:
            continue  # same bytes, different network writes
        if name == "ok_reasoning_model":
            continue  # differs only in refusing max_tokens (tested with the checks)
        _, data = target.stream(name)
        assert data != reference, name


@pytest.mark.parametrize("name", ["none", *VALID])
def test_midstream_error_is_well_formed_under_every_valid_variant(
    target: Target, name: str
) -> None:
    response, data = target.raw(
        name, chat_body(**STREAM), headers={"X-Conformance-Midstream-Error": "2"}
    )
    assert response.status_code == 200
    events = parse_sse(data)
    assert None not in events and "[DONE]" not in events
    parsed = [json.loads(e or "") for e in events]
    assert set(parsed[-1]) == {"error"}
    assert set(parsed[-1]["error"]) == {"message", "type", "param", "code"}
    assert all(p.get("object") == "chat.completion.chunk" for p in parsed[:-1])
