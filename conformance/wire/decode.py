"""Undo a response's ``Content-Encoding`` in bounded pieces.

httpx decodes each raw chunk in one call, so 2 KB of ``Content-Encoding: gzip, gzip``
become 1 GiB in one step, with no chance for a size cap or a timeout to intervene. The
wire client reads the raw bytes instead and passes them through a :class:`BodyDecoder`,
which yields the decoded body in pieces of at most :data:`PIECE_BYTES` (zlib's
``max_length``), so the caller counts every piece against its size cap and can yield to
the event loop between pieces.

What is decoded, like httpx does it:

- ``gzip`` (and its alias ``x-gzip``), including several gzip members one after the other;
- ``deflate``: the zlib format of RFC 9110, falling back to raw deflate (what some servers
  send) when the first bytes are not a zlib header;
- ``identity`` (nothing to do);
- stacked codings (``gzip, gzip``): undone in the reverse order of the header, each stage
  bounded.

The client only advertises what it can bound (:data:`ACCEPT_ENCODING`); any other coding
(``br``, ``zstd``, ``compress``, an unknown name) is :class:`UnsupportedEncoding`, which
the client reports as a finding, and corrupt compressed data is :class:`CorruptEncoding`.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence

__all__ = [
    "ACCEPT_ENCODING",
    "PIECE_BYTES",
    "BodyDecoder",
    "CorruptEncoding",
    "UnsupportedEncoding",
    "body_decoder",
]

#: what the wire client accepts: the codings it can undo in bounded pieces
ACCEPT_ENCODING = "gzip, deflate"
#: the most bytes one decoding step produces
PIECE_BYTES = 64 * 1024
_GZIP_MAGIC = b"\x1f\x8b"
#: the most codings one body may stack (each is a decoding stage)
MAX_CODINGS = 4


class UnsupportedEncoding(ValueError):
    """The response uses a content coding the client did not accept and cannot undo."""


class CorruptEncoding(ValueError):
    """The compressed data is not valid for its content coding."""


class _ZlibStage:
    """One gzip or deflate layer, decoded with a bound on each output piece."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._gzip = name == "gzip"
        self._wbits = zlib.MAX_WBITS | 16 if self._gzip else zlib.MAX_WBITS
        self._inflater = zlib.decompressobj(self._wbits)
        self._first = True  # deflate: the zlib header is not checked yet
        self._ended = False
        #: bytes after the end of the compressed data, ignored (as httpx does)
        self.trailing = 0

    def pieces(self, data: bytes, limit: int) -> Iterator[bytes]:
        """Decode ``data``; yields pieces of at most ``limit`` bytes until all of it is
        consumed (the caller may stop early: the rest is simply not decoded)."""
        while True:
            if self._ended:
                if not data:
                    return
                if self._gzip and data.startswith(_GZIP_MAGIC) and not self.trailing:
                    self._inflater = zlib.decompressobj(self._wbits)  # the next member
                    self._ended = False
                else:
                    self.trailing += len(data)
                    return
            out = self._decompress(data, limit)
            if self._inflater.eof:
                self._ended = True
                data = self._inflater.unused_data
            else:
                data = self._inflater.unconsumed_tail
            if out:
                yield out
            if not data and len(out) < limit:
                return  # input used up and nothing left inside zlib

    def _decompress(self, data: bytes, limit: int) -> bytes:
        try:
            out = self._inflater.decompress(data, limit)
        except zlib.error as exc:
            if self._first and not self._gzip:
                # "deflate" sent as raw deflate, without the zlib header
                self._first = False
                self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
                return self._decompress(data, limit)
            raise CorruptEncoding(f"the {self.name} data is corrupt ({exc})") from None
        if data:
            self._first = False
        return out


class BodyDecoder:
    """Decodes a body with the codings of its ``Content-Encoding``, piece by piece."""

    def __init__(self, codings: Sequence[str]) -> None:
        #: the codings as the header lists them (the order they were applied in)
        self.codings = tuple(codings)
        self._stages = [_ZlibStage(name) for name in reversed(self.codings)]

    def feed(self, data: bytes) -> Iterator[bytes]:
        """The decoded pieces of ``data`` (each at most :data:`PIECE_BYTES`)."""
        return self._through(0, data)

    def _through(self, index: int, data: bytes) -> Iterator[bytes]:
        if index == len(self._stages):
            if data:
                yield data
            return
        for piece in self._stages[index].pieces(data, PIECE_BYTES):
            yield from self._through(index + 1, piece)

    @property
    def trailing(self) -> int:
        """Bytes found after the end of the compressed data (ignored)."""
        return sum(stage.trailing for stage in self._stages)


def body_decoder(
    content_encoding: Sequence[str], *, accepted: str = ACCEPT_ENCODING
) -> BodyDecoder | None:
    """The decoder for a response's ``Content-Encoding`` values (comma-split), or
    ``None`` when the body is not encoded.

    Raises :class:`UnsupportedEncoding` for a coding other than gzip, deflate and identity
    (``accepted``, the request's Accept-Encoding, goes into the message).
    """
    codings: list[str] = []
    for value in content_encoding:
        for token in value.split(","):
            name = token.strip().lower()
            if not name or name == "identity":
                continue
            if name == "x-gzip":
                name = "gzip"
            if name not in ("gzip", "deflate"):
                raise UnsupportedEncoding(
                    f"the response is sent with Content-Encoding {name!r}, which the request "
                    f"did not accept (Accept-Encoding: {accepted}) or the harness cannot undo "
                    "within bounds; clients that did not ask for it cannot read the body"
                )
            codings.append(name)
    if len(codings) > MAX_CODINGS:
        raise UnsupportedEncoding(
            f"the response stacks {len(codings)} content codings; the harness undoes at most "
            f"{MAX_CODINGS} (no server needs more than one)"
        )
    return BodyDecoder(codings) if codings else None
