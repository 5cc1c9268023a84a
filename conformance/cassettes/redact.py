"""Removing API keys from exchanges before anything is written to disk.

A :class:`Redactor` knows the secrets of a run (the API key read from the environment,
and any other value the caller names). It removes them from every place an exchange
can carry them:

- credential headers (``Authorization``, ``Proxy-Authorization``, ``X-API-Key``,
  ``API-Key``, cookies) of requests and responses: the scheme word is kept and the
  credential becomes ``<API_KEY>`` when it is the run's key, ``<REDACTED>`` otherwise
  (so a probe that sends a deliberately wrong key stays distinguishable from one that
  sends the real key, without either being written);
- credential query parameters (``key``, ``api_key``, ``token``...) of URLs;
- every occurrence of a secret anywhere else: URLs, header values, request and response
  bodies, stream chunks (a secret split across two chunks merges those chunks), error
  messages and annotations. The raw, URL-encoded and JSON-escaped spellings are all
  replaced.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit, urlunsplit

from conformance.wire.exchange import Exchange, ExchangeError, RecordedRequest

#: what the run's own key is replaced with
API_KEY = "<API_KEY>"
#: what any other credential is replaced with
REDACTED = "<REDACTED>"

#: headers whose whole value is a credential (names lower-case)
CREDENTIAL_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "api-key",
        "x-goog-api-key",
        "cookie",
        "set-cookie",
    }
)

#: query parameters whose value is a credential (names lower-case)
CREDENTIAL_PARAMS = frozenset(
    {"key", "api_key", "apikey", "api-key", "access_token", "token", "auth", "secret", "password"}
)

#: secrets shorter than this are only removed from credential headers and parameters,
#: never by substring search (a one-letter "key" would otherwise eat every such letter)
MIN_SECRET_LENGTH = 6

#: scheme words kept in front of a redacted credential (lower-case)
AUTH_SCHEMES = frozenset({"bearer", "token", "basic", "key", "apikey", "api-key"})


class Redactor:
    """Removes a run's secrets from exchanges, text and bytes."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self.secrets: tuple[str, ...] = tuple(
            sorted({s for s in secrets if s}, key=len, reverse=True)
        )
        pairs: list[tuple[bytes, bytes]] = []
        for secret in self.secrets:
            if len(secret) < MIN_SECRET_LENGTH:
                continue
            spellings = {
                secret,
                quote(secret, safe=""),
                quote_plus(secret, safe=""),
                json.dumps(secret)[1:-1],
                json.dumps(secret, ensure_ascii=False)[1:-1],
            }
            for spelling in sorted(spellings, key=len, reverse=True):
                pairs.append((spelling.encode("utf-8"), API_KEY.encode("ascii")))
        self._pairs = pairs

    # -- primitives -------------------------------------------------------------------

    def data(self, data: bytes) -> bytes:
        """``data`` with every spelling of every secret replaced."""
        for needle, placeholder in self._pairs:
            if needle in data:
                data = data.replace(needle, placeholder)
        return data

    def text(self, text: str) -> str:
        """``text`` with every spelling of every secret replaced."""
        return self.data(text.encode("utf-8", "surrogatepass")).decode("utf-8", "surrogatepass")

    def leaks(self, data: bytes) -> list[str]:
        """Which secrets still occur in ``data`` (for a last check before writing).

        Only the first four characters of a leaked secret are named.
        """
        found = []
        for secret in self.secrets:
            if len(secret) >= MIN_SECRET_LENGTH and secret.encode("utf-8") in data:
                found.append(secret[:4] + "...")
        return found

    def credential(self, value: str) -> str:
        """A credential header value with its secret part replaced, the scheme kept."""
        scheme, sep, rest = value.strip().partition(" ")
        if sep and scheme.lower() in AUTH_SCHEMES:
            token = rest.strip()
            if not token:
                return value
            return f"{scheme} {self._token_placeholder(token)}"
        if not value.strip() or (not sep and scheme.lower() in AUTH_SCHEMES):
            return value  # nothing but a scheme word: no credential to hide
        return self._token_placeholder(value.strip())

    def _token_placeholder(self, token: str) -> str:
        if token in (API_KEY, REDACTED):
            return token
        return API_KEY if token in self.secrets else REDACTED

    def headers(self, headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        """Headers with credentials replaced and secrets removed from other values."""
        out = []
        for name, value in headers:
            if name.lower() in CREDENTIAL_HEADERS:
                out.append((name, self.credential(value)))
            else:
                out.append((name, self.text(value)))
        return out

    def url(self, url: str) -> str:
        """A URL with credential query parameters and secrets replaced."""
        parts = urlsplit(url)
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            if any(k.lower() in CREDENTIAL_PARAMS for k, _ in pairs):
                query = urlencode(
                    [
                        (k, self._token_placeholder(v) if k.lower() in CREDENTIAL_PARAMS else v)
                        for k, v in pairs
                    ],
                    safe="<>",
                )
        netloc = parts.netloc
        if "@" in netloc:  # user:password@host
            netloc = REDACTED + "@" + netloc.rsplit("@", 1)[1]
        return self.text(urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)))

    def chunks(self, chunks: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
        """Stream chunks with secrets replaced.

        A secret that arrived split across chunks is found in the joined bytes; the chunks
        it spans are merged into one (timed at the last of them) before replacing it.
        """
        if not self._pairs or not chunks:
            return list(chunks)
        joined = b"".join(c for _, c in chunks)
        spans: list[tuple[int, int]] = []
        for needle, _ in self._pairs:
            start = joined.find(needle)
            while start != -1:
                spans.append((start, start + len(needle)))
                start = joined.find(needle, start + 1)
        if not spans:
            return list(chunks)
        # chunk i covers [bounds[i], bounds[i + 1])
        bounds = [0]
        for _, c in chunks:
            bounds.append(bounds[-1] + len(c))
        merge_with_next = [False] * len(chunks)
        for start, end in spans:
            for i in range(len(chunks) - 1):
                if start < bounds[i + 1] < end:
                    merge_with_next[i] = True
        merged: list[tuple[int, bytes]] = []
        pending = b""
        for i, (t, c) in enumerate(chunks):
            pending += c
            if not merge_with_next[i]:
                merged.append((t, self.data(pending)))
                pending = b""
        return merged

    def value(self, value: Any) -> Any:
        """A JSON-like value (annotations) with secrets removed from every string."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.value(k): self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        return value

    # -- exchanges --------------------------------------------------------------------

    def request(self, request: RecordedRequest) -> RecordedRequest:
        """A recorded request with its credentials and secrets removed."""
        return RecordedRequest(
            method=request.method,
            url=self.url(request.url),
            headers=self.headers(request.headers),
            body=self.data(request.body),
        )

    def exchange(self, exchange: Exchange) -> Exchange:
        """A copy of ``exchange`` with every secret removed (events are left out)."""
        chunks = self.chunks(exchange.chunks)
        body = self.data(exchange.body)
        error = exchange.error
        if error is not None:
            error = ExchangeError(error.kind, self.text(error.message), error.after_s)
        return replace(
            exchange,
            request=self.request(exchange.request),
            headers=self.headers(exchange.headers),
            body=body,
            chunks=chunks,
            events=None if exchange.events is None else [],
            error=error,
            meta=self.value(exchange.meta),
        )
