"""Hypothesis strategies for text-generation requests.

Three public strategies, named as plural nouns and taking keyword-only arguments:

- :func:`conversations` draws valid ``messages`` lists: unicode of every kind (astral
  characters, combining marks, right-to-left text), empty and long content, multi-turn
  exchanges, system / developer / assistant / tool roles (a tool message always answers an
  assistant ``tool_calls`` message) and content-part arrays.
- :func:`parameters` draws valid sampling parameters (OpenAI names) within the ranges the
  provider documents; unset parameters are absent, never ``None``.
- :func:`invalid_requests` draws requests that a conforming server must refuse with a 4xx
  answer, each labelled with what is wrong and which parameter is at fault.

With ``provider=`` (a profile name such as ``"weai"``, a profile class or instance) the
strategies restrict themselves to what that provider documents: Wetrocloud takes plain
``system``/``user``/``assistant`` strings and no parameters, WeAI's temperature is 0..2,
and so on. Bad arguments raise :class:`hypothesis.errors.InvalidArgument` at once, not
when the first example is drawn.
"""

from __future__ import annotations

import json
import string
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import httpx
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from conformance.providers.base import NULL, Capabilities, Dialect, Message, Params, Provider

__all__ = [
    "INVALID_KINDS",
    "PARAMETER_NAMES",
    "RANGED_PARAMETERS",
    "UNDOCUMENTED_RANGE",
    "InvalidRequest",
    "Strictness",
    "conversations",
    "invalid_requests",
    "max_tokens_values",
    "out_of_range_values",
    "parameters",
    "range_cases",
    "temperature_values",
    "top_p_values",
]

ProviderLike = str | Provider | type[Provider]

#: every parameter :func:`parameters` knows, in OpenAI Chat Completions names
PARAMETER_NAMES: tuple[str, ...] = (
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "n",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "logprobs",
    "top_logprobs",
    "response_format",
    "tools",
    "tool_choice",
    "user",
    "stream",
    "stream_options",
)

#: parameters that the OpenAI reference documents but no capability flag describes; only
#: drawn for the generic ``openai`` profile (or with no provider at all)
_OPENAI_ONLY = frozenset({"presence_penalty", "frequency_penalty", "user"})

#: fixed strings that exercise the awkward corners of unicode handling
_TRICKY_TEXTS: tuple[str, ...] = (
    "",
    " ",
    "\n\n",
    "e\u0301te\u0301 \u0915\u094d\u0937 \u0e01\u0e33",  # combining marks, Devanagari conjunct, Thai
    "\U0001f600\U0001f3f3\ufe0f\u200d\U0001f308 \U0001d518\U0001d52b\U0001d526",  # astral: emoji, ZWJ, math
    "\u0645\u0631\u062d\u0628\u0627 \u05e9\u05dc\u05d5\u05dd hello",  # Arabic and Hebrew (RTL) mixed with LTR
    "\u202eevil\u202c \u200f\u200e",  # bidi override and marks
    'quotes " and \\ backslash and </script> and {"json": true}',
    "tab\tnul\x00bell\x07 line\u2028para\u2029",
    "\ufeffstarts with a BOM",
    "\u4f60\u597d\uff0c\u4e16\u754c \u3053\u3093\u306b\u3061\u306f \ud55c\uad6d\uc5b4",
)

_ROLES_ALL = ("system", "developer", "user", "assistant", "tool")


# --------------------------------------------------------------------------- helpers


def _resolve(provider: ProviderLike | None) -> type[Provider] | Provider | None:
    """Turn a profile name into its class; pass classes and instances through."""
    if provider is None:
        return None
    if isinstance(provider, str):
        from conformance.providers import PROVIDERS

        try:
            return PROVIDERS[provider]
        except KeyError:
            known = ", ".join(sorted(PROVIDERS))
            raise InvalidArgument(
                f"provider={provider!r} is not a known profile ({known})"
            ) from None
    if isinstance(provider, Provider) or (
        isinstance(provider, type) and issubclass(provider, Provider)
    ):
        return provider
    raise InvalidArgument(
        f"provider must be a profile name, class or instance, not {type(provider).__name__}"
    )


def _capabilities(profile: type[Provider] | Provider | None) -> Capabilities:
    return profile.capabilities if profile is not None else Capabilities()


def _dialect(profile: type[Provider] | Provider | None) -> Dialect:
    return profile.dialect if profile is not None else Dialect.OPENAI


def _documented_params(profile: type[Provider] | Provider | None) -> frozenset[str]:
    """The parameter names ``profile`` documents (all of them when there is no profile)."""
    if profile is None:
        return frozenset(PARAMETER_NAMES)
    if _dialect(profile) is Dialect.WETROCLOUD:
        return frozenset()
    declared = getattr(profile, "documented_params", None)
    if declared is not None:
        return frozenset(declared) & frozenset(PARAMETER_NAMES)
    caps = profile.capabilities
    flags = {
        "temperature": caps.temperature,
        "top_p": caps.top_p,
        "max_tokens": caps.max_tokens,
        "max_completion_tokens": caps.max_completion_tokens,
        "n": caps.n,
        "stop": caps.stop,
        "seed": caps.seed,
        "logprobs": caps.logprobs,
        "top_logprobs": caps.logprobs,
        "response_format": caps.response_format,
        "tools": caps.tools,
        "tool_choice": caps.tools,
        "stream": caps.streaming,
        "stream_options": caps.streaming and caps.stream_usage,
    }
    names = {name for name, ok in flags.items() if ok}
    if profile.name == "openai":
        names |= _OPENAI_ONLY
    return frozenset(names)


def _check_int(name: str, value: object, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{name} must be an int, not {value!r}")
    if value < minimum:
        raise InvalidArgument(f"{name}={value} must be at least {minimum}")
    return value


def _check_names(argument: str, names: Collection[str] | None, known: Collection[str]) -> None:
    if names is None:
        return
    if isinstance(names, str):
        raise InvalidArgument(f"{argument} must be a collection of names, not a single string")
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise InvalidArgument(
            f"{argument} has unknown names {unknown}; known: {', '.join(sorted(known))}"
        )


def _texts(*, min_size: int, max_size: int) -> st.SearchStrategy[str]:
    """Text of any script; surrogates are excluded because they cannot be sent as UTF-8."""
    alphabet = st.characters(codec="utf-8", exclude_categories=["Cs"])
    pieces: list[st.SearchStrategy[str]] = [
        st.text(alphabet=alphabet, min_size=min_size, max_size=max_size),
        st.text(alphabet=string.ascii_letters + " .,!?", min_size=min_size, max_size=max_size),
        st.sampled_from([t for t in _TRICKY_TEXTS if min_size <= len(t) <= max_size] or ["x"]),
    ]
    if max_size >= 200:
        # long content without paying for drawing thousands of characters one by one
        pieces.append(
            st.builds(
                lambda word, times: (word * times)[:max_size],
                st.sampled_from(
                    ["lorem ipsum ", "\u00e9\u0301\U0001f600 ", "\u05e9\u05dc\u05d5\u05dd "]
                ),
                st.integers(min_value=max(1, min_size), max_value=max_size),
            ).filter(lambda s: len(s) >= min_size)
        )
    return st.one_of(pieces)


# --------------------------------------------------------------------------- conversations


@dataclass(frozen=True)
class _MessageRules:
    roles: frozenset[str]
    content_parts: bool
    tools: bool
    multi_turn: bool


def _message_rules(profile: type[Provider] | Provider | None) -> _MessageRules:
    if profile is None:
        return _MessageRules(frozenset(_ROLES_ALL), True, True, True)
    caps = profile.capabilities
    if profile.dialect is Dialect.WETROCLOUD:
        # the Wetrocloud document shows system, user and assistant with string content
        roles = {"user", "system", "assistant"}
        return _MessageRules(frozenset(roles), False, False, caps.multi_turn)
    roles = {"user"}
    if caps.system_role:
        roles.add("system")
    if caps.multi_turn:
        roles.add("assistant")
    if caps.tools and caps.multi_turn:
        roles.add("tool")
    if profile.name == "openai" and caps.system_role:
        roles.add("developer")
    content_parts = bool(getattr(caps, "content_parts", profile.name == "openai"))
    return _MessageRules(frozenset(roles), content_parts, caps.tools, caps.multi_turn)


def _content(
    rules: _MessageRules, text: st.SearchStrategy[str], *, parts: bool
) -> st.SearchStrategy[Any]:
    if not (parts and rules.content_parts):
        return text
    part_list = st.lists(
        st.builds(lambda t: {"type": "text", "text": t}, text), min_size=1, max_size=3
    )
    return st.one_of(text, part_list)


_TOOL_NAMES = st.sampled_from(["get_weather", "lookup", "add_numbers", "search_docs"])
_JSON_ARGS = st.dictionaries(
    st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=8),
    st.one_of(st.integers(-1000, 1000), st.text(max_size=12), st.booleans()),
    max_size=3,
).map(lambda d: json.dumps(d, ensure_ascii=False))


@st.composite
def _tool_round(
    draw: st.DrawFn, text: st.SearchStrategy[str], rules: _MessageRules, call_ids: list[int]
) -> list[Message]:
    """An assistant message with tool_calls followed by one tool message per call."""
    count = draw(st.integers(min_value=1, max_value=2))
    calls = []
    for _ in range(count):
        call_ids.append(len(call_ids))
        calls.append(
            {
                "id": f"call_{len(call_ids):04d}",
                "type": "function",
                "function": {"name": draw(_TOOL_NAMES), "arguments": draw(_JSON_ARGS)},
            }
        )
    assistant: Message = {"role": "assistant", "tool_calls": calls}
    if draw(st.booleans()):
        assistant["content"] = draw(text)
    answers: list[Message] = [
        {
            "role": "tool",
            "tool_call_id": call["id"],
            "content": draw(_content(rules, text, parts=True)),
        }
        for call in calls
    ]
    return [assistant, *answers]


@st.composite
def _conversation(
    draw: st.DrawFn,
    rules: _MessageRules,
    text: st.SearchStrategy[str],
    min_turns: int,
    max_turns: int,
) -> list[Message]:
    messages: list[Message] = []
    leading: list[str] = [r for r in ("system", "developer") if r in rules.roles]
    lead: bool = draw(st.booleans())
    if leading and lead:
        role = draw(st.sampled_from(leading))
        messages.append({"role": role, "content": draw(_content(rules, text, parts=True))})
    if not rules.multi_turn:
        max_turns = min_turns = 1
    turns = draw(st.integers(min_value=min_turns, max_value=max_turns))
    call_ids: list[int] = []
    for turn in range(turns):
        messages.append({"role": "user", "content": draw(_content(rules, text, parts=True))})
        last = turn == turns - 1
        if "tool" in rules.roles and draw(st.integers(0, 3)) == 0:
            messages.extend(draw(_tool_round(text, rules, call_ids)))
            if last:
                break  # a conversation may end on tool results: the model answers them
        if not last:
            messages.append(
                {"role": "assistant", "content": draw(_content(rules, text, parts=False))}
            )
    return messages


def conversations(
    *,
    provider: ProviderLike | None = None,
    min_turns: int = 1,
    max_turns: int = 4,
    min_content_size: int = 0,
    max_content_size: int = 400,
) -> st.SearchStrategy[list[Message]]:
    """Valid ``messages`` lists for a chat request.

    A turn is one user message (and, before the next turn, the assistant's answer); a
    turn may also contain an assistant ``tool_calls`` message followed by a ``tool``
    message answering each call by ``tool_call_id``. A ``system`` (or ``developer``)
    message may lead. Content is a string or, where the provider documents it, an array
    of ``{"type": "text", "text": ...}`` parts. The conversation ends with a user or tool
    message, so a server has something to answer.

    ``provider`` restricts roles and content shapes to what that provider documents.
    """
    _check_int("min_turns", min_turns, minimum=1)
    _check_int("max_turns", max_turns, minimum=1)
    _check_int("min_content_size", min_content_size, minimum=0)
    _check_int("max_content_size", max_content_size, minimum=1)
    if min_turns > max_turns:
        raise InvalidArgument(f"min_turns={min_turns} is greater than max_turns={max_turns}")
    if min_content_size > max_content_size:
        raise InvalidArgument(
            f"min_content_size={min_content_size} is greater than "
            f"max_content_size={max_content_size}"
        )
    rules = _message_rules(_resolve(provider))
    text = _texts(min_size=min_content_size, max_size=max_content_size)
    return _conversation(rules, text, min_turns, max_turns)


# --------------------------------------------------------------------------- parameters


def _function_tools() -> st.SearchStrategy[list[dict[str, Any]]]:
    prop = st.fixed_dictionaries(
        {"type": st.sampled_from(["string", "integer", "boolean", "number"])},
        optional={"description": st.text(max_size=30)},
    )
    function = st.fixed_dictionaries(
        {
            "name": _TOOL_NAMES,
            "parameters": st.builds(
                lambda props: {"type": "object", "properties": props},
                st.dictionaries(
                    st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=8),
                    prop,
                    max_size=3,
                ),
            ),
        },
        optional={"description": st.text(max_size=40)},
    )
    tool = st.builds(lambda f: {"type": "function", "function": f}, function)
    return st.lists(tool, min_size=1, max_size=3, unique_by=lambda t: t["function"]["name"])


#: the values sent for a sampling parameter whose document states no range: inside 0..1,
#: which every reading of "temperature" and of a "probability" allows
UNDOCUMENTED_RANGE: tuple[float, float] = (0.0, 1.0)


def temperature_values(caps: Capabilities) -> st.SearchStrategy[float]:
    """Temperatures within the documented range (both ends included), or inside 0..1 when
    the document states no range."""
    low, high = caps.temperature_range or UNDOCUMENTED_RANGE
    return st.floats(min_value=low, max_value=high, allow_nan=False)


def top_p_values(caps: Capabilities) -> st.SearchStrategy[float]:
    """top_p values within the documented range (0 itself left out: no token would be
    left to draw), or inside (0, 1] when the document states no range."""
    low, high = caps.top_p_range or UNDOCUMENTED_RANGE
    return st.floats(min_value=low, max_value=high, exclude_min=low <= 0.0, allow_nan=False)


def max_tokens_values(caps: Capabilities) -> st.SearchStrategy[Any]:
    """Length caps from 1 to 4096, and :data:`~conformance.providers.base.NULL` ("the
    model's default") where the document allows ``max_tokens: null``."""
    counts = st.integers(min_value=max(1, caps.max_tokens_min or 1), max_value=4096)
    return st.one_of(counts, st.just(NULL)) if caps.max_tokens_null else counts


def _param_strategies(caps: Capabilities) -> dict[str, st.SearchStrategy[Any]]:
    stop_word = st.text(
        alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=8
    )
    return {
        "temperature": temperature_values(caps),
        "top_p": top_p_values(caps),
        "max_tokens": max_tokens_values(caps),
        "max_completion_tokens": st.integers(min_value=1, max_value=4096),
        "n": st.integers(min_value=1, max_value=4),
        "stop": st.one_of(stop_word, st.lists(stop_word, min_size=1, max_size=4)),
        "seed": st.integers(min_value=0, max_value=2**31 - 1),
        "presence_penalty": st.floats(min_value=-2.0, max_value=2.0),
        "frequency_penalty": st.floats(min_value=-2.0, max_value=2.0),
        "logprobs": st.booleans(),
        "response_format": st.sampled_from([{"type": "text"}, {"type": "json_object"}]),
        "tools": _function_tools(),
        "user": st.text(
            alphabet=string.ascii_letters + string.digits + "-_", min_size=1, max_size=24
        ),
    }


@st.composite
def _parameter_dicts(
    draw: st.DrawFn,
    names: frozenset[str],
    caps: Capabilities,
    stream: bool | None,
) -> Params:
    strategies = _param_strategies(caps)
    out: Params = {}
    for name in PARAMETER_NAMES:
        if name not in names or name not in strategies:
            continue
        if name == "max_completion_tokens" and "max_tokens" in out:
            continue  # the newer name replaces the older one; clients send one of them
        if draw(st.booleans()):
            out[name] = draw(strategies[name])
    if "logprobs" in out and "top_logprobs" in names and out["logprobs"] and draw(st.booleans()):
        out["top_logprobs"] = draw(st.integers(min_value=0, max_value=20))
    if "tools" in out and "tool_choice" in names and draw(st.booleans()):
        chosen = draw(st.sampled_from(out["tools"]))["function"]["name"]
        out["tool_choice"] = draw(
            st.sampled_from(
                ["auto", "none", "required", {"type": "function", "function": {"name": chosen}}]
            )
        )
    if "stream" in names:
        streaming = draw(st.booleans()) if stream is None else stream
        if streaming or (stream is None and draw(st.booleans())):
            out["stream"] = streaming
        if streaming and "stream_options" in names and draw(st.booleans()):
            out["stream_options"] = {"include_usage": draw(st.booleans())}
    return out


def parameters(
    *,
    provider: ProviderLike | None = None,
    names: Collection[str] | None = None,
    stream: bool | None = None,
) -> st.SearchStrategy[Params]:
    """Valid request parameters (OpenAI names), each within its documented range.

    Each parameter is independently present or absent; absent means "not set" (the
    dictionary never holds ``None``; ``max_tokens`` may be
    :data:`~conformance.providers.base.NULL`, sent as ``null``, where the document allows
    it). ``names`` limits the draw to those parameters;
    ``stream=True`` / ``False`` fixes streaming (``stream_options`` only ever comes with
    ``stream: true``), ``None`` draws it. ``top_logprobs`` only comes with
    ``logprobs: true`` and ``tool_choice`` only with ``tools``.

    ``provider`` restricts the draw to the parameters that provider documents, within its
    documented ranges (WeAI: temperature 0..2; a parameter documented without a range is
    drawn inside 0..1); Wetrocloud documents none, so its draw is always ``{}``.
    """
    _check_names("names", names, PARAMETER_NAMES)
    if stream is not None and not isinstance(stream, bool):
        raise InvalidArgument(f"stream must be True, False or None, not {stream!r}")
    profile = _resolve(provider)
    allowed = _documented_params(profile)
    if names is not None:
        allowed &= frozenset(names)
    if stream is True and "stream" not in allowed:
        who = profile.name if profile is not None else "this selection"
        raise InvalidArgument(f"stream=True, but {who} does not document streaming")
    return _parameter_dicts(allowed, _capabilities(profile), stream)


# --------------------------------------------------------------------------- invalid requests

Strictness = Literal["must_refuse", "should_refuse"]


@dataclass(frozen=True)
class InvalidRequest:
    """One request a server ought to refuse, and why.

    Exactly one of ``body`` (a JSON value sent as ``application/json``), ``form`` (the
    multipart fields, for form dialects) or ``raw`` (bytes sent as they are, with
    ``content_type``) describes what is sent.

    ``strictness`` says how sure the verdict is: ``"must_refuse"`` cases cannot be given
    any meaning (malformed JSON, a body that is not an object, no messages, a value of a
    type no lenient parser coerces), so a 2xx answer is a failure; ``"should_refuse"``
    cases break the specification but are accepted on purpose by well-known servers
    (vLLM takes custom roles and any number of stop strings, llama.cpp reads
    ``max_tokens: -1`` as "no limit", single-model servers ignore ``model``, pydantic
    coerces ``"yes"`` to ``true``), so a 2xx answer is worth a warning only.
    """

    #: stable identifier of the kind of mistake, e.g. ``"out_of_range"``
    kind: str
    #: what is wrong, in words, e.g. ``"temperature is 5 (outside the documented range 0..2)"``
    label: str
    #: the parameter at fault (OpenAI name, or the form field), ``None`` for the whole body
    param: str | None
    body: Any = None
    form: Mapping[str, str] | None = None
    raw: bytes | None = None
    content_type: str | None = None
    strictness: Strictness = "must_refuse"
    #: the valid body this case was derived from, for the evidence
    base: Mapping[str, Any] | None = field(default=None, repr=False, compare=False)

    def describe(self) -> dict[str, Any]:
        """A JSON-friendly summary for reports (the sent body cut to 300 characters)."""
        if self.raw is not None:
            sent = self.raw[:300].decode("utf-8", errors="replace")
        elif self.form is not None:
            sent = json.dumps(dict(self.form), ensure_ascii=False)[:300]
        else:
            sent = json.dumps(self.body, ensure_ascii=False)[:300]
        return {
            "kind": self.kind,
            "label": self.label,
            "param": self.param,
            "strictness": self.strictness,
            "sent": sent,
        }

    def payload(self) -> tuple[bytes, str]:
        """The bytes to send and their Content-Type header value."""
        if self.raw is not None:
            return self.raw, self.content_type or "application/octet-stream"
        if self.form is not None:
            from conformance.providers.wetrocloud import encode_form

            boundary = "conformance-invalid-form-5d1c"
            return (
                encode_form(list(self.form.items()), boundary),
                f"multipart/form-data; boundary={boundary}",
            )
        payload = json.dumps(self.body, ensure_ascii=False).encode("utf-8")
        return payload, self.content_type or "application/json"

    def streamed(self) -> InvalidRequest | None:
        """The same mistake in a request asking for a stream (``"stream": true`` added), or
        ``None`` when that is not the same mistake: a body that is not a JSON object (raw
        or multipart), or a case about ``stream`` / ``stream_options`` themselves.

        A server must refuse it the same way, with a 4xx and the error envelope before any
        event: streamed requests are often validated by another code path."""
        if not isinstance(self.body, dict) or self.param in ("stream", "stream_options"):
            return None
        if self.body.get("stream") is not None:
            return None
        return replace(
            self,
            label=f"{self.label} (streamed)",
            body={**self.body, "stream": True},
        )

    def to_request(self, provider: Provider, *, api_key: str | None = None) -> httpx.Request:
        """The ``httpx.Request`` that sends this case to ``provider``'s endpoint."""
        content, content_type = self.payload()
        headers = {
            "Accept": "application/json",
            "Content-Type": content_type,
            **provider.auth_headers(api_key),
        }
        return httpx.Request("POST", provider.url, headers=headers, content=content)


_SIMPLE_USER = st.sampled_from(
    ["Say hello.", "What is 2 + 2?", "Name a colour.", "\u00bfQu\u00e9 tal? \U0001f600"]
)


def _base_messages() -> st.SearchStrategy[list[Message]]:
    return st.one_of(
        st.builds(lambda t: [{"role": "user", "content": t}], _SIMPLE_USER),
        st.builds(
            lambda t: [
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": t},
            ],
            _SIMPLE_USER,
        ),
    )


def _with(base: Mapping[str, Any], **changes: Any) -> dict[str, Any]:
    out = dict(base)
    out.update(changes)
    return out


def _without(base: Mapping[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in base.items() if k != key}


def out_of_range_values(bounds: tuple[float, float]) -> tuple[float, float]:
    """A value below and a value above the documented range ``bounds``, well outside it
    (no rounding brings them back in): ``low - 1``, and ``high + 0.5`` for a range that
    ends at 1 or below (top_p 1.5), else ``max(high + 3, 5)`` (temperature 5)."""
    low, high = bounds
    return low - 1.0, (high + 0.5 if high <= 1.0 else max(5.0, high + 3.0))


def _range_word(bounds: tuple[float, float]) -> str:
    return f"outside the documented range {bounds[0]:g}..{bounds[1]:g}"


def _json_cases(base: dict[str, Any], caps: Capabilities) -> list[InvalidRequest]:
    """Every JSON-dialect mutation of ``base``; the strategy samples from these.

    A value is out of range only where the document states the range
    (``temperature_range``, ``top_p_range``, ``max_tokens_min``): where it does not, a
    server may give any value a meaning, and none is sent as a mistake.
    """
    msgs = base["messages"]
    user_text = msgs[-1]["content"]
    c: list[InvalidRequest] = []

    def add(
        kind: str, label: str, param: str | None, strict: Strictness = "must_refuse", **kw: Any
    ) -> None:
        c.append(
            InvalidRequest(kind=kind, label=label, param=param, strictness=strict, base=base, **kw)
        )

    for name, bounds in (("temperature", caps.temperature_range), ("top_p", caps.top_p_range)):
        if bounds is None:
            continue
        for value in out_of_range_values(bounds):
            add(
                "out_of_range",
                f"{name} is {value:g} ({_range_word(bounds)})",
                name,
                "should_refuse",
                body=_with(base, **{name: value}),
            )
    add("out_of_range", "n is 0 (at least 1)", "n", body=_with(base, n=0))
    if caps.max_tokens_min is not None:
        least = caps.max_tokens_min
        add(
            "out_of_range",
            f"max_tokens is {least - 1} (the documented minimum is {least})",
            "max_tokens",
            body=_with(base, max_tokens=least - 1),
        )
        add(
            "out_of_range",
            f"max_tokens is -1 (the documented minimum is {least})",
            "max_tokens",
            "should_refuse",
            body=_with(base, max_tokens=-1),
        )
    add(
        "out_of_range",
        "presence_penalty is 3 (range -2..2)",
        "presence_penalty",
        "should_refuse",
        body=_with(base, presence_penalty=3),
    )
    add(
        "wrong_type",
        'temperature is the string "hot"',
        "temperature",
        body=_with(base, temperature="hot"),
    )
    add(
        "wrong_type",
        "messages is a string, not an array",
        "messages",
        body=_with(base, messages=user_text),
    )
    add(
        "wrong_type",
        "a message is a string, not an object",
        "messages",
        body=_with(base, messages=[user_text]),
    )
    add(
        "wrong_type",
        "max_tokens is 1.5, not an integer",
        "max_tokens",
        "should_refuse",
        body=_with(base, max_tokens=1.5),
    )
    add(
        "wrong_type",
        'max_tokens is the string "many"',
        "max_tokens",
        body=_with(base, max_tokens="many"),
    )
    add(
        "wrong_type",
        'stream is the string "yes", not a boolean',
        "stream",
        "should_refuse",
        body=_with(base, stream="yes"),
    )
    add("missing_field", "model is missing", "model", "should_refuse", body=_without(base, "model"))
    add("missing_field", "messages is missing", "messages", body=_without(base, "messages"))
    add(
        "bad_role",
        'a message has role "wizard"',
        "messages",
        "should_refuse",
        body=_with(base, messages=[*msgs[:-1], {"role": "wizard", "content": user_text}]),
    )
    add(
        "bad_role",
        "a message has no role",
        "messages",
        body=_with(base, messages=[*msgs[:-1], {"content": user_text}]),
    )
    add(
        "empty_messages",
        "messages is an empty array",
        "messages",
        "should_refuse",
        body=_with(base, messages=[]),
    )
    add(
        "missing_content",
        "a user message has no content",
        "messages",
        "should_refuse",
        body=_with(base, messages=[*msgs[:-1], {"role": "user"}]),
    )
    add(
        "too_many_stop",
        "stop has 5 strings (at most 4)",
        "stop",
        "should_refuse",
        body=_with(base, stop=["a1", "b2", "c3", "d4", "e5"]),
    )
    add(
        "stream_options_without_stream",
        "stream_options is set but stream is not",
        "stream_options",
        "should_refuse",
        body=_with(base, stream_options={"include_usage": True}),
    )
    good = json.dumps(base, ensure_ascii=False)
    add(
        "malformed_json",
        "the body is cut-off JSON",
        None,
        raw=good[: max(1, len(good) // 2)].encode(),
        content_type="application/json",
    )
    add(
        "malformed_json",
        "the body has a trailing comma",
        None,
        raw=(good[:-1] + ",}").encode(),
        content_type="application/json",
    )
    add("not_object", "the body is a JSON array, not an object", None, body=[base])
    add("not_object", "the body is a JSON string, not an object", None, body=user_text)
    return c


def _form_cases(base: dict[str, Any]) -> list[InvalidRequest]:
    """Every multipart-dialect mutation of ``base`` (fields ``messages`` and ``model``)."""
    msgs_json = json.dumps(base["messages"], ensure_ascii=False)
    model = base["model"]
    c: list[InvalidRequest] = []

    def add(
        kind: str, label: str, param: str | None, strict: Strictness = "must_refuse", **kw: Any
    ) -> None:
        c.append(
            InvalidRequest(kind=kind, label=label, param=param, strictness=strict, base=base, **kw)
        )

    boundary = "conformance-boundary-7f3a"
    broken = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="messages"\r\n\r\n{msgs_json}'
    ).encode()  # no closing boundary, and the part never ends
    add(
        "malformed_multipart",
        "the multipart body is cut off (no closing boundary)",
        None,
        raw=broken,
        content_type=f"multipart/form-data; boundary={boundary}",
    )
    add(
        "malformed_multipart",
        "the multipart body uses a different boundary than declared",
        None,
        raw=(
            f'--other\r\nContent-Disposition: form-data; name="model"\r\n\r\n{model}\r\n--other--\r\n'
        ).encode(),
        content_type=f"multipart/form-data; boundary={boundary}",
    )
    add(
        "messages_not_json",
        "the messages field is not JSON",
        "messages",
        form={"messages": "role=user content=hello", "model": model},
    )
    add(
        "messages_not_array",
        "the messages field is a JSON object, not an array",
        "messages",
        form={"messages": json.dumps(base["messages"][-1]), "model": model},
    )
    add(
        "messages_not_array",
        "the messages field is a JSON string, not an array",
        "messages",
        form={"messages": json.dumps("hello"), "model": model},
    )
    # The document lists `model` among the fields without saying that it is required; a
    # server that falls back to a default model is lenient, not wrong (as for OpenAI).
    add(
        "missing_field",
        "the model field is missing",
        "model",
        "should_refuse",
        form={"messages": msgs_json},
    )
    add("missing_field", "the messages field is missing", "messages", form={"model": model})
    return c


#: the parameters whose documented range :func:`range_cases` probes
RANGED_PARAMETERS: tuple[str, ...] = ("temperature", "top_p")


def range_cases(provider: ProviderLike, name: str) -> list[InvalidRequest]:
    """The requests that put ``name`` (``"temperature"`` or ``"top_p"``) just outside the
    range ``provider`` documents: one below it and one above it (the ``out_of_range``
    cases :func:`invalid_requests` draws for that parameter). Empty when the provider does
    not document the parameter or states no range for it.
    """
    if name not in RANGED_PARAMETERS:
        raise InvalidArgument(f"name must be one of {RANGED_PARAMETERS}, not {name!r}")
    profile = _resolve(provider)
    if profile is None or _dialect(profile) is not Dialect.OPENAI:
        return []
    if name not in _documented_params(profile):
        return []
    model = profile.model if isinstance(profile, Provider) else profile.models[0]
    base: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": "Say hello."}]}
    return [
        case
        for case in _json_cases(base, profile.capabilities)
        if case.kind == "out_of_range" and case.param == name
    ]


#: every ``kind`` :func:`invalid_requests` can produce
INVALID_KINDS: tuple[str, ...] = (
    "out_of_range",
    "wrong_type",
    "missing_field",
    "bad_role",
    "empty_messages",
    "missing_content",
    "too_many_stop",
    "stream_options_without_stream",
    "malformed_json",
    "not_object",
    "malformed_multipart",
    "messages_not_json",
    "messages_not_array",
)


def invalid_requests(
    *,
    provider: ProviderLike | None = None,
    model: str | None = None,
    kinds: Collection[str] | None = None,
    strictness: Collection[Strictness] | None = None,
) -> st.SearchStrategy[InvalidRequest]:
    """Requests that a conforming server answers with a 4xx error.

    With a ``provider``, a case about a parameter the provider does not document is left
    out (a server may ignore parameters it never promised to read): one its capabilities
    leave out, or one its document does not name (``Provider.named_params``: the
    ``param.*`` facts its ``documented`` mapping lists).

    Each example starts from a small valid request and breaks exactly one thing, and says
    what (``label``), which parameter (``param``) and of what ``kind``. For the JSON
    dialects: out-of-range numbers, wrong types, a missing ``model`` or ``messages``,
    bad or missing roles, an empty ``messages`` array, a user message without content,
    more than four stop strings, ``stream_options`` without ``stream``, malformed JSON and
    JSON bodies that are not objects. For multipart (Wetrocloud): a malformed multipart
    body, a ``messages`` field that is not JSON or not an array, missing fields.

    ``model`` is the model the otherwise valid request names (default: the profile's
    default model); ``kinds`` and ``strictness`` narrow the draw.
    """
    _check_names("kinds", kinds, INVALID_KINDS)
    _check_names("strictness", strictness, ("must_refuse", "should_refuse"))
    if model is not None and (not isinstance(model, str) or not model):
        raise InvalidArgument(f"model must be a non-empty string, not {model!r}")
    profile = _resolve(provider)
    if model is None:
        model = (
            profile.model
            if isinstance(profile, Provider)
            else (profile.models[0] if profile is not None else "test-model")
        )
    form_dialect = _dialect(profile) is Dialect.WETROCLOUD
    caps = _capabilities(profile)
    wanted_kinds = frozenset(kinds) if kinds is not None else None
    wanted_strict = frozenset(strictness) if strictness is not None else None

    documented = _documented_params(profile)
    named = profile.named_params() if profile is not None else None
    if named is not None:
        documented &= named

    def keep(case: InvalidRequest) -> bool:
        if case.param in PARAMETER_NAMES and case.param not in documented:
            return False  # a server may ignore a parameter its provider never documented
        return (wanted_kinds is None or case.kind in wanted_kinds) and (
            wanted_strict is None or case.strictness in wanted_strict
        )

    # check now that the narrowing leaves something to draw
    probe_base: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": "x"}]}
    probe_cases = _form_cases(probe_base) if form_dialect else _json_cases(probe_base, caps)
    if not any(keep(c) for c in probe_cases):
        dialect = "multipart" if form_dialect else "JSON"
        raise InvalidArgument(
            f"no invalid request of kinds={sorted(wanted_kinds or [])} and "
            f"strictness={sorted(wanted_strict or [])} exists for the {dialect} dialect"
        )

    @st.composite
    def draw_case(draw: st.DrawFn) -> InvalidRequest:
        base: dict[str, Any] = {"model": model, "messages": draw(_base_messages())}
        cases = _form_cases(base) if form_dialect else _json_cases(base, caps)
        return draw(st.sampled_from([c for c in cases if keep(c)]))

    return draw_case()
