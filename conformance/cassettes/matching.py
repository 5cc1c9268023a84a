"""How a request made during replay is matched to a recorded one.

Two requests match when they agree on all of:

1. the **method**;
2. the **path below the base URL** (``/chat/completions``): the host and the base path
   are ignored, so cassettes recorded on one server replay against any base URL, and a
   documented example for ``https://inference.nebulablock.com/v1`` matches a request made
   to ``http://127.0.0.1:PORT/nebulablock/v1``;
3. the **query**, parameters sorted, credential parameters compared as placeholders;
4. the **media type** of the body (``application/json``; parameters such as the
   multipart boundary are ignored);
5. the **canonical body**: JSON is parsed and re-encoded with sorted keys (so key order
   and spacing do not matter); multipart and URL-encoded forms are compared field by
   field, in sorted order, with JSON-valued fields (Wetrocloud's ``messages``)
   canonicalised too; any other body is compared byte for byte;
6. the **credentials**: which credential headers were sent, with which scheme word
   (``Bearer``, ``Token``), and whether the value was the run's key (``<API_KEY>``),
   something else (``<REDACTED>``) or empty. Keys themselves are never compared, and
   the placeholder is only a preference (see below);
7. every **other request header** (names case-insensitive), such as ``Accept`` or a
   fault-selecting ``X-Conformance-Fault``, except those that vary by machine or by
   connection (:data:`VOLATILE_HEADERS`: ``Host``, ``Content-Length``, ``User-Agent``,
   ``Accept-Encoding``, ``Connection``, tracing ids, the OpenAI SDK's
   ``X-Stainless-*`` platform headers...); ``Accept: */*`` counts as no ``Accept``.

Nothing in the body is ignored by default, ``stream_options`` included: asking for a
usage chunk changes the response, so a recording made without it must not answer a
request made with it. Callers may name top-level JSON fields to ignore
(``ignore_fields``), e.g. a ``user`` or ``seed`` that a client randomises.

Credentials are matched in tiers; the first that finds a recording wins:

a. the same credential classes (``Bearer <API_KEY>`` answers ``Bearer <API_KEY>``);
b. the same credential *shape* (the same headers with the same scheme words, whatever
   the value: :func:`credential_shape`), from a recording of the same kind: the run's
   key answered by a recording of the run's key, no key or another key by a recording
   of no key or another key;

and only for a request that carries the run's key:

c. the same request recorded without any credential, or with the run's key in another
   header or scheme: a recording made without a key answers a replay run with one;
d. the same credential shape recorded with another placeholder (a cassette written by
   another tool that writes every key as ``<REDACTED>``).

So the probes about credentials stay apart: a request sent without a key is only
answered by a recording sent without one, and one sent with a deliberately wrong key
only by a recording that carried a key that was not the run's; neither is ever
answered by a recording of the run's key.

When several recorded exchanges match (the same request sent more than once) they are
served in recorded order, and the last one is repeated; recordings (``source:
recorded``) answer before documented examples (``source: documented``) of the same
request.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from urllib.parse import parse_qsl, urlsplit

from conformance.cassettes._bodies import multipart_boundary, parse_multipart
from conformance.cassettes.redact import (
    API_KEY,
    CREDENTIAL_HEADERS,
    REDACTED,
    Redactor,
    is_credential_param,
)
from conformance.wire.exchange import media_type
from conformance.wire.json_bounded import parse_json_bounded

#: top-level JSON fields ignored when matching, unless the caller says otherwise
DEFAULT_IGNORED_FIELDS: frozenset[str] = frozenset()

#: request headers left out of the match: they vary by machine, library or connection
VOLATILE_HEADERS: frozenset[str] = frozenset(
    {
        "host",
        "content-length",
        "content-type",  # compared as the media type, without the multipart boundary
        "user-agent",
        "accept-encoding",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "date",
        "cookie",
        "x-request-id",
        "traceparent",
        "tracestate",
    }
)
#: header name prefixes left out of the match
VOLATILE_HEADER_PREFIXES: tuple[str, ...] = ("x-stainless-",)


@dataclass(frozen=True, slots=True)
class MatchKey:
    """The parts of a request that decide which recorded exchange answers it."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    media_type: str
    body: str
    credentials: tuple[tuple[str, str], ...]
    headers: tuple[tuple[str, str], ...] = ()

    def describe(self) -> str:
        """A short human description, for "no cassette holds ..." messages."""
        creds = ", ".join(f"{n}: {v}" for n, v in self.credentials + self.headers)
        creds = creds or "no credentials"
        body = self.body if len(self.body) <= 160 else self.body[:157] + "..."
        q = "?" + "&".join(f"{k}={v}" for k, v in self.query) if self.query else ""
        return f"{self.method} {self.path}{q} [{self.media_type or 'no body'}; {creds}] {body}"


#: what the value of a credential becomes in a credential shape
_ANY_CREDENTIAL = "<credential>"


def _shape(credential_class: str) -> str:
    """A credential class with its value, whatever it was, replaced by one word."""
    scheme, sep, value = credential_class.partition(" ")
    if sep and value.strip():
        return f"{scheme} {_ANY_CREDENTIAL}"
    if credential_class in (API_KEY, REDACTED):
        return _ANY_CREDENTIAL
    return credential_class  # a bare scheme word, or an empty header: kept as sent


def credential_shape(key: MatchKey) -> MatchKey:
    """``key`` with every credential value (key or placeholder) made the same.

    Which credential headers were sent, and with which scheme word, still counts.
    """
    creds = tuple((name, _shape(value)) for name, value in key.credentials)
    return replace(key, credentials=creds)


def without_credentials(key: MatchKey) -> MatchKey:
    """``key`` with no credentials at all."""
    return replace(key, credentials=())


def carries_run_key(key: MatchKey) -> bool:
    """Whether the request carried the run's own key (under any header or scheme)."""
    return any(value.rpartition(" ")[2] == API_KEY for _, value in key.credentials)


def carries_other_key(key: MatchKey) -> bool:
    """Whether the request carried a credential that is not the run's key."""
    return any(value.rpartition(" ")[2] == REDACTED for _, value in key.credentials)


def relative_path(url: str, base_url: str | None) -> str:
    """The path of ``url`` below the path of ``base_url`` (the whole path if not below)."""
    path = urlsplit(url).path or "/"
    if base_url:
        base = urlsplit(base_url).path.rstrip("/")
        if base and (path == base or path.startswith(base + "/")):
            path = path[len(base) :] or "/"
    return path


def _canonical_json(text: bytes | str, ignore: frozenset[str]) -> str | None:
    try:
        value = parse_json_bounded(text)
    except ValueError:
        return None  # compared as text
    if isinstance(value, dict) and ignore:
        value = {k: v for k, v in value.items() if k not in ignore}
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except (ValueError, RecursionError):
        return None


def _field_value(value: bytes) -> str:
    canonical = _canonical_json(value, frozenset())
    if canonical is not None and value.strip()[:1] in (b"{", b"["):
        return canonical
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return "sha256:" + hashlib.sha256(value).hexdigest()


def canonical_body(body: bytes, content_type: str | None, ignore: frozenset[str]) -> str:
    """A text that is equal for two bodies exactly when they mean the same request."""
    if not body:
        return ""
    media = media_type(content_type)
    boundary = multipart_boundary(content_type)
    if boundary is not None:
        parts = parse_multipart(body, boundary)
        if parts is not None:
            fields = sorted(
                (p["name"], p.get("filename", ""), _field_value(p["value"]))
                for p in parts
                if p["name"] not in ignore
            )
            return "form:" + json.dumps(fields, ensure_ascii=False)
    if media == "application/x-www-form-urlencoded":
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            pairs = None
        if pairs is not None:
            pairs_out = sorted(
                (k, _field_value(v.encode("utf-8"))) for k, v in pairs if k not in ignore
            )
            return "urlencoded:" + json.dumps(pairs_out, ensure_ascii=False)
    as_json = _canonical_json(body, ignore)
    if as_json is not None:
        return "json:" + as_json
    try:
        return "text:" + body.decode("utf-8")
    except UnicodeDecodeError:
        return "sha256:" + hashlib.sha256(body).hexdigest()


def _credential_class(value: str, redactor: Redactor) -> str:
    redacted = redactor.credential(value)
    scheme, sep, rest = redacted.partition(" ")
    if sep:
        return f"{scheme.lower()} {rest}"
    return redacted


def request_key(
    method: str,
    url: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    *,
    base_url: str | None,
    redactor: Redactor,
    ignore_fields: Iterable[str] = DEFAULT_IGNORED_FIELDS,
) -> MatchKey:
    """The :class:`MatchKey` of a request.

    ``redactor`` knows the run's key (so the real key becomes ``<API_KEY>``); a request
    already redacted keeps its placeholders.
    """
    ignore = frozenset(ignore_fields)
    headers = list(headers)
    content_type = next((v for k, v in headers if k.lower() == "content-type"), None)
    creds = sorted(
        (k.lower(), _credential_class(v, redactor))
        for k, v in headers
        if k.lower() in CREDENTIAL_HEADERS and k.lower() not in ("cookie", "set-cookie")
    )
    query = sorted(
        (k, redactor.credential(v) if is_credential_param(k) else v)
        for k, v in parse_qsl(urlsplit(url).query, keep_blank_values=True)
    )
    media = media_type(content_type) if body else ""
    others = sorted(
        (k.lower(), v.strip())
        for k, v in headers
        if k.lower() not in CREDENTIAL_HEADERS
        and k.lower() not in VOLATILE_HEADERS
        and not k.lower().startswith(VOLATILE_HEADER_PREFIXES)
        and not (k.lower() == "accept" and v.strip() == "*/*")  # httpx's default
    )
    return MatchKey(
        method=method.upper(),
        path=relative_path(url, base_url),
        query=tuple(query),
        media_type=media,
        body=canonical_body(body, content_type, ignore),
        credentials=tuple(creds),
        headers=tuple(others),
    )
