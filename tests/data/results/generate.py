"""Regenerate the sample result files used by the report tests.

Run ``python tests/data/results/generate.py`` from the repository root. The files are
deterministic (fixed seeds) and shaped like real ``check --json`` and ``bench --json``
output: several providers, a conformance baseline with changes, a bench baseline the
current run clearly regressed against, one that differs only by noise, one bench pair
without per-request samples, and a concurrency sweep.

The ``real_*.json`` files next to it are not generated here: they were written by the
harness itself (``conformance check --json`` against the reference backend's
``role_every_delta`` fault, ``conformance bench --json`` with ``--users 1,4`` and with
``--rate 5 --arrival poisson``; and against ``conformance serve --api-key-env`` without
a key, where every request failed with a 401: ``real_bench_openai_401_every_request_failed``;
with ``--users 4`` against it with its key, sampling every inter-token gap:
``real_bench_openai_u4_every_gap``),
so the report is tested on the shapes it really gets.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
HARNESS = "0.1.0"


def _pcts(values: np.ndarray) -> dict[str, float]:
    return {
        "mean": round(float(np.mean(values)), 2),
        "p50": round(float(np.percentile(values, 50)), 2),
        "p90": round(float(np.percentile(values, 90)), 2),
        "p99": round(float(np.percentile(values, 99)), 2),
    }


def _bench_run(
    *,
    seed: int,
    users: int | None,
    rate: float | None,
    duration_s: float,
    ttft_ms: float,
    itl_ms: float,
    warmup_s: float = 5.0,
    failure_rate: float = 0.0,
    tokens_per_chunk: float = 1.0,
    max_samples: int = 400,
) -> dict[str, Any]:
    """One load level: per-request samples, 1-second timeseries and aggregate metrics."""
    rng = np.random.default_rng(seed)
    conc = users if users is not None else max(1, int((rate or 1) * 2))
    queueing = 1.0 + 0.015 * conc
    n_out_mean = 160
    e2e_mean_s = (ttft_ms * queueing + itl_ms * queueing * n_out_mean) / 1000
    rps = rate if rate is not None else conc / e2e_mean_s
    n_req = max(10, int(rps * (duration_s - warmup_s)))
    ttft = ttft_ms * queueing * rng.lognormal(0.0, 0.25, n_req) + rng.exponential(3.0, n_req)
    n_out = rng.integers(96, 224, n_req)
    itl_per_req = itl_ms * queueing * rng.lognormal(0.0, 0.08, n_req)
    e2e = ttft + itl_per_req * (n_out - 1)
    tpot = (e2e - ttft) / (n_out - 1)
    itl = (itl_per_req[:, None] * rng.gamma(16.0, 1 / 16.0, (n_req, 8))).ravel()
    failures = int(rng.binomial(n_req, failure_rate))
    tokens = int(n_out.sum())
    window = duration_s - warmup_s

    seconds = int(duration_s)
    timeseries = []
    for t in range(seconds):
        in_warmup = t < warmup_s
        level = 0.6 if in_warmup else 1.0
        reqs = int(rng.poisson(rps * level))
        timeseries.append(
            {
                "t_s": float(t),
                "requests": reqs,
                "failures": int(rng.binomial(reqs, failure_rate)),
                "output_tokens": int(reqs * n_out_mean * rng.uniform(0.9, 1.1)),
                "ttft_p50_ms": round(float(np.median(ttft)) * rng.uniform(0.9, 1.1), 2),
                "e2e_p50_ms": round(float(np.median(e2e)) * rng.uniform(0.95, 1.05), 2),
            }
        )

    def sub(values: np.ndarray) -> list[float]:
        if len(values) > max_samples:
            values = rng.choice(values, max_samples, replace=False)
        return [round(float(v), 2) for v in values]

    metrics: dict[str, Any] = {
        "requests": n_req,
        "failures": failures,
        "requests_per_s": round(n_req / window, 3),
        "output_tokens_per_s": round(tokens / window, 1),
        "ttft_ms": _pcts(ttft),
        "itl_ms": _pcts(itl),
        "tpot_ms": _pcts(tpot),
        "e2e_ms": _pcts(e2e),
        "tokens_per_chunk": {
            "mean": tokens_per_chunk,
            "p50": tokens_per_chunk,
            "p90": tokens_per_chunk,
            "p99": tokens_per_chunk,
        },
    }
    if rate is not None:
        delay = rng.exponential(0.8, n_req)
        metrics["schedule_delay_ms"] = _pcts(delay)
        metrics["latency_from_sched_ms"] = _pcts(e2e + delay)
    return {
        "load": {"users": users, "rate": rate, "duration_s": duration_s},
        "warmup_s": warmup_s,
        "metrics": metrics,
        "samples": {
            "ttft_ms": sub(ttft),
            "e2e_ms": sub(e2e),
            "itl_ms": sub(itl),
            "tpot_ms": sub(tpot),
        },
        "timeseries": timeseries,
        "errors": {"http_503": failures} if failures else {},
    }


def _bench(
    *,
    provider: str,
    base_url: str,
    model: str,
    started_at: str,
    calibrated: bool,
    **kw: Any,
) -> dict[str, Any]:
    run = _bench_run(**kw)
    ttft = run["metrics"]["ttft_ms"]
    result: dict[str, Any] = {
        "version": 1,
        "kind": "bench",
        "provider": provider,
        "base_url": base_url,
        "model": model,
        "stream": True,
        "harness_version": HARNESS,
        "started_at": started_at,
        "duration_s": run["load"]["duration_s"] + 1.7,
        "partial": False,
        "usage_fallback": False,
        **run,
    }
    if calibrated:
        result["calibration"] = {
            "true_ttft_ms": kw["ttft_ms"],
            "true_itl_ms": kw["itl_ms"],
            "ttft_error_ms": {"mean": 0.61, "p50": 0.48, "p90": 1.12, "p99": 2.9},
            "itl_error_ms": {"mean": 0.21, "p50": 0.15, "p90": 0.44, "p99": 1.3},
            "server_lateness_ms": {"mean": 0.35, "p50": 0.2, "p90": 0.8, "p99": 2.4},
        }
    else:
        result["calibration"] = None
    assert ttft["p50"] > 0
    return result


def _check(
    cid: str,
    title: str,
    severity: str,
    status: str,
    detail: str = "",
    evidence: dict[str, Any] | None = None,
    category: str = "",
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": cid,
        "title": title,
        "severity": severity,
        "status": status,
        "detail": detail,
        "evidence": evidence or {},
    }
    if category:
        out["category"] = category
    return out


CATALOGUE: list[tuple[str, str, str, str]] = [
    (
        "stream.content_type",
        "Streaming responses use Content-Type text/event-stream",
        "sdk",
        "stream",
    ),
    ("stream.done_sentinel", "The stream ends with data: [DONE]", "sdk", "stream"),
    ("stream.framing", "Every SSE event is terminated by a blank line", "sdk", "stream"),
    ("stream.chunk_object", "Chunks have object chat.completion.chunk", "client", "stream"),
    ("stream.stable_id", "Chunk id and created stay the same across a stream", "client", "stream"),
    ("stream.role_once", "role appears in the first delta only", "client", "stream"),
    (
        "stream.finish_reason_once",
        "finish_reason is set exactly once, from the allowed set",
        "client",
        "stream",
    ),
    (
        "usage.include_usage",
        "stream_options.include_usage adds one usage chunk with empty choices",
        "client",
        "usage",
    ),
    ("usage.totals", "total_tokens equals prompt_tokens + completion_tokens", "cosmetic", "usage"),
    (
        "params.max_tokens",
        "max_tokens is enforced and finish_reason is length",
        "client",
        "semantics",
    ),
    ("params.stop", "stop sequences end the output and are not included", "client", "semantics"),
    ("params.n", "n > 1 returns n choices indexed 0..n-1 (or a clean 4xx)", "client", "semantics"),
    ("errors.invalid_4xx", "Invalid requests are answered 4xx, not 200 or 500", "client", "errors"),
    (
        "errors.envelope",
        'Error bodies are {"error": {message, type, param, code}}',
        "sdk",
        "errors",
    ),
    ("auth.missing_key", "A request without a key is refused with 401", "client", "auth"),
    (
        "schema.response",
        "Non-streaming responses match the chat.completion schema",
        "sdk",
        "schema",
    ),
    ("schema.created_int", "created is an integer Unix timestamp", "cosmetic", "schema"),
    ("sdk.openai_python", "The official openai-python SDK parses the stream", "sdk", "sdk"),
]


def _checks(
    provider: str, base: str, model: str, overrides: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    out = []
    for cid, title, severity, category in CATALOGUE:
        o = overrides.get(cid, {})
        if o.get("absent"):
            continue
        out.append(
            _check(
                cid,
                title,
                severity,
                o.get("status", "passed"),
                o.get("detail", ""),
                o.get("evidence"),
                category,
            )
        )
    return out


def _check_result(
    provider: str, base: str, model: str, started_at: str, overrides: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    checks = _checks(provider, base, model, overrides)
    summary = {
        k: sum(1 for c in checks if c["status"] == k)
        for k in ("passed", "failed", "warned", "skipped", "error")
    }
    return {
        "version": 1,
        "kind": "check",
        "provider": provider,
        "base_url": base,
        "model": model,
        "harness_version": HARNESS,
        "started_at": started_at,
        "duration_s": 4.82,
        "checks": checks,
        "summary": summary,
    }


def _req(base: str, model: str) -> dict[str, Any]:
    return {
        "method": "POST",
        "url": base + "/chat/completions",
        "headers": {"content-type": "application/json", "authorization": "Bearer [REDACTED]"},
        "body": json.dumps(
            {
                "model": model,
                "messages": [{"role": "user", "content": "Count to five."}],
                "stream": True,
                "stream_options": {"include_usage": True},
            }
        ),
    }


def main() -> None:
    """Write every sample file next to this script."""
    files: dict[str, dict[str, Any]] = {}

    ref = "http://127.0.0.1:8711/v1"
    files["check_openai_reference.json"] = _check_result(
        "openai",
        ref,
        "conformance-echo-1",
        "2026-11-21T22:10:03Z",
        {
            "params.n": {
                "status": "skipped",
                "detail": "n > 1 refused with 400: a capability, not a failure.",
            }
        },
    )

    neb = "https://inference.nebulablock.com/v1"
    neb_model = "meta-llama/Llama-3.3-70B-Instruct"
    files["check_nebulablock.json"] = _check_result(
        "nebulablock",
        neb,
        neb_model,
        "2026-11-21T22:11:40Z",
        {
            "stream.done_sentinel": {
                "status": "failed",
                "detail": "The stream closed after the usage chunk without a data: [DONE] event.",
                "evidence": {
                    "request": _req(neb, neb_model),
                    "response": {
                        "status": 200,
                        "headers": {
                            "content-type": "text/event-stream; charset=utf-8",
                            "x-request-id": "req_8c1f2",
                        },
                        "body": 'data: {"id":"chatcmpl-9a","object":"chat.completion.chunk","created":1763763100,"choices":[{"index":0,"delta":{"content":"five."},"finish_reason":"stop"}]}\n\ndata: {"id":"chatcmpl-9a","object":"chat.completion.chunk","created":1763763100,"choices":[],"usage":{"prompt_tokens":14,"completion_tokens":9,"total_tokens":23}}\n\n',
                    },
                    "event": {
                        "index": 11,
                        "data": '{"id":"chatcmpl-9a","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":14,"completion_tokens":9,"total_tokens":23}}',
                    },
                    "events_seen": 12,
                },
            },
            "stream.role_once": {
                "status": "failed",
                "detail": "role 'assistant' repeated in 9 of 9 deltas; openai-python concatenates it.",
                "evidence": {
                    "event": {
                        "index": 2,
                        "data": '{"choices":[{"index":0,"delta":{"role":"assistant","content":" two"}}]}',
                    },
                },
            },
            "usage.totals": {
                "status": "failed",
                "detail": "total_tokens 24 != prompt_tokens 14 + completion_tokens 9",
                "evidence": {
                    "usage": {"prompt_tokens": 14, "completion_tokens": 9, "total_tokens": 24}
                },
            },
            "params.n": {
                "status": "warned",
                "detail": "n=2 answered with 1 choice and no error; treated as unsupported.",
            },
            "errors.envelope": {
                "status": "failed",
                "detail": 'Error body has no \'error\' object: {"detail": "Invalid model"}.',
                "evidence": {
                    "request": _req(neb, "no-such-model"),
                    "response": {
                        "status": 400,
                        "headers": {"content-type": "application/json"},
                        "body": '{"detail": "Invalid model"}',
                    },
                },
            },
        },
    )

    weai = "https://weai.productscience.ai/v1"
    files["check_weai.json"] = _check_result(
        "weai",
        weai,
        "llama3.1-8B",
        "2026-11-21T22:12:15Z",
        {
            "stream.finish_reason_once": {
                "status": "failed",
                "detail": "finish_reason 'eos' is not one of stop, length, tool_calls, content_filter, function_call.",
                "evidence": {
                    "event": {
                        "index": 31,
                        "data": '{"choices":[{"index":0,"delta":{},"finish_reason":"eos"}]}',
                    }
                },
            },
            "params.max_tokens": {
                "status": "failed",
                "detail": "max_tokens=8 returned 41 completion tokens with finish_reason stop.",
                "evidence": {
                    "request": _req(weai, "llama3.1-8B"),
                    "usage": {"completion_tokens": 41},
                },
            },
            "auth.missing_key": {
                "status": "error",
                "detail": "Timed out after 30.0 s waiting for response headers.",
            },
            "schema.created_int": {
                "status": "warned",
                "detail": "created is a float (1763763180.52).",
            },
        },
    )

    files["check_wetrocloud.json"] = {
        **_check_result(
            "wetrocloud",
            "https://api.wetrocloud.com",
            "gpt-4o-mini",
            "2026-11-21T22:13:02Z",
            {
                cid: {"absent": True}
                for cid, *_ in CATALOGUE
                if cid.startswith(("stream.", "usage.include", "params.n", "params.stop", "sdk."))
            }
            | {
                "schema.response": {
                    "status": "failed",
                    "detail": "'tokens' is a string ('57'), expected an integer.",
                    "evidence": {
                        "response": {
                            "status": 200,
                            "headers": {"content-type": "application/json"},
                            "body": '{"response": "Hello!", "tokens": "57", "success": true}',
                        }
                    },
                }
            },
        ),
    }

    # A conformance baseline for nebulablock: errors.envelope used to pass (now newly failing),
    # usage.include_usage used to fail (now newly passing).
    base = _check_result(
        "nebulablock",
        neb,
        neb_model,
        "2026-11-14T22:09:51Z",
        {
            "stream.done_sentinel": {
                "status": "failed",
                "detail": "The stream closed without a data: [DONE] event.",
            },
            "stream.role_once": {"status": "failed", "detail": "role repeated in every delta."},
            "usage.totals": {"status": "failed", "detail": "total_tokens off by one."},
            "usage.include_usage": {
                "status": "failed",
                "detail": "stream_options.include_usage ignored: no usage chunk.",
            },
            "params.n": {"status": "warned"},
        },
    )
    files["baseline_check_nebulablock.json"] = base

    # Bench: the embedded reference backend, 8 users, 60 s.
    common = {
        "provider": "openai",
        "base_url": ref,
        "model": "conformance-echo-1",
        "calibrated": True,
    }
    files["bench_openai_u8.json"] = _bench(
        **common,
        started_at="2026-11-21T22:20:00Z",
        seed=11,
        users=8,
        rate=None,
        duration_s=60,
        ttft_ms=120,
        itl_ms=18,
    )
    # Baseline the current run regressed against (TTFT and ITL were clearly lower).
    files["baseline_bench_openai_u8_faster.json"] = _bench(
        **common,
        started_at="2026-11-14T22:20:00Z",
        seed=12,
        users=8,
        rate=None,
        duration_s=60,
        ttft_ms=90,
        itl_ms=15,
    )
    # Baseline that differs only by noise (same distribution, another seed).
    files["baseline_bench_openai_u8_noise.json"] = _bench(
        **common,
        started_at="2026-11-14T22:40:00Z",
        seed=13,
        users=8,
        rate=None,
        duration_s=60,
        ttft_ms=120,
        itl_ms=18,
    )

    # NebulaBlock, open loop at 4 requests/s, no calibration (a remote target), some 503s.
    files["bench_nebulablock_rate4.json"] = _bench(
        provider="nebulablock",
        base_url=neb,
        model=neb_model,
        calibrated=False,
        started_at="2026-11-21T22:25:00Z",
        seed=21,
        users=None,
        rate=4.0,
        duration_s=45,
        ttft_ms=310,
        itl_ms=24,
        failure_rate=0.02,
        tokens_per_chunk=2.6,
    )

    # WeAI without per-request samples: comparison must say it could not judge significance.
    for name, seed, ttft in (
        ("bench_weai_u4_nosamples.json", 31, 260),
        ("baseline_bench_weai_u4_nosamples.json", 32, 200),
    ):
        r = _bench(
            provider="weai",
            base_url=weai,
            model="llama3.1-8B",
            calibrated=False,
            started_at="2026-11-21T22:30:00Z",
            seed=seed,
            users=4,
            rate=None,
            duration_s=30,
            ttft_ms=ttft,
            itl_ms=30,
        )
        del r["samples"]
        del r["timeseries"]
        r["usage_fallback"] = True
        files[name] = r

    # A concurrency sweep on the reference backend.
    steps = [
        _bench_run(
            seed=40 + i, users=u, rate=None, duration_s=40, ttft_ms=110, itl_ms=17, max_samples=250
        )
        for i, u in enumerate((1, 4, 16, 32))
    ]
    sweep = _bench(
        **common,
        started_at="2026-11-21T22:35:00Z",
        seed=40,
        users=1,
        rate=None,
        duration_s=20,
        ttft_ms=110,
        itl_ms=17,
    )
    sweep["load"] = {"users": [1, 4, 16, 32], "rate": None, "duration_s": 160}
    sweep["steps"] = steps
    sweep["duration_s"] = 160 + 6.4
    for key in ("samples", "timeseries", "metrics"):
        sweep.pop(key)
    sweep["metrics"] = steps[-1]["metrics"]
    files["bench_openai_sweep_users.json"] = sweep

    for name, data in files.items():
        (HERE / name).write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {name} ({(HERE / name).stat().st_size} bytes)")


if __name__ == "__main__":
    main()
