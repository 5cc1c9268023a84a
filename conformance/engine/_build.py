"""Turn a :class:`ProbeRequest` into the ``httpx.Request`` that goes on the wire."""

from __future__ import annotations

import httpx

from conformance.checks.registry import USE_DEFAULT_KEY, ProbeRequest
from conformance.providers.base import Provider

__all__ = ["build_request", "key_for"]


def key_for(preq: ProbeRequest, default_key: str | None) -> str | None:
    """The API key this request is to carry (``None``: no credentials at all)."""
    if preq.api_key is USE_DEFAULT_KEY:
        return default_key
    return preq.api_key if isinstance(preq.api_key, str) else None


def build_request(provider: Provider, preq: ProbeRequest, default_key: str | None) -> httpx.Request:
    """Encode ``preq`` with the profile, then apply its overrides.

    Overrides, in order: URL (``path``), method, headers (``None`` removes), raw body,
    Content-Type. ``Content-Length`` always matches the body that is sent.
    """
    key = key_for(preq, default_key)
    encoded = provider.encode(preq.messages, dict(preq.params), api_key=key)
    content = encoded.read()

    url: str | httpx.URL = encoded.url
    if preq.path:
        if preq.path.startswith(("http://", "https://")):
            url = preq.path
        else:
            url = provider.base_url + "/" + preq.path.lstrip("/")
    method = (preq.method or encoded.method).upper()

    headers = httpx.Headers(encoded.headers)
    for name, value in preq.headers.items():
        if value is None:
            headers.pop(name, None)
        else:
            headers[name] = value
    if preq.body is not None:
        content = preq.body
    elif method in ("GET", "HEAD", "DELETE") and preq.method is not None:
        content = b""
        headers.pop("content-type", None)
    if preq.content_type is not None:
        headers["content-type"] = preq.content_type
    headers.pop("transfer-encoding", None)
    if content or method not in ("GET", "HEAD"):
        headers["content-length"] = str(len(content))
    else:
        headers.pop("content-length", None)
    return httpx.Request(method, url, headers=headers, content=content)
