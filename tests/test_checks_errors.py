"""The errors family against respx targets that break like real servers do.

Every target here is :class:`tests.fake_openai.FakeOpenAI` with one behaviour changed;
none of these breakages is a planted fault of the reference backend.
"""

from __future__ import annotations

import json
import random
from typing import Any

import httpx
import pytest
from fake_openai import FakeOpenAI, run

from conformance.checks.errors import MAX_INVALID_CASES, generate_invalid_cases
from conformance.engine import TargetMisconfigured
from conformance.providers import get_provider

ONLY = "errors"


def _status(results: dict[str, Any], check_id: str) -> str:
    return str(results[check_id].status)


def test_a_correct_target_passes() -> None:
    results = run(FakeOpenAI(), ONLY)
    assert _status(results, "errors.invalid_refused") == "passed"
    assert _status(results, "errors.no_server_error") == "passed"
    assert _status(results, "errors.envelope") == "passed"
    # a correct target never fails mid-stream: nothing to judge, never a vacuous pass
    assert _status(results, "errors.stream_error_event") == "skipped"
    assert _status(results, "errors.stream_refused_before_events") == "passed"


def test_cases_are_deterministic_distinct_and_bounded() -> None:
    provider = get_provider("openai")
    first = generate_invalid_cases(provider)
    second = generate_invalid_cases(provider)
    assert [c.label for c in first] == [c.label for c in second]
    assert len({c.label for c in first}) == len(first) <= MAX_INVALID_CASES
    assert {c.strictness for c in first} == {"must_refuse", "should_refuse"}
    assert len(generate_invalid_cases(provider, count=3)) == 3


def test_cases_leave_out_parameters_the_provider_does_not_document() -> None:
    cases = generate_invalid_cases(get_provider("nebulablock"), count=40)
    assert cases
    assert not {c.param for c in cases} & {"n", "stop", "stream_options", "presence_penalty"}


class FastAPI422(FakeOpenAI):
    """Validation errors as FastAPI/pydantic bodies: 422 with {"detail": [...]}."""

    def refuse(self, status: int, message: str, param: str | None = None) -> httpx.Response:
        if status == 401:
            return super().refuse(status, message, param)
        detail = [{"loc": ["body", param or "body"], "msg": message, "type": "value_error"}]
        return httpx.Response(422, json={"detail": detail})


def test_fastapi_422_is_a_refusal_but_not_an_envelope() -> None:
    results = run(FastAPI422(), ONLY)
    assert _status(results, "errors.invalid_refused") == "passed"
    assert "422" in results["errors.invalid_refused"].detail
    assert _status(results, "errors.envelope") == "failed"
    assert 'no "error" object' in results["errors.envelope"].detail


class TGIStyle(FakeOpenAI):
    """TGI-style bodies: {"error": "Input validation error: ...", "error_type": "validation"}."""

    def refuse(self, status: int, message: str, param: str | None = None) -> httpx.Response:
        return httpx.Response(status, json={"error": message, "error_type": "validation"})


def test_error_as_a_string_loses_the_message() -> None:
    results = run(TGIStyle(), ONLY)
    assert _status(results, "errors.envelope") == "failed"
    assert "is a string, not an object" in results["errors.envelope"].detail
    assert results["errors.envelope"].evidence["bad"]


class BareEnvelope(FakeOpenAI):
    """{"error": {"message": ...}} without type, param and code."""

    def refuse(self, status: int, message: str, param: str | None = None) -> httpx.Response:
        return httpx.Response(status, json={"error": {"message": message}})


def test_envelope_without_type_param_code_is_a_warning() -> None:
    results = run(BareEnvelope(), ONLY)
    assert _status(results, "errors.envelope") == "warned"
    assert "error.type is missing" in results["errors.envelope"].detail


class FlatErrorObject(FakeOpenAI):
    """vLLM's older ErrorResponse: the error object itself, not wrapped in "error"."""

    def refuse(self, status: int, message: str, param: str | None = None) -> httpx.Response:
        body = {"object": "error", "message": message, "type": "BadRequestError",
                "param": param, "code": status}  # fmt: skip
        return httpx.Response(status, json=body)


def test_a_flat_error_object_is_a_warning_because_the_sdk_reads_it() -> None:
    results = run(FlatErrorObject(), ONLY)
    verdict = results["errors.envelope"]
    assert str(verdict.status) == "warned", verdict.detail
    assert "not wrapped" in verdict.detail


class PlainTextErrors(FakeOpenAI):
    """A reverse proxy answers validation errors with a text/plain or HTML page."""

    def refuse(self, status: int, message: str, param: str | None = None) -> httpx.Response:
        if status == 401:
            return super().refuse(status, message, param)
        return httpx.Response(400, text="<html><body>400 Bad Request</body></html>")


def test_html_error_pages_fail_the_envelope() -> None:
    results = run(PlainTextErrors(), ONLY)
    assert _status(results, "errors.envelope") == "failed"
    assert "not JSON" in results["errors.envelope"].detail


class ErrorIn200(FakeOpenAI):
    """A gateway that wraps upstream errors in a 200 answer."""

    def refuse(self, status: int, message: str, param: str | None = None) -> httpx.Response:
        if status == 401:
            return super().refuse(status, message, param)
        return httpx.Response(200, json={"error": {"message": message, "type": "x",
                                                   "param": None, "code": None}})  # fmt: skip


def test_an_error_body_with_status_200_is_an_acceptance() -> None:
    results = run(ErrorIn200(), ONLY)
    assert _status(results, "errors.invalid_refused") == "failed"
    accepted = results["errors.invalid_refused"].evidence["accepted"]
    assert all(item["status"] == 200 for item in accepted)
    assert all("label" in item["case"] for item in accepted)


class Lenient(FakeOpenAI):
    """Refuses only what cannot be given a meaning, like llama.cpp or vLLM: accepts custom
    roles, many stop strings, no model, out-of-range sampling values, max_tokens -1."""

    def validate(self, body: Any) -> httpx.Response | None:
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return self.refuse(400, "'messages' must be an array.", "messages")
        if any(not isinstance(m, dict) or "role" not in m for m in body["messages"]):
            return self.refuse(400, "Each message needs a role.", "messages")
        for name in ("temperature", "top_p", "presence_penalty", "n", "max_tokens"):
            value = body.get(name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                return self.refuse(400, f"Invalid type for '{name}'.", name)
            if name in ("n", "max_tokens") and value == 0:
                return self.refuse(400, f"'{name}' must be at least 1.", name)
        return None


def test_lenient_acceptance_is_a_warning_not_a_failure() -> None:
    results = run(Lenient(), ONLY)
    verdict = results["errors.invalid_refused"]
    assert str(verdict.status) == "warned", verdict.detail
    assert verdict.evidence["accepted_leniently"]
    assert _status(results, "errors.no_server_error") == "passed"


class Crashes(FakeOpenAI):
    """An unhandled exception in the validation path: 500 with a traceback page."""

    def refuse(self, status: int, message: str, param: str | None = None) -> httpx.Response:
        if status == 401:
            return super().refuse(status, message, param)
        return httpx.Response(500, text="Internal Server Error")


def test_server_errors_for_invalid_input_fail() -> None:
    results = run(Crashes(), ONLY)
    assert _status(results, "errors.no_server_error") == "failed"
    assert results["errors.no_server_error"].evidence["server_errors"]
    assert _status(results, "errors.envelope") == "skipped"  # no 4xx to judge


class AllNotFound(FakeOpenAI):
    """A wrong base URL: everything is 404, valid requests too."""

    def handler(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, text="Not Found")


def test_refusals_say_nothing_when_valid_requests_fail_too() -> None:
    with pytest.raises(TargetMisconfigured, match="HTTP 404"):  # live: a wrong base URL
        run(AllNotFound(), ONLY)
    results = run(AllNotFound(), ONLY, mode="replay")  # replayed: nothing to judge
    for check_id in ("errors.invalid_refused", "errors.no_server_error", "errors.envelope"):
        assert _status(results, check_id) == "skipped"
        assert "valid request" in results[check_id].detail


# --------------------------------------------------------------------------- mid-stream


class MidStream(FakeOpenAI):
    """Fails after the second content chunk; ``tail`` is how the failure is written."""

    tail = b""

    def stream_body(self, body: dict[str, Any], request: httpx.Request) -> bytes:
        events = [b"data: " + json.dumps(c).encode() + b"\n\n" for c in self.chunks(body)]
        return b"".join(events[:3]) + self.tail


class MidStreamCorrect(MidStream):
    tail = b'data: {"error": {"message": "overloaded", "type": "server_error", "param": null, "code": null}}\n\n'


class MidStreamNamedEvent(MidStream):
    # an `error` event whose data has no "error" key: the SDK takes it for a chunk
    tail = b'event: error\ndata: {"message": "overloaded"}\n\n'


class MidStreamString(MidStream):
    tail = b'data: {"error": "overloaded"}\n\n'


class MidStreamPlain(MidStream):
    tail = b"Error: upstream connection reset\n"


def test_a_well_formed_mid_stream_error_passes() -> None:
    results = run(MidStreamCorrect(), "errors.stream_error_event")
    assert _status(results, "errors.stream_error_event") == "passed"


def test_badly_formed_mid_stream_errors_fail() -> None:
    for fake, needle in [
        (MidStreamNamedEvent(), 'without an "error" object'),
        (MidStreamString(), "bare string"),
        (MidStreamPlain(), "outside any data: line"),
    ]:
        results = run(fake, "errors.stream_error_event")
        verdict = results["errors.stream_error_event"]
        assert str(verdict.status) == "failed", (type(fake).__name__, verdict.detail)
        assert needle in verdict.detail, verdict.detail
        assert verdict.evidence["bad"]


# --------------------------------------------------------------------------- Wetrocloud


def test_wetrocloud_invalid_forms_against_the_reference_backend() -> None:
    """Multipart cases (malformed form, messages not JSON / not an array, missing fields)
    are refused by the correct backend and caught when accepted or answered 500."""
    from conformance.backend import BackendConfig, serve_in_thread
    from conformance.engine import RunConfig, run_checks

    verdicts: dict[str | None, dict[str, str]] = {}
    with serve_in_thread(BackendConfig()) as root:
        for fault in (None, "invalid_accepted", "invalid_500"):
            prefix = root + (f"/fault/{fault}" if fault else "")
            provider = get_provider("wetrocloud", base_url=prefix)
            result = run_checks(
                RunConfig(
                    provider=provider, api_key="k", only="errors", max_requests=None, timeout=10
                )
            )
            verdicts[fault] = {r.id: str(r.status) for r in result.checks}
    assert verdicts[None] == {
        "errors.invalid_refused": "passed",
        "errors.no_server_error": "passed",
        "errors.envelope": "passed",
    }
    assert verdicts["invalid_accepted"]["errors.invalid_refused"] == "failed"
    assert verdicts["invalid_500"]["errors.no_server_error"] == "failed"


# --------------------------------------------------------------------------- signal reading


def _stream_exchange(body: bytes) -> Any:
    from conformance.wire.exchange import Exchange, RecordedRequest
    from conformance.wire.sse import SSEParser

    parser = SSEParser()
    events = parser.feed(body, 1)
    parser.close(2)
    request = RecordedRequest("POST", "http://t/v1/chat/completions", [], b"{}")
    return Exchange(probe="stream", request=request, status=200, body=body, events=events,
                    headers=[("content-type", "text/event-stream")])  # fmt: skip


def test_valid_streams_carry_no_error_signal() -> None:
    """Line-end styles, comments and content that mentions errors are not error reports."""
    from conformance.checks._judge import stream_error_signals

    chunk = json.dumps({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                        "choices": [{"index": 0, "delta": {"content": "No error: it failed"},
                                     "finish_reason": None}], "error": None})  # fmt: skip
    for sep in (b"\n", b"\r\n", b"\r"):
        body = (
            b": keep-alive, error-free" + sep + b"data:" + chunk.encode() + sep + sep
            + b"event: message" + sep + b"data: " + chunk.encode() + sep + sep
            + b"data: [DONE]" + sep + sep
        )  # fmt: skip
        assert stream_error_signals(_stream_exchange(body)) == [], sep


def test_error_signals_are_judged() -> None:
    from conformance.checks._judge import stream_error_signals

    good = b'data: {"error": {"message": "overloaded", "type": "server_error"}}\n\n'
    assert [s.good for s in stream_error_signals(_stream_exchange(good))] == [True]
    named = b"event: error\ndata: overloaded\n\n"
    (signal,) = stream_error_signals(_stream_exchange(named))
    assert not signal.good and signal.event == 0 and "non-JSON" in signal.what


# --------------------------------------------------------------------------- streamed bad input


def _streamed(body: Any) -> bool:
    return isinstance(body, dict) and body.get("stream") is True


class ValidatesOnlyPlain(FakeOpenAI):
    """Streamed requests go down another code path that validates nothing."""

    def validate(self, body: Any) -> httpx.Response | None:
        if _streamed(body) and isinstance(body.get("messages"), list) and body["messages"]:
            return None
        return super().validate(body)


def test_streamed_invalid_requests_accepted_fail_naming_the_mode() -> None:
    results = run(ValidatesOnlyPlain(), ONLY)
    verdict = results["errors.invalid_refused"]
    assert str(verdict.status) == "failed"
    labels = [a["label"] for a in verdict.evidence["accepted"]]
    assert labels and all(label.endswith("(streamed)") for label in labels)


class ErrorEventAfter200(FakeOpenAI):
    """Streamed requests are validated after the stream started: 200, then an event
    carrying the error envelope (a server that validates inside its generator)."""

    def handler(self, request: httpx.Request) -> httpx.Response:
        try:
            body = json.loads(request.content)
        except ValueError:
            body = None
        problem = self.validate(body) if _streamed(body) else None
        if problem is None:
            return super().handler(request)
        data = b"data: " + problem.content + b"\n\ndata: [DONE]\n\n"
        return httpx.Response(200, content=data, headers={"content-type": "text/event-stream"})


def test_an_error_event_instead_of_a_4xx_fails() -> None:
    results = run(ErrorEventAfter200(), ONLY)
    verdict = results["errors.stream_refused_before_events"]
    assert str(verdict.status) == "failed"
    assert "instead of a 4xx before any event" in verdict.detail
    # the well-formed error event is not counted as a valid mid-stream error
    assert _status(results, "errors.stream_error_event") == "skipped"


class RefusalAsEventStream(FakeOpenAI):
    """A streamed request's refusal is a 400 served as text/event-stream."""

    def refuse(self, status: int, message: str, param: str | None = None) -> httpx.Response:
        response = super().refuse(status, message, param)
        if status != 400:
            return response
        data = b"data: " + response.content + b"\n\n"
        return httpx.Response(400, content=data, headers={"content-type": "text/event-stream"})


def test_a_refusal_sent_as_an_event_stream_fails() -> None:
    verdict = run(RefusalAsEventStream(), "errors.stream_refused_before_events")[
        "errors.stream_refused_before_events"
    ]
    assert str(verdict.status) == "failed"
    assert "as an event stream" in verdict.detail


def test_streamed_cases_follow_the_profile() -> None:
    from conformance.checks.errors import MAX_STREAMED_CASES, invalid_requests_probe
    from conformance.checks.registry import ProbeContext

    for name, streams in (("openai", True), ("wetrocloud", False)):
        provider = get_provider(name)
        requests = invalid_requests_probe(ProbeContext(provider=provider, random=random.Random(0)))
        streamed = [r for r in requests if r.streaming]
        assert bool(streamed) is streams
        assert len(streamed) <= MAX_STREAMED_CASES
        for r in streamed:
            assert json.loads(r.body or b"{}")["stream"] is True and r.meta["mode"] == "streamed"
