"""What the load path reads of one response at most: the same bounds as ``check``.

Every byte from a target is untrusted, under load as much as in a conformance run. The
wire client that ``check`` uses (httpx over h11) refuses a response whose status line and
headers exceed :data:`MAX_RESPONSE_HEAD_BYTES`; geventhttpclient, which the load path
uses for speed, has no such limit (it accepts 100,000 headers, held in memory), so the
load users apply this one themselves and count such a response as ``header_limit``.

This module imports nothing, so the test suite can compare the limit with httpx's own.
"""

from __future__ import annotations

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_ERROR_BODY_BYTES",
    "MAX_RESPONSE_HEAD_BYTES",
    "MAX_STREAM_BYTES",
]

#: the status line and headers of a response, in bytes: httpcore's limit on an incomplete
#: HTTP/1.1 event (``HTTP11Connection.MAX_INCOMPLETE_EVENT_SIZE``, 100 KiB), which is what
#: ``check`` applies through httpx
MAX_RESPONSE_HEAD_BYTES = 100 * 1024
#: a non-2xx body is read up to this size (then the connection is dropped)
MAX_ERROR_BODY_BYTES = 64 * 1024
#: a non-streamed body is read up to this size
MAX_BODY_BYTES = 16 * 1024 * 1024
#: a stream is read up to this size (an endless stream must not eat the memory)
MAX_STREAM_BYTES = 64 * 1024 * 1024
