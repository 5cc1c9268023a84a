"""Record from the reference backend, then check offline from the cassettes.

The recording uses a distinctive key that must appear in no written byte; the replay
runs with every socket connection refused, and must judge the same checks the same way
as the live run did.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.backend import BackendConfig, serve_in_thread
from conformance.cassettes import open_replay, read_cassettes, record
from conformance.cli import main
from conformance.engine import RunConfig, arun_checks
from conformance.providers import PROVIDERS, get_provider

KEY = "sk-RECORD-distinctive-5e1f0c2a9b7d"
KEY_ENV = "CONFORMANCE_TEST_RECORD_KEY"


@pytest.fixture(scope="module")
def backend_root() -> Iterator[str]:
    with serve_in_thread(BackendConfig(api_keys=(KEY,))) as root:
        yield root


@pytest.fixture(scope="module")
def openai_recording(backend_root: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One recording of the openai profile, shared by the tests that only copy it."""
    out = tmp_path_factory.mktemp("openai") / "rec"
    base = PROVIDERS["openai"].embedded_base_url(backend_root)
    record(get_provider("openai", base_url=base), out=out, api_key=KEY, timeout=10)
    return out


def _run(argv: list[str]) -> int:
    """The exit code of ``conformance ARGV`` (returned by ``main``, or raised)."""
    try:
        return int(main(argv) or 0)
    except SystemExit as exc:
        return int(exc.code or 0)


def _record(provider: str, root: str, out: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setenv(KEY_ENV, KEY)
    base = PROVIDERS[provider].embedded_base_url(root)
    argv = ["record", "--provider", provider, "--base-url", base, "--api-key-env", KEY_ENV]
    return _run([*argv, "--out", str(out), "--timeout", "10"])


def _statuses(provider: str, base_url: str, api_key: str, sender: object | None) -> dict[str, str]:
    config = RunConfig(
        provider=get_provider(provider, base_url=base_url),
        api_key=api_key,
        timeout=10,
        sender=sender,  # type: ignore[arg-type]
        mode="replay" if sender is not None else "live",
    )
    run = asyncio.run(arun_checks(config))
    return {r.id: r.status.value for r in run.checks}


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_record_then_replay_offline_gives_the_live_verdicts(
    provider: str,
    backend_root: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / provider
    assert _record(provider, backend_root, out, monkeypatch) == 0
    printed = capsys.readouterr()
    assert KEY not in printed.out + printed.err
    written = sorted(p for p in out.rglob("*") if p.is_file())
    assert out / "index.yaml" in written
    for path in written:  # the key is in no written byte
        assert KEY.encode() not in path.read_bytes(), path
    assert f"wrote {out / 'index.yaml'}" in printed.out

    base = PROVIDERS[provider].embedded_base_url(backend_root)
    live = _statuses(provider, base, KEY, None)

    cassettes = read_cassettes([out])
    if not cassettes.cassettes:
        pytest.skip(f"no check family judges {provider} yet, so nothing was recorded")
    with monkeypatch.context() as m:
        m.setattr(socket.socket, "connect", _refuse)
        m.setattr(socket.socket, "connect_ex", _refuse)
        sender = open_replay(out)
        replayed = _statuses(
            provider, str(cassettes.meta("base_url")), sender.api_key or "", sender
        )
    assert sender.missed == {}
    assert replayed == live
    counts = Counter(replayed.values())
    assert counts["passed"] > 0


def _refuse(self: socket.socket, *args: object) -> None:
    raise OSError("network disabled by the test")


def test_record_refuses_to_overwrite_without_force(
    backend_root: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "c"
    assert _record("openai", backend_root, out, monkeypatch) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()
    assert _record("openai", backend_root, out, monkeypatch) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--force" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    argv = ["record", "--provider", "openai", "--out", str(out), "--force"]
    assert _run([*argv, "--max-requests", "1"]) == 0
    assert [p.name for p in sorted(out.iterdir())] == ["chat.yaml", "index.yaml"]


def test_record_without_base_url_uses_the_embedded_backend(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "embedded"
    argv = ["record", "--provider", "weai", "--out", str(out), "--timeout", "10"]
    assert _run([*argv, "--max-requests", "3"]) == 0
    cassettes = read_cassettes([out])
    assert cassettes.cassettes
    assert "127.0.0.1" in str(cassettes.meta("base_url"))
    text = "".join(p.read_text() for p in out.iterdir())
    assert "sk-embedded-" not in text  # the embedded backend's own key is redacted too


def test_replay_misses_are_skipped_never_failed(
    openai_recording: Path, tmp_path: Path, no_network: None
) -> None:
    out = tmp_path / "partial"
    shutil.copytree(openai_recording, out)
    (out / "stream_usage.yaml").unlink()
    sender = open_replay(out)
    config = RunConfig(
        provider=get_provider("openai", base_url=str(read_cassettes([out]).meta("base_url"))),
        api_key=sender.api_key,
        sender=sender,
        mode="replay",
    )
    run = asyncio.run(arun_checks(config))
    assert "stream_usage" in sender.missed
    by_id = {r.id: r for r in run.checks}
    usage = by_id["stream.usage_chunk"]
    assert usage.status.value == "skipped"
    assert "not in the replayed cassettes" in usage.detail
    assert run.target["probes_not_sent"]["stream_usage"].startswith("not in the replayed")
    assert Counter(r.status.value for r in run.checks)["passed"] > 0


def test_verify_accepts_a_fresh_recording_and_reports_drift(
    openai_recording: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "v"
    shutil.copytree(openai_recording, out)
    assert _run(["verify", str(out)]) == 0
    assert "0 drift(s)" in capsys.readouterr().out
    chat = out / "chat.yaml"
    text = chat.read_text()
    assert '"total_tokens":' in text
    chat.write_text(text.replace('"total_tokens":', '"total_tokens_gone":', 1))
    assert _run(["verify", str(out)]) == 1
    report = capsys.readouterr().out
    assert "- usage.total_tokens: required by the schema, absent here" in report
    (out / "broken.yaml").write_text("version: 1\nprobe: [\n")
    assert _run(["verify", str(out)]) == 2


@pytest.mark.parametrize(
    ("fault", "timeout"),
    [
        ("bom", 10.0),
        ("ok_split_writes", 10.0),
        ("truncated_stream", 10.0),
        ("hang_mid_stream", 1.0),
    ],
)
def test_a_faulty_target_replays_to_the_same_verdicts(
    fault: str, timeout: float, backend_root: str, tmp_path: Path
) -> None:
    """Broken framing, cut streams and hangs are recorded and replayed faithfully."""
    base = PROVIDERS["openai"].embedded_base_url(backend_root + f"/fault/{fault}")
    out = tmp_path / fault
    record(get_provider("openai", base_url=base), out=out, api_key=KEY, timeout=timeout)
    live = _statuses_with_timeout("openai", base, KEY, None, timeout)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(socket.socket, "connect", _refuse)
        m.setattr(socket.socket, "connect_ex", _refuse)
        sender = open_replay(out, timeout=timeout)
        replayed = _statuses_with_timeout(
            "openai",
            str(read_cassettes([out]).meta("base_url")),
            sender.api_key or "",
            sender,
            timeout,
        )
    assert replayed == live
    assert "failed" in live.values() or fault.startswith("ok_")


def _statuses_with_timeout(
    provider: str, base_url: str, api_key: str, sender: object | None, timeout: float
) -> dict[str, str]:
    config = RunConfig(
        provider=get_provider(provider, base_url=base_url),
        api_key=api_key,
        timeout=timeout,
        sender=sender,  # type: ignore[arg-type]
        mode="replay" if sender is not None else "live",
    )
    run = asyncio.run(arun_checks(config))
    return {r.id: r.status.value for r in run.checks}


def test_record_from_an_unreachable_target_exits_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "none"
    argv = ["record", "--provider", "openai", "--base-url", "http://127.0.0.1:9/v1"]
    assert _run([*argv, "--out", str(out), "--timeout", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("conformance: cannot reach http://127.0.0.1:9/v1")
    assert not out.exists()  # the --out it created is removed again, being empty
    kept = tmp_path / "kept"
    kept.mkdir()  # an --out that was there before stays
    assert _run([*argv, "--out", str(kept), "--timeout", "2"]) == 2
    assert kept.is_dir()


def test_verify_coverage_names_the_requests_a_recording_lacks(
    openai_recording: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cov"
    shutil.copytree(openai_recording, out)
    assert _run(["verify", "--coverage", str(out)]) == 0
    assert "0 request(s) of the current probes not recorded" in capsys.readouterr().out
    (out / "stream_usage.yaml").unlink()
    assert _run(["verify", "--coverage", str(out)]) == 1
    report = capsys.readouterr().out
    assert "+ probe stream_usage: POST /chat/completions" in report
    assert "record the cassettes again" in report


def _replayed_statuses(
    out: Path, key_env: str | None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> dict[str, str]:
    """``check --replay OUT`` through the command line: each check's status."""
    result = tmp_path / f"replay-{key_env or 'nokey'}.json"
    argv = ["check", "--provider", "openai", "--replay", str(out), "--json", str(result)]
    if key_env is not None:
        argv += ["--api-key-env", key_env]
    assert _run(argv) in (0, 1)
    printed = capsys.readouterr()
    assert KEY not in printed.out + printed.err
    checks = json.loads(result.read_text())["checks"]
    assert not [c["id"] for c in checks if "not in the replayed cassettes" in c["detail"]]
    return {c["id"]: c["status"] for c in checks}


def test_a_recording_without_a_key_replays_with_a_key_to_the_live_verdicts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Recorded from an open backend with no key, replayed with --api-key-env set: the
    requests that carried no key match, and the same checks are judged the same way
    (the key checks are skipped, as they were live, since the recording had no key)."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with serve_in_thread(BackendConfig()) as root:
        base = PROVIDERS["openai"].embedded_base_url(root)
        out = tmp_path / "keyless"
        argv = ["record", "--provider", "openai", "--base-url", base, "--out", str(out)]
        assert _run([*argv, "--timeout", "10"]) == 0
        live = _statuses("openai", base, None, None)  # type: ignore[arg-type]
    capsys.readouterr()
    assert "Authorization" not in (out / "chat.yaml").read_text()
    monkeypatch.setenv(KEY_ENV, KEY)
    with monkeypatch.context() as m:
        m.setattr(socket.socket, "connect", _refuse)
        m.setattr(socket.socket, "connect_ex", _refuse)
        replayed = _replayed_statuses(out, KEY_ENV, tmp_path, capsys)
        assert _replayed_statuses(out, None, tmp_path, capsys) == replayed
    assert replayed == live
    assert live["auth.missing_key_refused"] == "skipped"
    assert Counter(replayed.values())["passed"] > 10


def test_a_recording_with_a_key_replays_without_one_to_the_live_verdicts(
    openai_recording: Path,
    backend_root: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The other way round: recorded with a key, replayed with none or another key."""
    live = _statuses("openai", PROVIDERS["openai"].embedded_base_url(backend_root), KEY, None)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv(KEY_ENV, "sk-another-key-for-the-replay-0000")
    with monkeypatch.context() as m:
        m.setattr(socket.socket, "connect", _refuse)
        m.setattr(socket.socket, "connect_ex", _refuse)
        without = _replayed_statuses(openai_recording, None, tmp_path, capsys)
        another = _replayed_statuses(openai_recording, KEY_ENV, tmp_path, capsys)
    assert without == another == live
    assert live["auth.missing_key_refused"] == "passed"
