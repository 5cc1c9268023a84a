"""Removing API keys from everything an exchange records.

A :class:`Redactor` is built from the secrets in play (the API key of the request and
any others the caller names). It is the :class:`conformance.secrets.Scrubber` with the
records' placeholder ``<redacted>``: every spelling of a secret in header values, URLs,
bodies and chunks is replaced, and credential headers (``Authorization``,
``X-Api-Key``, ...) lose their credential even when no secret was named, keeping only
the scheme (``Bearer <redacted>``), so a key that reaches the wire without being
declared still never reaches a record. The rules themselves (header and parameter
names, the minimum length, the spellings) live in :mod:`conformance.secrets`.
"""

from __future__ import annotations

from collections.abc import Iterable

from conformance.secrets import MIN_SECRET_LENGTH, REDACTED, Scrubber

__all__ = ["MIN_SECRET_LENGTH", "REDACTED", "Redactor"]


class Redactor(Scrubber):
    """Replaces the given secrets (and credential header values) with ``<redacted>``."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        super().__init__(secrets, REDACTED)
