"""Suite (a): request encoding, judged on what actually goes on the wire.

For every provider profile, Hypothesis draws conversations and parameters the provider
documents; the profile encodes them and the request is sent through an ``httpx.Client``
whose transport is a respx router, so the assertions look at the bytes the router
received: method, URL, Content-Type, the auth scheme, the JSON body (no ``null`` for
unset parameters, ``null`` only where the document allows it, such as NebulaBlock's
``max_tokens``: "integer or null"; no parameter the provider does not document) or the
multipart form
(exactly ``messages`` as a JSON *string* and ``model``). Finally the profile's
``decode_request`` must give back what was encoded.

The expectations come from the providers' documents (the table :data:`DOCUMENTED`), not
from the profiles themselves, so a profile that drifts from its document fails here.
Everything is offline; the number of examples follows the loaded Hypothesis profile.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import respx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from python_multipart import MultipartParser

from conformance.providers import PROVIDERS, get_provider
from conformance.providers.base import NULL, Dialect, Message, Provider
from conformance.strategies import conversations, parameters

__all__ = ["DOCUMENTED", "Documented", "parse_multipart", "wire_request"]

API_KEY = "sk-encoding-suite-0000"


@dataclass(frozen=True)
class Documented:
    """What a provider's document says a request looks like."""

    url: str
    content_type: str
    auth: str  # the Authorization scheme word
    #: request fields (JSON keys or form fields) the document names; ``None`` = all of
    #: the OpenAI Chat Completions request
    fields: frozenset[str] | None
    #: top-level fields the document allows to be ``null``
    nullable: frozenset[str] = frozenset()


#: from the seed documents (shared/seeds) and the OpenAI API reference
DOCUMENTED: dict[str, Documented] = {
    "openai": Documented(
        "https://api.openai.com/v1/chat/completions",
        "application/json",
        "Bearer",
        None,
        # "integer or null", "number or null", ... in the API reference
        frozenset({"max_tokens", "max_completion_tokens", "temperature", "top_p", "n", "seed"}),
    ),
    "nebulablock": Documented(
        "https://inference.nebulablock.com/v1/chat/completions",
        "application/json",
        "Bearer",
        frozenset({"messages", "model", "max_tokens", "temperature", "top_p", "stream"}),
        # "max_tokens integer or null: ... If null, the model's default will be used."
        frozenset({"max_tokens"}),
    ),
    "weai": Documented(
        "https://weai.productscience.ai/v1/chat/completions", "application/json", "Bearer", None
    ),
    "wetrocloud": Documented(
        "https://api.wetrocloud.com/v1/text-generation/",
        "multipart/form-data",
        "Token",
        frozenset({"messages", "model"}),
    ),
}

#: the OpenAI Chat Completions request fields this suite may see
_OPENAI_FIELDS = frozenset(
    {
        "model", "messages", "temperature", "top_p", "max_tokens", "max_completion_tokens",
        "n", "stop", "seed", "presence_penalty", "frequency_penalty", "logprobs",
        "top_logprobs", "response_format", "tools", "tool_choice", "user", "stream",
        "stream_options",
    }
)  # fmt: skip


def wire_request(request: httpx.Request) -> httpx.Request:
    """Send ``request`` through an httpx client backed by a respx router; return what the
    router received (the request as it went on the wire)."""
    router = respx.Router(assert_all_called=False)
    route = router.route().respond(200, json={})
    with httpx.Client(transport=httpx.MockTransport(router.handler)) as client:
        client.send(request)
    assert route.call_count == 1
    sent: httpx.Request = route.calls.last.request
    return sent


def parse_multipart(content_type: str, body: bytes) -> list[tuple[str, bytes, dict[str, str]]]:
    """The parts of a multipart body as (field name, raw value, part headers).

    Uses python-multipart, a parser independent of the profiles' own, and fails the test
    when the body does not parse to the end.
    """
    mime, _, rest = content_type.partition(";")
    assert mime.strip().lower() == "multipart/form-data", content_type
    params = dict(p.strip().split("=", 1) for p in rest.split(";") if "=" in p)
    boundary = params.get("boundary", "").strip('"')
    assert boundary, f"no boundary in {content_type!r}"
    parts: list[tuple[str, bytes, dict[str, str]]] = []
    state: dict[str, Any] = {"headers": {}, "data": b"", "field": b"", "value": b"", "ended": False}

    def on_part_begin() -> None:
        state["headers"], state["data"] = {}, b""

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["value"] += data[start:end]

    def on_header_end() -> None:
        state["headers"][state["field"].decode().lower()] = state["value"].decode()
        state["field"], state["value"] = b"", b""

    def on_part_data(data: bytes, start: int, end: int) -> None:
        state["data"] += data[start:end]

    def on_part_end() -> None:
        disposition = state["headers"].get("content-disposition", "")
        name = None
        for piece in disposition.split(";"):
            key, _, value = piece.strip().partition("=")
            if key == "name":
                name = value.strip('"')
        assert name is not None, f"a part has no name: {disposition!r}"
        parts.append((name, state["data"], dict(state["headers"])))

    def on_end() -> None:
        state["ended"] = True

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
            "on_end": on_end,
        },
    )
    parser.write(body)
    parser.finalize()
    assert state["ended"], "the multipart body has no closing boundary"
    return parts


def _no_nulls(value: Any, where: str = "body", nullable: frozenset[str] = frozenset()) -> None:
    """Unset parameters are absent: no ``null`` at the top level or in parameter objects,
    except for the top-level fields in ``nullable`` (the document allows ``null`` there)."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            if k == "messages":
                continue  # message content may legitimately be null only when unset; checked apart
            if v is None and k in nullable:
                continue
            assert v is not None, f"{where}.{k} is null"
            _no_nulls(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _no_nulls(v, f"{where}[{i}]")


def assert_encoding(
    provider: Provider, messages: Sequence[Message], params: Mapping[str, Any]
) -> None:
    """The whole property for one draw: encode, send, inspect, decode back."""
    doc = DOCUMENTED[provider.name]
    sent = wire_request(provider.encode(messages, params, api_key=API_KEY))

    assert sent.method == "POST"
    assert str(sent.url) == doc.url
    ctype = sent.headers.get("content-type", "")
    assert ctype.split(";")[0].strip().lower() == doc.content_type
    assert sent.headers.get("authorization") == f"{doc.auth} {API_KEY}"
    assert len(sent.headers.get_list("authorization")) == 1

    expected_params = {k: v for k, v in params.items() if v is not None}
    if provider.dialect is Dialect.WETROCLOUD:
        parts = parse_multipart(ctype, sent.content)
        names = [name for name, _, _ in parts]
        assert sorted(names) == ["messages", "model"], names
        fields = {name: value.decode("utf-8") for name, value, _ in parts}
        for _, _, headers in parts:
            assert "filename" not in headers.get("content-disposition", "")
        decoded_messages = json.loads(fields["messages"])
        assert isinstance(decoded_messages, list)
        assert decoded_messages == list(messages)
        assert fields["model"] == provider.model
        expected_params = {k: v for k, v in expected_params.items() if k in {"model"}}
    else:
        body = json.loads(sent.content)
        assert isinstance(body, dict)
        _no_nulls(body, nullable=doc.nullable)
        assert body["model"] == provider.model
        assert body["messages"] == list(messages)
        allowed = doc.fields if doc.fields is not None else _OPENAI_FIELDS
        unknown = set(body) - allowed
        assert not unknown, f"parameters the document does not name: {sorted(unknown)}"
        assert set(body) == {"model", "messages", *expected_params}
        for key, value in expected_params.items():
            assert body[key] == (None if value is NULL else value), key
        if expected_params.get("stream") is not True:
            assert "stream_options" not in body

    decoded_messages, decoded_params = provider.decode_request(sent)
    assert decoded_messages == list(messages)
    assert decoded_params == expected_params


#: one parameter per profile, marked so that ``--provider NAME`` (the conformance
#: plugin) deselects the other profiles' tests
_PROFILES = [
    pytest.param(name, marks=pytest.mark.conformance_profile(name)) for name in sorted(PROVIDERS)
]


@st.composite
def _draws(draw: st.DrawFn, name: str) -> tuple[list[Message], dict[str, Any]]:
    return draw(conversations(provider=name)), draw(parameters(provider=name))


@pytest.mark.parametrize("name", _PROFILES)
@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_requests_encode_as_documented(name: str, data: st.DataObject) -> None:
    """Generated conversations and parameters go on the wire as the document says and
    decode back to the input."""
    if name not in DOCUMENTED:
        pytest.skip(f"no documented request shape recorded for profile {name!r}")
    provider = get_provider(name)
    messages, params = data.draw(_draws(name), label="request")
    assert_encoding(provider, messages, params)


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_every_profile_has_a_documented_shape(name: str) -> None:
    """A new profile must say here what its document prescribes."""
    assert name in DOCUMENTED, f"add profile {name!r} to DOCUMENTED in {__name__}"


@pytest.mark.parametrize("name", _PROFILES)
def test_profile_facts_follow_the_document(name: str) -> None:
    """The profile's capabilities claim nothing its document does not: ``max_tokens: null``
    only where the document allows ``null``, and no documented parameter left out of the
    document's fields. The probes, the bench and the strategies read these capabilities,
    so this is what keeps all of them to the document."""
    provider = get_provider(name)
    doc = DOCUMENTED[name]
    caps = provider.capabilities
    if caps.max_tokens_null:
        assert "max_tokens" in doc.nullable, "max_tokens_null, but the document allows no null"
    if provider.dialect is Dialect.OPENAI and doc.fields is not None:
        documented = {"temperature": caps.temperature, "top_p": caps.top_p}
        for field, on in documented.items():
            assert not on or field in doc.fields, field
        assert not caps.stream_usage or "stream_options" in doc.fields


@pytest.mark.parametrize("name", _PROFILES)
def test_no_key_sends_no_auth_header(name: str) -> None:
    """Without a key the request carries no Authorization header at all (not an empty one)."""
    provider = get_provider(name)
    sent = wire_request(provider.encode([{"role": "user", "content": "hi"}], {}))
    assert "authorization" not in sent.headers
