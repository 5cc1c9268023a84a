"""Secrets: the one place that knows what a credential looks like and how to hide it.

Every writer of the harness (the wire client's records, cassettes, the check result
file, JUnit, Markdown, HTML, console lines, the bench result and the load generator's
log lines) removes keys through this module, so there is one rule for each question:

- which request and response headers carry a credential (:data:`CREDENTIAL_HEADERS`);
- which URL query parameters carry one (:func:`is_credential_param`: the names in
  :data:`CREDENTIAL_PARAMS`, or any name containing a word of
  :data:`CREDENTIAL_PARAM_WORDS`, such as ``x-goog-api-key`` or ``signature``);
- which credentials are written into a URL itself (:func:`url_secrets`);
- how short a secret may be before it is only hidden where it is known to be a
  credential (:data:`MIN_SECRET_LENGTH`: replacing a 3-letter "key" everywhere would
  corrupt the text it occurs in, and such a string is no usable secret);
- what a hidden secret is replaced with (:data:`REDACTED` in records, results and on the
  console; cassettes keep their own :data:`CASSETTE_KEY` / :data:`CASSETTE_REDACTED`);
- which spellings of a secret are searched for (:mod:`conformance.secrets.spellings`:
  raw in any letter case, JSON escapes such as ``\\/`` and ``\\u002d``, percent-encoding,
  HTML character references, base64);
- how a secret split across the pieces of a stream is found
  (:mod:`conformance.secrets.streams`: the reassembled text of the events' data and of
  the JSON strings at each place, decoded, as a client would put them together);
- and the scrubbing itself, of text, bytes, URLs, headers, chunked bodies and JSON-like
  structures (:class:`Scrubber`).

The package sits at the bottom of the layers: it imports the standard library only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import unquote, unquote_plus, urlsplit, urlunsplit

from conformance.secrets.spellings import pattern, text_pattern
from conformance.secrets.streams import FRAGMENT_MIN, Span, reassembled_spans

__all__ = [
    "AUTH_SCHEMES",
    "CASSETTE_KEY",
    "CASSETTE_REDACTED",
    "CREDENTIAL_HEADERS",
    "CREDENTIAL_PARAMS",
    "CREDENTIAL_PARAM_WORDS",
    "MIN_SECRET_LENGTH",
    "REDACTED",
    "Scrubber",
    "credential_value",
    "is_credential_header",
    "is_credential_param",
    "scrub",
    "url_secrets",
    "usable_secrets",
]

#: what a secret is replaced with in exchanges, result files, reports and console lines
REDACTED = "<redacted>"
#: what the run's own key is replaced with in a cassette
CASSETTE_KEY = "<API_KEY>"
#: what any other credential is replaced with in a cassette
CASSETTE_REDACTED = "<REDACTED>"

#: secrets shorter than this are only hidden in credential headers and parameters, never
#: searched for in text
MIN_SECRET_LENGTH = 4

#: headers whose whole value is a credential (lower-case names)
CREDENTIAL_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "api-key",
        "x-goog-api-key",
        "cookie",
        "set-cookie",
    }
)

#: query parameters whose value is a credential (lower-case names)
CREDENTIAL_PARAMS = frozenset(
    {
        "key",
        "api_key",
        "apikey",
        "api-key",
        "x-api-key",
        "access_token",
        "token",
        "auth",
        "secret",
        "password",
        "sig",
    }
)
#: a query parameter whose name contains one of these words holds a credential too
CREDENTIAL_PARAM_WORDS = ("key", "token", "secret", "password", "sig", "auth")

#: scheme words kept in front of a hidden credential (lower-case)
AUTH_SCHEMES = frozenset({"bearer", "token", "basic", "key", "apikey", "api-key"})


def is_credential_header(name: str) -> bool:
    """Whether a header of this name carries a credential."""
    return name.strip().lower() in CREDENTIAL_HEADERS


def is_credential_param(name: str) -> bool:
    """Whether a URL query parameter of this (decoded) name carries a credential."""
    lowered = name.strip().lower()
    return lowered in CREDENTIAL_PARAMS or any(word in lowered for word in CREDENTIAL_PARAM_WORDS)


def usable_secrets(secrets: Iterable[str | None]) -> tuple[str, ...]:
    """The distinct secrets long enough to be searched for in text, longest first."""
    return tuple(
        sorted({s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)
    )


def credential_value(value: str, placeholder: Callable[[str], str] | str) -> str:
    """A credential header value with its secret part replaced, the scheme word kept.

    ``placeholder`` is the replacement, or a function of the credential that returns it.
    A value that is only a scheme word (``Bearer``) or empty has nothing to hide and is
    kept as it is.
    """
    choose = placeholder if callable(placeholder) else (lambda _token: placeholder)
    scheme, sep, rest = value.strip().partition(" ")
    if sep and scheme.lower() in AUTH_SCHEMES:
        token = rest.strip()
        return f"{scheme} {choose(token)}" if token else value
    if not value.strip() or (not sep and scheme.lower() in AUTH_SCHEMES):
        return value
    return choose(value.strip())


def url_secrets(url: str | None) -> list[str]:
    """The credentials written into ``url`` itself: a userinfo password and the values of
    credential query parameters. They are sent, but kept out of every output like a key."""
    if not url:
        return []
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return []
    found = [password, unquote(password)] if password else []
    for pair in parts.query.split("&"):
        name, _, raw = pair.partition("=")
        if raw and is_credential_param(unquote_plus(name)):
            found += [raw, unquote_plus(raw)]
    return [s for s in found if len(s) >= MIN_SECRET_LENGTH]


class Scrubber:
    """Replaces every spelling of the given secrets with ``placeholder``.

    The spellings are those of :mod:`conformance.secrets.spellings` (raw in any case,
    JSON escapes, percent-encoding, HTML references, base64). Bytes and chunked bodies
    are also read as a client would reassemble them (:mod:`conformance.secrets.streams`),
    so a secret split across stream events is found and each piece loses its part.
    Secrets shorter than :data:`MIN_SECRET_LENGTH` are ignored by the text methods;
    credential headers and parameters lose their value whatever the secrets are.
    """

    def __init__(self, secrets: Iterable[str | None] = (), placeholder: str = REDACTED) -> None:
        self.secrets = usable_secrets(secrets)
        self.placeholder = placeholder
        self._mark = placeholder.encode("utf-8")

    def __bool__(self) -> bool:
        return bool(self.secrets)

    def for_token(self, token: str) -> str:
        """What one credential value is replaced with (a subclass may tell credentials
        apart, as cassettes tell the run's key from any other)."""
        return self.placeholder

    # -- text and bytes ---------------------------------------------------------------

    def text(self, value: str) -> str:
        """``value`` with every spelling of every secret replaced."""
        for secret in self.secrets:
            value = text_pattern(secret).sub(self.placeholder, value)
        return value

    def data(self, value: bytes) -> bytes:
        """``value`` with every spelling of every secret replaced, also where only the
        reassembled stream text holds it."""
        if not self.secrets or not value:
            return value
        return _apply(value, self.spans(value), self._mark)

    def spans(self, data: bytes) -> list[Span]:
        """The byte ranges of ``data`` that spell a secret, merged and in order: every
        spelling, a prefix of one cut off by the end of ``data``, and the characters of
        one that only the reassembled stream text holds. A range whose flag is false
        continues a secret whose placeholder is elsewhere: it is dropped."""
        found: list[Span] = []
        for secret in self.secrets:
            found += [(m.start(), m.end(), True) for m in pattern(secret).finditer(data)]
            tail = _trailing_prefix(data, secret.encode("utf-8", "surrogatepass"))
            if tail:
                found.append((len(data) - tail, len(data), True))
        found += reassembled_spans(data, self.secrets)
        return _merge(found)

    def leaks(self, data: bytes) -> list[str]:
        """Which secrets still occur in ``data``, in any spelling (a last check before a
        file is written). Only the first four characters of a leaked secret are named."""
        return [s[:4] + "..." for s in self.secrets if pattern(s).search(data)]

    def value(self, value: Any) -> Any:
        """A JSON-like structure with secrets removed from every string (keys included)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {self.value(k): self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        return value

    # -- headers and URLs -------------------------------------------------------------

    def header(self, name: str, value: str) -> str:
        """A header value without its credential (a credential header) or secrets.

        Header bytes are read as Latin-1, so a non-ASCII secret echoed in a header
        arrives as its UTF-8 bytes spelled in Latin-1: those are searched for too.
        """
        if is_credential_header(name):
            return credential_value(value, self.for_token)
        value = self.text(value)
        if not value.isascii():
            try:
                raw = value.encode("latin-1")
            except UnicodeEncodeError:
                return value
            value = self.data(raw).decode("latin-1")
        return value

    def headers(self, headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        """:meth:`header` applied to every pair."""
        return [(name, self.header(name, value)) for name, value in headers]

    def url(self, url: str) -> str:
        """``url`` without its userinfo, credential query parameter values or secrets.

        Parameters that are not credentials keep their spelling byte for byte.
        """
        try:
            parts = urlsplit(url)
        except ValueError:
            return self.text(url)
        netloc = parts.netloc
        if "@" in netloc:  # user:password@host
            netloc = self.for_token(netloc.rsplit("@", 1)[0]) + "@" + netloc.rsplit("@", 1)[1]
        query = parts.query
        if query:
            pairs = []
            for pair in query.split("&"):
                name, sep, raw = pair.partition("=")
                if sep and raw and is_credential_param(unquote_plus(name)):
                    pair = f"{name}={self.for_token(unquote_plus(raw))}"
                pairs.append(pair)
            query = "&".join(pairs)
        return self.text(urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)))

    # -- chunked bodies ---------------------------------------------------------------

    def chunks(
        self, chunks: list[tuple[int, bytes]], *, merge: bool = False
    ) -> list[tuple[int, bytes]]:
        """A chunked body (``(time, bytes)`` pairs) with secrets replaced.

        A secret split across chunks is found in the joined bytes. By default the
        placeholder goes into the chunk where the secret began and its bytes in later
        chunks are dropped, so every chunk and its time is kept; with ``merge`` the
        chunks it spans are joined into one, timed at the last of them.
        """
        if not self or not chunks:
            return list(chunks)
        joined = b"".join(c for _, c in chunks)
        spans = self.spans(joined)
        if not spans:
            return list(chunks)
        if merge:
            return _merge_chunks(chunks, joined, spans, self._mark)
        return _cut_chunks(chunks, joined, spans, self._mark)


def scrub(value: Any, secrets: Iterable[str | None]) -> Any:
    """``value`` (text or a JSON-like structure) with every secret replaced by
    :data:`REDACTED`."""
    scrubber = Scrubber(secrets)
    return scrubber.value(value) if scrubber else value


def _merge(spans: list[Span]) -> list[Span]:
    """Overlapping ranges as one (marked if any of them was), in order."""
    merged: list[Span] = []
    for s, e, marked in sorted(spans):
        if merged and s < merged[-1][1]:
            last = merged[-1]
            merged[-1] = (last[0], max(last[1], e), last[2] or marked)
        else:
            merged.append((s, e, marked))
    return merged


def _cut_chunks(
    chunks: list[tuple[int, bytes]], joined: bytes, spans: list[Span], mark: bytes
) -> list[tuple[int, bytes]]:
    out: list[tuple[int, bytes]] = []
    pos = 0
    for t, chunk in chunks:
        c_start, c_end = pos, pos + len(chunk)
        pos = c_end
        pieces: list[bytes] = []
        cur = c_start
        for s, e, marked in spans:
            if e <= cur or s >= c_end:
                continue
            if s > cur:
                pieces.append(joined[cur:s])
            if s >= c_start and marked:
                pieces.append(mark)
            cur = min(e, c_end)
        if cur < c_end:
            pieces.append(joined[cur:c_end])
        out.append((t, b"".join(pieces)))
    return out


def _merge_chunks(
    chunks: list[tuple[int, bytes]], joined: bytes, spans: list[Span], mark: bytes
) -> list[tuple[int, bytes]]:
    bounds = [0]
    for _, c in chunks:
        bounds.append(bounds[-1] + len(c))
    merge_with_next = [False] * len(chunks)
    for start, end, _ in spans:
        for i in range(len(chunks) - 1):
            if start < bounds[i + 1] < end:
                merge_with_next[i] = True
    out: list[tuple[int, bytes]] = []
    first = 0
    for i, (t, _) in enumerate(chunks):
        if not merge_with_next[i]:
            lo, hi = bounds[first], bounds[i + 1]
            inside = [(s - lo, e - lo, m) for s, e, m in spans if s < hi and e > lo]
            out.append((t, _apply(joined[lo:hi], inside, mark)))
            first = i + 1
    return out


def _apply(data: bytes, spans: list[Span], mark: bytes) -> bytes:
    """``data`` with each of the (merged, ordered) ``spans`` replaced by ``mark`` (or
    dropped, for a range that continues a secret marked elsewhere)."""
    if not spans:
        return data
    pieces: list[bytes] = []
    cur = 0
    for start, end, marked in spans:
        pieces.append(data[cur:start])
        if marked:
            pieces.append(mark)
        cur = end
    pieces.append(data[cur:])
    return b"".join(pieces)


def _trailing_prefix(data: bytes, secret: bytes) -> int:
    """How many bytes at the end of ``data`` begin ``secret`` (a secret cut off by the
    end of a body), counting only prefixes of :data:`FRAGMENT_MIN` bytes or more."""
    tail = data[-len(secret) :]
    for size in range(len(secret) - 1, FRAGMENT_MIN - 1, -1):
        if tail.endswith(secret[:size]):
            return size
    return 0
