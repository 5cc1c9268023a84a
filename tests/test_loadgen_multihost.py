"""A bench spread over machines: a master and two workers, separate processes on TCP only.

Each process has an environment of its own and its own key (the reference backend
accepts the three keys and nothing else); they meet only over TCP on 127.0.0.1, as they
would on different hosts. The master's merged histograms must hold exactly what the
workers measured (each worker writes its own record with ``--json``), and a worker
killed mid-run must be named in the result and fail the bench, never silently dropped.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from conformance.loadgen.roster import Roster, Totals
from conformance.loadgen.verdict import judge_step
from conformance.metrics import LatencyHistogram

KEYS = {
    "master": "mh-master-key-0123456789abcdef",
    "w1": "mh-worker1-key-0123456789abcdef",
    "w2": "mh-worker2-key-0123456789abcdef",
}
#: the variable every process reads its key from (each has a different value)
KEY_VAR = "MH_BENCH_KEY"
#: percentiles compared between the master's histograms and the workers' merged ones
PERCENTILES = (0.0, 25.0, 50.0, 90.0, 99.0, 99.9, 100.0)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(key: str | None, **extra: str) -> dict[str, str]:
    """A process's own environment: the parent's, minus every test key, plus its own."""
    others = {KEY_VAR, "MH_KEY_1", "MH_KEY_2", "MH_KEY_3"}
    env = {k: v for k, v in os.environ.items() if k not in others}
    if key is not None:
        env[KEY_VAR] = key
    env.update(extra)
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Procs:
    """Processes started by a test; every one (and what it started) is ended afterwards."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        out = open(self.tmp / f"{name}.out", "wb")  # noqa: SIM115 (closed with the process)
        err = open(self.tmp / f"{name}.err", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "conformance", *args],
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        out.close()
        err.close()
        self.started.append(proc)
        return proc

    def text(self, name: str) -> str:
        return (self.tmp / f"{name}.out").read_text() + (self.tmp / f"{name}.err").read_text()

    def kill_tree(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL a process and every process it started (a lost machine)."""
        with contextlib.suppress(psutil.NoSuchProcess):
            parent = psutil.Process(proc.pid)
            for p in [*parent.children(recursive=True), parent]:
                with contextlib.suppress(psutil.NoSuchProcess):
                    p.kill()
        proc.wait(timeout=10)

    def cleanup(self) -> None:
        """End every process still running, and whatever it started."""
        family: list[psutil.Process] = []
        for proc in self.started:
            if proc.poll() is None:
                with contextlib.suppress(psutil.NoSuchProcess):
                    family += psutil.Process(proc.pid).children(recursive=True)
                proc.send_signal(signal.SIGTERM)
        for proc in self.started:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill_tree(proc)
        for child in family:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Procs]:
    p = Procs(tmp_path)
    try:
        yield p
    finally:
        p.cleanup()


@pytest.fixture
def backend(procs: Procs) -> str:
    """``conformance serve`` in its own process, accepting the three keys and no other."""
    env = _env(None, MH_KEY_1=KEYS["master"], MH_KEY_2=KEYS["w1"], MH_KEY_3=KEYS["w2"])
    args = ["serve", "--port", "0", "--ttft-ms", "10", "--itl-ms", "2"]
    args += ["--api-key-env", "MH_KEY_1", "--api-key-env", "MH_KEY_2", "--api-key-env", "MH_KEY_3"]
    proc = procs.start("serve", args, env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = (procs.tmp / "serve.out").read_text()
        if "listening on " in text:
            root = text.split("listening on ", 1)[1].split()[0]
            return root + "/v1"
        assert proc.poll() is None, procs.text("serve")
        time.sleep(0.1)
    pytest.fail("conformance serve did not start within 30 s")


def _master(
    procs: Procs, base_url: str, port: int, out: Path, *, duration: int, wait: float = 30
) -> subprocess.Popen[bytes]:
    args = ["bench", "--base-url", base_url, "--api-key-env", KEY_VAR, "--model", "gpt-4o-mini"]
    args += ["--expect-workers", "2", "--master-bind-host", "127.0.0.1"]
    args += ["--master-port", str(port), "--worker-wait", f"{wait:g}"]
    args += ["--users", "4", "--duration", str(duration), "--warmup", "1", "--timeout", "5"]
    args += ["--max-tokens", "8", "--json", str(out)]
    return procs.start("master", args, _env(KEYS["master"]))


def _worker(procs: Procs, name: str, port: int, out: Path) -> subprocess.Popen[bytes]:
    args = ["bench", "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)]
    args += ["--worker-wait", "30", "--json", str(out)]
    return procs.start(name, args, _env(KEYS[name]))


def _wait(proc: subprocess.Popen[bytes], procs: Procs, name: str, timeout: float) -> int:
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{name} did not finish within {timeout:g} s:\n{procs.text(name)}")


def _read(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _merged(records: list[dict[str, Any]], name: str) -> LatencyHistogram:
    hist = LatencyHistogram()
    for record in records:
        text = record["histograms"].get(name)
        if text:
            hist.merge(LatencyHistogram.decode(text))
    return hist


def _no_key_in(procs: Procs, *paths: Path) -> None:
    texts = [p.read_text() for p in paths if p.exists()]
    texts += [procs.text(n) for n in ("master", "w1", "w2") if (procs.tmp / f"{n}.out").exists()]
    for key in KEYS.values():
        assert all(key not in text for text in texts)


def test_master_merges_exactly_what_the_workers_measured(
    procs: Procs, backend: str, tmp_path: Path
) -> None:
    port = _free_port()
    out, w1_out, w2_out = tmp_path / "master.json", tmp_path / "w1.json", tmp_path / "w2.json"
    master = _master(procs, backend, port, out, duration=4)
    w1 = _worker(procs, "w1", port, w1_out)
    w2 = _worker(procs, "w2", port, w2_out)
    assert _wait(master, procs, "master", 60) == 0, procs.text("master")
    assert _wait(w1, procs, "w1", 20) == 0, procs.text("w1")
    assert _wait(w2, procs, "w2", 20) == 0, procs.text("w2")

    result, workers = _read(out), [_read(w1_out), _read(w2_out)]
    assert all(w["final"] for w in workers)
    # both workers carried load with their own key: every request was accepted
    assert all(w["requests"] > 10 and w["failures"] == 0 for w in workers)
    m = result["metrics"]
    for count in ("requests", "failures", "warmup_requests", "output_tokens"):
        assert m[count] == sum(w[count] for w in workers), count
    assert result["histograms"].keys() == {n for w in workers for n in w["histograms"]}
    for name, text in result["histograms"].items():
        master_hist, merged = LatencyHistogram.decode(text), _merged(workers, name)
        assert master_hist.count == merged.count > 0, name
        for p in PERCENTILES:
            assert master_hist.percentile_ms(p) == merged.percentile_ms(p), (name, p)
        assert master_hist.summary() == merged.summary(), name
    assert result["metrics"]["ttft_ms"] == _merged(workers, "ttft").summary()

    block = result["workers"]
    assert (block["expected"], block["connected"], block["reported"]) == (2, 2, 2)
    assert block["missing"] == [] and block["never_connected"] == 0
    by_id = {e["id"]: e for e in block["per_worker"]}
    assert by_id.keys() == {w["worker_id"] for w in workers}
    for w in workers:
        entry = by_id[w["worker_id"]]
        assert entry["status"] == "reported"
        assert (entry["requests"], entry["histograms"]) == (w["requests"], w["histograms"])
    assert result["verdict"]["status"] == "passed"
    assert result["load"]["workers"] == 2
    _no_key_in(procs, out, w1_out, w2_out)


def test_a_worker_killed_mid_run_is_named_and_fails_the_bench(
    procs: Procs, backend: str, tmp_path: Path
) -> None:
    port = _free_port()
    out, w1_out, w2_out = tmp_path / "master.json", tmp_path / "w1.json", tmp_path / "w2.json"
    master = _master(procs, backend, port, out, duration=9)
    w1 = _worker(procs, "w1", port, w1_out)
    w2 = _worker(procs, "w2", port, w2_out)
    # kill worker 2 once it has reported measured requests (after the warm-up) to the master
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if w2_out.exists() and _read(w2_out).get("requests", 0) > 0:
            break
        assert master.poll() is None, procs.text("master")
        time.sleep(0.1)
    else:
        pytest.fail("worker 2 sent no report within 30 s:\n" + procs.text("w2"))
    killed = _read(w2_out)
    procs.kill_tree(w2)

    assert _wait(master, procs, "master", 60) == 1, procs.text("master")
    assert _wait(w1, procs, "w1", 20) == 0, procs.text("w1")
    said = procs.text("master")
    assert f"worker {killed['worker_id']} was lost" in said
    result, survivor = _read(out), _read(w1_out)
    block = result["workers"]
    assert block["missing"] == [killed["worker_id"]]
    assert (block["expected"], block["connected"], block["reported"]) == (2, 2, 1)
    by_id = {e["id"]: e for e in block["per_worker"]}
    lost, kept = by_id[killed["worker_id"]], by_id[survivor["worker_id"]]
    assert lost["status"] == "lost" and "heartbeat" in lost["reason"]
    # what the lost worker sent before it died is kept, and counted once
    assert lost["requests"] >= killed["requests"] > 0
    assert kept["status"] == "reported" and kept["requests"] == survivor["requests"]
    assert result["metrics"]["requests"] == lost["requests"] + kept["requests"]
    assert result["partial"] is True
    assert result["verdict"]["status"] == "failed"
    assert killed["worker_id"] in result["verdict"]["reason"]
    _no_key_in(procs, out, w1_out)


def test_a_master_that_crashes_leaves_a_partial_result_naming_its_workers(
    procs: Procs, backend: str, tmp_path: Path
) -> None:
    port = _free_port()
    out, w1_out, w2_out = tmp_path / "master.json", tmp_path / "w1.json", tmp_path / "w2.json"
    master = _master(procs, backend, port, out, duration=20)
    _worker(procs, "w1", port, w1_out)
    _worker(procs, "w2", port, w2_out)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if all(p.exists() and _read(p).get("requests", 0) > 0 for p in (w1_out, w2_out)):
            break
        assert master.poll() is None, procs.text("master")
        time.sleep(0.1)
    else:
        pytest.fail("the workers sent no report within 30 s:\n" + procs.text("master"))
    time.sleep(6.5)  # a snapshot is written every 5 s: one now holds both workers
    # the Locust master (the bench's child) dies; `conformance bench` itself survives
    locust_master = psutil.Process(master.pid).children()
    assert locust_master, procs.text("master")
    for child in locust_master:
        child.kill()
    _wait(master, procs, "master", 60)

    result = _read(out)
    assert result["partial"] is True
    block = result["workers"]
    assert block["as_of_snapshot"] is True
    assert (block["expected"], block["connected"]) == (2, 2)
    ids = {_read(w1_out)["worker_id"], _read(w2_out)["worker_id"]}
    by_id = {e["id"]: e for e in block["per_worker"]}
    assert by_id.keys() == ids
    for entry in by_id.values():
        assert entry["status"] == "unknown" and "last snapshot" in entry["reason"]
        assert entry["requests"] > 0
    # the roster is read with the aggregate's counts: the workers' requests are the run's
    assert sum(e["requests"] for e in by_id.values()) == result["metrics"]["requests"]
    _no_key_in(procs, out)


def test_a_master_says_which_workers_came_when_too_few_did(
    procs: Procs, backend: str, tmp_path: Path
) -> None:
    port = _free_port()
    out, w1_out = tmp_path / "master.json", tmp_path / "w1.json"
    master = _master(procs, backend, port, out, duration=3, wait=4)
    w1 = _worker(procs, "w1", port, w1_out)
    assert _wait(master, procs, "master", 45) == 2, procs.text("master")
    said = procs.text("master")
    came = _read(w1_out)["worker_id"]
    assert f"only 1 of 2 workers connected ({came}) within --worker-wait 4 s" in said
    assert not out.exists()
    _wait(w1, procs, "w1", 20)


def test_a_worker_without_a_master_gives_up_after_its_wait(procs: Procs) -> None:
    args = ["bench", "--worker", "--master-host", "127.0.0.1"]
    args += ["--master-port", str(_free_port()), "--worker-wait", "2"]
    proc = procs.start("w1", args, _env(KEYS["w1"]))
    assert _wait(proc, procs, "w1", 30) == 2
    assert "did not accept this worker within --worker-wait 2 s" in procs.text("w1")


def test_a_worker_refuses_load_options_of_its_own(procs: Procs) -> None:
    args = ["bench", "--worker", "--master-host", "127.0.0.1", "--users", "8"]
    proc = procs.start("w1", args, _env(KEYS["w1"]))
    assert _wait(proc, procs, "w1", 30) == 2
    assert "a worker takes the load from its master: drop --users" in procs.text("w1")


# -- the roster and the verdict, without processes -------------------------------------------


def _delta(requests: int, ttft_ms: list[float]) -> dict[str, Any]:
    hist = LatencyHistogram()
    for value in ttft_ms:
        hist.record_ms(value)
    return {"counts": {"requests": requests}, "hists": {"ttft": hist.encode()}}


def test_roster_names_each_lost_worker_with_why() -> None:
    roster = Roster(expected=3)
    roster.received("hostA_aaa", _delta(2, [10.0, 11.0]), final=False)
    roster.received("hostA_aaa", _delta(1, [12.0]), final=True)
    roster.received("hostB_bbb", _delta(5, [20.0] * 5), final=False)
    roster.connected("hostC_ccc")
    roster.workers["hostC_ccc"].last_state = "missing"
    roster.settle({"hostA_aaa": "ready", "hostB_bbb": "running"})
    block = roster.block()
    assert (block["expected"], block["connected"], block["reported"]) == (3, 3, 1)
    assert block["missing"] == ["hostB_bbb", "hostC_ccc"]
    entries = {e["id"]: e for e in block["per_worker"]}
    assert entries["hostA_aaa"]["requests"] == 3 and entries["hostA_aaa"]["host"] == "hostA"
    assert LatencyHistogram.decode(entries["hostA_aaa"]["histograms"]["ttft"]).count == 3
    assert "drain time" in entries["hostB_bbb"]["reason"]
    assert "heartbeat" in entries["hostC_ccc"]["reason"]
    verdict = judge_step({"metrics": {"requests": 8, "failures": 0}, "workers": block}, 0.01)
    assert verdict["status"] == "failed"
    assert "worker hostB_bbb was lost" in verdict["reason"]
    assert "worker hostC_ccc was lost" in verdict["reason"]


def test_a_worker_that_stopped_before_the_run_ended_is_lost_with_its_figures_kept() -> None:
    roster = Roster(expected=2)
    roster.received("h_early", _delta(3, [5.0, 6.0, 7.0]), final=True, wall=100.0)
    roster.received("h_late", _delta(9, [5.0] * 9), final=True, wall=131.0)
    roster.settle({"h_late": "ready"}, stopping_wall=130.0)
    block = roster.block()
    assert block["missing"] == ["h_early"] and block["reported"] == 1
    early = next(e for e in block["per_worker"] if e["id"] == "h_early")
    assert early["status"] == "lost" and "stopped before the run ended" in early["reason"]
    assert early["requests"] == 3
    assert (
        judge_step({"metrics": {"requests": 12, "failures": 0}, "workers": block}, 0.01)["status"]
        == "failed"
    )


def test_a_worker_file_names_its_metrics_as_the_result_does() -> None:
    totals = Totals()
    tpc = LatencyHistogram()
    tpc.record_ns(2_000_000)  # 2 tokens per chunk, recorded as 2 ms
    totals.add({"counts": {"requests": 1}, "hists": {"tokens_per_chunk": tpc.encode()}})
    totals.add(_delta(1, [10.0]))
    metrics = totals.worker_file("h_1", "master:5557", final=True)["metrics"]
    assert set(metrics) == {"ttft_ms", "tokens_per_chunk"}
    assert metrics["tokens_per_chunk"]["p50"] == pytest.approx(2.0, rel=1e-2)


def test_verdict_passes_when_every_worker_reported_and_fails_when_one_never_came() -> None:
    roster = Roster(expected=2)
    roster.received("h_1", _delta(4, [1.0]), final=True)
    roster.received("h_2", _delta(4, [1.0]), final=True)
    result = {"metrics": {"requests": 8, "failures": 0}, "workers": roster.block()}
    assert judge_step(result, 0.01)["status"] == "passed"
    short = Roster(expected=2)
    short.received("h_1", _delta(4, [1.0]), final=True)
    verdict = judge_step({"metrics": {"requests": 4, "failures": 0}, "workers": short.block()}, 0)
    assert (
        verdict["status"] == "failed"
        and "1 of 2 expected workers never connected" in (verdict["reason"])
    )


def test_a_master_whose_port_is_taken_says_so(procs: Procs, backend: str, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        master = _master(procs, backend, port, tmp_path / "master.json", duration=2, wait=3)
        assert _wait(master, procs, "master", 45) == 2
    said = procs.text("master")
    assert f"the master cannot listen on 127.0.0.1:{port}" in said
    assert "choose another --master-port" in said


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"workers": 2}, "give --workers (processes on this machine) or --expect-workers"),
        ({"users": [4, 8]}, "--expect-workers runs one load level"),
        ({"base_url": None}, "--expect-workers needs --base-url"),
        ({"master_port": 70000}, "--master-port must be a TCP port"),
        ({"worker_wait_s": 0.0}, "--worker-wait must be > 0 seconds"),
        ({"expect_workers": -1}, "--expect-workers must be >= 1"),
    ],
)
def test_master_options_that_cannot_work_are_refused_before_anything_runs(
    changes: dict[str, Any], message: str
) -> None:
    from conformance.errors import ConfigError
    from conformance.loadgen.runner import BenchSpec

    fields: dict[str, Any] = {
        "base_url": "http://target:8000/v1",
        "users": [4],
        "duration_s": 5.0,
        "expect_workers": 2,
    }
    BenchSpec(**fields).validate()  # the same without the change is accepted
    with pytest.raises(ConfigError, match=re.escape(message)):
        BenchSpec(**{**fields, **changes}).validate()


# -- the Kubernetes manifests in loadtests/k8s agree with the command line ---------------------

K8S = Path(__file__).resolve().parents[1] / "loadtests" / "k8s"


def _manifests() -> dict[tuple[str, str], dict[str, Any]]:
    import yaml

    docs: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            docs[(doc["kind"], doc["metadata"]["name"])] = doc
    return docs


def _parsed(args: list[str]) -> tuple[dict[str, Any], set[str]]:
    """The bench command's parameters for ``args``, and the ones given explicitly."""
    import click

    from conformance.cli.bench import command

    assert args[0] == "bench"
    ctx = command.make_context("bench", list(args[1:]))
    given = {
        name
        for name in ctx.params
        if ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT
    }
    return ctx.params, given


def test_k8s_master_and_workers_agree_on_port_name_count_and_keys() -> None:
    from conformance.cli.bench import _WORKER_OPTIONS
    from conformance.loadgen.runner import BenchSpec

    docs = _manifests()
    service = docs[("Service", "conformance-master")]["spec"]
    master_job = docs[("Job", "conformance-master")]["spec"]
    worker_job = docs[("Job", "conformance-workers")]["spec"]
    (master,) = master_job["template"]["spec"]["containers"]
    (worker,) = worker_job["template"]["spec"]["containers"]
    m, _ = _parsed(master["args"])
    w, w_given = _parsed(worker["args"])

    # the Service selects the master's pod and exposes the port it listens on
    labels = master_job["template"]["metadata"]["labels"]
    assert service["selector"].items() <= labels.items()
    (port,) = service["ports"]
    assert port["port"] == port["targetPort"] == m["master_port"] == w["master_port"]
    assert {"containerPort": m["master_port"]}.items() <= master["ports"][0].items()
    # the workers find it by the Service's name, and as many come as the master waits for
    assert w["worker_mode"] and w["master_host"] == "conformance-master"
    assert m["expect_workers"] == worker_job["parallelism"] == worker_job["completions"]
    assert w_given <= _WORKER_OPTIONS  # a worker takes its load from the master
    # neither waits forever, and the Jobs outlive the run (wait + duration + drain)
    deadline = m["worker_wait"] + m["duration"] + m["timeout"] + 2
    assert master_job["activeDeadlineSeconds"] > deadline
    assert worker_job["activeDeadlineSeconds"] >= master_job["activeDeadlineSeconds"]
    for job in (master_job, worker_job):
        assert job["backoffLimit"] == 0
        assert job["template"]["spec"]["restartPolicy"] == "Never"
    # the master's result is written where the container prints it from
    mount = master["volumeMounts"][0]["mountPath"]
    assert m["json_path"].startswith(mount + "/") and m["json_path"] in master["command"][2]
    # keys: the variable the master names, from a Secret in every pod, never a value here
    for container in (master, worker):
        (env,) = container["env"]
        assert env["name"] == m["api_key_env"] and "value" not in env
        assert env["valueFrom"]["secretKeyRef"]["name"] == "conformance-keys"
    BenchSpec(
        base_url=m["base_url"],
        api_key_env=m["api_key_env"],
        users=[int(m["users_text"])],
        duration_s=m["duration"],
        timeout_s=m["timeout"],
        expect_workers=m["expect_workers"],
        master_bind_host=m["master_bind_host"],
        master_port=m["master_port"],
        worker_wait_s=m["worker_wait"],
    ).validate()
