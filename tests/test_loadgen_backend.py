"""The load path against the reference backend's faults: every stream is classified right.

The load path imports gevent (Locust's client), which must not patch the test process,
so it runs in a child process that sends one request per fault and prints what it
measured; the backend runs in a process of its own.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conformance.backend import BackendConfig, serve_in_process

_SCRIPT = r"""
import json, sys
from gevent import monkey
monkey.patch_all()
from conformance.loadgen.target import Target
from conformance.loadgen.users import new_client, send_one

class State:
    class options:
        timeout_s = 1.0

    def record(self, target, timing, send_wall, done_wall, size):
        self.timing = timing

root, stream = sys.argv[1], sys.argv[2] == "stream"
out = {}
for spec in json.loads(sys.argv[3]):
    fault, headers = spec["fault"], spec.get("headers", {})
    prefix = root if fault is None else f"{root}/fault/{fault}"
    target = Target("openai", prefix + "/v1", model=None, stream=stream, max_tokens=8,
                    conversations=[[{"role": "user", "content": "hello there"}]], api_key="sk-x")
    for req in target.requests:
        req.headers.update(headers)
    state = State()
    client = new_client(target, concurrency=1, timeout_s=1.0)
    t = send_one(state, target, client)
    client.close()
    out[spec["name"]] = {
        "error": None if t.error is None else str(t.error),
        "ttft": t.ttft_ns, "events": t.content_events, "tokens": t.output_tokens,
        "fallback": t.usage_fallback, "gaps": len(t.itl_ns),
        "true_ttft": t.true_ttft_ms, "true_itl": t.true_itl_ms,
    }
print(json.dumps(out))
"""

STREAM_CASES: dict[str, tuple[str | None, dict[str, str], str | None]] = {
    # name: (fault, extra request headers, expected error kind)
    "correct": (None, {}, None),
    "per_request_truth": (None, {"x-conformance-ttft-ms": "30", "x-conformance-itl-ms": "2"}, None),
    "ok_crlf": ("ok_crlf", {}, None),
    "ok_cr": ("ok_cr", {}, None),
    "ok_no_space": ("ok_no_space", {}, None),
    "ok_comments": ("ok_comments", {}, None),
    "ok_sse_id": ("ok_sse_id", {}, None),
    "ok_split_writes": ("ok_split_writes", {}, None),
    "ok_coalesced_writes": ("ok_coalesced_writes", {}, None),
    "ok_role_with_content": ("ok_role_with_content", {}, None),
    "ok_finish_with_content": ("ok_finish_with_content", {}, None),
    "bom": ("bom", {}, None),  # the WHATWG rules strip it: timing is still measurable
    "usage_ignored": ("usage_ignored", {}, None),
    "usage_every_chunk": ("usage_every_chunk", {}, None),
    "no_done": ("no_done", {}, "truncated"),
    "truncated_stream": ("truncated_stream", {}, "truncated"),
    "connection_dropped": ("connection_dropped", {}, "truncated"),
    "unparseable_event": ("unparseable_event", {}, "malformed"),
    "midstream_error": (None, {"X-Conformance-Midstream-Error": "2"}, "stream_error"),
    "hang_mid_stream": ("hang_mid_stream", {}, "read_timeout"),
    "hang_before_headers": ("hang_before_headers", {}, "read_timeout"),
    "huge_body": ("huge_body", {}, "too_large"),
    "unauthorized": ("wc_token_scheme_rejected", {}, None),
}


@pytest.fixture(scope="module")
def backend_root() -> object:
    config = BackendConfig(
        ttft_ms=5.0, itl_ms=1.0, min_natural_tokens=8, max_natural_tokens=8, hang_s=30.0
    )
    with serve_in_process(config) as root:
        yield root


def _probe(
    root: str, stream: bool, cases: dict[str, tuple[str | None, dict[str, str], str | None]]
) -> dict:
    specs = [{"name": n, "fault": f, "headers": h} for n, (f, h, _) in cases.items()]
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT, root, "stream" if stream else "plain", json.dumps(specs)],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_streams_are_classified_like_the_rules_say(backend_root: str) -> None:
    cases = {k: v for k, v in STREAM_CASES.items() if k != "unauthorized"}
    got = _probe(backend_root, True, cases)
    for name, (_, _, expected) in cases.items():
        assert got[name]["error"] == expected, (name, got[name])
    for name in ("correct", "ok_crlf", "ok_cr", "ok_comments", "ok_split_writes", "bom"):
        m = got[name]
        assert m["events"] == 8 and m["tokens"] == 8 and m["gaps"] == 7 and not m["fallback"], name
        assert m["ttft"] is not None and m["ttft"] > 0
    truth = got["per_request_truth"]
    assert truth["true_ttft"] == 30.0 and truth["true_itl"] == 2.0
    assert truth["ttft"] >= 30_000_000  # the backend kept the per-request TTFT
    assert got["correct"]["true_ttft"] is None
    # coalesced writes: all eight tokens still counted, whatever the chunking
    assert got["ok_coalesced_writes"]["tokens"] == 8
    assert got["usage_ignored"]["fallback"] is True and got["usage_ignored"]["tokens"] == 8
    assert got["usage_every_chunk"]["tokens"] == 8


def test_non_streamed_requests(backend_root: str) -> None:
    cases = {
        "correct": (None, {}, None),
        "truncated": ("connection_dropped", {}, "truncated"),
        "hang": ("hang_before_headers", {}, "read_timeout"),
        "huge": ("huge_body", {}, "too_large"),
    }
    got = _probe(backend_root, False, cases)
    for name, (_, _, expected) in cases.items():
        assert got[name]["error"] == expected, (name, got[name])
    assert got["correct"]["tokens"] == 8 and got["correct"]["ttft"] is None
