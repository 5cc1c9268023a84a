"""First contact: "point it at a base URL and go" (conformance.engine.discovery and the CLI).

Without ``--model``, ``check``/``bench``/``record``/``run`` list the target's models and
use one, saying which in one line; a target with no model list is one line asking for
``--model`` (exit 2); a base URL without its ``/v1`` prefix is one line with the fix
(exit 2), never a run of failed checks. Against the reference backend (real sockets) and
small ``httpx.MockTransport`` targets.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conformance.backend import BackendConfig, serve_in_thread
from conformance.cli import main
from conformance.engine.discovery import discover, pick_model
from conformance.errors import ConfigError

KEY = "sk-discovery-secret-0123456789"


@pytest.fixture(scope="module")
def root() -> Iterator[str]:
    with serve_in_thread(BackendConfig(api_keys=(KEY,))) as url:
        yield url


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_API_KEY", "WEAI_API_KEY", "NEBULABLOCK_API_KEY"):
        monkeypatch.setenv(var, KEY)


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = int(main(argv) or 0)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    assert KEY not in out + err
    assert "Traceback" not in out + err
    return code, out, err


def _lines(err: str, word: str) -> list[str]:
    return [line for line in err.splitlines() if word in line]


# --------------------------------------------------------------------------- the CLI


def test_several_models_the_documented_one_is_used_and_the_choice_explained(
    root: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "c.json"
    argv = ["check", "--provider", "openai", "--base-url", root + "/v1", "--only", "models"]
    code, _, err = _cli([*argv, "-q", "--json", str(out)], capsys)
    assert code == 0, err
    (line,) = _lines(err, "using model")
    assert "'gpt-4o-mini' of the 3 listed" in line and "--model NAME" in line
    assert json.loads(out.read_text())["model"] == "gpt-4o-mini"


def test_one_model_is_used_and_named(
    root: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "c.json"
    base = root + "/nebulablock/v1"
    argv = ["check", "--provider", "nebulablock", "--base-url", base, "--only", "models", "-q"]
    code, _, err = _cli([*argv, "--json", str(out)], capsys)
    assert code == 0, err
    (line,) = _lines(err, "using model")
    assert "the one model listed" in line
    assert json.loads(out.read_text())["model"] == "meta-llama/Llama-3.3-70B-Instruct"


def test_the_first_listed_model_when_the_profile_documents_none_of_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with serve_in_thread(BackendConfig(api_keys=(KEY,), models=("qwen2.5:7b",))) as url:
        out = tmp_path / "c.json"
        argv = ["check", "--provider", "weai", "--base-url", url + "/fault/models_unlisted/weai/v1"]
        code, _, err = _cli([*argv, "--only", "models", "-q", "--json", str(out)], capsys)
    # the list (without llama3.1-8B, the fault) starts with llama3.1-70B: that one is used
    assert json.loads(out.read_text())["model"] == "llama3.1-70B", err
    assert code == 0


def test_no_model_list_asks_for_model_in_one_line(
    root: str, capsys: pytest.CaptureFixture[str]
) -> None:
    base = root + "/fault/models_missing/v1"
    code, out, err = _cli(["check", "--provider", "openai", "--base-url", base], capsys)
    assert code == 2 and out == ""
    (line,) = err.strip().splitlines()
    assert "HTTP 404" in line and "--model NAME" in line


def test_with_model_a_missing_list_is_judged_not_fatal(
    root: str, capsys: pytest.CaptureFixture[str]
) -> None:
    base = root + "/fault/models_missing/v1"
    argv = ["check", "--provider", "openai", "--base-url", base, "--model", "gpt-4o-mini"]
    code, out, _ = _cli([*argv, "--only", "models"], capsys)
    assert code == 1 and "models.list_served" in out


@pytest.mark.parametrize("model", [None, "gpt-4o-mini"])
def test_a_base_url_without_v1_prints_the_fix(
    root: str, model: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["check", "--provider", "openai", "--base-url", root]
    code, out, err = _cli([*argv, *(["--model", model] if model else [])], capsys)
    assert code == 2 and out == ""
    (line,) = err.strip().splitlines()
    assert line.endswith(f"use --base-url {root}/v1"), line
    assert "lacks the API's version prefix" in line


def test_record_and_bench_discover_too(
    root: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["record", "--provider", "weai", "--base-url", root + "/weai/v1", "--only", "models"]
    code, _, err = _cli([*argv, "--out", str(tmp_path / "rec")], capsys)
    assert code == 0, err
    assert "using model 'llama3.1-8B' of the 2 listed" in err
    cassettes = "".join(p.read_text() for p in (tmp_path / "rec").rglob("*.yaml"))
    assert "llama3.1-8B" in cassettes and KEY not in cassettes
    code, _, err = _cli(["bench", "--base-url", root, "--duration", "1"], capsys)
    assert code == 2 and f"use --base-url {root}/v1" in err


def test_bench_uses_the_discovered_model(
    root: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "b.json"
    argv = ["bench", "--base-url", root + "/v1", "--users", "1", "--duration", "1"]
    code, _, err = _cli([*argv, "--warmup", "0", "--max-tokens", "4", "--json", str(out)], capsys)
    assert code == 0, err
    assert _lines(err, "using model 'gpt-4o-mini'")
    result = json.loads(out.read_text())
    assert result["model"] == "gpt-4o-mini"
    assert result["metrics"]["requests"] > 0 and result["metrics"]["failures"] == 0


def test_an_unreachable_target_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, _, err = _cli(
        ["check", "--provider", "openai", "--base-url", f"http://127.0.0.1:{port}/v1"], capsys
    )
    assert code == 2 and len(err.strip().splitlines()) == 1 and "cannot reach" in err


# --------------------------------------------------------------------------- discover()


def _target(routes: dict[str, tuple[int, Any]]) -> tuple[httpx.MockTransport, list[str]]:
    """A MockTransport answering GET paths from ``routes`` (else 404); records the URLs."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        status, body = routes.get(request.url.path, (404, {"detail": "Not Found"}))
        if isinstance(body, bytes):
            return httpx.Response(status, content=body, headers={"content-type": "text/html"})
        return httpx.Response(status, json=body)

    return httpx.MockTransport(handler), seen


def _list(*names: str) -> dict[str, Any]:
    data = [{"id": n, "object": "model", "created": 1, "owned_by": "x"} for n in names]
    return {"object": "list", "data": data}


def _discover(
    routes: dict[str, tuple[int, Any]], base: str = "http://t.invalid/v1", **kw: Any
) -> Any:
    transport, seen = _target(routes)
    kw.setdefault("model", None)
    kw.setdefault("api_key", KEY)
    return discover("openai", base, transport=transport, **kw), seen


def test_discover_picks_a_chat_model_over_embeddings_and_speech() -> None:
    found, _ = _discover({"/v1/models": (200, _list("text-embedding-3-small", "whisper-1", "m1"))})
    assert found.model == "m1" and found.listed == ("text-embedding-3-small", "whisper-1", "m1")
    assert "of the 3 listed" in found.note
    assert pick_model(["a", "b"], ("b",)) == "b"
    assert pick_model(["bge-small", "tts-1"], ()) == "bge-small"


def test_discover_reads_lists_the_checks_flag() -> None:
    """A bare array or Ollama's native shape still yields a model (models.list_sdk fails it)."""
    found, _ = _discover({"/v1/models": (200, [{"id": "together/m", "object": "model"}])})
    assert found.model == "together/m"
    found, _ = _discover({"/v1/models": (200, {"models": [{"name": "llama3.2:latest"}]})})
    assert found.model == "llama3.2:latest"


@pytest.mark.parametrize(
    ("routes", "words"),
    [
        ({"/v1/models": (200, _list())}, "lists no model"),
        ({"/v1/models": (200, b"<html>app</html>")}, "HTTP 200, not a model list"),
        ({"/v1/models": (500, {"error": {"message": "down"}})}, "HTTP 500"),
    ],
)
def test_discover_without_a_usable_list_asks_for_model(
    routes: dict[str, tuple[int, Any]], words: str
) -> None:
    with pytest.raises(ConfigError, match="--model NAME") as caught:
        _discover(routes)
    assert words in str(caught.value)


def test_a_refused_model_list_names_the_key_to_fix() -> None:
    """A 401/403 on the model list is the key's problem, worded as the engine says it."""
    routes = {"/v1/models": (401, {"error": {"message": "bad key"}})}
    with pytest.raises(ConfigError) as caught:
        _discover(routes)
    line = str(caught.value)
    assert "HTTP 401: the key in $OPENAI_API_KEY was refused" in line and "--model" not in line
    with pytest.raises(ConfigError) as caught:
        _discover(routes, api_key=None)
    line = str(caught.value)
    assert "HTTP 401 and no key was sent" in line and "$OPENAI_API_KEY" in line


def test_with_a_model_given_nothing_but_a_missing_prefix_stops_the_run() -> None:
    found, seen = _discover({}, model="m")
    assert found.model == "m" and found.note is None
    assert seen == ["http://t.invalid/v1/models"]  # no second guess below /v1/v1


def test_the_prefix_is_tried_once_and_only_for_a_base_without_it() -> None:
    with pytest.raises(ConfigError, match=r"use --base-url http://t\.invalid/v1$"):
        _discover({"/v1/models": (200, _list("m"))}, base="http://t.invalid")
    # the prefixed list refuses the key: the API is there all the same
    with pytest.raises(ConfigError, match=r"use --base-url http://t\.invalid/v1"):
        _discover({"/v1/models": (401, {"error": {"message": "no"}})}, base="http://t.invalid")
    # nothing below /v1 either: a plain request for --model, after exactly two requests
    transport, seen = _target({})
    with pytest.raises(ConfigError, match="--model NAME") as caught:
        discover("openai", "http://t.invalid", model=None, api_key=KEY, transport=transport)
    assert "version prefix" not in str(caught.value)
    assert seen == ["http://t.invalid/models", "http://t.invalid/v1/models"]


def test_the_documented_base_url_falls_back_to_the_documented_model() -> None:
    found, seen = _discover({}, base="https://api.openai.com/v1")
    assert found.model is None  # the profile's default is kept
    assert "openai's documented model 'gpt-4o-mini'" in found.note
    assert len(seen) == 1


def test_printed_urls_carry_no_credentials_and_names_are_escaped() -> None:
    base = "http://user:pw-secret@t.invalid/v1?api-key=q-secret"
    found, seen = _discover({"/v1/models": (200, _list("evil\x1b[31mname"))}, base=base)
    assert "pw-secret" not in found.note and "q-secret" not in found.note
    assert "\x1b" not in found.note and "\\x1b" in found.note
    assert seen[0].endswith("/v1/models?api-key=q-secret")  # the query still reaches the target


def test_non_openai_profiles_have_no_model_list() -> None:
    transport, seen = _target({})
    found = discover("wetrocloud", "http://t.invalid", model=None, api_key=KEY, transport=transport)
    assert found.model is None and seen == []


def test_run_discovers_once_for_all_its_steps(
    root: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """capfd: the steps are child processes, their lines count too."""
    out = tmp_path / "run"
    argv = ["run", "--provider", "weai", "--base-url", root + "/weai/v1", "--no-bench"]
    code, stdout, err = _cli([*argv, "--timeout", "5", "--out", str(out)], capfd)
    assert code == 0, stdout + err
    assert len(_lines(err + stdout, "using model 'llama3.1-8B'")) == 1
    assert json.loads((out / "check-weai.json").read_text())["model"] == "llama3.1-8B"


def test_serve_model_adds_a_listed_and_answered_model(tmp_path: Path) -> None:
    """`conformance serve --model NAME`: a stand-in for a server that serves NAME."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "conformance", "serve", "--port", "0", "--model", "my-served"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        root = None
        while root is None and time.monotonic() < deadline:
            line = proc.stdout.readline().decode()
            found = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
            root = found.group(1) if found else None
        assert root is not None
        ids = [m["id"] for m in httpx.get(root + "/v1/models", timeout=10).json()["data"]]
        assert ids[-1] == "my-served"
        body = {"model": "my-served", "messages": [{"role": "user", "content": "hi"}]}
        answer = httpx.post(root + "/v1/chat/completions", json=body, timeout=10)
        assert answer.status_code == 200 and answer.json()["model"] == "my-served"
    finally:
        proc.terminate()
        proc.wait(timeout=15)
