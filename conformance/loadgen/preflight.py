"""One plain request before the load: adapt to the target, or say why the load will fail.

A bench against a target that refuses every request measures nothing but failures; one
small request first tells the user what to fix (a key, a model name) before the run, and
lets the profile adapt to a refusal it can work around (a model that wants
``max_completion_tokens`` instead of ``max_tokens``) so the load is sent in a form the
target accepts. The load runs in either case; the preflight only informs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from conformance.engine.target import resolve_api_key
from conformance.loadgen.target import request_params
from conformance.providers import Dialect, get_provider

__all__ = ["Preflight", "preflight"]

_MESSAGES = [{"role": "user", "content": "Say hello."}]


@dataclass(slots=True)
class Preflight:
    """What one plain request taught about the target."""

    #: the name the length cap is to be sent under (``max_tokens`` unless adapted)
    length_param: str = "max_tokens"
    #: lines for the console and the result's ``notes``
    notes: list[str] = field(default_factory=list)


def _hint(status: int, base_url: str, *, openai_style: bool) -> str:
    if status in (401, 403):
        return ": check the key (--api-key-env)"
    if status in (404, 405):
        base = base_url.partition("?")[0].rstrip("/")
        if openai_style and not base.endswith("/v1"):
            return f": check --base-url (OpenAI-compatible servers usually serve under /v1: try {base}/v1) and --model"
        return ": check --base-url and --model"
    return ""


def preflight(
    provider_name: str,
    base_url: str,
    *,
    model: str | None,
    api_key_env: str | None,
    stream: bool,
    timeout_s: float,
) -> Preflight:
    """Send one small request (``max_tokens`` 4) and report what it showed.

    Never raises for what the target does: a refusal, an error or a timeout becomes a
    note. The request goes through the wire client, so its size and time are bounded.
    """
    from conformance.wire.client import WireClient

    provider = get_provider(provider_name, base_url=base_url, model=model)
    _, key = resolve_api_key(provider_name, api_key_env)
    out = Preflight()
    params = request_params(provider, stream=stream, max_tokens=4)

    with WireClient(timeout=timeout_s) as client:  # it redacts api_key from the record
        ex = client.send(
            provider.encode(_MESSAGES, params, api_key=key),
            probe="preflight",
            stream=stream,
            api_key=key,
        )
    status, body = ex.status, ex.body or b""
    error = ex.error.message if ex.error is not None else None
    if error is not None:
        out.notes.append(f"preflight: the first request failed before the load ({error})")
        return out
    if status is None or status < 400:
        return out
    adaptation = provider.adapt_to_refusal(status, body)
    if adaptation is not None:
        out.length_param = provider.length_param
        out.notes.append(f"adapted: {adaptation.reason}")
        return out
    message = provider.decode_error(status, body).message or body[:120].decode("utf-8", "replace")
    out.notes.append(
        f"preflight: the target refused a plain request with HTTP {status} "
        f"({message.strip()[:160]}){_hint(status, base_url, openai_style=provider.dialect is Dialect.OPENAI)}; the load counts these as failures"
    )
    return out
