"""A server that implements one provider's document and nothing more is judged by it.

``conformance serve --only-document nebulablock|weai`` (``BackendConfig(only_document=)``)
is the proof: ``check --provider nebulablock`` passes it, with the gaps an OpenAI client
meets listed as compatibility findings, and ``check --provider openai`` fails it; the same
for WeAI. ``--strict-openai`` turns the findings into failures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conformance.backend.config import BackendConfig
from conformance.backend.server import serve_in_thread
from conformance.errors import ConfigError

pytest_plugins = ["pytester"]
# pytester drops the modules a test imports: the families are loaded before it
pytestmark = pytest.mark.usefixtures("check_registry_loaded")

KEY = "sk-document-only-0123456789"


@pytest.fixture(scope="module", params=["nebulablock", "weai"])
def served(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """(document, base URL) of a document-only server (WeAI's requires the key)."""
    config = BackendConfig(only_document=request.param, api_keys=(KEY,))
    with serve_in_thread(config) as root:
        yield request.param, root + "/v1"


def _check(
    provider: str, base_url: str, tmp: Path, *extra: str, model: str = "m1"
) -> tuple[int, dict[str, Any], str]:
    out = tmp / f"{provider}.json"
    env = {**os.environ, "CONFORMANCE_TEST_KEY": KEY}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "conformance",
            "check",
            "--provider",
            provider,
            "--base-url",
            base_url,
            "--model",
            model,
            "--api-key-env",
            "CONFORMANCE_TEST_KEY",
            "-q",
            "--json",
            str(out),
            "--junit",
            str(tmp / f"{provider}.xml"),
            *extra,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(out.read_text(encoding="utf-8")), proc.stdout


def _by_id(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in document["checks"]}


def test_its_own_profile_passes_with_compatibility_findings(
    served: tuple[str, str], tmp_path: Path
) -> None:
    name, base_url = served
    code, document, stdout = _check(name, base_url, tmp_path)
    assert code == 0, stdout
    verdicts = document["verdicts"]
    assert verdicts["document"]["status"] == "passed"
    assert verdicts["document"]["judged"] >= 15
    assert verdicts["openai"]["status"] == "partly_compatible"
    assert verdicts["openai"]["beyond_document"]["sdk"] == 0
    checks = _by_id(document)
    # FastAPI's {"detail": ...} is no violation of a document that says nothing of errors
    assert checks["errors.envelope"]["status"] == "failed"
    assert checks["errors.envelope"]["basis"] == "openai"
    assert checks["models.list_served"]["basis"] == "openai"
    assert checks["stream.done_sentinel"]["status"] == "failed"
    documented = [c for c in document["checks"] if c["basis"] == "document"]
    assert documented and all(f"{name} document" in c["basis_ref"] for c in documented)
    assert all(c["status"] != "failed" for c in documented)
    assert "FINDING [client, openai] errors.envelope" in stdout
    assert "PASSED" in stdout.splitlines()[-1]
    junit = ET.parse(tmp_path / f"{name}.xml").getroot()
    suite = junit.find("testsuite")
    assert suite is not None and suite.get("failures") == "0"
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["verdict.document"] == "passed"
    case = next(c for c in suite.iter("testcase") if c.get("name") == "errors.envelope")
    assert case.find("failure") is None
    out = case.find("system-out")
    assert out is not None and "OpenAI-compatibility finding" in (out.text or "")
    from conformance import report

    markdown = report.render_markdown([document])
    assert "**Follows its document**" in markdown and "**Partly compatible**" in markdown
    assert "`errors.envelope` on" in markdown
    assert "*(compatibility finding, beyond the document)*" in markdown
    html = report.render_html([document])
    assert "Follows its document" in html and "basis-openai" in html


def test_strict_openai_fails_on_the_findings(served: tuple[str, str], tmp_path: Path) -> None:
    name, base_url = served
    code, document, _ = _check(name, base_url, tmp_path, "--strict-openai", "--only", "errors")
    assert code == 1
    assert document["verdicts"]["openai"]["strict"] is True
    junit = ET.parse(tmp_path / f"{name}.xml").getroot()
    case = next(c for c in junit.iter("testcase") if c.get("name") == "errors.envelope")
    assert case.find("failure") is not None


def test_the_openai_profile_fails_it(served: tuple[str, str], tmp_path: Path) -> None:
    _, base_url = served
    code, document, _ = _check("openai", base_url, tmp_path)
    assert code == 1
    assert document["verdicts"]["document"]["status"] == "failed"
    envelope = _by_id(document)["errors.envelope"]
    assert envelope["status"] == "failed" and envelope["basis"] == "document"


# -- the server itself ----------------------------------------------------------------------


def _post(base_url: str, body: Any, key: str | None = KEY) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(f"{base_url}/chat/completions", json=body, headers=headers, timeout=10)


_HELLO = [{"role": "user", "content": "hello"}]


def test_it_answers_the_documented_fields_and_ignores_the_rest(served: tuple[str, str]) -> None:
    name, base_url = served
    answer = _post(base_url, {"model": "m1", "messages": _HELLO, "n": 3, "stop": ["x"]})
    assert answer.status_code == 200
    body = answer.json()
    assert body["object"] == "chat.completion" and len(body["choices"]) == 1
    assert ("usage" in body) is (name == "nebulablock")
    if name == "nebulablock":
        assert body["usage"]["completion_tokens_details"] is None
        assert body["service_tier"] and "prompt_logprobs" in body
    stream = _post(base_url, {"model": "m1", "messages": _HELLO, "stream": True})
    assert stream.headers["content-type"].startswith("text/event-stream")
    assert "chat.completion.chunk" in stream.text and "[DONE]" not in stream.text
    assert httpx.get(f"{base_url}/models", timeout=10).json() == {"detail": "Not Found"}


def test_invalid_requests_get_fastapi_422(served: tuple[str, str]) -> None:
    name, base_url = served
    refused = _post(base_url, {"model": "m1", "messages": "hello"})
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "messages"]
    assert _post(base_url, {"messages": _HELLO}).json()["detail"][0]["type"] == "missing"
    hot = _post(base_url, {"model": "m1", "messages": _HELLO, "temperature": 3})
    # WeAI documents temperature 0 to 2; NebulaBlock states no range
    assert hot.status_code == (422 if name == "weai" else 200)
    capped = _post(base_url, {"model": "m1", "messages": _HELLO, "max_tokens": 2})
    tokens = capped.json()["choices"][0]["finish_reason"]
    # NebulaBlock documents max_tokens; WeAI's guide does not, so it is ignored
    assert tokens == ("length" if name == "nebulablock" else "stop")
    if name == "nebulablock":
        assert _post(base_url, {"model": "m1", "messages": _HELLO, "max_tokens": None}).is_success
        assert (
            _post(base_url, {"model": "m1", "messages": _HELLO, "max_tokens": "2"}).status_code
            == 422
        )


def test_auth_follows_the_document(served: tuple[str, str]) -> None:
    name, base_url = served
    keyless = _post(base_url, {"model": "m1", "messages": _HELLO}, key=None)
    wrong = _post(base_url, {"model": "m1", "messages": _HELLO}, key="sk-wrong-key-0000000000")
    if name == "weai":  # its quickstart sends Authorization: Bearer $WEAI_API_KEY
        assert keyless.status_code == 401 and wrong.status_code == 401
        assert keyless.json() == {"detail": "Not authenticated"}
    else:  # NebulaBlock's page names no authentication
        assert keyless.status_code == 200 and wrong.status_code == 200


def test_only_known_documents_are_served() -> None:
    with pytest.raises(ConfigError, match="no document-only server"):
        BackendConfig(only_document="wetrocloud")


def test_the_command_line_offers_the_mode_and_the_flag() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "conformance", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "--only-document [nebulablock|weai]" in proc.stdout
    for command in ("check", "run"):
        helped = subprocess.run(
            [sys.executable, "-m", "conformance", command, "--help"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "--strict-openai" in helped.stdout, command


# -- the pytest plugin ----------------------------------------------------------------------


def test_the_plugin_warns_of_findings_and_fails_them_when_strict(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONFORMANCE_TEST_KEY", KEY)
    with serve_in_thread(BackendConfig(only_document="nebulablock")) as root:
        args = (
            "-p", "no:cacheprovider", "--pyargs", "conformance.suites.test_checks", "-q",
            "--provider", "nebulablock", "--base-url", root + "/v1", "--model", "m1",
            "-k", "errors or schema",
        )  # fmt: skip
        lenient = pytester.runpytest_subprocess(*args)
        strict = pytester.runpytest_subprocess(*args, "--strict-openai")
    assert lenient.ret == 0, lenient.stdout.str()
    lenient.stdout.fnmatch_lines(["*errors.envelope: OpenAI-compatibility finding [[]client]*"])
    lenient.stdout.fnmatch_lines(["*nebulablock's document passed*"])
    assert strict.ret == 1
    assert strict.parseoutcomes().get("failed", 0) >= 1


@pytest.mark.parametrize(("provider", "code"), [("weai", 0), ("nebulablock", 1)])
def test_a_server_that_ignores_stream_fails_only_where_the_document_offers_streaming(
    provider: str, code: int, tmp_path: Path
) -> None:
    """`stream: true` answered with one JSON completion: NebulaBlock's page lists `stream`,
    WeAI's guide never describes it (a compatibility finding there, even at SDK severity)."""
    config = BackendConfig(fault="json_instead_of_stream", api_keys=(KEY,))
    with serve_in_thread(config) as root:
        model = {"weai": "llama3.1-8B", "nebulablock": "meta-llama/Llama-3.3-70B-Instruct"}
        status, document, out = _check(
            provider, f"{root}/{provider}/v1", tmp_path, model=model[provider]
        )
    assert status == code, out
    when_asked = _by_id(document)["sse.stream_when_asked"]
    assert when_asked["status"] == "failed"
    if provider == "weai":
        assert when_asked["feature_documented"] is False
        assert "FINDING [sdk, openai] sse.stream_when_asked" in out
    else:
        assert "feature_documented" not in when_asked
