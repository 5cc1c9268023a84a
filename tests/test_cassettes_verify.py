"""``verify``: cassettes judged against the current schemas, drift shown as a diff."""

from __future__ import annotations

import json
from pathlib import Path

from conformance.cassettes import Cassette, Redactor, write_cassette
from conformance.cassettes.verify import verify_paths
from conformance.wire.exchange import ErrorKind, Exchange, ExchangeError, RecordedRequest

COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "m",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
}


def _exchange(body: bytes, *, status: int = 200, stream: bool = False) -> Exchange:
    return Exchange(
        probe="chat",
        request=RecordedRequest("POST", "http://h/v1/chat/completions", [], b"{}"),
        status=status,
        headers=[("content-type", "text/event-stream" if stream else "application/json")],
        body=body,
        chunks=[(1_000, body)],
        events=[] if stream else None,
    )


def _write(tmp_path: Path, name: str, *exchanges: Exchange, provider: str = "openai") -> Path:
    return write_cassette(
        tmp_path / name, Cassette("chat", list(exchanges), provider=provider), Redactor()
    )


def test_conforming_cassettes_verify_clean(tmp_path: Path) -> None:
    _write(tmp_path, "ok.yaml", _exchange(json.dumps(COMPLETION).encode()))
    report = verify_paths([tmp_path])
    assert report.exit_code == 0
    assert report.render().endswith("verified 1 file(s), 1 recorded body: 0 drift(s) in 0 file(s)")


def test_missing_field_and_type_change_are_reported_as_a_diff(tmp_path: Path) -> None:
    body = dict(COMPLETION, created="1700000000")
    del body["model"]
    _write(tmp_path, "drift.yaml", _exchange(json.dumps(body).encode()))
    report = verify_paths([tmp_path])
    assert report.exit_code == 1
    text = report.render()
    assert f"--- {tmp_path / 'drift.yaml'} (as recorded)" in text
    assert "+++ schemas of provider 'openai' (now)" in text
    assert "- model: required by the schema, absent here" in text
    assert (
        '~ created: the schema says input should be a valid integer; the cassette has "1700000000" (str)'
        in text
    )


def test_stream_events_and_error_bodies_are_judged(tmp_path: Path) -> None:
    chunk = {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": "x"}, "finish_reason": "sideways"}],
    }
    stream = b"data: " + json.dumps(chunk).encode() + b"\n\ndata: [DONE]\n\n"
    _write(tmp_path, "s.yaml", _exchange(stream, stream=True))
    _write(tmp_path, "e.yaml", _exchange(b'{"detail": "nope"}', status=400))
    report = verify_paths([tmp_path])
    text = report.render()
    assert "event 0" in text and "~ choices.0.finish_reason" in text
    assert "error body" in text and "- error: required by the schema" in text
    assert report.exit_code == 1


def test_wetrocloud_cassettes_use_wetrocloud_schemas(tmp_path: Path) -> None:
    good = _exchange(b'{"response": "hi", "tokens": 3, "success": true}')
    bad = _exchange(b'{"response": "hi", "tokens": "3", "success": true}')
    _write(tmp_path, "w.yaml", good, bad, provider="wetrocloud")
    report = verify_paths([tmp_path])
    (file_report,) = report.files
    assert [d.loc for d in file_report.drift] == ["tokens"]
    assert "exchanges[1]" in file_report.drift[0].where


def test_transport_errors_are_counted_not_judged(tmp_path: Path) -> None:
    ex = _exchange(b"")
    ex.error = ExchangeError(ErrorKind.READ_TIMEOUT, "no data")
    _write(tmp_path, "t.yaml", ex)
    report = verify_paths([tmp_path])
    assert report.exit_code == 0
    assert report.files[0].not_judged


def test_an_old_format_version_is_drift_and_garbage_is_unreadable(tmp_path: Path) -> None:
    (tmp_path / "old.yaml").write_text("version: 0\nprobe: chat\nexchanges: []\n")
    report = verify_paths([tmp_path])
    assert report.exit_code == 1
    assert "~ version: format version 0; this harness reads version 1" in report.render()
    (tmp_path / "bad.yaml").write_text("version: 1\nprobe: chat\nexchanges: 3\n")
    report = verify_paths([tmp_path])
    assert report.exit_code == 2
    assert (
        report.render().splitlines()[-1] == f"{tmp_path / 'bad.yaml'}: exchanges: expected a list"
    )
    assert verify_paths([tmp_path / "absent"]).exit_code == 2


def test_provider_override_and_unknown_provider(tmp_path: Path) -> None:
    _write(tmp_path, "x.yaml", _exchange(b'{"response": "hi", "tokens": 3, "success": true}'))
    assert verify_paths([tmp_path]).exit_code == 1  # judged as openai: not a completion
    assert verify_paths([tmp_path], provider="wetrocloud").exit_code == 0
    assert verify_paths([tmp_path], provider="nope").exit_code == 2


def test_files_that_are_not_yaml_are_ignored_when_named(tmp_path: Path) -> None:
    _write(tmp_path, "ok.yaml", _exchange(json.dumps(COMPLETION).encode()))
    readme = tmp_path / "README.md"
    readme.write_text("# not a cassette\n")
    report = verify_paths([readme, tmp_path / "ok.yaml"])
    assert report.exit_code == 0
    assert report.ignored == [readme]
    assert verify_paths([readme]).exit_code == 2  # nothing to verify at all


def test_verify_names_every_missing_path_in_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    present = tmp_path / "empty"
    present.mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "conformance", "verify", "nope", "nope", str(present), "gone"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        "conformance: no such cassette file or directory: nope, gone"
    ]
