"""Judgements shared by the check families.

How an answer to a request using an optional feature is read (:func:`accepted`), how an
error answer is read, what counts as an SSE error event, and how a bad case is described
in the evidence. Nothing here does I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from conformance.checks.evidence import excerpt, exchange_evidence, request_summary
from conformance.checks.registry import CheckContext, Failed, Refused, Warned
from conformance.providers.base import Dialect, Provider
from conformance.wire.exchange import Exchange
from conformance.wire.json_bounded import parse_json_bounded

__all__ = [
    "EnvelopeVerdict",
    "StreamErrorSignal",
    "accepted",
    "case_evidence",
    "envelope_problems",
    "error_instead_of_answer",
    "fail_if_error_instead_of_answer",
    "judge_envelope",
    "stream_error_signals",
]


@dataclass(frozen=True, slots=True)
class EnvelopeVerdict:
    """How well an error body follows the dialect's error shape.

    ``fatal`` problems lose the error's reason for clients (no message to show);
    ``minor`` ones leave it readable but break the documented shape (a missing
    ``type``/``param``/``code`` key, a wrong type for one of them).
    """

    fatal: str | None
    minor: tuple[str, ...] = ()
    message: str | None = None

    @property
    def ok(self) -> bool:
        return self.fatal is None and not self.minor


def _json(body: bytes) -> tuple[bool, Any]:
    try:
        return True, parse_json_bounded(body)
    except (ValueError, UnicodeDecodeError):
        return False, None


def _field_errors(data: Any) -> str:
    """The messages of a Django REST Framework validation error, ``{"field": ["This
    field is required."], "non_field_errors": [...]}``, as "field: message" lines ("" when
    ``data`` is not that shape). DRF answers every serializer error this way, with 400."""
    if not isinstance(data, Mapping) or not data:
        return ""
    lines: list[str] = []
    for name, value in data.items():
        items = value if isinstance(value, list) else []
        texts = [v.strip() for v in items if isinstance(v, str) and v.strip()]
        if not texts or not isinstance(name, str) or name in ("success", "response", "tokens"):
            continue
        lines.append(f"{name}: {'; '.join(texts)}")
    return "\n".join(lines)


def judge_envelope(provider: Provider, status: int, body: bytes) -> EnvelopeVerdict:
    """Judge one error body against the dialect's error shape.

    OpenAI dialect: ``{"error": {"message": str, "type": str, "param": str|null, "code":
    str|int|null}}``. The official Python SDK reads ``body["error"]`` (or the whole body
    when there is no ``error`` key) and takes ``message`` for the exception text and
    ``type``/``param``/``code`` for its attributes; without a string message it can only
    say "Error code: 400". So a missing or non-string message is fatal, a missing or
    mistyped ``type``/``param``/``code`` is minor.

    Wetrocloud documents no error shape: the body must say why in any common shape
    (``detail``, ``error``, ``message``; not empty, not HTML).
    """
    if provider.dialect is not Dialect.OPENAI:
        is_json, data = _json(body)
        if is_json and isinstance(data, Mapping) and data.get("success") is True:
            return EnvelopeVerdict(
                fatal=f'the HTTP {status} error body says "success": true: clients that test '
                "`success` take the error for an answer"
            )
        decoded = provider.decode_error(status, body)
        text = (decoded.message or "").strip() or _field_errors(data if is_json else None)
        if not text:
            return EnvelopeVerdict(fatal="the error body does not say what is wrong (empty)")
        if text.lstrip().startswith("<"):
            return EnvelopeVerdict(fatal="the error body is HTML, not a JSON error", message=text)
        return EnvelopeVerdict(fatal=None, message=text)
    is_json, data = _json(body)
    if not body.strip():
        return EnvelopeVerdict(fatal="the error body is empty")
    if not is_json:
        return EnvelopeVerdict(fatal=f"the error body is not JSON: {excerpt(body, 120)!r}")
    if not isinstance(data, Mapping):
        return EnvelopeVerdict(
            fatal=f"the error body is a JSON {type(data).__name__}, not an object"
        )
    err = data.get("error")
    flat = data.get("message")
    if err is None and isinstance(flat, str) and flat.strip():
        # vLLM's older ErrorResponse: {"object": "error", "message", "type", "param", "code"}.
        # The official SDK falls back to the whole body and reads it fine; clients that
        # read body.error.message do not.
        return EnvelopeVerdict(
            fatal=None,
            minor=(
                'the error object is not wrapped in {"error": ...}: the official SDK still '
                "reads its message, clients that read error.message find nothing",
            ),
            message=flat,
        )
    if not isinstance(err, Mapping):
        shape = sorted(data)[:6]
        if isinstance(err, str):
            why = (
                '"error" is a string, not an object: the official SDK then has no message '
                'and raises with only "Error code: N"'
            )
        else:
            why = f'there is no "error" object (top-level keys: {shape})'
        return EnvelopeVerdict(fatal=why)
    message = err.get("message")
    if not isinstance(message, str) or not message.strip():
        return EnvelopeVerdict(
            fatal=f"error.message is {type(message).__name__} {message!r:.60}, not a non-empty string"
        )
    minor: list[str] = []
    for key in ("type", "param", "code"):
        if key not in err:
            minor.append(f"error.{key} is missing (send null when there is none)")
    if "type" in err and err["type"] is not None and not isinstance(err["type"], str):
        minor.append(f"error.type is {type(err['type']).__name__}, not a string")
    if "param" in err and err["param"] is not None and not isinstance(err["param"], str):
        minor.append(f"error.param is {type(err['param']).__name__}, not a string or null")
    code = err.get("code")
    if code is not None and (isinstance(code, bool) or not isinstance(code, str | int)):
        minor.append(f"error.code is {type(code).__name__}, not a string, integer or null")
    return EnvelopeVerdict(fatal=None, minor=tuple(minor), message=message)


def error_instead_of_answer(provider: Provider, ex: Exchange) -> str | None:
    """The error message a 2xx answer carries instead of an answer, else ``None``.

    An error instead of an answer is a JSON body whose ``error`` is set and that has no
    ``choices`` (nor Wetrocloud's ``response``), or that says ``"success": false``; for a
    stream, its first event being such a body (an error after some chunks is a mid-stream
    failure, judged by ``errors.stream_error_event``).
    """
    body = ex.body
    if ex.events is not None:
        datas = [e.data for e in ex.events if e.data is not None and e.data.strip() != "[DONE]"]
        body = datas[0].encode("utf-8") if datas else b""
    is_json, value = _json(body)
    if not is_json or not isinstance(value, Mapping):
        return None
    carries_error = bool(value.get("error")) and not ({"choices", "response"} & value.keys())
    if not carries_error and value.get("success") is not False:
        return None
    return provider.decode_error(ex.status or 0, body).message or "(no message)"


def fail_if_error_instead_of_answer(
    provider: Provider, ex: Exchange, what: str, *, hint: str = ""
) -> None:
    """:class:`Failed` when the 2xx answer to ``what`` (``"a valid request (probe 'chat')"``)
    is an error instead of an answer (see :func:`error_instead_of_answer`); ``hint`` ends
    the message."""
    said = error_instead_of_answer(provider, ex)
    if said is not None:
        raise Failed(
            f"{what} was answered HTTP {ex.status} with an error instead of an answer: "
            f"{said}. Clients take a 2xx for a success; a refusal needs a 4xx status{hint}",
            exchange_evidence(ex, event=0 if ex.events else None),
        )


def accepted(
    ctx: CheckContext, probe_name: str, *, feature: str, label: str | None = None
) -> Exchange:
    """The exchange of a probe that uses an optional ``feature`` (``"n > 1"``, ``"tools"``).

    A clean 4xx refusal is a capability, not a failure: :class:`Refused` (a skip) with the
    reason, noted in ``ctx.refusals``. A 501 Not Implemented is :class:`Warned` (a refusal
    the SDK retries); any other 5xx answer is :class:`Failed` (the target should refuse
    cleanly), and so is a refusal sent with a 2xx status (an error body instead of an
    answer: clients take it for a success). A 2xx answer is returned for the caller to
    check that the feature was honoured (silently ignoring it is a failure the caller
    raises).
    """
    ex = ctx.completed(probe_name, label)
    status = ex.status or 0
    if 400 <= status < 500:
        message = ctx.provider.decode_error(status, ex.body).message
        why = f": {message}" if message else ""
        refusal = f"the target refuses {feature} with HTTP {status}{why}"
        ctx.refusals.append(refusal)
        raise Refused(refusal)
    if status == 501:
        # RFC 9110 section 15.6.2: "the server does not support the functionality
        # required to fulfill the request" - a real refusal, not a crash; but the
        # official SDK retries every 5xx before raising InternalServerError.
        raise Warned(
            f"the target refuses {feature} with HTTP 501 Not Implemented: a valid refusal "
            "(RFC 9110), but the official SDK retries 5xx answers twice and then raises "
            "InternalServerError, not BadRequestError; a 400 is cleaner",
            exchange_evidence(ex),
        )
    if status >= 500:
        raise Failed(
            f"a request using {feature} was answered HTTP {status}; an unsupported "
            "feature must be refused with a 4xx error",
            exchange_evidence(ex),
        )
    if not 200 <= status < 300:
        raise Failed(f"a request using {feature} got HTTP {status}", exchange_evidence(ex))
    fail_if_error_instead_of_answer(ctx.provider, ex, f"a request using {feature}")
    return ex


def envelope_problems(
    provider: Provider, refused: Iterable[Exchange]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The refusals whose error body breaks the dialect's error shape (see
    :func:`judge_envelope`): the evidence of those that lose the reason (``problem``) and
    of those that only miss documented keys (``problems``), in that order."""
    fatal: list[dict[str, Any]] = []
    minor: list[dict[str, Any]] = []
    for ex in refused:
        verdict = judge_envelope(provider, ex.status or 0, ex.body)
        if verdict.fatal:
            fatal.append(case_evidence(ex, problem=verdict.fatal))
        elif verdict.minor:
            minor.append(case_evidence(ex, problems=list(verdict.minor)))
    return fatal, minor


def case_evidence(ex: Exchange, **extra: Any) -> dict[str, Any]:
    """A compact record of one exchange for a list of bad cases."""
    record: dict[str, Any] = {
        "label": ex.meta.get("label") or ex.probe,
        "status": ex.status,
        "request": request_summary(ex.request),
        "response": excerpt(ex.body, 400),
    }
    if ex.error is not None:
        record["transport_error"] = f"{ex.error.kind.value}: {ex.error.message}"
    record.update(extra)
    return record


# --------------------------------------------------------------------------- stream errors

#: words that mark a line of text as an error report
_ERRORISH = re.compile(r"error|exception|traceback|failed|failure", re.IGNORECASE)
#: words in data that may hold an error report (the keys judged below, or an escape that
#: could spell them); other events are chunks, not parsed again (a stream has thousands)
_MAYBE_ERROR = ("error", "exception", "traceback", "fail", "message", "detail", "\\u")


def _maybe_error(data: str) -> bool:
    low = data.lower()
    return any(word in low for word in _MAYBE_ERROR)


#: a line that is an SSE field or comment
_SSE_LINE = re.compile(r"^(?::|(?:data|event|id|retry)(?::|$))")


@dataclass(frozen=True, slots=True)
class StreamErrorSignal:
    """Something in a stream that reports an error, and whether it is well formed."""

    #: index of the SSE event, or ``None`` for text outside any event
    event: int | None
    good: bool
    what: str


def _line_split(body: bytes) -> list[str]:
    text = body.decode("utf-8", errors="replace")
    return re.split(r"\r\n|\r|\n", text)


def stream_error_signals(ex: Exchange) -> list[StreamErrorSignal]:
    """Every error report inside a streamed answer, judged.

    Well formed (what the official SDK turns into an ``APIError`` with the server's
    message): an event whose data is a JSON object with an ``error`` object holding a
    string ``message``. Badly formed: an ``event: error`` without data or with data the
    SDK cannot see as an error (non-JSON text makes it raise a JSON decoding error; an
    object without the ``error`` key is taken for a chunk and the failure goes unseen),
    an ``error`` that is a bare string (the SDK's message becomes a generic one), an
    error event left unterminated at the end (never dispatched), and error text written
    into the stream outside any ``data:`` line.
    """
    signals: list[StreamErrorSignal] = []
    for i, ev in enumerate(ex.events or []):
        named = (ev.event or "").strip().lower() == "error"
        if ev.data is None:
            if named:
                signals.append(StreamErrorSignal(i, False, "an `event: error` with no data"))
            continue
        if ev.data.strip() == "[DONE]":
            continue
        if not named and not _maybe_error(ev.data):
            continue  # an ordinary chunk: no word below can come out of parsing it
        ok, obj = _json(ev.data.encode("utf-8"))
        if not ok:
            if named or _ERRORISH.search(ev.data):
                signals.append(
                    StreamErrorSignal(
                        i, False, f"an error sent as non-JSON data: {excerpt(ev.data, 120)!r}"
                    )
                )
            continue
        if not isinstance(obj, Mapping):
            if named:
                signals.append(
                    StreamErrorSignal(i, False, "an `event: error` whose data is not an object")
                )
            continue
        err = obj.get("error")
        if err:
            if isinstance(err, Mapping) and isinstance(err.get("message"), str) and err["message"]:
                signals.append(StreamErrorSignal(i, True, "an SSE event carrying an error object"))
            elif isinstance(err, str):
                signals.append(
                    StreamErrorSignal(
                        i, False, '"error" is a bare string: the SDK reports a generic message'
                    )
                )
            else:
                signals.append(
                    StreamErrorSignal(i, False, "the error object has no string message")
                )
        elif named or ("choices" not in obj and ("message" in obj or "detail" in obj)):
            signals.append(
                StreamErrorSignal(
                    i,
                    False,
                    'an error without an "error" object: the SDK takes it for a chunk and '
                    "the failure goes unnoticed",
                )
            )
    plain_text = False
    for line in _line_split(ex.body):
        stripped = line.strip()
        if not stripped or _SSE_LINE.match(line.lstrip("\ufeff")):
            continue
        if _ERRORISH.search(stripped):
            plain_text = True
            signals.append(
                StreamErrorSignal(
                    None,
                    False,
                    f"error text written into the stream outside any data: line: {excerpt(stripped, 120)!r}",
                )
            )
    unterminated = ex.meta.get("sse_unterminated")
    if isinstance(unterminated, Mapping):
        data = str(unterminated.get("data") or unterminated.get("raw") or "")
        if _ERRORISH.search(data) and not plain_text:
            signals.append(
                StreamErrorSignal(
                    None,
                    False,
                    "an error event left unterminated at the end of the stream (no blank "
                    f"line), which clients never dispatch: {excerpt(data, 120)!r}",
                )
            )
    return signals
