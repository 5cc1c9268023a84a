"""Requests prepared once per run from a provider profile (the one source of encoding).

Every request a load run sends is built by the profile's :meth:`Provider.encode`; the
method, URL, headers and body are taken from it as they are. Encoding happens once per
prompt before the run starts, so the load path only writes prepared bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from conformance.errors import ConfigError
from conformance.providers import Dialect, Provider, get_provider

__all__ = ["PreparedRequest", "Target", "request_params"]


@dataclass(frozen=True, slots=True)
class PreparedRequest:
    """One encoded request: what goes on the wire (the key, if any, is in ``headers``)."""

    method: str
    url: str
    #: the request target in origin form (path and query)
    path: str
    headers: dict[str, str]
    body: bytes

    def __repr__(self) -> str:  # never show headers: they may hold the key
        return f"<PreparedRequest {self.method} {self.path} {len(self.body)} bytes>"


def request_params(
    provider: Provider, *, stream: bool, max_tokens: int, stream_usage: bool | None = None
) -> dict[str, Any]:
    """The Chat Completions parameters of a load request for ``provider``.

    The profile's capabilities decide, as they do for the checks and the encoding suite:
    ``stream_options.include_usage`` is sent only to a provider whose document lists it,
    unless the user asks (``stream_usage`` True sends it anyway, False never; ``None``
    follows the profile). Elsewhere a streamed request asks for nothing extra; the output
    tokens come from a usage object if the server sends one anyway, else from the
    streamed text (the run then reports ``usage_fallback``).
    """
    if provider.dialect is not Dialect.OPENAI:
        return {"max_tokens": max_tokens}  # the profile drops what its dialect cannot send
    params: dict[str, Any] = {"max_tokens": max_tokens}
    if stream:
        params["stream"] = True
        asked = provider.capabilities.stream_usage if stream_usage is None else stream_usage
        if asked:
            params["stream_options"] = {"include_usage": True}
    return params


class Target:
    """A provider profile aimed at a base URL, with its prepared requests."""

    def __init__(
        self,
        provider_name: str,
        base_url: str,
        *,
        model: str | None,
        stream: bool,
        max_tokens: int,
        conversations: Sequence[Sequence[dict[str, Any]]],
        api_key: str | None,
        length_param: str = "max_tokens",
        stream_usage: bool | None = None,
    ) -> None:
        self.provider = get_provider(provider_name, base_url=base_url, model=model)
        self.provider.length_param = length_param
        if stream and not self.provider.capabilities.streaming:
            raise ConfigError(
                f"{self.provider.name} does not stream: use --no-stream (or a non-streamed user)"
            )
        self.stream = stream
        #: the entry name in Locust's statistics, e.g. ``openai chat stream``
        self.name = f"{self.provider.name} {'stream' if stream else 'no-stream'}"
        params = request_params(
            self.provider, stream=stream, max_tokens=max_tokens, stream_usage=stream_usage
        )
        self.requests: list[PreparedRequest] = []
        for messages in conversations:
            req = self.provider.encode(list(messages), params, api_key=api_key)
            raw_path = req.url.raw_path.decode("ascii")
            self.requests.append(
                PreparedRequest(
                    method=req.method,
                    url=str(req.url),
                    path=raw_path,
                    headers={k: v for k, v in req.headers.items() if k.lower() != "host"},
                    body=req.content,
                )
            )
        if not self.requests:
            raise ConfigError("no prompts to send")
        self._next = 0
        first = self.requests[0].url
        #: scheme://host[:port] of every request
        self.origin = (
            first[: len(first) - len(self.requests[0].path)]
            if first.endswith(self.requests[0].path)
            else first
        )

    def next_request(self) -> PreparedRequest:
        """The next prepared request (round robin over the prompts)."""
        i = self._next
        self._next = i + 1 if i + 1 < len(self.requests) else 0
        return self.requests[i]
