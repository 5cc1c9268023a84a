"""The cassette format, version 1: exchanges as plain YAML-ready data, both ways.

A cassette file holds the exchanges of one probe::

    version: 1
    probe: stream.basic            # what the requests probe
    provider: openai               # the profile they were made with
    base_url: http://127.0.0.1:8000/v1
    model: conformance-echo
    source: recorded               # or "documented": built from a provider's docs
    stands_for: chat               # documented only: the probe it answers (optional)
    exchanges:
    - request:
        method: POST
        url: http://127.0.0.1:8000/v1/chat/completions
        headers:
        - content-type: application/json
        - authorization: Bearer <API_KEY>
        body:
          json: {model: ..., messages: [...], stream: true}
      response:
        status: 200
        headers:
        - content-type: text/event-stream
        stream: true
        chunks:                    # the raw body, split as it arrived
        - at_ms: 12.5              # ms after the request was sent
          data: "data: {...}\\n\\n"
      timing: {headers_ms: 10.1, end_ms: 40.2}
      error: null                  # or {kind, message, after_s}
      meta: {}

Bytes that are not valid UTF-8 are written ``{base64: ...}``; request bodies are
written as ``json``, ``form`` (multipart fields), ``text`` or ``base64`` (see
:mod:`conformance.cassettes._bodies`). Loading gives back :class:`Exchange` objects whose
times are relative to a send time of 0, with SSE events re-parsed from the chunks.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from conformance.cassettes._bodies import (
    decode_bytes,
    decode_request_body,
    encode_bytes,
    encode_request_body,
)
from conformance.cassettes._errors import CassetteError
from conformance.wire.exchange import (
    ErrorKind,
    Exchange,
    ExchangeError,
    RecordedRequest,
)

#: the cassette format version this code writes and reads
FORMAT_VERSION = 1

#: where a cassette's exchanges came from
SOURCES = ("recorded", "documented")

_NS_PER_MS = 1_000_000

#: the largest time a cassette may give, in milliseconds after the send (one day); times
#: must be finite and not negative
MAX_MS = 86_400_000.0
#: the HTTP status codes a cassette may give (three digits)
STATUS_RANGE = range(100, 1000)


@dataclass(slots=True)
class Cassette:
    """The exchanges of one probe, with where and how they were made."""

    probe: str
    exchanges: list[Exchange]
    provider: str | None = None
    base_url: str | None = None
    model: str | None = None
    #: ``"recorded"`` from a live target, or ``"documented"`` from a provider's docs
    source: str = "recorded"
    #: free text, e.g. where a documented example comes from
    note: str | None = None
    #: a documented example only: the probe of the harness it stands for (``chat``: the
    #: plain valid request). When a replay has no recording of that probe's own request,
    #: the example answers it with its own request, so the checks judge the documented
    #: pair as a whole (see :class:`conformance.cassettes.ReplaySender`)
    stands_for: str | None = None
    #: the file it was read from (``None`` when built in memory)
    path: Path | None = field(default=None, compare=False)


def _ms(t_ns: int | None, t0: int) -> float | None:
    if t_ns is None:
        return None
    return round((t_ns - t0) / _NS_PER_MS, 3)


def _number(value: Any, *, where: str, unit: str, limit: float) -> float:
    """``value`` when it is a finite number in ``[0, limit]`` (raises CassetteError)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise CassetteError(f"{where}: expected {unit} as a number, got {_shown(value)}")
    if not math.isfinite(value) or not 0 <= value <= limit:
        raise CassetteError(
            f"{where}: expected {unit} between 0 and {limit:.15g} (one day), got {_shown(value)}"
        )
    return value


def _shown(value: Any) -> str:
    """``value`` for an error line: short, and never more than one line."""
    text = repr(value) if not isinstance(value, dict | list) else type(value).__name__
    return text if len(text) <= 60 else text[:57] + "..."


def check_url(url: str, *, where: str) -> None:
    """Raise CassetteError unless ``url`` is an http(s) URL with a host."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing the port is what raises
        httpx.URL(url)  # what recorded it could parse it: a replay can too
    except (ValueError, httpx.InvalidURL) as exc:
        raise CassetteError(f"{where}: not a URL ({_first_line(exc)})") from None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CassetteError(f"{where}: expected an http(s) URL with a host, got {_shown(url)}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _ns(ms: Any, *, where: str) -> int | None:
    if ms is None:
        return None
    return round(_number(ms, where=where, unit="milliseconds", limit=MAX_MS) * _NS_PER_MS)


#: an HTTP header name (RFC 9110 token)
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
#: what an HTTP header value may hold once read: Latin-1 text without CR, LF or NUL
_HEADER_VALUE = re.compile(r"[^\r\n\x00\u0100-\U0010ffff]*")


def headers_to_data(headers: list[tuple[str, str]]) -> list[dict[str, str]]:
    """Headers as a list of one-entry mappings (keeps order and repeats)."""
    return [{name: value} for name, value in headers]


def headers_from_data(data: Any, *, where: str, lower: bool) -> list[tuple[str, str]]:
    """Headers written by :func:`headers_to_data`."""
    if data is None:
        return []
    if not isinstance(data, list):
        raise CassetteError(f"{where}: expected a list of 'name: value' entries")
    out = []
    for i, item in enumerate(data):
        if not isinstance(item, dict) or len(item) != 1:
            raise CassetteError(f"{where}[{i}]: expected one 'name: value' entry")
        ((name, value),) = item.items()
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise CassetteError(f"{where}[{i}]: header name and value must be text")
        if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
            raise CassetteError(f"{where}[{i}]: {_shown(name)} is not a header name")
        value = str(value)
        if not _HEADER_VALUE.fullmatch(value):
            raise CassetteError(
                f"{where}[{i}]: the value of {name!r} holds a line break, a control "
                "character or a character beyond Latin-1"
            )
        out.append((name.lower() if lower else name, value))
    return out


def plain_data(value: Any) -> Any:
    """``value`` as plain JSON-like data (tuples become lists, anything else its repr)."""
    return json.loads(json.dumps(value, default=repr, ensure_ascii=False))


def exchange_to_data(exchange: Exchange) -> dict[str, Any]:
    """One exchange as cassette data (times relative to its send time)."""
    t0 = exchange.t_send_ns
    req = exchange.request
    request: dict[str, Any] = {
        "method": req.method,
        "url": req.url,
        "headers": headers_to_data(req.headers),
    }
    body = encode_request_body(req.body, req.header("content-type"))
    if body is not None:
        request["body"] = body
    response: dict[str, Any] = {"status": exchange.status, "headers": []}
    response["headers"] = headers_to_data(exchange.headers)
    streamed = exchange.events is not None
    response["stream"] = streamed
    if streamed:
        response["chunks"] = [
            {"at_ms": _ms(t, t0), "data": encode_bytes(c)} for t, c in exchange.chunks
        ]
        if b"".join(c for _, c in exchange.chunks) != exchange.body:
            response["body"] = encode_bytes(exchange.body)
    else:
        response["body"] = encode_bytes(exchange.body)
    data: dict[str, Any] = {
        "request": request,
        "response": response,
        "timing": {
            "headers_ms": _ms(exchange.t_headers_ns, t0),
            "end_ms": _ms(exchange.t_end_ns, t0),
        },
        "error": None,
        "meta": plain_data(exchange.meta),
    }
    if exchange.error is not None:
        data["error"] = {
            "kind": str(exchange.error.kind),
            "message": exchange.error.message,
            "after_s": exchange.error.after_s,
        }
    return data


def _mapping(value: Any, *, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise CassetteError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def _parse_stream(exchange: Exchange) -> None:
    from conformance.wire.sse import SSEParser

    parser = SSEParser()
    events = []
    for t, chunk in exchange.chunks:
        events.extend(parser.feed(chunk, t))
    events.extend(
        parser.close(exchange.t_end_ns or (exchange.chunks[-1][0] if exchange.chunks else 0))
    )
    exchange.events = events
    exchange.observations = parser.observations


def exchange_from_data(data: Any, *, probe: str, where: str) -> Exchange:
    """The :class:`Exchange` written by :func:`exchange_to_data`, sent at time 0."""
    data = _mapping(data, where=where)
    req = _mapping(data.get("request"), where=f"{where}.request")
    if not isinstance(req.get("method"), str) or not isinstance(req.get("url"), str):
        raise CassetteError(f"{where}.request: needs a method and a url")
    if not _HEADER_NAME.fullmatch(req["method"]):
        raise CassetteError(f"{where}.request.method: {_shown(req['method'])} is not a method")
    check_url(req["url"], where=f"{where}.request.url")
    request = RecordedRequest(
        method=req["method"].upper(),
        url=req["url"],
        headers=headers_from_data(
            req.get("headers"), where=f"{where}.request.headers", lower=False
        ),
        body=decode_request_body(req.get("body"), where=f"{where}.request.body"),
    )
    resp = _mapping(data.get("response") or {}, where=f"{where}.response")
    status = resp.get("status")
    if status is not None and (
        not isinstance(status, int) or isinstance(status, bool) or status not in STATUS_RANGE
    ):
        raise CassetteError(
            f"{where}.response.status: expected an HTTP status code (100 to 999), "
            f"got {_shown(status)}"
        )
    timing = _mapping(data.get("timing") or {}, where=f"{where}.timing")
    t_headers = _ns(timing.get("headers_ms"), where=f"{where}.timing.headers_ms")
    t_end = _ns(timing.get("end_ms"), where=f"{where}.timing.end_ms")
    streamed = resp.get("stream") or False
    if not isinstance(streamed, bool):
        raise CassetteError(f"{where}.response.stream: expected true or false")
    chunks: list[tuple[int, bytes]] = []
    if streamed:
        raw_chunks = resp.get("chunks") or []
        if not isinstance(raw_chunks, list):
            raise CassetteError(f"{where}.response.chunks: expected a list")
        for i, raw in enumerate(raw_chunks):
            cw = f"{where}.response.chunks[{i}]"
            raw = _mapping(raw, where=cw)
            t = _ns(raw.get("at_ms", 0), where=f"{cw}.at_ms") or 0
            chunks.append((t, decode_bytes(raw.get("data", ""), where=f"{cw}.data")))
        if "body" in resp:
            body = decode_bytes(resp["body"], where=f"{where}.response.body")
        else:
            body = b"".join(c for _, c in chunks)
    else:
        body = decode_bytes(resp.get("body", ""), where=f"{where}.response.body")
        if body:
            chunks = [(t_end if t_end is not None else (t_headers or 0), body)]
    error = None
    if data.get("error") is not None:
        err = _mapping(data["error"], where=f"{where}.error")
        try:
            kind = ErrorKind(str(err.get("kind")))
        except ValueError as exc:
            raise CassetteError(f"{where}.error.kind: unknown kind {err.get('kind')!r}") from exc
        message = err.get("message", "")
        if not isinstance(message, str | None):
            raise CassetteError(f"{where}.error.message: expected text")
        after = err.get("after_s")
        if after is not None:
            after = _number(
                after, where=f"{where}.error.after_s", unit="seconds", limit=MAX_MS / 1000
            )
        error = ExchangeError(kind, message or "", after)
    meta = data.get("meta") or {}
    exchange = Exchange(
        probe=probe,
        request=request,
        status=status,
        headers=headers_from_data(
            resp.get("headers"), where=f"{where}.response.headers", lower=True
        ),
        body=body,
        chunks=chunks,
        t_send_ns=0,
        t_headers_ns=t_headers,
        t_end_ns=t_end,
        error=error,
        meta=dict(_mapping(meta, where=f"{where}.meta")),
    )
    if streamed:
        _parse_stream(exchange)
    return exchange


def cassette_to_data(cassette: Cassette) -> dict[str, Any]:
    """A whole cassette as data, ready for YAML."""
    data: dict[str, Any] = {"version": FORMAT_VERSION, "probe": cassette.probe}
    for key in ("provider", "base_url", "model", "source", "note", "stands_for"):
        value = getattr(cassette, key)
        if value is not None:
            data[key] = value
    data["exchanges"] = [exchange_to_data(e) for e in cassette.exchanges]
    return data


def cassette_from_data(data: Any, *, where: str, path: Path | None = None) -> Cassette:
    """The :class:`Cassette` written by :func:`cassette_to_data` (checks the version)."""
    data = _mapping(data, where=where)
    version = data.get("version")
    if version != FORMAT_VERSION:
        raise CassetteError(
            f"{where}: cassette format version {_shown(version)} is not supported "
            f"(this harness reads version {FORMAT_VERSION})"
        )
    probe = data.get("probe")
    if not isinstance(probe, str) or not probe.strip():
        raise CassetteError(f"{where}: needs a probe name")
    if not probe.isprintable() or len(probe) > 200:
        raise CassetteError(f"{where}: probe: expected a name on one line, got {_shown(probe)}")
    source = data.get("source", "recorded")
    if not isinstance(source, str) or source not in SOURCES:
        raise CassetteError(f"{where}: source: expected one of {', '.join(SOURCES)}")
    for key in ("provider", "base_url", "model", "note", "stands_for"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise CassetteError(f"{where}: {key}: expected text")
    if data.get("stands_for") is not None and source != "documented":
        raise CassetteError(f"{where}: stands_for: only a documented example stands for a probe")
    if data.get("base_url") is not None:
        check_url(data["base_url"], where=f"{where}: base_url")
    raw_exchanges = data.get("exchanges")
    if not isinstance(raw_exchanges, list):
        raise CassetteError(f"{where}: exchanges: expected a list")
    exchanges = [
        exchange_from_data(item, probe=probe, where=f"{where}: exchanges[{i}]")
        for i, item in enumerate(raw_exchanges)
    ]
    return Cassette(
        probe=probe,
        exchanges=exchanges,
        provider=data.get("provider"),
        base_url=data.get("base_url"),
        model=data.get("model"),
        source=source,
        note=data.get("note"),
        stands_for=data.get("stands_for"),
        path=path,
    )
