"""Tell a wrong command line from a non-conforming target, from the run's first request.

The first request of a run is the plain valid one (probe ``chat``). When the target
answers it 401/403 (the key), or 404/405 (the base URL, the endpoint or the model), every
other probe would be refused the same way and the run would report dozens of results
that all say "fix your configuration". :func:`diagnose` turns such an answer into one
line that says what to fix; the engine raises it as :class:`TargetMisconfigured`
(exit 2) before the other probes are sent.

It stays quiet for everything else: a 5xx, a malformed body, a 400 or a 429 are the
target's behaviour, judged by the checks. Two cheap confirmations keep it from blaming
the user for the server's fault:

- a 401/403 while a key was sent is retried once with the other auth scheme (``Bearer``
  or ``Token``): a server that accepts the key under the scheme its provider does not
  document is non-conforming (``wetrocloud.token_scheme`` judges it), not misconfigured;
- a 404/405 on an OpenAI-style base URL without ``/v1`` is retried once under ``/v1``:
  when the endpoint is there (any answer but 404/405), the line says to use it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx

from conformance.checks.registry import USE_DEFAULT_KEY, ProbeRequest
from conformance.engine._build import build_request
from conformance.errors import ConfigError
from conformance.providers.base import Dialect, Provider
from conformance.results import scrub
from conformance.wire.exchange import Exchange

__all__ = ["CONFIG_STATUSES", "TargetMisconfigured", "diagnose", "is_plain"]

#: answers to the plain valid request that mean the command line is wrong
CONFIG_STATUSES = frozenset({401, 403, 404, 405})
_SCHEMES = ("Bearer", "Token")

Send = Callable[[httpx.Request], Awaitable[Exchange]]


class TargetMisconfigured(ConfigError):
    """The plain first request was refused in a way that means the configuration is wrong
    (the key, the base URL or the model), not that the target breaks its protocol."""


def is_plain(preq: ProbeRequest) -> bool:
    """A request built by the profile as is: the run's key, no override of URL, method,
    headers or body. Only such a request's refusal says something about the setup."""
    return (
        preq.api_key is USE_DEFAULT_KEY
        and preq.body is None
        and preq.path is None
        and preq.method is None
        and preq.content_type is None
        and not preq.headers
    )


def _server_says(provider: Provider, ex: Exchange, secrets: list[str]) -> str:
    """The target's own error message, short and with the key masked ('' if none)."""
    try:
        message = provider.decode_error(ex.status or 0, ex.body or b"").message or ""
    except Exception:
        message = ""
    message = " ".join(str(scrub(message, secrets)).split())[:120]
    return f' (the server says: "{message}")' if message else ""


async def diagnose(
    provider: Provider,
    preq: ProbeRequest,
    first: Exchange,
    send: Send,
    *,
    api_key: str | None,
    key_variable: str | None,
    notes: list[str],
) -> str | None:
    """The line that says what to fix, or ``None`` when ``first`` is the target's own
    behaviour (to be judged by the checks). ``send`` sends one extra request when a
    confirmation is worth it (see the module docstring); what a confirmation showed
    without being a configuration problem is added to ``notes``."""
    status = first.status
    if first.error is not None or status not in CONFIG_STATUSES or not is_plain(preq):
        return None
    secrets = [api_key] if api_key else []
    url = provider.url
    says = _server_says(provider, first, secrets)
    var = key_variable or type(provider).api_key_env
    if status in (401, 403):
        if api_key is None:
            return (
                f"the plain request to {url} was answered HTTP {status} and no key was sent: "
                f"export the key as ${var}, or name its variable with --api-key-env{says}"
            )
        other = await _other_scheme_accepted(provider, preq, api_key, send)
        if other is not None:
            notes.append(
                f"the key was refused with HTTP {status} under the documented "
                f"'{type(provider).auth_scheme}' scheme but accepted under '{other}': "
                "the target, not the key, is judged"
            )
            return None
        return (
            f"the plain request to {url} was answered HTTP {status}: the key in ${var} was "
            f"refused; check that it is valid for this base URL and model{says}"
        )
    base = provider.base_url.partition("?")[0].rstrip("/")
    if provider.dialect is Dialect.OPENAI and "/v1" not in httpx.URL(base).path:
        there = await _status_under_v1(provider, preq, api_key, send)
        if there is not None:
            return (
                f"the plain request to {url} was answered HTTP {status}, and {base}/v1 "
                f"answers it (HTTP {there}): use --base-url {base}/v1"
            )
        also = f" (OpenAI-compatible servers usually serve under /v1: try {base}/v1)"
        return (
            f"the plain request to {url} was answered HTTP {status}: "
            f"check --base-url{also} and --model{says}"
        )
    return (
        f"the plain request to {url} was answered HTTP {status}: check --base-url "
        f"(the endpoint is {type(provider).endpoint}) and --model{says}"
    )


async def _other_scheme_accepted(
    provider: Provider, preq: ProbeRequest, api_key: str, send: Send
) -> str | None:
    """The auth scheme, other than the profile's, under which the key is accepted."""
    header = type(provider).auth_header
    for scheme in _SCHEMES:
        if scheme.lower() == type(provider).auth_scheme.lower():
            continue
        request = build_request(provider, preq, api_key)
        request.headers[header] = f"{scheme} {api_key}"
        ex = await send(request)
        if ex.error is None and ex.status is not None and 200 <= ex.status < 300:
            return scheme
    return None


async def _status_under_v1(
    provider: Provider, preq: ProbeRequest, api_key: str | None, send: Send
) -> int | None:
    """The status the same request gets with ``/v1`` appended to the base URL, when the
    endpoint is there (any answer but 404/405: a 401 there still proves the path)."""
    path, sep, query = provider.base_url.partition("?")
    moved = type(provider)(base_url=path.rstrip("/") + "/v1" + sep + query, model=provider.model)
    moved.length_param = provider.length_param
    ex = await send(build_request(moved, preq, api_key))
    if ex.error is not None or ex.status is None or ex.status in (404, 405):
        return None
    return ex.status
