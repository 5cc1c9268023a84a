"""The load path against the reference backend's faults: every stream is classified right.

The load path imports gevent (Locust's client), which must not patch the test process,
so it runs in a child process that sends one request per fault and prints what it
measured; the backend (and the hostile server of tests/bench_redteam) runs in a process
of its own.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conformance.backend import BackendConfig, serve_in_process

_SCRIPT = r"""
import json, sys, time
from gevent import monkey
monkey.patch_all()
from conformance.loadgen.target import Target
from conformance.loadgen.users import new_client, send_one

class State:
    def __init__(self, timeout_s):
        class options:
            pass
        options.timeout_s = timeout_s
        self.options = options

    def record(self, target, timing, send_wall, done_wall, size):
        self.timing = timing

stream = sys.argv[1] == "stream"
out = {}
for spec in json.loads(sys.argv[2]):
    timeout_s = spec.get("timeout", 1.0)
    target = Target("openai", spec["base"], model=None, stream=stream, max_tokens=8,
                    conversations=[[{"role": "user", "content": "hello there"}]], api_key="sk-x")
    for req in target.requests:
        req.headers.update(spec.get("headers", {}))
    state = State(timeout_s)
    client = new_client(target, concurrency=1, timeout_s=timeout_s)
    started = time.monotonic()
    if spec.get("kill_after"):  # the load process stops while the request is in flight
        import gevent
        glet = gevent.spawn(send_one, state, target, client)
        gevent.sleep(spec["kill_after"])
        glet.kill()
        t = state.timing
    else:
        t = send_one(state, target, client)
    client.close()
    out[spec["name"]] = {
        "error": None if t.error is None else str(t.error), "key": t.error_key,
        "ttft": t.ttft_ns, "events": t.content_events, "tokens": t.output_tokens,
        "fallback": t.usage_fallback, "gaps": len(t.itl_ns),
        "true_ttft": t.true_ttft_ms, "true_itl": t.true_itl_ms,
        "wall_s": time.monotonic() - started,
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


#: faults that need a longer timeout than the 1 s the others get (a big body takes a while)
_TIMEOUTS = {"huge_body": 60.0}


def _probe(
    root: str, stream: bool, cases: dict[str, tuple[str | None, dict[str, str], str | None]]
) -> dict:
    specs = [
        {
            "name": n,
            "base": (root if f is None else f"{root}/fault/{f}") + "/v1",
            "headers": h,
            "timeout": _TIMEOUTS.get(f or "", 1.0),
        }
        for n, (f, h, _) in cases.items()
    ]
    return _send(specs, stream)


def _send(specs: list[dict[str, object]], stream: bool) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT, "stream" if stream else "plain", json.dumps(specs)],
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


#: name: (hostile mode, streamed, timeout s, expected error kind, expected errors-block key)
HOSTILE_CASES: dict[str, tuple[str, bool, float, str | None, str | None]] = {
    "correct": ("ok", True, 2.0, None, None),
    "correct_plain": ("ok", False, 2.0, None, None),
    "refused": ("status401", True, 2.0, "http_4xx", "http_401"),
    "server_error": ("status500", False, 2.0, "http_5xx", "http_500"),
    "hang": ("hang", True, 1.0, "read_timeout", "read_timeout"),
    "stall": ("stall", True, 1.0, "read_timeout", "read_timeout"),
    # a byte every 0.2 s: never silent for the timeout, never done
    "drip": ("drip", True, 2.0, "total_timeout", "total_timeout"),
    "header_flood": ("headers100k", True, 5.0, "header_limit", "header_limit"),
    "header_flood_plain": ("headers100k", False, 5.0, "header_limit", "header_limit"),
    "verbose_headers": ("headers2k", True, 5.0, None, None),
}


@pytest.fixture(scope="module")
def hostile_root() -> object:
    from tests.bench_redteam import running_hostile

    with running_hostile(limit_s=120) as root:
        yield root


@pytest.mark.parametrize("stream", [True, False])
def test_hostile_answers_are_bounded_and_named(hostile_root: str, stream: bool) -> None:
    """Every request ends within its timeout, and its failure says what the target did."""
    cases = {n: c for n, c in HOSTILE_CASES.items() if c[1] is stream}
    specs = [
        {"name": n, "base": f"{hostile_root}/{mode}/v1", "timeout": timeout}
        for n, (mode, _, timeout, _, _) in cases.items()
    ]
    got = _send(specs, stream)
    for name, (_, _, timeout, kind, key) in cases.items():
        assert (got[name]["error"], got[name]["key"]) == (kind, key), (name, got[name])
        assert got[name]["wall_s"] < 5 * timeout + 10, (name, got[name])
    assert got["correct" if stream else "correct_plain"]["tokens"] == 4
    if stream:
        assert got["verbose_headers"]["tokens"] == 4  # 44 KB of headers is not over the limit


def test_the_load_path_applies_the_header_limit_check_applies(hostile_root: str) -> None:
    """Same limit as ``check``: httpx (h11 under httpcore) refuses the flood and accepts the
    verbose answer, as the load path does."""
    from httpcore._sync.http11 import HTTP11Connection

    from conformance.loadgen.limits import MAX_RESPONSE_HEAD_BYTES
    from conformance.providers import get_provider
    from conformance.wire.client import WireClient

    assert HTTP11Connection.MAX_INCOMPLETE_EVENT_SIZE == MAX_RESPONSE_HEAD_BYTES
    with WireClient(timeout=10) as client:
        for mode, accepted in (("headers100k", False), ("headers2k", True)):
            provider = get_provider("openai", base_url=f"{hostile_root}/{mode}/v1")
            request = provider.encode(
                [{"role": "user", "content": "hi"}], {"max_tokens": 4}, api_key=None
            )
            ex = client.send(request, probe="limit", stream=False)
            assert (ex.status == 200 and ex.error is None) is accepted, (mode, ex.error)


def test_a_request_cut_off_by_the_end_of_the_run_is_counted_unfinished(hostile_root: str) -> None:
    """Sent and never answered is a failure, not nothing (the run's result counts it)."""
    spec = {"name": "cut", "base": f"{hostile_root}/hang/v1", "timeout": 30.0, "kill_after": 0.5}
    got = _send([spec], True)["cut"]
    assert got["error"] == "unfinished" and got["wall_s"] < 10, got
