"""The core checks never crash: whatever JSON a target sends, the verdict is passed,
failed, warned or skipped, never ``error`` (a crash in the harness)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from conformance.checks import Status, load_families, select_checks
from conformance.engine import Collected, evaluate_one
from conformance.providers import get_provider
from conformance.providers.base import Dialect
from conformance.wire.exchange import Exchange, RecordedRequest
from conformance.wire.sse import parse_sse

load_families()
CORE = ("sse", "stream", "schema", "robustness", "sdk")
OPENAI_CHECKS = select_checks(dialect=Dialect.OPENAI, only=",".join(CORE))
WC_CHECKS = select_checks(dialect=Dialect.WETROCLOUD, only="wetrocloud")
PROVIDER = get_provider("openai", base_url="http://fuzz.test/v1")
WC = get_provider("wetrocloud", base_url="http://fuzz.test")

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | st.floats(allow_nan=False)
    | st.text(max_size=5)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=12,
)
keys = st.sampled_from(
    ["id", "object", "created", "model", "choices", "usage", "index", "delta", "message",
     "role", "content", "finish_reason", "refusal", "logprobs", "prompt_tokens",
     "completion_tokens", "total_tokens", "response", "tokens", "success"]
)  # fmt: skip
# objects built from the real field names, so the checks get past their first lookups
shaped = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=6),
    max_leaves=20,
)


def _exchange(probe: str, body: bytes, *, stream: bool, params: dict[str, Any]) -> Exchange:
    request = RecordedRequest("POST", "http://fuzz.test/v1/chat/completions", [], b"{}")
    ctype = "text/event-stream" if stream else "application/json"
    ex = Exchange(
        probe=probe, request=request, status=200, headers=[("content-type", ctype)], body=body
    )
    if stream:
        events, parser = parse_sse(body)
        ex.events = events
        ex.observations = parser.observations
    ex.meta.update({"params": params, "messages": [{"role": "user", "content": "x"}]})
    return ex


def _verdicts(collected: Collected, checks: list[Any], provider: Any) -> dict[str, str]:
    results = {spec.id: evaluate_one(spec, provider, collected) for spec in checks}
    return {
        k: f"{r.status.value}: {r.detail}" for k, r in results.items() if r.status is Status.ERROR
    }


@given(completion=shaped | json_values, chunks=st.lists(shaped | json_values, max_size=5))
def test_openai_checks_never_crash(completion: Any, chunks: list[Any]) -> None:
    stream_body = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    collected = Collected(
        exchanges={
            "chat": [_exchange("chat", json.dumps(completion).encode(), stream=False, params={})],
            "stream": [
                _exchange("stream", stream_body.encode(), stream=True, params={"stream": True})
            ],
            "stream_usage": [
                _exchange(
                    "stream_usage",
                    stream_body.encode(),
                    stream=True,
                    params={"stream": True, "stream_options": {"include_usage": True}},
                )
            ],
        }
    )
    errors = _verdicts(collected, OPENAI_CHECKS, PROVIDER)
    assert not errors, errors


@given(body=shaped | json_values)
def test_wetrocloud_checks_never_crash(body: Any) -> None:
    collected = Collected(
        exchanges={"chat": [_exchange("chat", json.dumps(body).encode(), stream=False, params={})]}
    )
    errors = _verdicts(collected, WC_CHECKS, WC)
    assert not errors, errors


pieces = st.sampled_from(
    ["data: ", "data:", "\n", "\r\n", "\r", ": c\n", "event: x\n", "id: 1\n", "[DONE]",
     "\ufeff", '{"choices": [', "{}", '"x"', "]}", "data: {\"choices\": []}\n\n"]
)  # fmt: skip


@given(parts=st.lists(pieces | st.text(max_size=6), max_size=25), raw=st.binary(max_size=40))
def test_stream_checks_never_crash_on_arbitrary_bytes(parts: list[str], raw: bytes) -> None:
    body = "".join(parts).encode() + raw
    collected = Collected(
        exchanges={
            name: [_exchange(name, body, stream=True, params={"stream": True})]
            for name in ("stream", "stream_usage")
        }
    )
    stream_checks = [s for s in OPENAI_CHECKS if "stream" in s.probes]
    errors = _verdicts(collected, stream_checks, PROVIDER)
    assert not errors, errors
