"""Wetrocloud's text-generation endpoint, as its documentation describes it.

``POST /v1/text-generation/`` with a ``multipart/form-data`` body (``messages`` as a
JSON string, ``model``) and ``Authorization: Token <key>``; the answer is
``{"response": str, "tokens": int, "success": bool}``. Extra fields are tolerated.
"""

from __future__ import annotations

from typing import Any

from conformance.checks._oai import is_int, type_name
from conformance.checks.evidence import exchange_evidence
from conformance.checks.registry import CheckContext, Failed, Severity, Skipped, check
from conformance.providers.base import Dialect
from conformance.wire.exchange import Exchange
from conformance.wire.json_bounded import parse_json_bounded

_WC = {Dialect.WETROCLOUD}
_DOC = "Wetrocloud API documentation, Text generation (POST /v1/text-generation/)"
_FORM_WORDS = ("multipart", "form", "content-type", "content type", "media type")


def _answer(ctx: CheckContext) -> tuple[Exchange, dict[str, Any]]:
    ex = ctx.successful("chat")
    try:
        value = parse_json_bounded(ex.body)
    except ValueError:
        raise Skipped("not judged: the answer is not JSON (see wetrocloud.json_object)") from None
    if not isinstance(value, dict):
        raise Skipped("not judged: the answer is not a JSON object (see wetrocloud.json_object)")
    return ex, value


def _refusal_text(ctx: CheckContext, ex: Exchange) -> str:
    error = ctx.provider.decode_error(ex.status or 0, ex.body)
    return (error.message or "").lower()


@check(
    id="wetrocloud.multipart_accepted",
    fact="request.multipart",
    title="A multipart/form-data request is accepted",
    severity=Severity.CLIENT,
    source=_DOC + ": the request is sent as multipart/form-data",
    probes=("chat",),
    dialects=_WC,
)
def multipart_accepted(ctx: CheckContext) -> str:
    """The documented request, a multipart/form-data body with `messages` (a JSON string)
    and `model`, is not refused for its format (415, or 400 about the form)."""
    ex = ctx.completed("chat")
    status = ex.status or 0
    if 200 <= status < 300:
        return "accepted"
    text = _refusal_text(ctx, ex)
    if status == 415 or (status == 400 and any(w in text for w in _FORM_WORDS)):
        raise Failed(
            f"the documented multipart/form-data request was refused with HTTP {status}",
            exchange_evidence(ex),
        )
    raise Skipped(f"not judged: the request was answered HTTP {status} for another reason")


@check(
    id="wetrocloud.token_scheme",
    fact="auth",
    title="`Authorization: Token <key>` is accepted",
    severity=Severity.CLIENT,
    source=_DOC + ": --header 'Authorization: Token <api-key>'",
    probes=("chat",),
    dialects=_WC,
)
def token_scheme(ctx: CheckContext) -> str:
    """A request authenticated the documented way, `Authorization: Token <key>` with the
    configured key, is not refused as unauthenticated (401/403)."""
    ex = ctx.completed("chat")
    auth = ex.request.header("authorization")
    if not auth:
        raise Skipped("not judged: no API key is configured (set the key's environment variable)")
    if not auth.startswith("Token "):
        raise Failed(
            "the harness did not send the Token scheme; the profile is misconfigured",
            exchange_evidence(ex),
        )
    status = ex.status or 0
    if status in (401, 403):
        raise Failed(
            f"`Authorization: Token <key>` was refused with HTTP {status}; check the key in "
            "the environment variable, then the server's auth scheme",
            exchange_evidence(ex),
        )
    if not 200 <= status < 300:
        raise Skipped(f"not judged: the request was answered HTTP {status}")
    return "accepted"


@check(
    id="wetrocloud.json_object",
    fact="response.wetrocloud",
    title="The answer is a JSON object",
    severity=Severity.CLIENT,
    source=_DOC + ": response example",
    probes=("chat",),
    dialects=_WC,
)
def json_object(ctx: CheckContext) -> str:
    """A successful answer is one JSON object (`{"response", "tokens", "success"}`)."""
    ex = ctx.successful("chat")
    try:
        value = parse_json_bounded(ex.body)
    except ValueError as exc:
        raise Failed(f"the answer is not JSON ({exc})", exchange_evidence(ex)) from None
    if not isinstance(value, dict):
        raise Failed(
            f"the answer is a JSON {type_name(value)}, not an object", exchange_evidence(ex)
        )
    return "JSON object"


@check(
    id="wetrocloud.response_string",
    fact="response.wetrocloud",
    title="`response` is a string",
    severity=Severity.CLIENT,
    source=_DOC + ": response — conversational response to the query",
    probes=("chat",),
    dialects=_WC,
)
def response_string(ctx: CheckContext) -> str:
    """`response` is present and is the generated text, a non-empty string."""
    ex, body = _answer(ctx)
    value = body.get("response")
    if not isinstance(value, str):
        raise Failed(
            f"`response` is {type_name(value)} {value!r:.60}, not a string", exchange_evidence(ex)
        )
    if not value.strip():
        raise Failed("`response` is an empty string on a successful answer", exchange_evidence(ex))
    return "string"


@check(
    id="wetrocloud.tokens_integer",
    fact="response.wetrocloud",
    title="`tokens` is a positive integer",
    severity=Severity.CLIENT,
    source=_DOC + ": tokens — number of tokens used for processing",
    probes=("chat",),
    dialects=_WC,
)
def tokens_integer(ctx: CheckContext) -> str:
    """`tokens` is an integer (not a string or float) and plausible: more than zero for
    a request that processed a prompt and produced an answer."""
    ex, body = _answer(ctx)
    value = body.get("tokens")
    if not is_int(value):
        raise Failed(
            f"`tokens` is {type_name(value)} {value!r:.40}, not an integer", exchange_evidence(ex)
        )
    if value <= 0:
        raise Failed(f"`tokens` is {value}; a processed request uses tokens", exchange_evidence(ex))
    return f"{value} tokens"


@check(
    id="wetrocloud.success_boolean",
    fact="response.wetrocloud",
    title="`success` is the boolean true on success",
    severity=Severity.CLIENT,
    source=_DOC + ": success — indicates whether the query was successful",
    probes=("chat",),
    dialects=_WC,
)
def success_boolean(ctx: CheckContext) -> str:
    """`success` is a JSON boolean (not the string "true") and is true on a 2xx answer;
    clients test it with `if body["success"]`."""
    ex, body = _answer(ctx)
    value = body.get("success")
    if not isinstance(value, bool):
        raise Failed(
            f"`success` is {type_name(value)} {value!r:.40}, not a boolean", exchange_evidence(ex)
        )
    if value is not True:
        raise Failed("`success` is false on a 2xx answer", exchange_evidence(ex))
    return "true"


#: answers (probe, label) whose `tokens` are compared
_TOKEN_ANSWERS: tuple[str, ...] = ("chat", "multi_turn", "other_prompt")


def _tokens_and_words(ctx: CheckContext, name: str) -> tuple[Exchange, int, int] | None:
    try:
        ex = ctx.successful(name)
        body = parse_json_bounded(ex.body)
    except (Skipped, ValueError):
        return None
    if not isinstance(body, dict):
        return None
    tokens, text = body.get("tokens"), body.get("response")
    if not is_int(tokens) or tokens <= 0 or not isinstance(text, str) or not text.strip():
        return None  # tokens_integer / response_string judge those
    return ex, tokens, len(text.split())


@check(
    id="wetrocloud.tokens_plausible",
    fact="response.wetrocloud",
    title="`tokens` follows the size of the answer",
    severity=Severity.CLIENT,
    source=_DOC + ": tokens — number of tokens used for processing",
    probes=_TOKEN_ANSWERS,
    dialects=_WC,
    warn_only=True,
)
def tokens_plausible(ctx: CheckContext) -> str:
    """`tokens` counts the tokens the request used (prompt and answer, or the answer),
    so it is never far below the answer's word count (no tokenizer packs four words into
    a token), and answers of different lengths do not all report the same count. Only a
    warning: the document does not say what is counted. Clients bill and budget on it."""
    seen = {name: found for name in _TOKEN_ANSWERS if (found := _tokens_and_words(ctx, name))}
    if not seen:
        raise Skipped("not judged: no successful answer with a positive `tokens` and text")
    for name, (ex, tokens, words) in seen.items():
        if tokens * 4 < words:
            raise Failed(
                f"`tokens` is {tokens} for a {words}-word answer ({name}): fewer than one "
                "token per four words",
                exchange_evidence(ex),
            )
    sizes = {words for _, _, words in seen.values()}
    counts = {tokens for _, tokens, _ in seen.values()}
    if len(seen) >= 3 and len(counts) == 1 and len(sizes) == len(seen):
        raise Failed(
            f"`tokens` is {counts.pop()} for every answer although the conversations and the "
            f"answers differ ({sorted(sizes)} words): a constant, not a count",
            {name: {"tokens": t, "words": w} for name, (_, t, w) in seen.items()},
        )
    return f"`tokens` plausible in {len(seen)} answer(s)"
