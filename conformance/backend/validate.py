"""Validation of Chat Completions requests, following the OpenAI specification.

Every problem becomes a :class:`~conformance.backend.errors.RequestError` (400, the
OpenAI envelope, ``param`` naming the offending field). ``logprobs``,
``top_logprobs``, JSON mode (``response_format`` ``json_object``), structured output
(``json_schema``: the answer is JSON drawn to fit the schema) and function tools are
implemented. Optional features the backend does not implement (the deprecated
functions, custom tools, logit_bias, audio, image
input, predictions, web search, reasoning effort) are refused with a 400 whose code is
``unsupported_parameter`` or ``unsupported_value`` rather than silently ignored.
Unknown top-level fields are refused like the OpenAI API does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from conformance.backend.errors import RequestError, invalid
from conformance.backend.generation import Sampling

ROLES = frozenset({"system", "user", "assistant", "tool", "developer"})
MAX_N = 128
MAX_STOPS = 4
SEED_RANGE = (-(2**63), 2**63 - 1)

#: parameters accepted and used (or harmless: metadata and the like)
ACCEPTED = frozenset(
    {
        "model", "messages", "stream", "stream_options", "n", "max_tokens",
        "max_completion_tokens", "stop", "temperature", "top_p", "presence_penalty",
        "frequency_penalty", "seed", "user", "metadata", "store", "service_tier",
        "parallel_tool_calls", "tools", "tool_choice", "response_format", "modalities", "logprobs",
        "top_logprobs", "safety_identifier", "prompt_cache_key", "verbosity",
        # extension (vLLM and others): keep generating until the token limit
        "ignore_eos",
    }
)  # fmt: skip
#: OpenAI parameters the backend refuses with a clean 400 (an optional capability)
UNSUPPORTED = frozenset(
    {
        "functions", "function_call", "logit_bias", "audio", "prediction",
        "web_search_options", "reasoning_effort", "moderation", "prompt_cache_options",
        "prompt_cache_retention",
    }
)  # fmt: skip
SERVICE_TIERS = frozenset({"auto", "default", "flex", "scale", "priority", "fast"})
MESSAGE_KEYS = frozenset(
    {"role", "content", "name", "tool_calls", "tool_call_id", "refusal", "function_call", "audio"}
)


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """A validated Chat Completions request, reduced to what shapes the answer."""

    model: str
    #: (role, text) of every message, text parts joined
    turns: tuple[tuple[str, str], ...]
    stream: bool
    include_usage: bool
    n: int
    max_tokens: int | None
    stops: tuple[str, ...]
    sampling: Sampling
    ignore_eos: bool
    #: None: no logprobs; otherwise how many alternatives per token (0..20)
    top_logprobs: int | None = None
    #: response_format json_object: the answer is a JSON object
    json_object: bool = False
    #: response_format json_schema: the schema the answer's JSON fits
    json_schema: dict[str, Any] | None = None
    #: the function tools offered: (name, parameters JSON schema)
    tools: tuple[tuple[str, dict[str, Any]], ...] = ()
    #: the tool the answer calls (None: a text answer)
    call: str | None = None


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else type(value).__name__


def _type_error(param: str, expected: str, value: Any) -> RequestError:
    return invalid(
        f"Invalid type for '{param}': expected {expected}, but got {_kind(value)} instead.",
        param,
        "invalid_type",
    )


def _number(
    body: dict[str, Any], name: str, low: float, high: float, *, integer: bool = False
) -> float | int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _raise(_type_error(name, "an integer" if integer else "a number", value))
    if integer and not isinstance(value, int):
        return _raise(_type_error(name, "an integer", value))
    if value != value or value in (float("inf"), float("-inf")):
        return _raise(invalid(f"Invalid '{name}': expected a finite number.", name))
    kind = "integer" if integer else "decimal"
    if value < low:
        raise invalid(
            f"Invalid '{name}': {kind} below minimum value. Expected a value >= {low:g}, "
            f"but got {value} instead.",
            name,
            f"{kind}_below_min_value",
        )
    if value > high:
        raise invalid(
            f"Invalid '{name}': {kind} above maximum value. Expected a value <= {high:g}, "
            f"but got {value} instead.",
            name,
            f"{kind}_above_max_value",
        )
    return value


def _raise(error: RequestError) -> Any:
    raise error


def _bool(body: dict[str, Any], name: str) -> bool | None:
    value = body.get(name)
    if value is None or isinstance(value, bool):
        return value
    raise _type_error(name, "a boolean", value)


def _text_of(content: Any, role: str, param: str) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise _type_error(param, "a string or an array of content parts", content)
    if not content:
        raise invalid(
            f"Invalid '{param}': empty array. Expected an array with minimum length 1, "
            "but got an empty array instead.",
            param,
            "empty_array",
        )
    texts: list[str] = []
    for j, part in enumerate(content):
        where = f"{param}[{j}]"
        if not isinstance(part, dict):
            raise _type_error(where, "an object", part)
        kind = part.get("type")
        if not isinstance(kind, str):
            raise invalid(
                f"Missing required parameter: '{where}.type'.",
                f"{where}.type",
                "missing_required_parameter",
            )
        if kind == "text" or (kind == "refusal" and role == "assistant"):
            field = "text" if kind == "text" else "refusal"
            value = part.get(field)
            if not isinstance(value, str):
                raise _type_error(f"{where}.{field}", "a string", value)
            texts.append(value)
        elif kind in {"image_url", "input_audio", "file"} and role == "user":
            raise invalid(
                f"Content parts of type '{kind}' are not supported by this model; "
                "it accepts text only.",
                f"{where}.type",
                "unsupported_parameter",
            )
        else:
            raise invalid(
                f"Invalid value: '{kind}'. Supported values for a {role} message are: "
                + ("'text' and 'refusal'." if role == "assistant" else "'text'."),
                f"{where}.type",
            )
    return "\n".join(texts)


def _messages(body: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    messages = body.get("messages")
    if messages is None:
        raise invalid(
            "Missing required parameter: 'messages'.", "messages", "missing_required_parameter"
        )
    if not isinstance(messages, list):
        raise _type_error("messages", "an array", messages)
    if not messages:
        raise invalid(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, "
            "but got an empty array instead.",
            "messages",
            "empty_array",
        )
    turns: list[tuple[str, str]] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise _type_error(where, "an object", message)
        extra = set(message) - MESSAGE_KEYS
        if extra:
            name = sorted(extra)[0]
            raise invalid(
                f"Unrecognized field in '{where}': '{name}'.",
                f"{where}.{name}",
                "unknown_parameter",
            )
        role = message.get("role")
        if role is None:
            raise invalid(
                f"Missing required parameter: '{where}.role'.",
                f"{where}.role",
                "missing_required_parameter",
            )
        if not isinstance(role, str):
            raise _type_error(f"{where}.role", "a string", role)
        if role not in ROLES:
            raise invalid(
                f"Invalid value: '{role}'. Supported values are: 'system', 'user', "
                "'assistant', 'tool', and 'developer'.",
                f"{where}.role",
            )
        name = message.get("name")
        if name is not None and not isinstance(name, str):
            raise _type_error(f"{where}.name", "a string", name)
        content = message.get("content")
        if content is None:
            if role == "assistant" and (message.get("tool_calls") or message.get("function_call")):
                turns.append((role, ""))
                continue
            raise invalid(
                f"Missing required parameter: '{where}.content'.",
                f"{where}.content",
                "missing_required_parameter",
            )
        if role == "tool":
            call_id = message.get("tool_call_id")
            if not isinstance(call_id, str):
                raise invalid(
                    f"Missing required parameter: '{where}.tool_call_id'.",
                    f"{where}.tool_call_id",
                    "missing_required_parameter",
                )
        turns.append((role, _text_of(content, role, f"{where}.content")))
    return tuple(turns)


def _stops(body: dict[str, Any]) -> tuple[str, ...]:
    stop = body.get("stop")
    if stop is None:
        return ()
    if isinstance(stop, str):
        stops = [stop]
    elif isinstance(stop, list):
        if len(stop) > MAX_STOPS:
            raise invalid(
                f"Invalid 'stop': array too long. Expected an array with maximum length "
                f"{MAX_STOPS}, but got an array with length {len(stop)} instead.",
                "stop",
                "array_above_max_length",
            )
        stops = stop
        for j, item in enumerate(stops):
            if not isinstance(item, str):
                raise _type_error(f"stop[{j}]", "a string", item)
    else:
        raise _type_error("stop", "a string or an array of strings", stop)
    if any(s == "" for s in stops):
        raise invalid("Invalid 'stop': stop sequences must not be empty.", "stop")
    return tuple(stops)


def _optional_features(body: dict[str, Any]) -> None:
    for name in sorted(UNSUPPORTED & body.keys()):
        if body[name] is None:
            continue
        raise invalid(
            f"Unsupported parameter: '{name}' is not supported by this backend.",
            name,
            "unsupported_parameter",
        )
    logprobs = _bool(body, "logprobs")
    top = _number(body, "top_logprobs", 0, 20, integer=True)
    if top is not None and not logprobs:
        raise invalid("Invalid 'top_logprobs': 'logprobs' must be true to use it.", "top_logprobs")
    fmt = body.get("response_format")
    if fmt is not None:
        if not isinstance(fmt, dict):
            raise _type_error("response_format", "an object", fmt)
        kind = fmt.get("type")
        if kind == "json_schema":
            _json_schema_format(fmt)
        elif kind not in {"text", "json_object"}:
            raise invalid(
                f"Invalid value: {kind!r}. Supported values are: 'text', 'json_object' and "
                "'json_schema'.",
                "response_format.type",
            )
    modalities = body.get("modalities")
    if modalities is not None:
        if not isinstance(modalities, list) or not all(isinstance(m, str) for m in modalities):
            raise _type_error("modalities", "an array of strings", modalities)
        if any(m != "text" for m in modalities):
            raise invalid(
                "Unsupported value: only the 'text' modality is supported.",
                "modalities",
                "unsupported_value",
            )
    _bool(body, "parallel_tool_calls")


def _json_schema_format(fmt: dict[str, Any]) -> dict[str, Any]:
    """The schema of a ``json_schema`` response format (``{}`` when none is given)."""
    spec = fmt.get("json_schema")
    if not isinstance(spec, dict):
        raise invalid("Missing required parameter: 'response_format.json_schema'.",
                      "response_format.json_schema")  # fmt: skip
    name = spec.get("name")
    if not isinstance(name, str) or not _TOOL_NAME.match(name):
        raise invalid("Invalid 'response_format.json_schema.name': a string of letters, digits, "
                      "'_' and '-' (at most 64) is required.", "response_format.json_schema.name")  # fmt: skip
    schema = spec.get("schema", {})
    if not isinstance(schema, dict):
        raise _type_error("response_format.json_schema.schema", "an object", schema)
    strict = spec.get("strict")
    if strict is not None and not isinstance(strict, bool):
        raise _type_error("response_format.json_schema.strict", "a boolean", strict)
    return schema


_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_TOOLS = 128


def _tools(body: dict[str, Any]) -> tuple[tuple[tuple[str, dict[str, Any]], ...], str | None]:
    """The function tools offered (name, parameters schema) and the one to call, if any.

    The backend's model calls a tool only when told to: ``tool_choice`` ``"required"``
    calls the first tool, a named choice calls that one; ``"auto"`` and ``"none"`` get a
    text answer (under ``auto`` this model always decides not to call).
    """
    tools = body.get("tools")
    choice = body.get("tool_choice")
    if tools is None:
        if choice is not None and choice != "none":
            raise invalid("Invalid 'tool_choice': 'tool_choice' is only allowed when 'tools' "
                          "are specified.", "tool_choice")  # fmt: skip
        return (), None
    if not isinstance(tools, list):
        raise _type_error("tools", "an array", tools)
    if not tools:
        raise invalid("Invalid 'tools': empty array. Expected an array with minimum length 1.",
                      "tools", "empty_array")  # fmt: skip
    if len(tools) > MAX_TOOLS:
        raise invalid(f"Invalid 'tools': at most {MAX_TOOLS} tools are allowed.", "tools",
                      "array_above_max_length")  # fmt: skip
    offered: list[tuple[str, dict[str, Any]]] = []
    for i, tool in enumerate(tools):
        where = f"tools[{i}]"
        if not isinstance(tool, dict):
            raise _type_error(where, "an object", tool)
        if tool.get("type") != "function":
            raise invalid(f"Unsupported value: {where}.type must be 'function' (custom tools "
                          "are not supported by this backend).", f"{where}.type",
                          "unsupported_value")  # fmt: skip
        function = tool.get("function")
        if not isinstance(function, dict):
            raise invalid(f"Missing required parameter: '{where}.function'.",
                          f"{where}.function", "missing_required_parameter")  # fmt: skip
        name = function.get("name")
        if not isinstance(name, str) or not _TOOL_NAME.match(name):
            raise invalid(f"Invalid '{where}.function.name': expected 1-64 letters, digits, "
                          "underscores or dashes.", f"{where}.function.name")  # fmt: skip
        description = function.get("description")
        if description is not None and not isinstance(description, str):
            raise _type_error(f"{where}.function.description", "a string", description)
        parameters = function.get("parameters", {})
        if parameters is None:
            parameters = {}
        if not isinstance(parameters, dict):
            raise _type_error(f"{where}.function.parameters", "an object", parameters)
        strict = function.get("strict")
        if strict is not None and not isinstance(strict, bool):
            raise _type_error(f"{where}.function.strict", "a boolean", strict)
        offered.append((name, parameters))
    names = [name for name, _ in offered]
    if choice is None or choice in ("auto", "none"):
        return tuple(offered), None
    if choice == "required":
        return tuple(offered), names[0]
    if isinstance(choice, str):
        raise invalid(f"Invalid value: '{choice}'. Supported values are: 'none', 'auto' and "
                      "'required'.", "tool_choice")  # fmt: skip
    if not isinstance(choice, dict):
        raise _type_error("tool_choice", "a string or an object", choice)
    function = choice.get("function")
    wanted = function.get("name") if isinstance(function, dict) else None
    if choice.get("type") != "function" or not isinstance(wanted, str):
        raise invalid("Invalid 'tool_choice': expected {'type': 'function', 'function': "
                      "{'name': ...}}.", "tool_choice")  # fmt: skip
    if wanted not in names:
        raise invalid(f"Invalid 'tool_choice': no tool named '{wanted}' was offered.",
                      "tool_choice.function.name")  # fmt: skip
    return tuple(offered), wanted


def _plain_fields(body: dict[str, Any]) -> None:
    for name in ("user", "safety_identifier", "prompt_cache_key"):
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            raise _type_error(name, "a string", value)
    _bool(body, "store")
    metadata = body.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise _type_error("metadata", "an object", metadata)
        for key, value in metadata.items():
            if not isinstance(value, str):
                raise _type_error(f"metadata.{key}", "a string", value)
    tier = body.get("service_tier")
    if tier is not None:
        if not isinstance(tier, str):
            raise _type_error("service_tier", "a string", tier)
        if tier not in SERVICE_TIERS:
            raise invalid(
                f"Invalid value: '{tier}'. Supported values are: "
                + ", ".join(sorted(SERVICE_TIERS))
                + ".",
                "service_tier",
            )
    verbosity = body.get("verbosity")
    if verbosity is not None and verbosity not in ("low", "medium", "high"):
        raise invalid("Invalid 'verbosity': expected 'low', 'medium' or 'high'.", "verbosity")


def validate_chat(body: Any, *, max_output_tokens: int = 2**31 - 1) -> ChatRequest:
    """Check a parsed request body; return what the answer needs or raise RequestError.

    ``max_output_tokens`` is the model's limit on completion tokens: a larger
    ``max_tokens`` / ``max_completion_tokens`` is refused, as the OpenAI API does.
    """
    if not isinstance(body, dict):
        raise invalid(
            f"The request body must be a JSON object, got {_kind(body)}.", None, "invalid_type"
        )
    unknown = body.keys() - ACCEPTED - UNSUPPORTED
    if unknown:
        name = sorted(unknown)[0]
        raise invalid(f"Unrecognized request argument supplied: {name}", name, "unknown_parameter")
    model = body.get("model")
    if model is None:
        raise invalid("Missing required parameter: 'model'.", "model", "missing_required_parameter")
    if not isinstance(model, str):
        raise _type_error("model", "a string", model)
    if not model:
        raise invalid("Invalid 'model': expected a non-empty model name.", "model")
    turns = _messages(body)
    stream = bool(_bool(body, "stream"))
    options = body.get("stream_options")
    include_usage = False
    if options is not None:
        if not stream:
            raise invalid(
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                "stream_options",
            )
        if not isinstance(options, dict):
            raise _type_error("stream_options", "an object", options)
        extra = set(options) - {"include_usage", "include_obfuscation"}
        if extra:
            name = sorted(extra)[0]
            raise invalid(
                f"Unrecognized field in 'stream_options': '{name}'.",
                f"stream_options.{name}",
                "unknown_parameter",
            )
        include_usage = bool(_bool(options, "include_usage"))
        _bool(options, "include_obfuscation")
    n = _number(body, "n", 1, MAX_N, integer=True)
    max_tokens = _number(body, "max_tokens", 1, max_output_tokens, integer=True)
    max_completion = _number(body, "max_completion_tokens", 1, max_output_tokens, integer=True)
    limits = [int(v) for v in (max_tokens, max_completion) if v is not None]
    temperature = _number(body, "temperature", 0, 2)
    top_p = _number(body, "top_p", 0, 1)
    presence = _number(body, "presence_penalty", -2, 2)
    frequency = _number(body, "frequency_penalty", -2, 2)
    seed = _number(body, "seed", SEED_RANGE[0], SEED_RANGE[1], integer=True)
    stops = _stops(body)
    ignore_eos = bool(_bool(body, "ignore_eos"))
    _optional_features(body)
    tools, call = _tools(body)
    _plain_fields(body)
    sampling = Sampling(
        seed=None if seed is None else int(seed),
        temperature=1.0 if temperature is None else float(temperature),
        top_p=1.0 if top_p is None else float(top_p),
        presence_penalty=0.0 if presence is None else float(presence),
        frequency_penalty=0.0 if frequency is None else float(frequency),
    )
    return ChatRequest(
        model=model,
        turns=turns,
        stream=stream,
        include_usage=include_usage,
        n=1 if n is None else int(n),
        max_tokens=min(limits) if limits else None,
        stops=stops,
        sampling=sampling,
        ignore_eos=ignore_eos,
        top_logprobs=(int(body.get("top_logprobs") or 0)) if body.get("logprobs") else None,
        json_object=(body.get("response_format") or {}).get("type") == "json_object",
        json_schema=_json_schema_of(body),
        tools=tools,
        call=call,
    )


def _json_schema_of(body: dict[str, Any]) -> dict[str, Any] | None:
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        return _json_schema_format(fmt)
    return None


def lenient_chat(body: Any) -> ChatRequest:
    """Best-effort reading of any body, for faults that answer invalid input with 200."""
    data = body if isinstance(body, dict) else {}
    turns: list[tuple[str, str]] = []
    messages = data.get("messages")
    if isinstance(messages, list):
        for message in messages:
            if isinstance(message, dict):
                turns.append((str(message.get("role")), str(message.get("content"))))
    model = data.get("model")
    n = data.get("n")
    return ChatRequest(
        model=model if isinstance(model, str) and model else "reference-small",
        turns=tuple(turns) or (("user", ""),),
        stream=data.get("stream") is True,
        include_usage=isinstance(data.get("stream_options"), dict)
        and data["stream_options"].get("include_usage") is True,
        n=n if isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= MAX_N else 1,
        max_tokens=None,
        stops=(),
        sampling=Sampling(),
        ignore_eos=False,
    )


__all__ = ["ChatRequest", "RequestError", "lenient_chat", "validate_chat"]
