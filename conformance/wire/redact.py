"""Removing API keys from everything an exchange records.

A :class:`Redactor` is built from the secrets in play (the API key of the request and
any others the caller names). It replaces every occurrence with ``<redacted>`` in
header values, URLs and bodies, in the raw, percent-encoded and JSON-escaped spellings.
Credential headers (``Authorization``, ``X-Api-Key``, ...) lose their credential even
when no secret was named, keeping only the scheme (``Bearer <redacted>``), so a key
that reaches the wire without being declared still never reaches a record.

Secrets shorter than :data:`MIN_SECRET_LEN` characters are redacted in credential
headers only: replacing a 3-letter "key" everywhere would corrupt the body it is
compared against, and such a string is not a usable secret.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from urllib.parse import quote

import httpx

__all__ = ["MIN_SECRET_LEN", "REDACTED", "Redactor"]

REDACTED = "<redacted>"
_REDACTED_B = REDACTED.encode("ascii")
MIN_SECRET_LEN = 6

#: headers whose value is a credential, redacted whatever the secrets are
SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "x-api-key", "api-key", "x-goog-api-key"}
)
#: query parameters whose value is a credential
SECRET_QUERY_PARAMS = frozenset(
    {"api_key", "api-key", "apikey", "key", "token", "access_token", "x-api-key"}
)
_SCHEMES = frozenset({"bearer", "token", "basic", "apikey", "api-key", "key"})


class Redactor:
    """Replaces the given secrets (and credential header values) with ``<redacted>``."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        variants: set[str] = set()
        for secret in secrets:
            if not secret or len(secret) < MIN_SECRET_LEN:
                continue
            variants.add(secret)
            variants.add(quote(secret, safe=""))
            variants.add(json.dumps(secret, ensure_ascii=True)[1:-1])
            variants.add(json.dumps(secret, ensure_ascii=False)[1:-1])
        # longest first, so a variant that contains another is replaced whole
        self._text = sorted(variants, key=len, reverse=True)
        self._bytes = [v.encode("utf-8") for v in self._text]

    def __bool__(self) -> bool:
        return bool(self._text)

    @property
    def needles(self) -> list[bytes]:
        """The byte strings that are replaced, longest first."""
        return list(self._bytes)

    def text(self, value: str) -> str:
        for secret in self._text:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value

    def data(self, value: bytes) -> bytes:
        for secret in self._bytes:
            if secret in value:
                value = value.replace(secret, _REDACTED_B)
        return value

    def header(self, name: str, value: str) -> str:
        """A header value with its credential removed."""
        if name.lower() in SECRET_HEADERS:
            scheme, sep, credential = value.strip().partition(" ")
            if sep and scheme.lower() in _SCHEMES:
                return f"{scheme} {REDACTED}" if credential.strip() else value
            if not sep and scheme.lower() in _SCHEMES:
                return value  # a scheme with no credential at all: nothing to hide
            return REDACTED if value else value
        return self.text(value)

    def url(self, url: str) -> str:
        """``url`` without secrets, userinfo passwords or credential query parameters."""
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError, ValueError):
            return self.text(url)
        if parsed.password:
            parsed = parsed.copy_with(username=parsed.username, password=REDACTED)
        if parsed.query:
            params = [
                (k, REDACTED if k.lower() in SECRET_QUERY_PARAMS and v else v)
                for k, v in parsed.params.multi_items()
            ]
            parsed = parsed.copy_with(params=params)
        # the URL encoder percent-encodes "<redacted>"; show it plainly
        text = str(parsed).replace(quote(REDACTED, safe=""), REDACTED)
        return self.text(text)

    def chunks(self, chunks: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
        """Redact a chunked body, including secrets split across chunk boundaries.

        The marker goes into the chunk where the secret began; the secret's bytes in
        later chunks are dropped. Timestamps are kept.
        """
        if not self._bytes or not chunks:
            return chunks
        joined = b"".join(c for _, c in chunks)
        spans: list[tuple[int, int]] = []
        for needle in self._bytes:
            start = joined.find(needle)
            while start != -1:
                spans.append((start, start + len(needle)))
                start = joined.find(needle, start + len(needle))
        if not spans:
            return chunks
        spans.sort()
        merged: list[tuple[int, int]] = []
        for s, e in spans:
            if merged and s <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], e))
            else:
                merged.append((s, e))
        out: list[tuple[int, bytes]] = []
        pos = 0
        for t, chunk in chunks:
            c_start, c_end = pos, pos + len(chunk)
            pos = c_end
            pieces: list[bytes] = []
            cur = c_start
            for s, e in merged:
                if e <= cur or s >= c_end:
                    continue
                if s > cur:
                    pieces.append(joined[cur:s])
                if s >= c_start:
                    pieces.append(_REDACTED_B)
                cur = min(e, c_end)
            if cur < c_end:
                pieces.append(joined[cur:c_end])
            out.append((t, b"".join(pieces)))
        return out
