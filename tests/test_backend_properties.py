"""Property tests: the backend accepts every valid request the harness's strategies
draw, and refuses every invalid one with the dialect's error shape (never a 5xx)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from test_backend_helpers import assert_valid_completion, assert_valid_stream

from conformance.backend import BackendConfig, create_app
from conformance.providers import plain_params
from conformance.strategies import InvalidRequest, conversations, invalid_requests, parameters

APP = create_app(BackendConfig())
#: a refusal of an optional feature the backend does not implement (a capability)
CAPABILITY_CODES = {"unsupported_parameter", "unsupported_value"}
_settings = settings(suppress_health_check=[HealthCheck.too_slow])


def _post(path: str, content: bytes, content_type: str) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=APP)
        async with httpx.AsyncClient(transport=transport, base_url="http://backend") as client:
            return await client.post(path, content=content,
                                     headers={"content-type": content_type})  # fmt: skip

    return asyncio.run(go())


FLAVOURS = {
    "openai": ("/v1/chat/completions", "reference-small"),
    "nebulablock": ("/nebulablock/v1/chat/completions", "meta-llama/Llama-3.3-70B-Instruct"),
    "weai": ("/weai/v1/chat/completions", "llama3.1-70B"),
}


def _check_valid(flavour: str, messages: list[dict[str, Any]], params: dict[str, Any]) -> None:
    path, model = FLAVOURS[flavour]
    body = {"model": model, "messages": messages, **plain_params(params)}
    response = _post(path, json.dumps(body).encode(), "application/json")
    if response.status_code == 400:
        assert response.json()["error"]["code"] in CAPABILITY_CODES, response.text
        return
    assert response.status_code == 200, response.text
    n = params.get("n", 1)
    if params.get("stream"):
        include = bool(params.get("stream_options", {}).get("include_usage"))
        assert_valid_stream(response.content, response.headers["content-type"], n=n,
                            include_usage=include)  # fmt: skip
    else:
        assert_valid_completion(response.json(), n=n)


@_settings
@given(messages=conversations(provider="openai"), params=parameters(provider="openai"))
def test_valid_openai_requests_are_answered(
    messages: list[dict[str, Any]], params: dict[str, Any]
) -> None:
    _check_valid("openai", messages, params)


@_settings
@given(messages=conversations(provider="nebulablock"), params=parameters(provider="nebulablock"))
def test_valid_nebulablock_requests_are_answered(
    messages: list[dict[str, Any]], params: dict[str, Any]
) -> None:
    _check_valid("nebulablock", messages, params)


@_settings
@given(messages=conversations(provider="weai"), params=parameters(provider="weai"))
def test_valid_weai_requests_are_answered(
    messages: list[dict[str, Any]], params: dict[str, Any]
) -> None:
    _check_valid("weai", messages, params)


@_settings
@given(case=invalid_requests(provider="openai", strictness=["must_refuse"]))
def test_invalid_requests_are_refused_with_the_envelope(case: InvalidRequest) -> None:
    content, content_type = case.payload()
    response = _post("/v1/chat/completions", content, content_type)
    assert 400 <= response.status_code < 500, (case.label, response.text)
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}


@_settings
@given(case=invalid_requests(provider="wetrocloud"))
def test_invalid_wetrocloud_requests_are_refused(case: InvalidRequest) -> None:
    content, content_type = case.payload()
    response = _post("/v1/text-generation/", content, content_type)
    if case.strictness == "should_refuse" and response.status_code == 200:
        return
    assert 400 <= response.status_code < 500, (case.label, response.text)
    body = response.json()
    assert body["success"] is False and isinstance(body["error"], str)
