"""The core probes: the plain requests most families judge.

- ``chat``: one short non-streamed completion (every dialect).
- ``stream``: the same request streamed, without usage reporting.
- ``stream_usage``: streamed with ``stream_options.include_usage``.

Probes of a family that only that family reads live in the family's module.
"""

from __future__ import annotations

from typing import Any

from conformance.checks.registry import ProbeContext, ProbeRequest, probe
from conformance.providers.base import Dialect

#: small enough to be cheap on a live target, large enough for several chunks
PROBE_MAX_TOKENS = 16


def base_params(pctx: ProbeContext, **extra: Any) -> dict[str, Any]:
    """The parameters every core probe sends (only what the profile documents)."""
    params: dict[str, Any] = {}
    if pctx.capabilities.max_tokens:
        params["max_tokens"] = PROBE_MAX_TOKENS
    params.update(extra)
    return params


def greedy_params(pctx: ProbeContext, **extra: Any) -> dict[str, Any]:
    """Parameters for an answer that should come out the same every time: temperature 0,
    a fixed seed and 40 tokens at most (each only where the profile documents it), then
    ``extra``."""
    params: dict[str, Any] = {}
    if pctx.capabilities.temperature:
        params["temperature"] = 0
    if pctx.capabilities.seed:
        params["seed"] = 1234
    if pctx.capabilities.max_tokens:
        params["max_tokens"] = 40
    params.update(extra)
    return params


@probe("chat", priority=0)
def chat_probe(pctx: ProbeContext) -> ProbeRequest:
    """A short non-streamed completion of a one-turn conversation."""
    return ProbeRequest(messages=pctx.messages(), params=base_params(pctx))


@probe("stream", dialects={Dialect.OPENAI}, requires="streaming", priority=1)
def stream_probe(pctx: ProbeContext) -> ProbeRequest:
    """The same completion streamed as server-sent events, without usage reporting."""
    return ProbeRequest(messages=pctx.messages(), params=base_params(pctx, stream=True))


@probe("stream_usage", dialects={Dialect.OPENAI}, requires="stream_usage", priority=2)
def stream_usage_probe(pctx: ProbeContext) -> ProbeRequest:
    """A streamed completion that asks for a final usage chunk (stream_options.include_usage)."""
    params = base_params(pctx, stream=True, stream_options={"include_usage": True})
    return ProbeRequest(messages=pctx.messages(), params=params)
