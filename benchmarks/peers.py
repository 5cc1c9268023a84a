"""``conformance bench`` side by side with what users would otherwise run, in one invocation.

    python benchmarks/peers.py --quick        # about a minute: 64 and 256 users, one round
    python benchmarks/peers.py                # 1, 64, 256 users, 1 and 2 workers, 2 rounds
    tox -e perf -- --quick

One reference backend (the embedded backend in a process of its own, TTFT 50 ms, ITL
10 ms, 32 tokens per answer) serves every run. Each load (a closed loop of N users, in
one Locust process or a master with ``--workers`` processes) is run by every client in
turn, round after round (A/B/A/B), so a machine that gets busier half-way through does
not favour one client:

- ``conformance``: ``python -m conformance.loadgen`` (what ``conformance bench`` runs);
- ``plain``: ``benchmarks/plain_locust_user.py``, a ``FastHttpUser`` written as Locust's
  documentation and blog posts write it (``benchmarks/peer_recorder.py`` keeps the values
  it reports at full precision; Locust's own table rounds them to whole milliseconds);
- other load generators (AIPerf, GuideLLM) are looked for on the PATH and reported absent.

For each run: the TTFT and ITL p50 error (p50 minus the known timing minus the backend's
own lateness p50, ``GET /stats``, reset before each run), the successful requests/s
against the ideal ``users / (TTFT + 31 ITL)``, and the client's CPU milliseconds per
request: the CPU time of the client's whole process tree (psutil, sampled every quarter
second) over the measuring window, divided by the requests completed in it. The table
gives the median over rounds and the ratio ours / baseline; ``--json`` (default
``benchmarks/out/peers.json``) keeps every run.

The numbers depend on the machine and on what else runs on it: compare the two clients
within one invocation, not across invocations.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

TTFT_MS = 50.0
ITL_MS = 10.0
TOKENS = 32
HERE = Path(__file__).resolve().parent
#: the clients compared, the first being ours (the numerator of every ratio), the second
#: the baseline (the denominator); any others are shown beside them
CLIENTS = ("conformance", "plain", "plain-iter_lines")
#: the plain clients: their user class in ``plain_locust_user.py``
PLAIN_CLASSES = {"plain": "PlainChatStreamUser", "plain-iter_lines": "PlainIterLinesUser"}
#: other load generators looked for on the PATH
OTHER_TOOLS = ("aiperf", "guidellm")
#: seconds between two samples of the client's CPU time
_CPU_EVERY_S = 0.25
#: seconds left out at the end of the run (the load stops; CPU samples get uncertain)
_TAIL_S = 0.5


# -- pure parts: what a run measured, and the table ----------------------------------------


def ideal_rate(users: int) -> float:
    """Requests/s a closed loop of ``users`` reaches against a perfectly punctual backend."""
    return users / ((TTFT_MS + (TOKENS - 1) * ITL_MS) / 1000.0)


def median(values: Iterable[float]) -> float | None:
    """The median, or ``None`` for no values."""
    data = list(values)
    return statistics.median(data) if data else None


def cpu_between(samples: Sequence[tuple[float, float]], start: float, end: float) -> float | None:
    """CPU seconds spent between two wall-clock times, from (wall, cumulative CPU) samples.

    Linear interpolation between the samples around each end; ``None`` when the
    samples do not cover the interval.
    """

    def at(t: float) -> float | None:
        for (t0, c0), (t1, c1) in itertools.pairwise(samples):
            if t0 <= t <= t1:
                return c0 if t1 == t0 else c0 + (c1 - c0) * (t - t0) / (t1 - t0)
        return None

    first, last = at(start), at(end)
    if first is None or last is None or end <= start:
        return None
    return last - first


@dataclass(slots=True)
class Measured:
    """What one client measured in one run, before the backend's lateness is taken off."""

    ttft_p50_ms: float | None
    itl_p50_ms: float | None
    #: successful requests per second over the measuring window
    req_per_s: float
    #: (start, end) of the measuring window, wall clock
    window: tuple[float, float]


def plain_measured(
    records: Iterable[Sequence[Any]], started: float, warmup_s: float, duration_s: float
) -> Measured:
    """Summarise the plain user's reported values (``peer_recorder``) over the window.

    ``records`` are ``(wall, request_type, response_time_ms, ok)``; the window runs from
    ``started + warmup_s`` to ``started + duration_s``. A request counts as done when its
    ``ITL`` (reported once its stream ended) falls in the window.
    """
    lo, hi = started + warmup_s, started + duration_s
    ttft: list[float] = []
    itl: list[float] = []
    for wall, kind, value, ok in records:
        if not ok or not lo <= wall < hi:
            continue
        if kind == "TTFT":
            ttft.append(float(value))
        elif kind == "ITL":
            itl.append(float(value))
    span = max(hi - lo, 1e-9)
    return Measured(median(ttft), median(itl), len(itl) / span, (lo, hi))


def conformance_measured(result: dict[str, Any], started: float) -> Measured:
    """The same figures from a ``conformance bench`` result (before lateness is taken off).

    The ITL is the median of each request's mean gap (the result's ``samples.itl_ms``),
    as the plain user reports it.
    """
    m = result["metrics"]
    warm = float(result.get("warmup_s") or 0.0)
    window = float(result.get("window_s") or 0.0)
    # the plain user reports each request's mean gap: compare the same thing (the bench's
    # ``itl_ms`` is over every gap, which reads 0 when a late server sends tokens in bursts)
    means = (result.get("samples") or {}).get("itl_ms") or []
    itl = median(means) if means else (m.get("itl_ms") or {}).get("p50")
    return Measured(
        (m.get("ttft_ms") or {}).get("p50"),
        itl,
        float(m.get("requests_per_s") or 0.0),
        (started + warm, started + warm + window),
    )


@dataclass(slots=True)
class Row:
    """One run of one client: the figures the table shows."""

    client: str
    users: int
    workers: int
    round: int
    ttft_err_ms: float | None
    itl_err_ms: float | None
    req_per_s: float
    ideal_req_per_s: float
    cpu_ms_per_req: float | None
    backend_lateness_p50_ms: float | None
    #: what the client says of its own CPU cost, where it says (``conformance``: from
    #: the Locust run's start to its stop, warm-up, drain and result writing included)
    self_cpu_ms_per_req: float | None = None
    #: the backend's own CPU per request it answered during the run (a client whose
    #: requests cost the backend more makes it later)
    backend_cpu_ms_per_req: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def of_ideal(self) -> float:
        """Achieved requests/s as a share of the ideal."""
        ideal = ideal_rate(self.users)
        return self.req_per_s / ideal if ideal else 0.0


def make_row(
    client: str,
    users: int,
    workers: int,
    round_: int,
    measured: Measured,
    lateness: dict[str, Any],
    cpu_s: float | None,
) -> Row:
    """Errors against the known timing with the backend's own lateness p50 taken off.

    The TTFT error is ``p50 - TTFT - lateness(first token) p50``. A constant lateness
    cancels out of the gaps between tokens, so the ITL error is ``p50 - ITL``.
    """
    late = ((lateness.get("ttft_lateness_ms") or {}).get("p50")) if lateness else None
    ttft_err = None
    if measured.ttft_p50_ms is not None:
        ttft_err = measured.ttft_p50_ms - TTFT_MS - (late or 0.0)
    itl_err = None if measured.itl_p50_ms is None else measured.itl_p50_ms - ITL_MS
    lo, hi = measured.window
    done = measured.req_per_s * (hi - lo)
    cpu_ms = None if cpu_s is None or done <= 0 else cpu_s * 1000.0 / done
    return Row(
        client,
        users,
        workers,
        round_,
        None if ttft_err is None else round(ttft_err, 3),
        None if itl_err is None else round(itl_err, 3),
        round(measured.req_per_s, 2),
        round(ideal_rate(users), 2),
        None if cpu_ms is None else round(cpu_ms, 3),
        None if late is None else round(late, 3),
    )


def ratio(ours: float | None, baseline: float | None) -> float | None:
    """``ours / baseline``; ``None`` when either is missing or the baseline is zero."""
    if ours is None or baseline is None or baseline == 0:
        return None
    return ours / baseline


#: the columns compared: (key, header, how a Row gives it)
_METRICS: tuple[tuple[str, str], ...] = (
    ("ttft_err_ms", "TTFT err ms"),
    ("itl_err_ms", "ITL err ms"),
    ("of_ideal", "of ideal"),
    ("cpu_ms_per_req", "CPU ms/req"),
    ("backend_lateness_p50_ms", "backend late ms"),
)


def _value(row: Row, key: str) -> float | None:
    value = getattr(row, key)
    return None if value is None else float(value)


def summarise(rows: Sequence[Row]) -> list[dict[str, Any]]:
    """Per load (users, workers): each client's median over rounds, and ours / baseline.

    Errors are compared by their size (``|ours| / |baseline|``): below 1 is better for
    errors and CPU, above 1 better for the share of the ideal rate.
    """
    loads = sorted({(r.users, r.workers) for r in rows}, key=lambda k: (k[1], k[0]))
    out: list[dict[str, Any]] = []
    for users, workers in loads:
        entry: dict[str, Any] = {"users": users, "workers": workers, "clients": {}}
        for client in sorted({r.client for r in rows}, key=_client_order):
            mine = [r for r in rows if (r.users, r.workers, r.client) == (users, workers, client)]
            entry["clients"][client] = {
                key: median(v for r in mine if (v := _value(r, key)) is not None)
                for key, _ in _METRICS
            } | {
                "rounds": len(mine),
                "req_per_s": median(r.req_per_s for r in mine),
                # each round's figures, to see how far apart the rounds were
                "per_round": {key: [_value(r, key) for r in mine] for key, _ in _METRICS},
            }
        ours = entry["clients"].get(CLIENTS[0], {})
        base = entry["clients"].get(CLIENTS[1], {})
        ratios: dict[str, float | None] = {}
        for key, _ in _METRICS:
            a, b = ours.get(key), base.get(key)
            if key.endswith("err_ms"):
                a, b = (None if a is None else abs(a)), (None if b is None else abs(b))
            ratios[key] = ratio(a, b)
        entry["ratio"] = ratios
        out.append(entry)
    return out


def _client_order(name: str) -> tuple[int, str]:
    return (CLIENTS.index(name) if name in CLIENTS else len(CLIENTS), name)


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def format_table(summary: Sequence[dict[str, Any]]) -> str:
    """The comparison as a Markdown table: one line per load and client, then the ratio."""
    head = (
        "| users | workers | client | TTFT err ms | ITL err ms | req/s (ideal) "
        "| CPU ms/req | backend late p50 ms |"
    )
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    for entry in summary:
        users, workers = entry["users"], entry["workers"]
        ideal = ideal_rate(users)
        for client, c in entry["clients"].items():
            lines.append(
                f"| {users} | {workers} | {client} | {_fmt(c['ttft_err_ms'], '+.2f')} "
                f"| {_fmt(c['itl_err_ms'], '+.2f')} | {_fmt(c['req_per_s'], '.1f')} ({ideal:.0f}) "
                f"| {_fmt(c['cpu_ms_per_req'], '.3f')} "
                f"| {_fmt(c['backend_lateness_p50_ms'], '.2f')} |"
            )
        r = entry["ratio"]
        lines.append(
            f"| {users} | {workers} | **ours / plain** | {_fmt(r['ttft_err_ms'], '.2f')}x "
            f"| {_fmt(r['itl_err_ms'], '.2f')}x | {_fmt(r['of_ideal'], '.3f')}x "
            f"| {_fmt(r['cpu_ms_per_req'], '.2f')}x | {_fmt(r['backend_lateness_p50_ms'], '.2f')}x |"
        )
    return "\n".join(lines)


def other_tools(which: Any = shutil.which) -> dict[str, str | None]:
    """The other load generators found on the PATH (name -> path, or ``None``: absent)."""
    return {name: which(name) for name in OTHER_TOOLS}


# -- running: the backend, the clients, the CPU samples ----------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _backend_stats(root: str, *, reset: bool = False) -> dict[str, Any]:
    req = urllib.request.Request(root + ("/stats/reset" if reset else "/stats"))
    if reset:
        req.method, req.data = "POST", b""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(req, timeout=10) as resp:
        data: dict[str, Any] = json.loads(resp.read())
        return data


def _tree_cpu(root: Any, seen: dict[int, float]) -> float:
    """User + system CPU seconds of a process and all its descendants, so far.

    ``seen`` keeps each process's last reading, so a process that exited (a Locust
    worker ending before its master) still counts what it spent: the sum never falls.
    """
    import psutil

    for proc in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            t = proc.cpu_times()
            seen[proc.pid] = max(seen.get(proc.pid, 0.0), t.user + t.system)
    return sum(seen.values())


def _backend_process() -> Any:
    """The reference backend's process (a child of this one), or ``None``."""
    import psutil

    for child in psutil.Process().children():
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            if "conformance.backend" in " ".join(child.cmdline()):
                return child
    return None


def _cpu_s(proc: Any) -> float | None:
    if proc is None:
        return None
    t = proc.cpu_times()
    return float(t.user + t.system)


def _workers_args(workers: int) -> list[str]:
    if workers <= 1:
        return []
    port = str(_free_port())
    return [
        "--processes",
        str(workers),
        "--master-bind-host",
        "127.0.0.1",
        "--master-bind-port",
        port,
        "--master-host",
        "127.0.0.1",
        "--master-port",
        port,
    ]


def _common_args(base_url: str, users: int, duration_s: float) -> list[str]:
    return [
        "--headless",
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--host",
        base_url,
        "--users",
        str(users),
        "--spawn-rate",
        str(users),
        "--run-time",
        f"{duration_s:g}s",
        "--stop-timeout",
        "5",
    ]


@dataclass(slots=True)
class Launched:
    """A finished client process: its CPU samples and where it left its output."""

    samples: list[tuple[float, float]]
    returncode: int
    log: str


def _launch(args: list[str], env: dict[str, str], limit_s: float, log_path: Path) -> Launched:
    """Run a client to its end (bounded), sampling its process tree's CPU time."""
    import psutil

    samples: list[tuple[float, float]] = []
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        root = psutil.Process(process.pid)
        seen: dict[int, float] = {}
        deadline = time.monotonic() + limit_s
        try:
            while process.poll() is None:
                with contextlib.suppress(psutil.NoSuchProcess):
                    samples.append((time.time(), _tree_cpu(root, seen)))
                if time.monotonic() > deadline:
                    process.send_signal(signal.SIGTERM)
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        process.wait(timeout=10)
                    break
                time.sleep(_CPU_EVERY_S)
        finally:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)  # its own session: only what we started
            process.wait(timeout=10)
    return Launched(samples, process.returncode, log_path.read_text("utf-8", "replace")[-2000:])


def run_conformance(
    client: str,
    base_url: str,
    users: int,
    workers: int,
    duration_s: float,
    warmup_s: float,
    tmp: Path,
) -> tuple[Measured, float | None, list[str], float | None]:
    """One ``conformance bench`` load run: what it measured, its CPU seconds in the window."""
    out = tmp / f"conformance-{users}-{workers}.json"
    out.unlink(missing_ok=True)
    args = [sys.executable, "-m", "conformance.loadgen", *_common_args(base_url, users, duration_s)]
    args += ["--result-json", str(out), "--max-tokens", str(TOKENS), "--warmup", f"{warmup_s:g}"]
    args += ["--true-ttft-ms", f"{TTFT_MS:g}", "--true-itl-ms", f"{ITL_MS:g}"]
    args += [*_workers_args(workers), "BenchUser"]
    launched = _launch(args, dict(os.environ), duration_s + 60, tmp / "conformance.log")
    if not out.exists():
        raise RuntimeError(f"conformance bench left no result: {launched.log[-500:]}")
    result = json.loads(out.read_bytes())
    if not result.get("final"):
        raise RuntimeError(f"conformance bench did not finish its result: {launched.log[-500:]}")
    # the run's start: the result's clock (started_at is to the second only)
    stopped = out.stat().st_mtime
    started = stopped - float(result.get("duration_s") or 0.0)
    measured = conformance_measured(result, started)
    lo, hi = measured.window
    notes = list(result.get("notes") or [])
    if result["metrics"].get("failures"):
        notes.append(f"{result['metrics']['failures']} failed")
    own = (result.get("client") or {}).get("cpu_ms_per_request")
    return measured, cpu_between(launched.samples, lo, hi - _TAIL_S), notes, own


def run_plain(
    client: str,
    base_url: str,
    users: int,
    workers: int,
    duration_s: float,
    warmup_s: float,
    tmp: Path,
) -> tuple[Measured, float | None, list[str], float | None]:
    """One run of a plain Locust user: what it reported, its CPU seconds in the window."""
    record_dir = tmp / f"{client}-{users}-{workers}"
    shutil.rmtree(record_dir, ignore_errors=True)
    record_dir.mkdir()
    files = f"{HERE / 'plain_locust_user.py'},{HERE / 'peer_recorder.py'}"
    args = [sys.executable, "-m", "locust", "-f", files, *_common_args(base_url, users, duration_s)]
    args += [*_workers_args(workers), PLAIN_CLASSES[client]]
    env = dict(os.environ, PEER_RECORD_DIR=str(record_dir), PLAIN_MAX_TOKENS=str(TOKENS))
    launched = _launch(args, env, duration_s + 60, tmp / "plain.log")
    records: list[Sequence[Any]] = []
    for path in record_dir.glob("*.json"):
        records.extend(json.loads(path.read_text()))
    if not records:
        raise RuntimeError(f"the plain Locust user reported nothing: {launched.log[-500:]}")
    # the load starts when the first request is sent: its first TTFT minus that TTFT
    first = min(records, key=lambda r: r[0])
    started = first[0] - (first[2] / 1000.0 if first[1] == "TTFT" else 0.0)
    measured = plain_measured(records, started, warmup_s, duration_s)
    lo, hi = measured.window
    failed = sum(1 for r in records if not r[3])
    notes = [f"{failed} failed"] if failed else []
    return measured, cpu_between(launched.samples, lo, hi - _TAIL_S), notes, None


@contextlib.contextmanager
def reference_backend() -> Iterator[tuple[str, str]]:
    """The embedded backend in a process of its own: (OpenAI base URL, root)."""
    from conformance.backend import BackendConfig, serve_in_process

    config = BackendConfig(
        ttft_ms=TTFT_MS, itl_ms=ITL_MS, min_natural_tokens=TOKENS, max_natural_tokens=TOKENS
    )
    with serve_in_process(config) as root:
        yield root.rstrip("/") + "/v1", root


RUNNERS = {"conformance": run_conformance, "plain": run_plain, "plain-iter_lines": run_plain}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="about a minute: a first look")
    parser.add_argument("--users", default=None, help="closed-loop user counts (1,64,256)")
    parser.add_argument("--workers", default=None, help="Locust worker processes (1,2)")
    parser.add_argument("--rounds", type=int, default=None, help="A/B rounds (2)")
    parser.add_argument("--duration", type=float, default=None, help="seconds per run (20)")
    parser.add_argument("--warmup", type=float, default=None, help="seconds left out (4)")
    parser.add_argument("--clients", default=None, help=f"which of {','.join(CLIENTS)}")
    parser.add_argument("--json", default=str(HERE / "out" / "peers.json"), help="output file")
    args = parser.parse_args(argv)
    quick = args.quick
    users = [int(u) for u in (args.users or ("64,256" if quick else "1,64,256")).split(",")]
    workers = [int(w) for w in (args.workers or ("1" if quick else "1,2")).split(",")]
    clients = (args.clients or ",".join(CLIENTS[:2] if quick else CLIENTS)).split(",")
    unknown = set(clients) - set(CLIENTS)
    if unknown:
        parser.error(
            f"unknown client(s) {', '.join(sorted(unknown))}: pick from {', '.join(CLIENTS)}"
        )
    rounds = args.rounds or (1 if quick else 2)
    duration = args.duration or (10.0 if quick else 20.0)
    warmup = args.warmup if args.warmup is not None else (3.0 if quick else 4.0)
    tools = other_tools()
    notes = [
        f"{name}: not on the PATH, skipped"
        if path is None
        else f"{name}: found at {path}, not run (no adapter for its command line yet)"
        for name, path in tools.items()
    ]
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="peers-") as tmp, reference_backend() as (base, root):
        backend = _backend_process()
        # round after round (A/B/A/B): every client runs each load once per round
        loads = itertools.product(range(1, rounds + 1), workers, users, clients)
        for round_, w, u, client in loads:
            _backend_stats(root, reset=True)
            backend_cpu = _cpu_s(backend)
            measured, cpu_s, run_notes, own_cpu = RUNNERS[client](
                client, base, u, w, duration, warmup, Path(tmp)
            )
            lateness = _backend_stats(root)
            backend_cpu_after = _cpu_s(backend)
            row = make_row(client, u, w, round_, measured, lateness, cpu_s)
            row.notes = run_notes
            row.self_cpu_ms_per_req = own_cpu
            served = int(lateness.get("requests") or 0)
            if backend_cpu is not None and backend_cpu_after is not None and served:
                spent = backend_cpu_after - backend_cpu
                row.backend_cpu_ms_per_req = round(spent * 1000.0 / served, 3)
            rows.append(row)
            print(
                f"  round {round_}: {u} users, {w} worker(s), {client}: "
                f"TTFT err {_fmt(row.ttft_err_ms, '+.2f')} ms, "
                f"{row.req_per_s:.1f} req/s, CPU {_fmt(row.cpu_ms_per_req, '.3f')} ms/req, "
                f"backend CPU {_fmt(row.backend_cpu_ms_per_req, '.3f')} ms/req",
                file=sys.stderr,
            )
    summary = summarise(rows)
    print(
        f"TTFT {TTFT_MS:g} ms, ITL {ITL_MS:g} ms, {TOKENS} tokens; errors are p50 minus truth "
        f"minus the backend's lateness p50; medians of {rounds} round(s) of {duration:g} s"
    )
    print(format_table(summary))
    for note in notes:
        print(f"note: {note}")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "load_avg_1m": os.getloadavg()[0]},
        "settings": {
            "ttft_ms": TTFT_MS,
            "itl_ms": ITL_MS,
            "tokens": TOKENS,
            "duration_s": duration,
            "warmup_s": warmup,
            "rounds": rounds,
        },
        "summary": summary,
        "runs": [asdict(r) | {"of_ideal": round(r.of_ideal, 4)} for r in rows],
        "notes": notes,
    }
    out.write_text(json.dumps(payload, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
