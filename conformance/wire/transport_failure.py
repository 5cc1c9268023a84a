"""What an exception raised while sending a request or reading its answer means.

:func:`classify_failure` maps an exception (from httpx, from the total timeout, or from
the harness running out of memory or stack) to the :class:`ErrorKind` recorded in
``Exchange.error`` and a message that says what to fix. It is a pure function of the
exception and of where the exchange stood (:class:`FailurePoint`); the wire client adds
the time and redacts the message.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from conformance.wire.exchange import ErrorKind

__all__ = ["HEAD_LIMIT", "FailurePoint", "classify_failure"]

#: what h11 says when the response head outgrows its buffer, and httpcore's limit
_HEAD_TOO_LONG = "Receive buffer too long"
HEAD_LIMIT = 100 * 1024


@dataclass(frozen=True, slots=True)
class FailurePoint:
    """Where an exchange stood when an exception ended it, and the limits it ran under."""

    #: ``host:port`` of the first request (for connection failures)
    host: str
    #: the request URL, redacted (for a URL the client cannot send to)
    url: str
    #: the status line and headers had arrived
    headers_received: bool
    #: body bytes kept so far
    body_bytes: int
    total_timeout: float
    connect_timeout: float
    read_timeout: float

    @property
    def phase(self) -> str:
        """How far the answer had come, in words."""
        if not self.headers_received:
            return "waiting for the response headers"
        return f"after {self.body_bytes} body bytes"


def _why(exc: BaseException) -> str:
    """The exception's own words, or its type when it has none (``ReadError()``)."""
    return str(exc) or type(exc).__name__


def classify_failure(exc: BaseException, at: FailurePoint) -> tuple[ErrorKind, str]:
    """The error kind and the message for ``exc``, raised at ``at``.

    A ``TimeoutError`` is the total timeout running out; a connect timeout or a failed
    connection is the target not being reached; a protocol or read error is a response
    head over the client's limit, a body cut short (once the headers were in) or a
    connection closed without a valid response (before them). Anything else, the harness
    running out of memory or stack included, is :attr:`ErrorKind.OTHER`.
    """
    if isinstance(exc, TimeoutError):
        return (
            ErrorKind.TOTAL_TIMEOUT,
            f"the exchange took longer than the total timeout of {at.total_timeout:g} s "
            f"({at.phase}); the server is hanging or too slow, "
            "raise --timeout if it is just slow",
        )
    if isinstance(exc, httpx.ConnectTimeout):
        return (
            ErrorKind.CONNECT_TIMEOUT,
            f"no connection to {at.host} within {at.connect_timeout:g} s; "
            "check --base-url and the network",
        )
    if isinstance(exc, httpx.ReadTimeout):
        return (
            ErrorKind.READ_TIMEOUT,
            f"no data for {at.read_timeout:g} s ({at.phase}); the server stopped answering",
        )
    if isinstance(exc, httpx.ConnectError):
        return (
            ErrorKind.CONNECT,
            f"could not connect to {at.host} ({_why(exc)}); "
            "check that the server is running and that --base-url is right",
        )
    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.InvalidURL)):
        return (
            ErrorKind.CONNECT,
            f"cannot send to {at.url:.200} ({_why(exc)}); --base-url must be an http:// or https:// URL",
        )
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
        if _HEAD_TOO_LONG in str(exc):
            return (
                ErrorKind.TOO_LARGE,
                f"the response head (status line and headers) exceeded the HTTP client's "
                f"limit of {HEAD_LIMIT // 1024} KiB ({_why(exc)}); clients refuse such a response",
            )
        if at.headers_received:
            return (
                ErrorKind.TRUNCATED,
                f"the connection closed before the body was complete, after "
                f"{at.body_bytes} bytes ({_why(exc)})",
            )
        return (
            ErrorKind.PROTOCOL,
            f"the server closed the connection without a valid response ({_why(exc)})",
        )
    if isinstance(exc, (httpx.DecodingError, httpx.LocalProtocolError)):
        return ErrorKind.PROTOCOL, f"the server broke HTTP: {_why(exc)}"
    if isinstance(exc, (MemoryError, RecursionError)):
        # what a hostile answer could still exhaust; judged like any unexpected error
        return ErrorKind.OTHER, f"reading the response exhausted the harness: {exc!r}"
    return ErrorKind.OTHER, f"{type(exc).__name__}: {exc}"
