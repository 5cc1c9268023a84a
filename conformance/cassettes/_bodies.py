"""How bytes and request bodies are written into a cassette so that people can read them.

Every byte string in a cassette is written as plain text when it is valid UTF-8, and as
``{base64: "..."}`` (the marker) when it is not, so raw bytes always survive.

Request bodies are written in the most readable form that still gives back the exact
bytes that were sent:

- ``{json: <value>}`` when the body is JSON that re-encodes to the same bytes (with the
  ``json_style`` needed, ``compact`` being httpx's style);
- ``{form: {boundary, parts: [...]}}`` for a multipart form that rebuilds byte for byte;
- ``{text: "..."}`` for any other UTF-8 body; ``{base64: "..."}`` for anything else.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from conformance.cassettes._errors import CassetteError
from conformance.wire.json_bounded import parse_json_bounded

#: the marker key of a base64-encoded byte string
BASE64 = "base64"

#: how JSON request bodies are re-encoded, by style name
_JSON_STYLES: dict[str, dict[str, Any]] = {
    "compact": {"separators": (",", ":"), "ensure_ascii": False},
    "compact_ascii": {"separators": (",", ":"), "ensure_ascii": True},
    "spaced": {"ensure_ascii": False},
    "spaced_ascii": {"ensure_ascii": True},
}


def encode_bytes(data: bytes) -> str | dict[str, str]:
    """``data`` as text when it is valid UTF-8, else as ``{base64: ...}``."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return {BASE64: base64.b64encode(data).decode("ascii")}


def decode_bytes(value: Any, *, where: str) -> bytes:
    """The bytes written by :func:`encode_bytes` (raises :class:`CassetteError`)."""
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, dict) and set(value) == {BASE64} and isinstance(value[BASE64], str):
        try:
            return base64.b64decode(value[BASE64], validate=True)
        except ValueError as exc:
            raise CassetteError(f"{where}: invalid base64 ({exc})") from exc
    raise CassetteError(f"{where}: expected text or {{base64: ...}}, got {type(value).__name__}")


def _json_body(body: bytes) -> dict[str, Any] | None:
    try:
        value = parse_json_bounded(body)
    except ValueError:
        return None
    for style, kwargs in _JSON_STYLES.items():
        try:
            again = json.dumps(value, allow_nan=False, **kwargs).encode("utf-8")
        except (ValueError, RecursionError):
            return None
        if again == body:
            out: dict[str, Any] = {"json": value}
            if style != "compact":
                out["json_style"] = style
            return out
    return None


_DISPOSITION = re.compile(r'^form-data; name="([^"\r\n]*)"(?:; filename="([^"\r\n]*)")?$')


def parse_multipart(body: bytes, boundary: str) -> list[dict[str, Any]] | None:
    """The parts of a multipart/form-data body, or ``None`` when it is not well formed.

    Each part is ``{name, value}`` plus ``filename`` and ``content_type`` when present;
    values are bytes.
    """
    delim = b"--" + boundary.encode("latin-1")
    if not body.startswith(delim + b"\r\n") or not body.endswith(delim + b"--\r\n"):
        return None
    inner = body[len(delim) + 2 : -(len(delim) + 4)]
    if not inner.endswith(b"\r\n"):
        return None
    pieces = inner[:-2].split(b"\r\n" + delim + b"\r\n")
    parts: list[dict[str, Any]] = []
    for piece in pieces:
        head, sep, value = piece.partition(b"\r\n\r\n")
        if not sep:
            return None
        part: dict[str, Any] = {}
        for line in head.decode("latin-1").split("\r\n"):
            name, _, hvalue = line.partition(": ")
            if name.lower() == "content-disposition":
                m = _DISPOSITION.match(hvalue)
                if m is None:
                    return None
                part["name"] = m.group(1)
                if m.group(2) is not None:
                    part["filename"] = m.group(2)
            elif name.lower() == "content-type":
                part["content_type"] = hvalue
            else:
                return None
        if "name" not in part:
            return None
        part["value"] = value
        parts.append(part)
    return parts


def build_multipart(parts: list[dict[str, Any]], boundary: str) -> bytes:
    """The multipart/form-data body for ``parts`` (httpx's layout)."""
    delim = b"--" + boundary.encode("latin-1")
    out = bytearray()
    for part in parts:
        out += delim + b"\r\n"
        disposition = f'Content-Disposition: form-data; name="{part["name"]}"'
        if "filename" in part:
            disposition += f'; filename="{part["filename"]}"'
        out += disposition.encode("latin-1") + b"\r\n"
        if "content_type" in part:
            out += f"Content-Type: {part['content_type']}".encode("latin-1") + b"\r\n"
        out += b"\r\n" + part["value"] + b"\r\n"
    out += delim + b"--\r\n"
    return bytes(out)


def multipart_boundary(content_type: str | None) -> str | None:
    """The boundary parameter of a multipart/form-data content type, if any."""
    if not content_type or not content_type.lower().startswith("multipart/form-data"):
        return None
    m = re.search(r'boundary="?([^";]+)"?', content_type)
    return m.group(1) if m else None


def _form_body(body: bytes, content_type: str | None) -> dict[str, Any] | None:
    boundary = multipart_boundary(content_type)
    if boundary is None:
        return None
    try:
        parts = parse_multipart(body, boundary)
        if parts is None or build_multipart(parts, boundary) != body:
            return None
    except UnicodeEncodeError:
        return None
    written = []
    for part in parts:
        entry = {k: v for k, v in part.items() if k != "value"}
        entry["value"] = encode_bytes(part["value"])
        written.append(entry)
    return {"form": {"boundary": boundary, "parts": written}}


def _form_text(value: Any) -> bool:
    """Whether ``value`` can go into a multipart header line as written."""
    if not isinstance(value, str) or any(c in value for c in '\r\n"'):
        return False
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def encode_request_body(body: bytes, content_type: str | None) -> dict[str, Any] | None:
    """The readable cassette form of a request body (``None`` for an empty body)."""
    if not body:
        return None
    ctype = (content_type or "").lower()
    if "json" in ctype or body[:1] in (b"{", b"["):
        as_json = _json_body(body)
        if as_json is not None:
            return as_json
    as_form = _form_body(body, content_type)
    if as_form is not None:
        return as_form
    value = encode_bytes(body)
    return {"text": value} if isinstance(value, str) else value


def decode_request_body(value: Any, *, where: str) -> bytes:
    """The exact bytes of a request body written by :func:`encode_request_body`."""
    if value is None:
        return b""
    if not isinstance(value, dict):
        raise CassetteError(f"{where}: expected a mapping with json, form, text or base64")
    if "json" in value:
        style = value.get("json_style", "compact")
        if style not in _JSON_STYLES:
            raise CassetteError(f"{where}: unknown json_style {style!r}")
        try:
            return json.dumps(value["json"], **_JSON_STYLES[style]).encode("utf-8")
        except (TypeError, ValueError, RecursionError) as exc:
            raise CassetteError(f"{where}.json: not a JSON value ({exc})") from None
    if "form" in value:
        form = value["form"]
        if not isinstance(form, dict) or not _form_text(form.get("boundary")):
            raise CassetteError(f"{where}.form: needs a boundary and parts")
        raw_parts = form.get("parts") or []
        if not isinstance(raw_parts, list):
            raise CassetteError(f"{where}.form.parts: expected a list")
        parts = []
        for i, raw in enumerate(raw_parts):
            pw = f"{where}.form.parts[{i}]"
            if not isinstance(raw, dict) or not _form_text(raw.get("name")):
                raise CassetteError(f"{pw}: needs a name and a value")
            for key in ("filename", "content_type"):
                if key in raw and not _form_text(raw[key]):
                    raise CassetteError(f"{pw}.{key}: expected Latin-1 text on one line")
            part = {k: raw[k] for k in ("name", "filename", "content_type") if k in raw}
            part["value"] = decode_bytes(raw.get("value", ""), where=pw)
            parts.append(part)
        return build_multipart(parts, form["boundary"])
    if "text" in value:
        if not isinstance(value["text"], str):
            raise CassetteError(f"{where}.text: expected text")
        return value["text"].encode("utf-8")
    if BASE64 in value:
        return decode_bytes(value, where=where)
    raise CassetteError(f"{where}: expected one of json, form, text, base64")
