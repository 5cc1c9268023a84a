"""Which faults trip the robustness checks against hostile answers: compression that the
client did not accept, compression bombs, JSON nested too deep, redirects, unforeseen
transport errors.

The same cases, over a real socket and in a child process, are in tests/test_hostile.py.
"""

from __future__ import annotations

import gzip

import httpx

from selftest import MockFault

_OAI = "openai"
_WC = "wetrocloud"

#: decodes to more than the wire client's 16 MiB cap (the mock itself holds it once)
_BOMB = gzip.compress(gzip.compress(b"\0" * (20 * 1024 * 1024), 9), 9)


def _zstd(
    request: httpx.Request, status: int, headers: list[tuple[str, str]], body: bytes
) -> tuple[int, list[tuple[str, str]], bytes]:
    """The body labelled ``Content-Encoding: zstd``, which the request did not accept."""
    return status, [*headers, ("Content-Encoding", "zstd")], body


def _bomb(
    request: httpx.Request, status: int, headers: list[tuple[str, str]], body: bytes
) -> tuple[int, list[tuple[str, str]], bytes]:
    """20 MiB of zeros, gzipped twice (about 20 KB on the wire)."""
    return status, [*headers, ("Content-Encoding", "gzip, gzip")], _BOMB


def _deep(
    request: httpx.Request, status: int, headers: list[tuple[str, str]], body: bytes
) -> tuple[int, list[tuple[str, str]], bytes]:
    """A valid JSON answer with one extra member nested 1,100 levels deep."""
    if not body.startswith(b"{"):
        return status, headers, body
    return status, headers, b'{"x_nested":' + b"[" * 1100 + b"]" * 1100 + b"," + body[1:]


def _redirect(
    request: httpx.Request, status: int, headers: list[tuple[str, str]], body: bytes
) -> tuple[int, list[tuple[str, str]], bytes]:
    """Every request answered 307 to the same URL with a trailing slash."""
    return 307, [("Location", str(request.url.copy_with(path=request.url.path + "/")))], b""


def _unforeseen(
    request: httpx.Request, status: int, headers: list[tuple[str, str]], body: bytes
) -> tuple[int, list[tuple[str, str]], bytes]:
    """The transport fails with an error no other check explains."""
    raise ValueError("invalid chunk size line in the response (simulated)")


MOCKS: dict[str, MockFault] = {
    mock.name: mock
    for mock in (
        MockFault("mock:zstd_unrequested", _OAI, "Content-Encoding zstd, not accepted", _zstd),
        MockFault("mock:wc_zstd_unrequested", _WC, "Content-Encoding zstd, not accepted", _zstd),
        MockFault("mock:gzip_bomb", _OAI, "gzip, gzip of 20 MiB of zeros", _bomb),
        MockFault("mock:deep_json", _OAI, "JSON nested 1,100 levels deep", _deep),
        MockFault("mock:wc_deep_json", _WC, "JSON nested 1,100 levels deep", _deep),
        MockFault("mock:redirect_307", _OAI, "every request redirected (307)", _redirect),
        MockFault("mock:wc_redirect_307", _WC, "every request redirected (307)", _redirect),
        MockFault("mock:unforeseen_error", _OAI, "an unforeseen transport error", _unforeseen),
    )
}

TRIPS: dict[str, list[str]] = {
    "robustness.content_encoding": ["mock:zstd_unrequested", "mock:wc_zstd_unrequested"],
    "robustness.body_size": ["mock:gzip_bomb"],
    "robustness.json_depth": ["mock:deep_json", "mock:wc_deep_json"],
    "robustness.no_redirect": ["mock:redirect_307", "mock:wc_redirect_307"],
    "robustness.transport_error": ["mock:unforeseen_error"],
}
