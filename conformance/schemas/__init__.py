"""Pydantic models of each dialect's response, chunk and error shapes.

Checks use :func:`violations` to report where a body breaks its schema, with pydantic's
error locations::

    from conformance.schemas import schemas_for, violations

    shapes = schemas_for("nebulablock")
    for v in violations(shapes.response, exchange.json()):
        print(v.loc, v.message)      # e.g. "created: Input should be a valid integer"

The models are strict where the specification is (integer ``created``, the
``finish_reason`` enum, exact ``object`` literals) and allow unknown fields.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from conformance.errors import ConfigError
from conformance.schemas._base import SchemaViolation, StrictModel, violations
from conformance.schemas.nebulablock import (
    NebulaBlockChatCompletion,
    NebulaBlockChatCompletionChunk,
)
from conformance.schemas.openai import (
    FINISH_REASONS,
    ChatCompletion,
    ChatCompletionChunk,
    CompletionUsage,
    ErrorBody,
    ErrorEnvelope,
    Model,
    ModelList,
)
from conformance.schemas.wetrocloud import WetrocloudError, WetrocloudResponse

__all__ = [
    "FINISH_REASONS",
    "ChatCompletion",
    "ChatCompletionChunk",
    "CompletionUsage",
    "DialectSchemas",
    "ErrorBody",
    "ErrorEnvelope",
    "Model",
    "ModelList",
    "NebulaBlockChatCompletion",
    "NebulaBlockChatCompletionChunk",
    "SchemaViolation",
    "StrictModel",
    "WetrocloudError",
    "WetrocloudResponse",
    "schemas_for",
    "violations",
]


@dataclass(frozen=True, slots=True)
class DialectSchemas:
    """The models one profile's bodies are judged against."""

    #: a successful non-streamed body
    response: type[BaseModel]
    #: the data of one streamed event; ``None`` when the provider does not stream
    chunk: type[BaseModel] | None
    #: an error body (and a mid-stream error event)
    error: type[BaseModel]
    #: the model list (``GET /models``) and one model; ``None`` when there is none
    model_list: type[BaseModel] | None = None
    model: type[BaseModel] | None = None


_OPENAI = DialectSchemas(ChatCompletion, ChatCompletionChunk, ErrorEnvelope, ModelList, Model)
_BY_PROVIDER: dict[str, DialectSchemas] = {
    "openai": _OPENAI,
    "weai": _OPENAI,
    "nebulablock": DialectSchemas(
        NebulaBlockChatCompletion, NebulaBlockChatCompletionChunk, ErrorEnvelope, ModelList, Model
    ),
    "wetrocloud": DialectSchemas(WetrocloudResponse, None, WetrocloudError),
}


def schemas_for(provider: str | object) -> DialectSchemas:
    """The schemas for a profile, given by name or as a profile object.

    A profile registered later without its own entry gets the shapes of its dialect
    (OpenAI or Wetrocloud).
    """
    name = provider if isinstance(provider, str) else getattr(provider, "name", "")
    found = _BY_PROVIDER.get(str(name))
    if found is not None:
        return found
    dialect = getattr(provider, "dialect", None)
    if dialect is not None:
        return _BY_PROVIDER["wetrocloud"] if str(dialect) == "wetrocloud" else _OPENAI
    raise ConfigError(f"no schemas for provider {name!r}: use one of {', '.join(_BY_PROVIDER)}")
