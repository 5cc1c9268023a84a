"""Removing API keys from exchanges before anything is written to disk.

A :class:`Redactor` knows the secrets of a run (the API key read from the environment,
and any other value the caller names). It is the :class:`conformance.secrets.Scrubber`
with the cassettes' two placeholders, and removes secrets from every place an exchange
can carry them:

- credential headers (:data:`~conformance.secrets.CREDENTIAL_HEADERS`) of requests and
  responses: the scheme word is kept and the credential becomes ``<API_KEY>`` when it is
  the run's key, ``<REDACTED>`` otherwise (so a probe that sends a deliberately wrong key
  stays distinguishable from one that sends the real key, without either being written);
- credential query parameters (:func:`~conformance.secrets.is_credential_param`) of URLs;
- every spelling of a secret anywhere else: URLs, header values, request and response
  bodies, stream chunks (a secret split across two chunks merges those chunks), error
  messages and annotations; they become ``<API_KEY>``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from conformance.secrets import (
    AUTH_SCHEMES,
    CASSETTE_KEY,
    CASSETTE_REDACTED,
    CREDENTIAL_HEADERS,
    CREDENTIAL_PARAMS,
    MIN_SECRET_LENGTH,
    Scrubber,
    credential_value,
    is_credential_param,
)
from conformance.wire.exchange import Exchange, ExchangeError, RecordedRequest

__all__ = [
    "API_KEY",
    "AUTH_SCHEMES",
    "CREDENTIAL_HEADERS",
    "CREDENTIAL_PARAMS",
    "MIN_SECRET_LENGTH",
    "REDACTED",
    "Redactor",
    "is_credential_param",
]

#: what the run's own key is replaced with
API_KEY = CASSETTE_KEY
#: what any other credential is replaced with
REDACTED = CASSETTE_REDACTED


class Redactor(Scrubber):
    """Removes a run's secrets from exchanges, text and bytes."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        named = [s for s in secrets if s]
        super().__init__(named, API_KEY)
        #: every secret named, short ones included: a credential equal to one is the key
        self.named = frozenset(named)

    def for_token(self, token: str) -> str:
        """``<API_KEY>`` for the run's key, ``<REDACTED>`` for any other credential."""
        if token in (API_KEY, REDACTED):
            return token
        return API_KEY if token in self.named else REDACTED

    def credential(self, value: str) -> str:
        """A credential header value with its secret part replaced, the scheme kept."""
        return credential_value(value, self.for_token)

    def chunks(
        self, chunks: list[tuple[int, bytes]], *, merge: bool = True
    ) -> list[tuple[int, bytes]]:
        """Stream chunks with secrets replaced; the chunks a secret spans are merged into
        one, timed at the last of them."""
        return super().chunks(chunks, merge=merge)

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
        error = exchange.error
        if error is not None:
            error = ExchangeError(error.kind, self.text(error.message), error.after_s)
        return replace(
            exchange,
            request=self.request(exchange.request),
            headers=self.headers(exchange.headers),
            body=self.data(exchange.body),
            chunks=self.chunks(exchange.chunks),
            events=None if exchange.events is None else [],
            error=error,
            meta=self.value(exchange.meta),
        )
