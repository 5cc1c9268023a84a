"""What an exception during an exchange is recorded as: kind and message, without a network."""

from __future__ import annotations

import dataclasses

import httpx
import pytest

from conformance.wire.exchange import ErrorKind
from conformance.wire.transport_failure import HEAD_LIMIT, FailurePoint, classify_failure

BEFORE = FailurePoint(
    host="target.example:443",
    url="https://target.example/v1/chat/completions",
    headers_received=False,
    body_bytes=0,
    total_timeout=30.0,
    connect_timeout=10.0,
    read_timeout=20.0,
)
AFTER = dataclasses.replace(BEFORE, headers_received=True, body_bytes=1234)


@pytest.mark.parametrize(
    ("exc", "at", "kind", "says"),
    [
        (TimeoutError(), BEFORE, ErrorKind.TOTAL_TIMEOUT, "waiting for the response headers"),
        (TimeoutError(), AFTER, ErrorKind.TOTAL_TIMEOUT, "after 1234 body bytes"),
        (httpx.ConnectTimeout("slow"), BEFORE, ErrorKind.CONNECT_TIMEOUT, "target.example:443"),
        (httpx.ReadTimeout("slow"), BEFORE, ErrorKind.READ_TIMEOUT, "no data for 20 s"),
        (httpx.ReadTimeout("slow"), AFTER, ErrorKind.READ_TIMEOUT, "after 1234 body bytes"),
        (httpx.ConnectError("refused"), BEFORE, ErrorKind.CONNECT, "(refused)"),
        (httpx.UnsupportedProtocol("ftp"), BEFORE, ErrorKind.CONNECT, "--base-url must be"),
        (httpx.InvalidURL("bad"), BEFORE, ErrorKind.CONNECT, "cannot send to https://target"),
        (
            httpx.RemoteProtocolError("Receive buffer too long"),
            BEFORE,
            ErrorKind.TOO_LARGE,
            f"{HEAD_LIMIT // 1024} KiB",
        ),
        (
            httpx.ReadError("Receive buffer too long"),
            AFTER,
            ErrorKind.TOO_LARGE,
            "response head",
        ),
        (httpx.RemoteProtocolError("gone"), BEFORE, ErrorKind.PROTOCOL, "without a valid"),
        (httpx.RemoteProtocolError("cut"), AFTER, ErrorKind.TRUNCATED, "after 1234 bytes"),
        (httpx.ReadError("reset"), BEFORE, ErrorKind.PROTOCOL, "(reset)"),
        (httpx.ReadError("reset"), AFTER, ErrorKind.TRUNCATED, "before the body was complete"),
        (httpx.DecodingError("bad gzip"), AFTER, ErrorKind.PROTOCOL, "broke HTTP: bad gzip"),
        (httpx.LocalProtocolError("bad"), BEFORE, ErrorKind.PROTOCOL, "broke HTTP"),
        (httpx.WriteTimeout("slow write"), BEFORE, ErrorKind.OTHER, "WriteTimeout: slow write"),
        (httpx.PoolTimeout("busy"), BEFORE, ErrorKind.OTHER, "PoolTimeout: busy"),
        (MemoryError(), AFTER, ErrorKind.OTHER, "exhausted the harness: MemoryError()"),
        (RecursionError("deep"), AFTER, ErrorKind.OTHER, "exhausted the harness"),
        (ValueError("odd"), BEFORE, ErrorKind.OTHER, "ValueError: odd"),
    ],
)
def test_each_exception_has_its_kind_and_says_where(
    exc: BaseException, at: FailurePoint, kind: ErrorKind, says: str
) -> None:
    got, message = classify_failure(exc, at)
    assert got is kind
    assert says in message


def test_timeouts_name_the_limit_that_ran_out() -> None:
    assert "total timeout of 30 s" in classify_failure(TimeoutError(), BEFORE)[1]
    assert "within 10 s" in classify_failure(httpx.ConnectTimeout("x"), BEFORE)[1]
    assert "--timeout" in classify_failure(TimeoutError(), AFTER)[1]


def test_a_long_url_is_cut_in_the_message() -> None:
    at = dataclasses.replace(BEFORE, url="https://t/" + "x" * 1000)
    _, message = classify_failure(httpx.InvalidURL("bad"), at)
    assert "x" * 190 in message and "x" * 201 not in message


def test_an_exception_without_words_is_named_by_its_type() -> None:
    """httpx raises ReadError() with no message when a peer resets: the evidence says so."""
    at = FailurePoint(
        url="http://127.0.0.1:1/v1/chat/completions",
        host="127.0.0.1:1",
        total_timeout=5.0,
        connect_timeout=1.0,
        read_timeout=1.0,
        headers_received=True,
        body_bytes=10,
    )
    _, message = classify_failure(httpx.ReadError(""), at)
    assert "(ReadError)" in message
    assert "()" not in message
