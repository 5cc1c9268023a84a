"""``conformance bench`` against an independent timed server, framing by framing.

    python benchmarks/bench_redteam.py                       # every framing, 1 and 64 users, 100 req/s
    python benchmarks/bench_redteam.py --framings vllm,ping --loads u1,u64,r100 --duration 10
    python benchmarks/bench_redteam.py --json benchmarks/out/redteam.json

The server (tests/bench_redteam/server.py, raw asyncio, its own process, nothing from
``conformance``) sends ``--max-tokens`` one-word tokens: the first ``--ttft-ms`` after
it read the request, each next one ``--itl-ms`` later, at absolute deadlines; coalescing
framings send k tokens per chunk (true inter-chunk gap k * ITL). Each row is one
``conformance bench`` run; the columns:

- ``ttft_err``: TTFT p50 minus the truth (nominal TTFT + the server's own first-token
  lateness p50, from its /stats);
- ``itl_err``: ITL p50 minus the true inter-chunk gap (k * ITL);
- ``tok/chunk``: the harness's tokens per chunk (truth k);
- ``of_ideal``: requests/s over the ideal users / (TTFT + (chunks - 1) * k * ITL), or over
  the asked rate for open-loop rows, with ``sched_p99`` the schedule delay p99;
- ``tok_ok``: output tokens/s over requests/s * max_tokens (1.000 = every token counted);
- ``lost``: requests the server completed minus those the harness counted (warm-up included);
- ``srvlt``: the server's own first-token lateness p50 (already taken off ``ttft_err``).

The JSON (``--json``) also holds the server's accept-to-request time p50 for new
connections (``server_accept_p50``), which the harness cannot tell from TTFT, and the
p50 of the gaps between the server's actual sends (``server_gap_p50``, the ITL it really
kept; ``itl_err`` is against the nominal gap).

The machine's other load moves every timing column: repeat a row before believing it.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.bench_redteam import running_server  # noqa: E402
from tests.bench_redteam.server import FRAMINGS  # noqa: E402

#: where each run's bench result is kept (``--raw``), else nowhere
RAW_DIR: Path | None = None
CONFORMANCE = str(Path(sys.executable).with_name("conformance"))


def _stats(root: str, reset: bool = False) -> dict[str, Any]:
    req = urllib.request.Request(root + ("/stats/reset" if reset else "/stats"))
    if reset:
        req.method = "POST"
        req.data = b""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(req, timeout=10) as resp:
        data: dict[str, Any] = json.loads(resp.read())
        return data


def run_one(
    root: str, framing: str, load: str, *, duration: int, max_tokens: int, ttft: float, itl: float
) -> dict[str, Any]:
    """One bench run of ``framing`` at ``load`` (u<users>, r<rate>, or n<users> non-streamed)."""
    _stats(root, reset=True)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "r.json"
        args = [CONFORMANCE, "bench", "--provider", "openai", "--base-url", f"{root}/{framing}/v1"]
        args += ["--duration", str(duration), "--max-tokens", str(max_tokens), "--json", str(out)]
        args += ["--timeout", "20"]
        kind, num = load[0], load[1:]
        args += ["--rate", num] if kind == "r" else ["--users", num]
        if kind == "n":
            args.append("--no-stream")
        proc = subprocess.run(args, capture_output=True, text=True, timeout=duration + 120)
        if not out.exists():
            return {"framing": framing, "load": load, "error": proc.stderr.strip()[-300:]}
        res = json.loads(out.read_text())
        if RAW_DIR is not None:
            RAW_DIR.mkdir(parents=True, exist_ok=True)
            (RAW_DIR / f"{framing}-{load}.json").write_text(out.read_text())
    stats = _stats(root)
    m = res["metrics"]
    k = FRAMINGS[framing].per_chunk if kind != "n" else 1
    chunks = math.ceil(max_tokens / k)
    first_late = (stats["first_token_lateness_ms"] or {}).get("p50") or 0.0
    true_ttft = ttft + first_late
    true_gap = k * itl
    e2e = (
        (ttft + (chunks - 1) * k * itl) / 1000.0
        if kind != "n"
        else (ttft + (max_tokens - 1) * itl) / 1000.0
    )
    ideal = float(num) if kind == "r" else int(num) / e2e
    ttft_p50 = (m.get("ttft_ms") or {}).get("p50")
    itl_p50 = (m.get("itl_ms") or {}).get("p50")
    tpc = (m.get("tokens_per_chunk") or {}).get("p50")
    rps = m["requests_per_s"]
    served = sum(stats["completed"].values())
    counted = m["requests"] + m["failures"] + m.get("warmup_requests", 0)
    e2e_p50 = (m.get("e2e_ms") or {}).get("p50")
    return {
        "framing": framing,
        "load": load,
        "requests": m["requests"],
        "failures": m["failures"],
        "errors": res.get("errors"),
        "ttft_p50": ttft_p50,
        "ttft_err": None if ttft_p50 is None else round(ttft_p50 - true_ttft, 3),
        "itl_p50": itl_p50,
        "itl_err": None if itl_p50 is None else round(itl_p50 - true_gap, 3),
        "e2e_err": None if e2e_p50 is None else round(e2e_p50 - e2e * 1000.0 - first_late, 3),
        "tok_per_chunk": tpc,
        "true_tok_per_chunk": k,
        "rps": rps,
        "ideal": round(ideal, 2),
        "of_ideal": round(rps / ideal, 4) if ideal else None,
        "tok_ok": round(m["output_tokens_per_s"] / (rps * max_tokens), 4) if rps else None,
        "fallback": res.get("usage_fallback"),
        "sched_p99": (m.get("schedule_delay_ms") or {}).get("p99"),
        "lost": served - counted,
        "server_late_p50": first_late,
        "server_next_late_p99": (stats["next_token_lateness_ms"] or {}).get("p99"),
        "server_accept_p50": (stats.get("accept_to_request_ms") or {}).get("p50"),
        "server_gap_p50": (stats.get("sent_gap_ms") or {}).get("p50"),
    }


def _f(value: Any, spec: str) -> str:
    if value is None:
        return format("-", ">" + spec.split(".")[0])
    return format(value, spec)


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as a fixed-width table."""
    head = (
        f"{'framing':<20}{'load':>6}{'reqs':>6}{'fail':>5}{'ttft_err':>9}{'itl_err':>8}"
        f"{'e2e_err':>8}{'tpc':>6}{'/k':>3}{'rps':>8}{'ideal':>8}{'of_id':>7}{'tok_ok':>7}"
        f"{'fb':>3}{'sch99':>7}{'lost':>5}{'srvlt':>6}"
    )
    lines = [head]
    for r in rows:
        if "error" in r:
            lines.append(f"{r['framing']:<20}{r['load']:>6}  ERROR {r['error']}")
            continue
        lines.append(
            f"{r['framing']:<20}{r['load']:>6}{r['requests']:>6}{r['failures']:>5}"
            f"{_f(r['ttft_err'], '9.2f')}{_f(r['itl_err'], '8.2f')}{_f(r['e2e_err'], '8.1f')}"
            f"{_f(r['tok_per_chunk'], '6.2f')}{r['true_tok_per_chunk']:>3}{r['rps']:>8.2f}"
            f"{r['ideal']:>8.2f}{_f(r['of_ideal'], '7.3f')}{_f(r['tok_ok'], '7.3f')}"
            f"{'y' if r['fallback'] else 'n':>3}{_f(r['sched_p99'], '7.2f')}{r['lost']:>5}"
            f"{r['server_late_p50']:>6.2f}"
        )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--framings", default=",".join(FRAMINGS))
    p.add_argument("--loads", default="u1,u64,r100", help="u<users>, r<rate>, n<users> (no-stream)")
    p.add_argument("--duration", type=int, default=12)
    p.add_argument("--max-tokens", type=int, default=32)
    p.add_argument("--ttft-ms", type=float, default=50.0)
    p.add_argument("--itl-ms", type=float, default=10.0)
    p.add_argument("--json", type=Path)
    p.add_argument("--raw", type=Path, help="keep every run's bench result in this folder")
    a = p.parse_args()
    global RAW_DIR
    RAW_DIR = a.raw
    rows: list[dict[str, Any]] = []
    with running_server(a.ttft_ms, a.itl_ms, limit_s=3600) as root:
        for framing in a.framings.split(","):
            for load in a.loads.split(","):
                row = run_one(
                    root,
                    framing,
                    load,
                    duration=a.duration,
                    max_tokens=a.max_tokens,
                    ttft=a.ttft_ms,
                    itl=a.itl_ms,
                )
                rows.append(row)
                print(table([row]).splitlines()[-1], flush=True)
    print()
    print(
        f"truth: TTFT {a.ttft_ms:g} ms, ITL {a.itl_ms:g} ms, {a.max_tokens} tokens; "
        f"{a.duration}s per run (warm-up excluded by bench)"
    )
    print(table(rows))
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
