"""The core check families against hand-made bytes (httpx.MockTransport).

Valid variants the backend does not produce must pass (false alarms are as bad as
misses); broken shapes must fail with evidence; transport trouble never crashes a check.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from conformance.checks import Status, load_families
from conformance.engine import RunConfig, TargetMisconfigured, run_checks
from conformance.providers import get_provider
from conformance.results import CheckResult
from conformance.wire.client import WireClient

load_families()
BASE = "http://target.test/v1"
KEY = "sk-core-test-3f9a1c"


def chunk(delta: dict[str, Any], finish: str | None = None, **top: Any) -> dict[str, Any]:
    data = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    data.update(top)
    return data


GOOD_CHUNKS = [
    chunk({"role": "assistant", "content": ""}),
    chunk({"content": "Hello"}),
    chunk({"content": " there"}),
    chunk({}, "length"),
]
#: usage as OpenAI sends it, detail objects included (schema.usage_details judges them)
USAGE = {
    "prompt_tokens": 3,
    "completion_tokens": 2,
    "total_tokens": 5,
    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
}
USAGE_CHUNK = chunk({}, None, usage=copy.deepcopy(USAGE))
USAGE_CHUNK["choices"] = []
COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "m",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello there", "refusal": None},
            "logprobs": None,
            "finish_reason": "length",
        }
    ],
    "usage": copy.deepcopy(USAGE),
}


def sse(events: list[Any], *, eol: str = "\n", space: bool = True, done: bool = True) -> bytes:
    prefix = "data: " if space else "data:"
    parts = [prefix + (e if isinstance(e, str) else json.dumps(e)) + eol + eol for e in events]
    if done:
        parts.append(prefix + "[DONE]" + eol + eol)
    return "".join(parts).encode()


Handler = Callable[[httpx.Request], httpx.Response]


def target(
    stream_body: bytes | Callable[[list[Any]], bytes] | None = None,
    *,
    completion: Any = COMPLETION,
    **kw: Any,
) -> Handler:
    """A handler serving ``completion`` to plain requests and a stream to stream requests.

    ``stream_body`` is fixed bytes, or a function encoding the chunks (the usage chunk
    included when the request asks for it).
    """
    ctype = kw.get("stream_type", "text/event-stream")

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if body.get("stream"):
            usage = (body.get("stream_options") or {}).get("include_usage")
            events = [*GOOD_CHUNKS, *([USAGE_CHUNK] if usage else [])]
            content = stream_body(events) if callable(stream_body) else stream_body or sse(events)
            return httpx.Response(200, headers={"content-type": ctype}, content=content)
        return httpx.Response(200, json=completion)

    return handler


def run(handler: Handler, only: str, *, max_body: int | None = None) -> dict[str, CheckResult]:
    kw: dict[str, Any] = {} if max_body is None else {"max_body_bytes": max_body}
    client = WireClient(timeout=5, transport=httpx.MockTransport(handler), **kw)
    config = RunConfig(
        provider=get_provider("openai", base_url=BASE), api_key=KEY, only=only, sender=client
    )
    return run_checks(config).by_id()


def statuses(results: dict[str, CheckResult]) -> dict[str, str]:
    return {k: v.status.value for k, v in results.items()}


def bad(results: dict[str, CheckResult]) -> dict[str, str]:
    return {
        k: f"{v.status.value}: {v.detail}"
        for k, v in results.items()
        if v.status not in (Status.PASSED, Status.SKIPPED)
    }


CORE = "sse,stream,schema,robustness,sdk"


def test_reference_shapes_pass() -> None:
    results = run(target(), CORE)
    assert not bad(results)
    assert all(r.status is Status.PASSED for r in results.values()), statuses(results)


@pytest.mark.parametrize(
    ("eol", "space"), [("\r\n", False), ("\r", True), ("\n", False), ("\r\n", True)]
)
def test_valid_framing_variants_pass(eol: str, space: bool) -> None:
    results = run(target(lambda events: sse(events, eol=eol, space=space)), CORE)
    assert not bad(results)


def test_comments_ids_and_extra_fields_pass() -> None:
    def encode(events: list[Any]) -> bytes:
        extra = [dict(c, x_vendor={"a": 1}, system_fingerprint="fp") for c in events]
        lines = [": keep-alive\n\n"]
        lines.extend(f"id: {i}\ndata: {json.dumps(c)}\n\n" for i, c in enumerate(extra))
        lines.append(": bye\ndata: [DONE]\n\n")
        return "".join(lines).encode()

    results = run(target(encode), CORE)
    assert not bad(results)


def test_charset_in_content_type_passes() -> None:
    results = run(target(stream_type="text/event-stream; charset=utf-8"), "sse.content_type")
    assert results["sse.content_type"].status is Status.PASSED


def test_done_sent_twice_and_events_after_done_fail() -> None:
    body = sse(GOOD_CHUNKS) + b"data: [DONE]\n\n"
    result = run(target(body), "stream.done_sentinel")["stream.done_sentinel"]
    assert result.status is Status.FAILED and "2 times" in result.detail
    body = sse(GOOD_CHUNKS) + sse([GOOD_CHUNKS[1]], done=False)
    result = run(target(body), "stream.done_sentinel")["stream.done_sentinel"]
    assert result.status is Status.FAILED and "follow" in result.detail
    assert result.evidence["event"]["index"] == len(GOOD_CHUNKS) + 1


def test_unterminated_done_only_warns() -> None:
    body = sse(GOOD_CHUNKS)[:-1]  # "data: [DONE]\n" without the blank line
    results = run(target(body), "sse,stream.done_sentinel,sdk")
    assert results["stream.done_sentinel"].status is Status.PASSED
    assert results["sse.events_separated"].status is Status.WARNED
    assert results["sdk.stream_chunks"].status is Status.PASSED


def test_unterminated_chunk_event_fails() -> None:
    body = sse(GOOD_CHUNKS, done=False)[:-1]  # the last chunk is never closed
    results = run(target(body), "sse.events_separated")
    assert results["sse.events_separated"].status is Status.FAILED
    assert "never closed" in results["sse.events_separated"].detail


def test_json_answer_to_stream_request() -> None:
    body = json.dumps(COMPLETION).encode()
    results = run(target(body, stream_type="application/json"), "sse,stream")
    assert results["sse.stream_when_asked"].status is Status.FAILED
    assert "one JSON document" in results["sse.stream_when_asked"].detail
    assert results["sse.content_type"].status is Status.FAILED
    assert results["stream.role_first"].status is Status.SKIPPED


def test_role_repeated_corrupts_the_sdk_accumulator() -> None:
    chunks = [chunk({"role": "assistant", "content": w}) for w in ("a", "b")] + [chunk({}, "stop")]
    results = run(target(sse(chunks)), "stream.role_once,sdk.stream_accumulate")
    assert results["stream.role_once"].status is Status.FAILED
    sdk = results["sdk.stream_accumulate"]
    assert sdk.status is Status.FAILED and "assistantassistant" in sdk.detail
    assert sdk.severity.value == "sdk"


def test_content_after_finish_fails() -> None:
    chunks = [*GOOD_CHUNKS, chunk({"content": "late"})]
    result = run(target(sse(chunks)), "stream.finish_reason_once")["stream.finish_reason_once"]
    assert result.status is Status.FAILED and "after its finish_reason" in result.detail


def test_usage_chunk_before_finish_fails() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if body.get("stream"):
            events = [*GOOD_CHUNKS[:3], USAGE_CHUNK, GOOD_CHUNKS[3]]
            return httpx.Response(
                200, headers={"content-type": "text/event-stream"}, content=sse(events)
            )
        return httpx.Response(200, json=COMPLETION)

    result = run(handler, "stream.usage_chunk")["stream.usage_chunk"]
    assert result.status is Status.FAILED


def test_completion_schema_violations_are_listed_once() -> None:
    broken = json.loads(json.dumps(COMPLETION))
    broken["id"] = 17
    broken["created"] = "1700000000"
    results = run(target(completion=broken), "schema")
    assert results["schema.completion"].status is Status.FAILED
    assert "id" in results["schema.completion"].detail
    assert "created" not in results["schema.completion"].detail  # judged by its own check
    assert results["schema.created_integer"].status is Status.FAILED


def test_float_created_fails_and_usage_mismatch_fails() -> None:
    broken = json.loads(json.dumps(COMPLETION))
    broken["created"] = 1700000000.5
    broken["usage"]["total_tokens"] = 9
    results = run(target(completion=broken), "schema.created_integer,schema.usage_total")
    assert results["schema.created_integer"].status is Status.FAILED
    assert results["schema.usage_total"].status is Status.FAILED
    assert "3 + 2 = 5" in results["schema.usage_total"].detail


def test_missing_spec_only_fields_only_warn() -> None:
    plain = json.loads(json.dumps(COMPLETION))
    del plain["choices"][0]["logprobs"]
    del plain["choices"][0]["message"]["refusal"]
    result = run(target(completion=plain), "schema.spec_only_fields")["schema.spec_only_fields"]
    assert result.status is Status.WARNED


def test_oversize_body_fails_without_crashing() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, headers={"content-type": "application/json"}, content=b"[" * 50_000
        )

    results = run(handler, "robustness,schema", max_body=10_000)
    assert results["robustness.body_size"].status is Status.FAILED
    assert results["schema.completion"].status is Status.SKIPPED
    evidence = json.dumps(results["robustness.body_size"].evidence)
    assert len(evidence) < 10_000  # bounded excerpts


def test_cut_connection_fails_complete_body() -> None:
    class Cut(httpx.AsyncByteStream):
        async def __aiter__(self):  # type: ignore[no-untyped-def]
            yield b'{"id": "chatcmpl-1", "obj'
            raise httpx.RemoteProtocolError("peer closed connection")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "application/json"}, stream=Cut())

    results = run(handler, "robustness.complete_body,schema.completion")
    assert results["robustness.complete_body"].status is Status.FAILED
    assert results["schema.completion"].status is Status.SKIPPED


def test_server_error_fails_valid_request_and_skips_the_rest() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            503, json={"error": {"message": "overloaded", "type": "x", "param": None, "code": None}}
        )

    results = run(handler, "robustness.valid_request_succeeds,schema,stream")
    result = results["robustness.valid_request_succeeds"]
    assert result.status is Status.FAILED and "overloaded" in result.detail
    assert {r.status for k, r in results.items() if k != result.id} == {Status.SKIPPED}


def test_api_key_never_in_evidence() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        # a server that echoes the key back in its error
        return httpx.Response(401, json={"error": {"message": f"bad key {KEY}", "type": "auth"}})

    def config(mode: str) -> RunConfig:
        return RunConfig(
            provider=get_provider("openai", base_url=BASE),
            api_key=KEY,
            only="robustness",
            sender=WireClient(timeout=5, transport=httpx.MockTransport(handler), secrets=(KEY,)),
            mode=mode,
        )

    # live: the refused key stops the run with one line that quotes the server, masked
    with pytest.raises(TargetMisconfigured) as raised:
        run_checks(config("live"))
    assert "bad key <redacted>" in str(raised.value) and KEY not in str(raised.value)
    # judged (as a replay is): the evidence quotes it masked too
    text = run_checks(config("replay")).to_json(secrets=[KEY])
    assert KEY not in text
    assert "valid request" in text


def test_wetrocloud_shapes() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"response": "hi", "tokens": 1.5, "success": "true"})

    client = WireClient(timeout=5, transport=httpx.MockTransport(handler))
    config = RunConfig(
        provider=get_provider("wetrocloud", base_url="http://wc.test"),
        api_key=KEY,
        only="wetrocloud",
        sender=client,
    )
    results = run_checks(config).by_id()
    assert results["wetrocloud.tokens_integer"].status is Status.FAILED
    assert results["wetrocloud.success_boolean"].status is Status.FAILED
    assert results["wetrocloud.response_string"].status is Status.PASSED
    assert results["wetrocloud.token_scheme"].status is Status.PASSED


def _recorded(probe: str, body: bytes, params: dict[str, Any], **meta: Any) -> Any:
    from conformance.wire.exchange import Exchange, RecordedRequest
    from conformance.wire.sse import parse_sse

    stream = params.get("stream") is True
    ex = Exchange(
        probe=probe,
        request=RecordedRequest("POST", BASE + "/chat/completions", [], b"{}"),
        status=200,
        headers=[("content-type", "text/event-stream" if stream else "application/json")],
        body=body,
    )
    if stream:
        ex.events, _ = parse_sse(body)
    ex.meta.update({"params": params, "messages": [{"role": "user", "content": "x"}], **meta})
    return ex


def test_sdk_oracle_replays_every_successful_exchange() -> None:
    from conformance.checks import CHECKS
    from conformance.engine import Collected, evaluate_one

    two = [
        chunk({"role": "assistant", "content": "a"}),
        {**chunk({"role": "assistant", "content": "b"}), "choices": [
            {"index": 1, "delta": {"role": "assistant", "content": "b"}, "finish_reason": None}]},
        {**chunk({}), "choices": [
            {"index": 0, "delta": {}, "finish_reason": "stop"},
            {"index": 1, "delta": {"role": "assistant"}, "finish_reason": "stop"}]},
    ]  # fmt: skip
    error_stream = sse([GOOD_CHUNKS[0], {"error": {"message": "boom", "type": "server_error"}}])
    exchanges = {
        "chat": [_recorded("chat", json.dumps(COMPLETION).encode(), {})],
        "stream": [_recorded("stream", sse(GOOD_CHUNKS), {"stream": True})],
        # other probes of the run: an n=2 stream whose choice 1 repeats its role, a stream
        # ending in an in-band error (the SDK raises by design), a raw-body request
        "n_two": [_recorded("n_two", sse(two), {"stream": True, "n": 2})],
        "midstream": [_recorded("midstream", error_stream, {"stream": True})],
        "raw": [_recorded("raw", b"{}", {"stream": True}, custom_body=True)],
    }
    provider = get_provider("openai", base_url=BASE)
    collected = Collected(exchanges=exchanges, unavailable={"stream_usage": "not sent"})
    result = evaluate_one(CHECKS["sdk.stream_accumulate"], provider, collected)
    assert result.status is Status.FAILED
    assert result.evidence["probe"] == "n_two" and "assistantassistant" in result.detail
    exchanges["n_two"] = []
    result = evaluate_one(CHECKS["sdk.stream_accumulate"], provider, collected)
    assert result.status is Status.PASSED, result.detail
    assert evaluate_one(CHECKS["sdk.stream_chunks"], provider, collected).status is Status.PASSED
