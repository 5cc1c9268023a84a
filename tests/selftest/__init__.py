"""The self-test matrix: proof that every check can fail, and does not fail a correct server.

Each family author writes ``tests/selftest/matrix_<author>.py`` with

- ``TRIPS: dict[str, list[str]]``: check id -> the faults that must trip it. A fault is the
  name of a reference-backend fault (:data:`conformance.backend.FAULTS`) or of a
  :class:`MockFault` of the same module;
- optionally ``MOCKS: dict[str, MockFault]``: faults the backend lacks, built by rewriting
  the correct backend's answer in an httpx transport (the broken bytes come from the spec).

``tests/test_selftest_matrix.py`` collects every matrix module, runs each check against
each of its faults (it must fail, or warn when it is warn-only), runs every check against
the correct backend and every valid variant (it must pass or be skipped), and fails when a
registered check has no tripping fault.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

__all__ = [
    "MockFault",
    "Rewrite",
    "RewritingTransport",
    "load_matrices",
    "rewrite_chunks",
    "rewrite_json",
    "sent_body",
    "sse_events",
]

#: (request, status, headers, body) -> (status, headers, body)
Rewrite = Callable[
    [httpx.Request, int, list[tuple[str, str]], bytes], tuple[int, list[tuple[str, str]], bytes]
]


@dataclass(frozen=True, slots=True)
class MockFault:
    """A fault made by rewriting the correct reference backend's answer."""

    name: str
    #: the profile it applies to (``openai``, ``wetrocloud``, ...)
    provider: str
    breaks: str
    rewrite: Rewrite


class RewritingTransport(httpx.AsyncBaseTransport):
    """Serves ``inner``'s answer after ``rewrite`` (bodies are read whole)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, rewrite: Rewrite) -> None:
        self.inner = inner
        self.rewrite = rewrite

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        body = await response.aread()
        await response.aclose()
        headers = [
            (k, v)
            for k, v in response.headers.multi_items()
            if k.lower() not in ("content-length", "transfer-encoding", "content-encoding")
        ]
        status, headers, body = self.rewrite(request, response.status_code, headers, body)
        return httpx.Response(status, headers=headers, content=body)


def _is_stream(headers: list[tuple[str, str]]) -> bool:
    return any(k.lower() == "content-type" and "event-stream" in v for k, v in headers)


def rewrite_json(fn: Callable[[dict[str, Any]], Any]) -> Rewrite:
    """Apply ``fn`` (mutating in place, or returning a replacement) to 2xx JSON bodies."""

    def rewrite(
        request: httpx.Request, status: int, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        if _is_stream(headers) or not 200 <= status < 300:
            return status, headers, body
        data = json.loads(body)
        result = fn(data)
        return status, headers, json.dumps(data if result is None else result).encode()

    return rewrite


def sent_body(request: httpx.Request) -> dict[str, Any]:
    """The JSON object a request carries (``{}`` when it carries none)."""
    try:
        body = json.loads(request.content)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def sse_events(body: bytes) -> list[str]:
    """The ``data`` of each event of an LF-framed stream."""
    out = []
    for block in body.decode().split("\n\n"):
        if block.startswith("data: "):
            out.append(block[len("data: ") :])
    return out


def rewrite_chunks(fn: Callable[[list[str]], list[str]]) -> Rewrite:
    """Rebuild 2xx event streams from ``fn(list of event data)`` (``[DONE]`` included)."""

    def rewrite(
        request: httpx.Request, status: int, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        if not _is_stream(headers) or not 200 <= status < 300:
            return status, headers, body
        events = fn(sse_events(body))
        return status, headers, "".join(f"data: {e}\n\n" for e in events).encode()

    return rewrite


def load_matrices() -> tuple[dict[str, list[str]], dict[str, MockFault], list[str]]:
    """(trips merged over every matrix module, mocks by name, module names)."""
    trips: dict[str, list[str]] = {}
    mocks: dict[str, MockFault] = {}
    names: list[str] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if not info.name.startswith("matrix_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        names.append(info.name)
        for check_id, faults in getattr(module, "TRIPS", {}).items():
            trips.setdefault(check_id, []).extend(faults)
        for name, mock in getattr(module, "MOCKS", {}).items():
            if name in mocks:
                raise ValueError(f"mock fault {name!r} is defined twice")
            mocks[name] = mock
    return trips, mocks, names
