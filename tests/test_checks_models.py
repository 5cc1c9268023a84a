"""The model-surface checks (``models.*``): verdicts the self-test matrix does not cover.

The matrix proves each check fails on its faults and passes on the correct backend. Here:
the verdicts that are warnings (an unknown model answered, a list without one-model
retrieval), the evidence they carry, what real servers answer (vLLM, llama.cpp, Ollama,
LiteLLM, OpenAI, Together's bare array), and the name comparison that must not raise
false alarms.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from conformance.backend import BackendConfig, create_app, serve_in_thread
from conformance.checks import Status, load_families
from conformance.checks.models import listed_ids, same_model
from conformance.engine import RunConfig, run_checks
from conformance.providers import get_provider
from conformance.results import CheckRun
from conformance.wire.client import WireClient

load_families()
KEY = "sk-models-" + secrets.token_hex(6)


@pytest.fixture(scope="module")
def root() -> Iterator[str]:
    with serve_in_thread(BackendConfig(api_keys=(KEY,))) as url:
        yield url


def _run(base: str, *, provider: str = "openai", model: str | None = None, **kw: Any) -> CheckRun:
    config = RunConfig(
        provider=get_provider(provider, base_url=base, model=model),
        api_key=KEY,
        timeout=5.0,
        only="models",
        mode="live",
        **kw,
    )
    return run_checks(config)


def _by_id(run: CheckRun) -> dict[str, Any]:
    return {r.id: r for r in run.checks}


def test_an_unknown_model_answered_is_a_warning_naming_the_model_that_answered(root: str) -> None:
    result = _by_id(_run(root + "/fault/unknown_model_served/v1"))["models.unknown_refused"]
    assert result.status is Status.WARNED
    assert "'gpt-4o-mini'" in result.detail and "conformance-no-such-model-" in result.detail
    assert result.evidence["response"]["status"] == 200


def test_a_list_without_one_model_retrieval_only_warns(root: str) -> None:
    results = _by_id(_run(root + "/fault/models_missing/v1"))
    assert results["models.list_served"].status is Status.FAILED
    assert results["models.retrieve"].status is Status.WARNED
    assert "404" in results["models.retrieve"].detail
    for dependent in ("models.list_sdk", "models.list_schema", "models.listed"):
        assert results[dependent].status is Status.SKIPPED  # one defect, one failed check


def test_a_slash_in_the_model_id_is_encoded_as_the_sdk_encodes_it(root: str) -> None:
    run = _run(root + "/nebulablock/v1", provider="nebulablock")
    results = _by_id(run)
    assert results["models.retrieve"].status is Status.PASSED
    assert all(r.status is Status.PASSED for r in run.checks), [
        (r.id, r.detail) for r in run.checks if r.status is not Status.PASSED
    ]


def test_a_model_the_user_picked_on_the_embedded_backend_is_served() -> None:
    """`--model NAME` against the embedded backend: the backend lists and answers NAME."""
    with serve_in_thread(BackendConfig(api_keys=(KEY,), models=("my-model",))) as url:
        run = _run(url + "/v1", model="my-model")
    assert {r.status for r in run.checks} == {Status.PASSED}


def _served(routes: dict[tuple[str, str], tuple[int, Any]]) -> Callable[..., CheckRun]:
    """A run against a fake whose GET/POST answers are given per (method, path suffix);
    chat completions come from the reference backend (so only the model surface differs)."""
    app = httpx.ASGITransport(app=create_app(BackendConfig(api_keys=(KEY,), models=("m",))))

    async def handler(request: httpx.Request) -> httpx.Response:
        for (method, suffix), (status, body) in routes.items():
            if request.method == method and request.url.path.endswith(suffix):
                if isinstance(body, bytes):
                    return httpx.Response(status, content=body)
                return httpx.Response(status, json=body)
        return await app.handle_async_request(request)

    def run(model: str = "m") -> CheckRun:
        sender = WireClient(timeout=5.0, transport=httpx.MockTransport(handler))
        return _run("http://fake.invalid/v1", model=model, sender=sender)

    return run


def _entry(name: str, **extra: Any) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 1715000000, "owned_by": "x", **extra}


#: model lists as real servers send them (correct ones)
REAL_LISTS: dict[str, dict[str, Any]] = {
    "vllm": {
        "object": "list",
        "data": [
            _entry(
                "m",
                owned_by="vllm",
                root="/models/m",
                parent=None,
                max_model_len=8192,
                permission=[{"id": "modelperm-1", "object": "model_permission", "created": 1}],
            )
        ],
    },
    "llama.cpp": {
        "models": [{"name": "m", "model": "m", "type": "model"}],
        "object": "list",
        "data": [_entry("m", owned_by="llamacpp", meta={"n_ctx_train": 4096})],
    },
    "ollama": {"object": "list", "data": [_entry("m", owned_by="library")]},
    "litellm": {"data": [_entry("m", owned_by="openai")], "object": "list"},
}


@pytest.mark.parametrize("server", sorted(REAL_LISTS))
def test_real_servers_lists_pass(server: str) -> None:
    run = _served({("GET", "/models"): (200, REAL_LISTS[server])})()
    results = _by_id(run)
    for check_id in (
        "models.list_served",
        "models.list_sdk",
        "models.list_schema",
        "models.listed",
    ):
        assert results[check_id].status is Status.PASSED, (check_id, results[check_id].detail)


def test_vllm_serves_no_single_model_route_and_only_gets_a_warning() -> None:
    not_found = (404, {"detail": "Not Found"})
    run = _served({("GET", "/models"): (200, REAL_LISTS["vllm"]), ("GET", "/models/m"): not_found})
    results = _by_id(run())
    assert results["models.retrieve"].status is Status.WARNED
    assert not [r for r in run().checks if r.status is Status.FAILED]


@pytest.mark.parametrize(
    ("body", "check_id", "words"),
    [
        # Together AI answers a bare array
        ([_entry("m", type="chat")], "models.list_sdk", "bare JSON array"),
        # Gemini's native list
        ({"models": [{"name": "models/m"}]}, "models.list_sdk", "another vendor"),
        ({"object": "list", "data": [_entry("m", object="Model")]}, "models.list_schema", "object"),
        (
            {"object": "list", "data": [_entry("m", owned_by=None)]},
            "models.list_schema",
            "owned_by",
        ),
        ({"object": "list", "data": [_entry("m", created=1.5)]}, "models.list_schema", "created"),
    ],
)
def test_shapes_the_sdk_or_the_spec_rejects(body: Any, check_id: str, words: str) -> None:
    result = _by_id(_served({("GET", "/models"): (200, body)})())[check_id]
    assert result.status is Status.FAILED, result.detail
    assert words in result.detail
    assert result.evidence


def test_an_empty_list_warns_that_the_model_is_not_listed() -> None:
    results = _by_id(_served({("GET", "/models"): (200, {"object": "list", "data": []})})())
    assert results["models.list_schema"].status is Status.PASSED
    assert results["models.listed"].status is Status.WARNED
    assert "empty" in results["models.listed"].detail


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (404, {"error": {"message": "The model `x` does not exist.", "type": "NotFoundError",
                         "param": "model", "code": 404}}, Status.PASSED),  # vLLM
        (404, {"error": {"message": 'model "x" not found, try pulling it first',
                         "type": "api_error", "param": None, "code": None}}, Status.PASSED),  # Ollama
        (400, {"error": {"message": "Invalid model name passed in model=x", "type": "None",
                         "param": "None", "code": "400"}}, Status.PASSED),  # LiteLLM
        (400, {"error": {"message": "messages: too short", "type": "invalid_request_error",
                         "param": None, "code": None}}, Status.WARNED),  # refused for another reason
        (403, {"error": {"message": "key not allowed to access model", "type": "auth",
                         "param": None, "code": "403"}}, Status.WARNED),
        (503, {"error": {"message": "loading", "type": "server_error", "param": None,
                         "code": None}}, Status.FAILED),
        (404, b"<html>Not Found</html>", Status.FAILED),
    ],
)  # fmt: skip
def test_unknown_model_refusals(status: int, body: Any, expected: Status) -> None:
    result = _by_id(_unknown_only(status, body))["models.unknown_refused"]
    assert result.status is expected, result.detail


def _unknown_only(status: int, body: Any) -> CheckRun:
    """A run whose requests for the invented model get (status, body); others the backend."""
    app = httpx.ASGITransport(app=create_app(BackendConfig(api_keys=(KEY,))))

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and b"conformance-no-such-model-" in request.content:
            if isinstance(body, bytes):
                return httpx.Response(status, content=body, headers={"content-type": "text/html"})
            return httpx.Response(status, json=body)
        return await app.handle_async_request(request)

    sender = WireClient(timeout=5.0, transport=httpx.MockTransport(handler))
    return _run("http://fake.invalid/v1", sender=sender)


@pytest.mark.parametrize(
    ("requested", "answered"),
    [
        ("gpt-4o", "gpt-4o-2024-08-06"),  # OpenAI pins the alias to a dated snapshot
        ("gpt-4o-mini", "gpt-4o-mini-2024-07-18"),
        ("o1", "o1-2024-12-17"),
        ("llama3.2", "llama3.2:latest"),  # Ollama
        ("llama3.2:latest", "llama3.2"),
        ("claude-3-5-sonnet-latest", "claude-3-5-sonnet-20241022"),  # -latest becomes a date
        ("meta-llama/Llama-3.1-8B-Instruct", "/models/Llama-3.1-8B-Instruct"),  # vLLM path
        ("gemini-1.5-flash", "models/gemini-1.5-flash"),
        ("Llama-3.1-8B", "llama-3.1-8b-instruct"),
        ("qwen2.5", "qwen2.5:7b-instruct-q4_K_M"),
        ("model", "/srv/models/model.gguf"),  # llama.cpp answers its file path
        ("llama3.1-8B", "llama3.1-8B"),
    ],
)
def test_versions_of_the_requested_model_are_the_same_model(requested: str, answered: str) -> None:
    assert same_model(requested, answered)


@pytest.mark.parametrize(
    ("requested", "answered"),
    [
        ("gpt-4o", "gpt-4o-mini-2024-07-18"),  # a smaller model
        ("gpt-4o-mini", "gpt-4o-2024-08-06"),
        ("gpt-4o-mini", "gpt-3.5-turbo"),  # old llama.cpp answered this for anything
        ("llama3.1-70B", "llama3.1-8B"),
        ("my-deployment", "unrelated-model-7b"),
    ],
)
def test_other_models_are_not_the_same_model(requested: str, answered: str) -> None:
    assert not same_model(requested, answered)


def test_listed_ids_reads_every_common_shape() -> None:
    assert listed_ids({"object": "list", "data": [_entry("a"), _entry("b")]}) == ["a", "b"]
    assert listed_ids([_entry("a")]) == ["a"]
    assert listed_ids({"models": [{"name": "llama3.2:latest"}]}) == ["llama3.2:latest"]
    assert listed_ids({"id": "a", "object": "model"}) is None
    assert listed_ids("nope") is None


def test_the_models_checks_apply_to_openai_shaped_profiles_only() -> None:
    from conformance.checks import select_checks

    wetro = {s.id for s in select_checks(dialect=get_provider("wetrocloud").dialect)}
    assert not {i for i in wetro if i.startswith("models.")}
    openai = {s.id for s in select_checks(dialect=get_provider("openai").dialect, only="models")}
    assert len(openai) == 7


def test_answers_from_another_model_name_both_names(root: str) -> None:
    result = _by_id(_run(root + "/fault/model_renamed/v1"))["models.answer_model"]
    assert result.status is Status.WARNED
    assert result.evidence["requested"] == "gpt-4o-mini"
    assert result.evidence["answered"] == "unrelated-model-7b"


def test_the_list_probe_keeps_a_query_in_the_base_url() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json={"object": "list", "data": [_entry("gpt-4o-mini")]})

    sender = WireClient(timeout=5.0, transport=httpx.MockTransport(handler))
    config = RunConfig(
        provider=get_provider("openai", base_url="http://azure.invalid/openai?api-version=1"),
        api_key=KEY,
        timeout=5.0,
        only="models.list_*",
        sender=sender,
    )
    run_checks(config)
    assert "http://azure.invalid/openai/models?api-version=1" in seen, seen


def test_azure_annotation_events_with_an_empty_model_are_not_another_model() -> None:
    """Azure sends content-filter annotations (`model: ""`) before the chunks."""
    from selftest import RewritingTransport, rewrite_chunks

    annotation = json.dumps(
        {"id": "", "object": "", "created": 0, "model": "", "choices": [],
         "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}]}
    )  # fmt: skip
    app = httpx.ASGITransport(app=create_app(BackendConfig(api_keys=(KEY,))))
    transport = RewritingTransport(app, rewrite_chunks(lambda datas: [annotation, *datas]))
    sender = WireClient(timeout=5.0, transport=transport)
    run = _run("http://azure.invalid/v1", sender=sender)
    result = _by_id(run)["models.answer_model"]
    assert result.status is Status.PASSED, result.detail


@pytest.mark.parametrize("key", [None, "sk-wrong"])
def test_a_run_without_the_right_key_does_not_blame_the_model_surface(
    root: str, key: str | None
) -> None:
    """The keyed backend refuses every route without the key: that is the run's
    configuration (one line, before the model surface is judged), not a model-surface
    defect."""
    from conformance.engine._diagnose import TargetMisconfigured

    config = RunConfig(
        provider=get_provider("openai", base_url=root + "/v1"),
        api_key=key,
        timeout=5.0,
        only="models",
    )
    with pytest.raises(TargetMisconfigured, match="HTTP 401"):
        run_checks(config)


def test_an_azure_deployment_lists_its_resources_models() -> None:
    base = "https://res.openai.azure.com/openai/deployments/my-dep?api-version=2024-10-21"
    provider = get_provider("openai", base_url=base, model="my-dep")
    assert provider.models_url() == (
        "https://res.openai.azure.com/openai/models?api-version=2024-10-21"
    )
    assert provider.models_url("gpt-4o") == (
        "https://res.openai.azure.com/openai/models/gpt-4o?api-version=2024-10-21"
    )
    other = get_provider("openai", base_url="http://h/v1?x=1")
    assert other.models_url("a/b") == "http://h/v1/models/a%2Fb?x=1"
    assert get_provider("wetrocloud").models_url() is None


@pytest.mark.parametrize(
    ("answered_id", "expected"),
    [("m", Status.PASSED), ("m:latest", Status.PASSED), ("other", Status.FAILED)],
)
def test_retrieve_accepts_the_latest_tag_and_nothing_else(
    answered_id: str, expected: Status
) -> None:
    """Ollama names a model with or without its `:latest` tag; another id is not the model."""
    run = _served(
        {
            ("GET", "/models"): (200, REAL_LISTS["ollama"]),
            ("GET", "/models/m"): (200, _entry(answered_id, owned_by="library")),
        }
    )()
    result = _by_id(run)["models.retrieve"]
    assert result.status is expected, result.detail
