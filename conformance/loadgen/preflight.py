"""One plain request before the load: adapt to the target, or stop and say what to fix.

A bench against a target that refuses every request measures nothing but failures, and a
load run against a target that does not answer measures nothing at all. One small
request first decides whether the load is worth sending:

- it **stops** the bench (:attr:`Preflight.stop`, one line that says what to fix; the CLI
  exits 2) when nothing usable came back: no connection, no answer within the timeout,
  something that is not an HTTP response (or whose head is over the header limit), or a
  non-2xx status (a wrong or missing key, a wrong URL or model, a refusal, a server error);
- it **adapts** the load to a refusal the profile can work around (a model that wants
  ``max_completion_tokens`` instead of ``max_tokens``), and checks the adapted request;
- it lets the load run, with a note, when the target answered 2xx but the answer itself
  broke (cut short, too slow to finish, too large): that is what a load run measures, and
  the load counts such answers as failures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from conformance.engine.target import resolve_api_key
from conformance.loadgen.limits import MAX_RESPONSE_HEAD_BYTES
from conformance.loadgen.target import request_params
from conformance.providers import Dialect, Provider, get_provider

if TYPE_CHECKING:
    from conformance.wire.exchange import Exchange

__all__ = ["Preflight", "preflight"]

_MESSAGES = [{"role": "user", "content": "Say hello."}]


@dataclass(slots=True)
class Preflight:
    """What one plain request taught about the target."""

    #: the name the length cap is to be sent under (``max_tokens`` unless adapted)
    length_param: str = "max_tokens"
    #: lines for the console and the result's ``notes``
    notes: list[str] = field(default_factory=list)
    #: why the load must not run: one line that says what to fix (``None``: run it)
    stop: str | None = None


def _refusal_hint(
    ex: Exchange, base_url: str, *, openai_style: bool, key_var: str, has_key: bool
) -> str:
    """What to fix for a non-2xx answer to a plain request."""
    status = ex.status or 0
    if status in (401, 403):
        if not has_key:
            return f"no key in ${key_var}: set it, or name the variable that holds it with --api-key-env"
        return f"check the key in ${key_var} (--api-key-env) and that it may use this model"
    if status in (404, 405):
        base = base_url.partition("?")[0].rstrip("/")
        if openai_style and not base.endswith("/v1"):
            return f"check --base-url (OpenAI-compatible servers usually serve under /v1: try {base}/v1) and --model"
        return "check --base-url and --model"
    if 300 <= status < 400:
        location = next((v for k, v in ex.headers if k == "location"), "")
        where = f" to {location[:120]}" if location else ""
        return f"the target redirects{where}: give that URL as --base-url"
    if status == 429:
        return "the target is rate-limiting this key: wait, or ask for a higher limit"
    if status in (400, 422):
        return "check --model and --provider (the target rejects the request's shape)"
    if status >= 500:
        return "the target fails a plain request: check the server, its logs and --model"
    return "check --base-url, --model and the key"


def _message(provider: Provider, ex: Exchange) -> str:
    body = ex.body or b""
    status = ex.status or 0
    try:
        text = provider.decode_error(status, body).message or ""
    except Exception:  # a hostile error body never stops the explanation
        text = ""
    text = text or body[:120].decode("utf-8", "replace")
    return " ".join(text.split())[:160]


def _no_answer(ex: Exchange) -> str:
    """The stop line when nothing usable came back (no status)."""
    error = ex.error
    detail = error.message if error is not None else "no response"
    # h11 (under httpx) says "Receive buffer too long" when a response head outgrows it
    head_too_large = "Receive buffer too long" in detail or (
        error is not None and str(error.kind) == "too_large" and "header" in detail.lower()
    )
    if head_too_large:
        return (
            "preflight: the target's status line and headers are larger than "
            f"{MAX_RESPONSE_HEAD_BYTES // 1024} KiB, the header limit that check and bench "
            "apply to every response: nothing can be measured; fix the server (or point "
            "--base-url at the API itself, not at something in front of it)"
        )
    return f"preflight: no usable answer to one plain request: {detail}"


def preflight(
    provider_name: str,
    base_url: str,
    *,
    model: str | None,
    api_key_env: str | None,
    stream: bool,
    timeout_s: float,
    stream_usage: bool | None = None,
) -> Preflight:
    """Send one small request (``max_tokens`` 4) and decide whether the load may run.

    Never raises for what the target does: a refusal, an error or a timeout becomes
    :attr:`Preflight.stop` or a note. The request goes through the wire client, so its
    size and time are bounded (``timeout_s`` for the whole exchange) and the key is
    redacted from everything it records.
    """
    from conformance.wire.client import WireClient

    provider = get_provider(provider_name, base_url=base_url, model=model)
    var, key = resolve_api_key(provider_name, api_key_env)
    out = Preflight()
    openai_style = provider.dialect is Dialect.OPENAI

    with WireClient(timeout=timeout_s) as client:

        def send() -> Exchange:
            params = request_params(
                provider, stream=stream, max_tokens=4, stream_usage=stream_usage
            )
            return client.send(
                provider.encode(_MESSAGES, params, api_key=key),
                probe="preflight",
                stream=stream,
                api_key=key,
            )

        ex = send()
        if ex.status is not None and not 200 <= ex.status < 300:
            adaptation = provider.adapt_to_refusal(ex.status, ex.body or b"")
            if adaptation is not None:
                out.length_param = provider.length_param
                out.notes.append(f"adapted: {adaptation.reason}")
                ex = send()  # the adapted request must be accepted in its turn

    if ex.status is None:
        out.stop = _no_answer(ex)
        return out
    if not 200 <= ex.status < 300:
        hint = _refusal_hint(
            ex, base_url, openai_style=openai_style, key_var=var, has_key=bool(key)
        )
        out.stop = (
            f"preflight: the target refused a plain request with HTTP {ex.status} "
            f"({_message(provider, ex)}): {hint}"
        )
        return out
    if key is None:
        out.notes.append(f"no key in ${var}: requests are sent without credentials")
    if ex.error is not None:
        out.notes.append(
            f"preflight: the target answered HTTP {ex.status}, but {ex.error.message}; "
            "the load counts such answers as failures"
        )
    return out
