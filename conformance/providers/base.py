"""What a provider profile is.

A profile knows one provider's dialect: where its endpoint lives, how to authenticate,
how to encode a conversation into an ``httpx.Request`` and how to decode what comes back
into the common :class:`Generation` result. Profiles do no I/O.

Messages and parameters use the OpenAI Chat Completions names everywhere
(``messages=[{"role": "user", "content": "hi"}]``, ``params={"max_tokens": 8}``); a profile
translates them into its own wire format. A parameter that is not set is absent from
``params`` and is never sent as ``null``; a parameter whose document allows ``null``
(NebulaBlock's ``max_tokens``: "integer or null") is sent as ``null`` when its value is
:data:`NULL`.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Final
from urllib.parse import quote, urlsplit

import httpx

from conformance.providers.facts import CAPABILITY_FACTS, Cited
from conformance.wire.exchange import SSEEvent

Message = dict[str, Any]
Params = dict[str, Any]

#: characters RFC 3986 allows unencoded in a path segment (``pchar``, less the unreserved
#: ones that ``quote`` never encodes)
_SEGMENT_SAFE = "!$&'()*+,;=:@"
#: an Azure OpenAI deployment base URL, ``.../openai/deployments/<name>``
_AZURE_DEPLOYMENT = re.compile(r"(/openai)/deployments/[^/]+/?$")


class _Null:
    """The type of :data:`NULL` (one instance)."""

    _instance: _Null | None = None

    def __new__(cls) -> _Null:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NULL"

    def __reduce__(self) -> str:
        return "NULL"


#: a parameter value meaning "send this parameter as JSON ``null``" (``None`` means "not
#: set" and is never sent); only for parameters whose document allows ``null``
NULL: Final = _Null()


def plain_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """``params`` as JSON-ready data: :data:`NULL` becomes ``None`` (what goes on the wire,
    for records such as ``Exchange.meta``)."""
    return {k: (None if v is NULL else v) for k, v in (params or {}).items()}


class Dialect(StrEnum):
    """The wire shape a profile speaks."""

    OPENAI = "openai"  # Chat Completions JSON, SSE streaming
    WETROCLOUD = "wetrocloud"  # multipart form in, {response, tokens, success} out


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a provider documents that it supports.

    A capability that is ``False`` is not probed as a requirement; checks for it are
    skipped with the reason "not documented by <provider>".
    """

    streaming: bool = True
    stream_usage: bool = True  # stream_options.include_usage
    n: bool = True
    stop: bool = True
    max_tokens: bool = True
    max_completion_tokens: bool = True
    temperature: bool = True
    top_p: bool = True
    seed: bool = True
    tools: bool = True
    logprobs: bool = True
    response_format: bool = True
    system_role: bool = True
    multi_turn: bool = True
    #: the temperature range the document states, inclusive; ``None`` when it documents
    #: ``temperature`` without a range (values are then only sent inside 0..1, and no
    #: value is probed as out of range)
    temperature_range: tuple[float, float] | None = (0.0, 2.0)
    #: the top_p range the document states, inclusive; ``None`` when it states none (a
    #: "probability": values are then only sent inside 0..1, none probed as out of range)
    top_p_range: tuple[float, float] | None = (0.0, 1.0)
    #: temperatures the document itself gives as examples (WeAI's FAQ: 0.2 and 1.2); they
    #: are sent, with the ends of the range, by ``semantics.temperature_bounds``
    temperature_examples: tuple[float, ...] = ()
    #: the document allows ``max_tokens: null`` ("the model's default is used")
    max_tokens_null: bool = True
    #: the smallest ``max_tokens`` the document allows; ``None`` when it states none (then
    #: no small value is probed as invalid)
    max_tokens_min: int | None = 1


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class Choice:
    index: int
    text: str
    finish_reason: str | None = None
    role: str | None = None
    #: tool calls of this choice (streamed ones merged), as plain dicts in the OpenAI shape
    tool_calls: list[dict[str, Any]] | None = None


@dataclass(frozen=True, slots=True)
class Generation:
    """The common decoded result of one completion, streamed or not."""

    choices: list[Choice]
    usage: Usage | None = None
    model: str | None = None
    id: str | None = None
    raw: Any = None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The text of the first choice (``""`` when there is none)."""
        return self.choices[0].text if self.choices else ""


@dataclass(frozen=True, slots=True)
class APIError:
    """A decoded error response."""

    status: int
    message: str | None = None
    type: str | None = None
    param: str | None = None
    code: str | int | None = None
    raw: Any = None


@dataclass(frozen=True, slots=True)
class Adaptation:
    """How a profile adapted to a target's refusal of a plain request."""

    #: the capability the target refuses (checks that require it are skipped)
    capability: str
    #: what the target said and what is sent instead, in the user's words
    reason: str


class DecodeError(ValueError):
    """The response could not be decoded into the profile's shape."""


class Provider(ABC):
    """Base class of every provider profile.

    Subclasses set the class attributes and implement :meth:`encode`, :meth:`decode`
    and :meth:`decode_error`; OpenAI-style ones inherit
    :class:`conformance.providers.openai.OpenAIProvider` instead.
    """

    #: registry name, as given to ``--provider``
    name: ClassVar[str]
    #: one line for ``conformance --help`` and the README table
    title: ClassVar[str]
    dialect: ClassVar[Dialect]
    #: the live base URL from the provider's documentation
    default_base_url: ClassVar[str]
    #: path below the base URL, e.g. ``/chat/completions``
    endpoint: ClassVar[str]
    auth_header: ClassVar[str] = "Authorization"
    #: ``"Bearer"`` or ``"Token"``
    auth_scheme: ClassVar[str] = "Bearer"
    #: environment variable the key is read from by default
    api_key_env: ClassVar[str]
    #: model names the documentation mentions, the first being the default
    models: ClassVar[tuple[str, ...]]
    capabilities: ClassVar[Capabilities]
    #: where the dialect is documented
    docs: ClassVar[str] = ""
    #: path prefix below the embedded backend's root where this profile is served
    embedded_prefix: ClassVar[str] = "/v1"
    #: path below the base URL of the model list (``GET``; ``/models/{id}`` retrieves one
    #: model); ``None`` when the provider documents no model list
    models_endpoint: ClassVar[str | None] = "/models"
    #: the parameters :meth:`encode` puts on the wire; ``None`` means all of them.
    #: A profile whose provider documents no parameters drops the rest (see
    #: :meth:`dropped_params`) rather than sending what the provider never promised to read.
    sent_params: ClassVar[frozenset[str] | None] = None
    #: the facts (:data:`conformance.providers.facts.FACTS`) the provider's document
    #: states, each with the section that states it; a check of any other fact is an
    #: OpenAI-compatibility finding for this profile, not a violation of its document
    documented: ClassVar[Mapping[str, Cited]] = {}
    #: the document is the OpenAI specification itself, so it states every fact; a
    #: subclass inherits ``False`` unless it sets this again
    document_is_openai_spec: ClassVar[bool] = False

    @classmethod
    def documents_feature(cls, capability: str) -> bool:
        """Whether the document offers the optional feature ``capability`` (a
        :class:`Capabilities` field): it states the feature's fact
        (:data:`~conformance.providers.facts.CAPABILITY_FACTS`). Always where the
        document is the OpenAI specification, and for a capability no fact stands for."""
        if cls.document_is_openai_spec:
            return True
        fact = CAPABILITY_FACTS.get(capability)
        return fact is None or fact in cls.documented

    @classmethod
    def named_params(cls) -> frozenset[str] | None:
        """The request parameters (OpenAI names) the document itself names, from the
        ``param.*`` and ``stream`` facts of :attr:`documented`; ``None`` where the
        document is the OpenAI specification (it names them all).

        A profile may send more than its document names (WeAI's probes carry
        ``max_tokens`` and ``stream``, the basics of the Chat Completions API its guide
        refers to), but only a named parameter is sent wrong on purpose as an invalid
        request: a server may ignore what its document never named.
        """
        if cls.document_is_openai_spec:
            return None
        named = {
            fact.removeprefix("param.") for fact in cls.documented if fact.startswith("param.")
        }
        if "stream" in cls.documented:
            named.add("stream")
        return frozenset(named)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "document_is_openai_spec" not in cls.__dict__:
            cls.document_is_openai_spec = False

    def __init__(self, base_url: str | None = None, model: str | None = None) -> None:
        path, sep, query = (base_url or self.default_base_url).partition("?")
        self.base_url = path.rstrip("/") + sep + query
        self.model = model or self.models[0]
        #: the parameter that carries the length cap on the wire; :meth:`encode` sends
        #: ``params["max_tokens"]`` under this name (see :meth:`adapt_to_refusal`)
        self.length_param = "max_tokens"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.base_url!r} model={self.model!r}>"

    @property
    def url(self) -> str:
        """The full URL of the endpoint (a query in the base URL, such as Azure's
        ``?api-version=...``, is kept after the endpoint path)."""
        path, sep, query = self.base_url.partition("?")
        return path + self.endpoint + sep + query

    def models_url(self, model_id: str | None = None) -> str | None:
        """The URL of the model list, or of one model (``model_id``, percent-encoded as
        one path segment, as the official SDK's ``models.retrieve`` sends it: a ``/`` in
        ``meta-llama/Llama-3.3-70B-Instruct`` becomes ``%2F``); ``None`` when the profile
        has no model list. A query in the base URL is kept at the end. An Azure OpenAI
        deployment URL (``.../openai/deployments/<name>``) lists the resource's models at
        ``.../openai/models``, where the SDK's ``AzureOpenAI`` client looks."""
        if self.models_endpoint is None:
            return None
        path, sep, query = self.base_url.partition("?")
        # Azure OpenAI: the base URL names a deployment; the models are the resource's
        path = _AZURE_DEPLOYMENT.sub(r"\1", path)
        url = path + self.models_endpoint
        if model_id is not None:
            url += "/" + quote(model_id, safe=_SEGMENT_SAFE)
        return url + sep + query

    @classmethod
    def documented_prefix(cls) -> str:
        """The path of the documented base URL (``/v1`` for ``https://api.openai.com/v1``):
        what a base URL given as a bare host most likely lacks."""
        return urlsplit(cls.default_base_url).path.rstrip("/")

    @classmethod
    def embedded_base_url(cls, root: str) -> str:
        """The base URL for this profile on an embedded backend served at ``root``."""
        return root.rstrip("/") + cls.embedded_prefix

    def auth_headers(self, api_key: str | None) -> dict[str, str]:
        if not api_key:
            return {}
        return {self.auth_header: f"{self.auth_scheme} {api_key}"}

    def dropped_params(self, params: Mapping[str, Any] | None) -> list[str]:
        """The names in ``params`` that :meth:`encode` would not send, sorted."""
        if self.sent_params is None or not params:
            return []
        return sorted(k for k, v in params.items() if v is not None and k not in self.sent_params)

    def adapt_to_refusal(self, status: int, body: bytes) -> Adaptation | None:
        """Adapt to a target that refused a plain request for a reason this profile can
        work around, and say what changed (``None``: nothing to adapt to).

        The engine asks after the first request of a run; the default adapts to nothing.
        """
        return None

    @abstractmethod
    def encode(
        self,
        messages: Sequence[Message],
        params: Mapping[str, Any] | None = None,
        *,
        api_key: str | None = None,
    ) -> httpx.Request:
        """Build the request for ``messages`` with ``params`` (OpenAI names)."""

    @abstractmethod
    def decode(self, body: bytes) -> Generation:
        """Decode a successful non-streamed response body (raises :class:`DecodeError`)."""

    def decode_stream(self, events: Iterable[SSEEvent]) -> Generation:
        """Accumulate a streamed response (raises :class:`DecodeError`)."""
        raise DecodeError(f"{self.name} does not stream")

    @abstractmethod
    def decode_error(self, status: int, body: bytes) -> APIError:
        """Decode an error response; never raises."""

    def decode_request(self, request: httpx.Request) -> tuple[list[Message], Params]:
        """Recover (messages, params) from a request this profile encoded.

        Used by the encoding suites to prove encode/decode round-trips, and by replay
        to match requests to cassettes.
        """
        raise NotImplementedError
