"""An OpenAI-compatible chat-completions fake, written from the OpenAI API reference.

One :class:`Flavor` describes a server: how it validates, which optional features it
honours or refuses, how it frames its stream, and hooks that rewrite its documents to
imitate a real implementation (vLLM, llama.cpp, Ollama, Azure, OpenAI itself...) or to
break one property. The defaults are a strict, correct server.

Text generation: one token per whitespace-separated word; the answer depends only on
the prompt (and, for flavours that sample, on a random generator).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote

from tests.redteam.server import DROP_STATUS, STALL, Part, Pause, Reply, Request

__all__ = ["KEY", "Flavor", "handle_openai"]

KEY = "sk-redteam-correct-key"
_STORY_TEXT = (
    "Once upon a time a lighthouse keeper named Ada found a green bottle on the rocks "
    "below her tower and inside it was a letter written in a careful hand that asked "
    "whoever found it to light the lamp one more night for a ship that never came home "
    "so she climbed the stairs and lit the lamp and waited until dawn for the sails"
)
STORY = _STORY_TEXT.split()
FRUITS = "apple, banana, cherry, date, elderberry, fig, grape, kiwi, lemon, mango"
ROLES = {"system", "developer", "user", "assistant", "tool", "function"}
Support = Literal["honour", "refuse400", "refuse501", "ignore"]

Doc = dict[str, Any]


@dataclass
class Flavor:
    """Everything that tells one fake server from another."""

    name: str
    #: "id" prefix; the id is made from a counter
    id_prefix: str = "chatcmpl-"
    #: the model name echoed back (None: the requested one)
    model_out: str | None = None
    created: int = 1_731_000_000
    require_key: bool = True
    model_required: bool = True
    #: how each optional feature is treated
    n: Support = "honour"
    logprobs: Support = "honour"
    tools: Support = "honour"
    response_format: Support = "honour"
    stream_options: Support = "honour"
    #: sample randomly when temperature > 0 (seed ignored)
    sampling_ignores_seed: bool = False
    #: the answer ends on its own after this many tokens (None: the whole story)
    natural_length: int | None = None
    #: validation error: (status, message, param) -> (status, body dict or bytes)
    error_body: Callable[[int, str, str | None], tuple[int, Any]] | None = None
    #: the first delta also carries the first content (no role-only chunk)
    role_with_content: bool = False
    #: the role-only first delta carries content "" (vLLM) / null (llama.cpp) / no key
    role_chunk_content: Literal["empty", "null", "absent"] = "empty"
    #: finish_reason on the last content chunk instead of a chunk of its own
    finish_on_last_content: bool = False
    #: "usage": null on ordinary chunks (OpenAI) instead of leaving the key out
    usage_null_on_chunks: bool = False
    #: rewrite hooks
    completion_hook: Callable[[Doc, Doc], Doc] | None = None
    chunks_hook: Callable[[list[Doc], Doc], list[Doc | str]] | None = None
    #: SSE encoding of the data payloads (list of data strings, "[DONE]" included)
    sse_encode: Callable[[list[str]], list[Part]] | None = None
    sse_content_type: str = "text/event-stream"
    json_content_type: str = "application/json"
    framing: Literal["length", "chunked", "close"] = "chunked"
    #: extra response headers for every answer
    extra_headers: list[tuple[str, str]] = field(default_factory=list)
    #: answer a valid request with this reply instead (for whole-reply faults)
    reply_hook: Callable[[Request, Doc, Reply], Reply] | None = None
    #: accept any key (still refuse a missing one)
    accept_any_key: bool = False
    #: how a failure after 3 tokens is reported when the request carries the header
    #: ``X-Conformance-Midstream-Error`` ("ignore": the header means nothing here)
    midstream: Literal["ignore", "envelope", "flat", "plain", "openrouter", "tgi"] = "ignore"
    #: answer every k-th request 429 (Retry-After: 0) before serving it on the retry
    rate_limit_every: int | None = None
    #: tokens per word of the fake tokenizer (usage and the caps count tokens; a capped
    #: answer shows fewer words than tokens)
    tokens_per_word: int = 1
    #: stream the text in pieces of this many characters instead of one word per chunk
    #: (sub-word chunks: a stop string then spans several chunks)
    piece_chars: int | None = None
    #: ``max_completion_tokens``: honoured, refused as an unknown field (older vLLM), ignored
    mct: Support = "honour"
    #: content given as an array of text parts: honoured or refused with 400
    content_parts: Support = "honour"
    #: a ``tool`` message (and an assistant turn with ``tool_calls``) accepted
    tool_role: bool = True
    #: stop strings honoured only in non-streamed answers
    stream_ignores_stop: bool = False
    #: tool call ids in the conversation must match this (vLLM with a Mistral tokenizer:
    #: 9 alphanumeric characters), else 400
    tool_id_pattern: str | None = None
    #: the model's chat template takes a system message (Gemma 2: "System role not
    #: supported", a 400 through vLLM)
    system_role: bool = True
    #: a `stop` given as a string is iterated like a list (each character a stop string)
    stop_str_as_chars: bool = False
    #: every answer is this text, whatever the conversation
    canned: str | None = None
    #: streamed requests skip the key check (only the plain path authenticates)
    auth_plain_only: bool = False
    #: the status of a refused wrong key (a missing key is always 401)
    wrong_key_status: int = 401
    #: extra headers on 401/403 answers
    auth_headers: list[tuple[str, str]] = field(default_factory=list)
    #: the endpoint without a trailing slash redirects (this status) to the one with it
    #: (a FastAPI route declared with the slash: Starlette's redirect_slashes, 307)
    redirect_to_slash: int | None = None
    #: tools with tool_choice "auto" (or left out) accepted; False: refused with 400 as
    #: vLLM does unless started with --enable-auto-tool-choice (a named choice works)
    auto_tool_choice: bool = True
    #: refuse what OpenAI's reasoning models refuse (400): max_tokens, stop, logprobs and a
    #: temperature other than 1
    reasoning_limits: bool = False
    #: an invalid request (other than unparseable JSON) closes the connection without any
    #: answer, as a handler that raises does under Python's http.server
    drop_on_invalid: bool = False
    #: the model names GET /v1/models lists and the chat route answers for (the harness
    #: asks for the openai profile's gpt-4o-mini)
    models: tuple[str, ...] = ("gpt-4o-mini", "rt-model")
    #: the model list document, given this flavour (None: the OpenAI list of ``models``)
    models_body: Callable[[Flavor], Any] | None = None
    #: GET /v1/models is served (False: a 404, the server has only the chat route)
    list_models: bool = True
    #: GET /v1/models/<id> is served (False: a 404, as vLLM and llama.cpp have no such route)
    retrieve: bool = True
    #: the document GET /v1/models/<id> answers, given the flavour and the id (None: the
    #: model object)
    retrieve_body: Callable[[Flavor, str], Any] | None = None
    #: the body of a 404 on a path the server does not route (None: the flavour's error)
    not_found_body: Any = None
    #: a chat request for a model not in ``models``: refused with this status (404 as
    #: OpenAI, vLLM and Ollama; 400 as LiteLLM), or "answer" (llama.cpp serves its one model
    #: whatever the name)
    unknown_model: int | Literal["answer"] = 404
    #: the message of that refusal, given the model name
    unknown_model_message: Callable[[str], str] = lambda m: f"The model `{m}` does not exist."
    #: tool_choice is never read: with tools offered the first tool is always called
    #: (Ollama's OpenAI layer: "none" and a named function mean nothing)
    tool_choice_unread: bool = False
    #: a streamed request is validated only after the stream started: 200, then an event
    #: carrying the error envelope (validation inside the generator)
    stream_errors_in_band: bool = False


# --------------------------------------------------------------------------- helpers


def envelope(status: int, message: str, param: str | None) -> tuple[int, Any]:
    """The OpenAI error envelope."""
    kind = "authentication_error" if status == 401 else "invalid_request_error"
    code = "invalid_api_key" if status == 401 else None
    return status, {"error": {"message": message, "type": kind, "param": param, "code": code}}


def _json_reply(flavor: Flavor, status: int, body: Any) -> Reply:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = [("Content-Type", flavor.json_content_type), *flavor.extra_headers]
    return Reply(status, headers, [data], framing="length")


def _error(flavor: Flavor, status: int, message: str, param: str | None = None) -> Reply:
    make = flavor.error_body or envelope
    if status in (401, 403):
        make = envelope if flavor.error_body is None else flavor.error_body
    code, body = make(status, message, param)
    return _json_reply(flavor, code, body)


def default_sse(payloads: list[str]) -> list[Part]:
    """``data: <payload>`` events, LF line ends, each event its own write."""
    return [f"data: {p}\n\n".encode() for p in payloads]


def _words(text: str) -> list[str]:
    return text.split()


def _prompt_text(messages: list[Doc], flavor_drops_parts: bool = False) -> str:
    parts: list[str] = []
    for m in messages:
        content = m.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list) and flavor_drops_parts is False:
            parts.extend(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return " ".join(parts)


def _answer_words(body: Doc, flavor: Flavor, rng: random.Random) -> list[str]:
    if flavor.canned is not None:
        return flavor.canned.split()
    drops = flavor.content_parts == "ignore"
    last = _prompt_text([m for m in body["messages"] if m.get("role") == "user"][-1:], drops)
    if not last.strip():
        return ["Hello!", "What", "would", "you", "like", "to", "talk", "about?"]
    if "separated by commas" in last:
        words = FRUITS.split()
    elif last.startswith("Repeat exactly"):
        words = last.split(":", 1)[1].split()
    elif isinstance(body.get("response_format"), dict) and flavor.response_format == "honour":
        # structured output ends when the JSON is complete, never at a natural length
        fmt = body["response_format"]
        if fmt.get("type") == "json_schema":
            schema = (fmt.get("json_schema") or {}).get("schema") or {}
            return json.dumps(_instance(schema)).split(" ")
        return ['{"colour":', '"blue"}']
    else:
        words = list(STORY)
        temperature = body.get("temperature", 1)
        if flavor.sampling_ignores_seed and temperature not in (0, 0.0):
            words = [rng.choice(STORY) for _ in words]
    if flavor.natural_length is not None:
        words = words[: flavor.natural_length]
    return words


def _instance(schema: Any) -> Any:
    """A small value that validates against ``schema`` (structured outputs, the subset
    strict schemas use: objects, arrays, enums, scalars)."""
    if not isinstance(schema, dict):
        return "x"
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][-1]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return {k: _instance(v) for k, v in (schema.get("properties") or {}).items()}
    if kind == "array":
        return [_instance(schema.get("items"))]
    return {"integer": 3, "number": 0.5, "boolean": False, "null": None}.get(str(kind), "Oslo")


def _tokens(words: list[str]) -> list[str]:
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


@dataclass
class _Gen:
    tokens: list[str]
    finish: str
    logprobs: Doc | None = None
    tool_call: Doc | None = None
    #: completion tokens as the fake tokenizer counts them (None: one per token piece)
    n_tokens: int | None = None

    @property
    def usage_tokens(self) -> int:
        if self.tool_call is not None:
            return 8
        return self.n_tokens if self.n_tokens is not None else len(self.tokens)


def _generate(body: Doc, flavor: Flavor, rng: random.Random, top: int | None) -> _Gen:
    if (
        body.get("tools")
        and flavor.tools == "honour"
        and (body.get("tool_choice") != "none" or flavor.tool_choice_unread)
    ):
        choice = None if flavor.tool_choice_unread else body.get("tool_choice")
        named = choice.get("function", {}).get("name") if isinstance(choice, dict) else None
        tool = next((t for t in body["tools"] if t["function"]["name"] == named), body["tools"][0])
        required = (tool["function"].get("parameters") or {}).get("required") or ["city"]
        call = {
            "id": "call_rt1",
            "type": "function",
            "function": {
                "name": tool["function"]["name"],
                "arguments": json.dumps({key: "Paris" for key in required}),
            },
        }
        return _Gen([], "tool_calls", tool_call=call)
    tokens = _tokens(_answer_words(body, flavor, rng))
    finish = "stop"
    stops = body.get("stop")
    if isinstance(stops, str) and not flavor.stop_str_as_chars:
        stops = [stops]
    stops = list(stops or [])
    text = "".join(tokens)
    cuts = [text.find(s) for s in stops if s and s in text]
    if cuts:
        text = text[: min(cuts)]
        tokens = re.findall(r"\s*\S+", text)
        trailing = text[len("".join(tokens)) :]
        if trailing and tokens:
            tokens[-1] += trailing
    cap = body.get("max_completion_tokens", body.get("max_tokens"))
    if flavor.mct == "ignore":
        cap = body.get("max_tokens")
    k = flavor.tokens_per_word
    n_tokens = len(tokens) * k
    if isinstance(cap, int) and n_tokens > cap:
        whole, part = divmod(cap, k)
        cut = tokens[:whole]
        if part and whole < len(tokens):
            word = tokens[whole]
            cut.append(word[: max(1, len(word) * part // k)])
        tokens = cut
        n_tokens = cap
        finish = "length"
    logprobs = None
    if top is not None:
        logprobs = {
            "content": [
                {
                    "token": t,
                    "logprob": -0.25,
                    "bytes": list(t.encode()),
                    "top_logprobs": [
                        {"token": t, "logprob": -0.25, "bytes": list(t.encode())},
                        {"token": "x", "logprob": -3.5, "bytes": [120]},
                    ][:top],
                }
                for t in tokens
            ],
            "refusal": None,
        }
    return _Gen(tokens, finish, logprobs, n_tokens=n_tokens)


def _validate(body: Any, flavor: Flavor) -> tuple[int, str, str | None] | None:
    if not isinstance(body, dict):
        return 400, "The request body must be a JSON object.", None
    if flavor.model_required and not isinstance(body.get("model"), str):
        return 400, "you must provide a model parameter", "model"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return 400, "'messages' is a required property", "messages"
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            return 400, f"messages[{i}] must be an object", f"messages.[{i}]"
        if m.get("role") not in ROLES:
            return 400, f"messages[{i}].role is invalid", f"messages.[{i}].role"
        if m.get("role") in ("user", "system") and "content" not in m:
            return 400, f"messages[{i}].content is required", f"messages.[{i}].content"
        if isinstance(m.get("content"), list) and flavor.content_parts in (
            "refuse400",
            "refuse501",
        ):
            return 400, f"messages[{i}].content must be a string", f"messages.[{i}].content"
        if m.get("role") == "system" and not flavor.system_role:
            return 400, "System role not supported", None
        ids = [c.get("id") for c in m.get("tool_calls") or [] if isinstance(c, dict)]
        ids += [m["tool_call_id"]] if "tool_call_id" in m else []
        if flavor.tool_id_pattern and any(
            not re.fullmatch(flavor.tool_id_pattern, str(i)) for i in ids
        ):
            return (
                400,
                "Tool call IDs should be alphanumeric strings with length 9!",
                f"messages.[{i}]",
            )
        if not flavor.tool_role and (m.get("role") == "tool" or m.get("tool_calls")):
            return 400, f"messages[{i}]: role 'tool' is not supported", f"messages.[{i}].role"
    n = body.get("n", 1)
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 8:
        return 400, "n must be an integer from 1 to 8", "n"
    t = body.get("temperature", 1)
    if not isinstance(t, int | float) or isinstance(t, bool) or not 0 <= t <= 2:
        return 400, "temperature must be between 0 and 2", "temperature"
    stop = body.get("stop")
    if isinstance(stop, list) and len(stop) > 4:
        return 400, "stop may have at most 4 sequences", "stop"
    if "stream" in body and not isinstance(body["stream"], bool):
        return 400, "stream must be a boolean", "stream"
    if (
        body.get("tools")
        and body.get("tool_choice", "auto") == "auto"
        and not flavor.auto_tool_choice
    ):
        return (
            400,
            '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set',
            "tool_choice",
        )
    if "max_completion_tokens" in body and flavor.mct in ("refuse400", "refuse501"):
        return (
            400,
            "extra fields not permitted: max_completion_tokens",
            "max_completion_tokens",
        )
    if flavor.reasoning_limits:
        problem = _reasoning_refusal(body)
        if problem is not None:
            return problem
    for key in ("max_tokens", "max_completion_tokens"):
        v = body.get(key)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
            return 400, f"{key} must be a positive integer", key
    return None


def _reasoning_refusal(body: Doc) -> tuple[int, str, str | None] | None:
    for name in ("max_tokens", "stop", "logprobs", "top_logprobs"):
        if name in body:
            instead = " Use 'max_completion_tokens' instead." if name == "max_tokens" else ""
            message = f"Unsupported parameter: '{name}' is not supported with this model."
            return 400, message + instead, name
    if body.get("temperature", 1) != 1:
        return (
            400,
            "Unsupported value: 'temperature' does not support 0 with this model. Only the "
            "default (1) value is supported.",
            "temperature",
        )
    return None


def _refusal(body: Doc, flavor: Flavor) -> tuple[int, str, str] | None:
    features: list[tuple[bool, Support, str]] = [
        (body.get("n", 1) != 1, flavor.n, "n"),
        (bool(body.get("logprobs")), flavor.logprobs, "logprobs"),
        (bool(body.get("tools")), flavor.tools, "tools"),
        ("response_format" in body, flavor.response_format, "response_format"),
        ("stream_options" in body, flavor.stream_options, "stream_options"),
    ]
    for asked, support, param in features:
        if asked and support in ("refuse400", "refuse501"):
            status = 400 if support == "refuse400" else 501
            return status, f"'{param}' is not supported by this server", param
    return None


# --------------------------------------------------------------------------- documents

_counter = iter(range(1, 10**9))


def _usage(prompt: int, completion: int) -> Doc:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _prompt_tokens(body: Doc) -> int:
    return sum(len(_words(_prompt_text([m]))) + 3 for m in body["messages"])


def completion_doc(flavor: Flavor, body: Doc, gens: list[_Gen]) -> Doc:
    """A ``chat.completion`` for the generations."""
    choices = []
    for i, g in enumerate(gens):
        message: Doc = {
            "role": "assistant",
            "content": None if g.tool_call else "".join(g.tokens),
            "refusal": None,
        }
        if g.tool_call:
            message["tool_calls"] = [g.tool_call]
        choices.append(
            {"index": i, "message": message, "logprobs": g.logprobs, "finish_reason": g.finish}
        )
    completion = sum(g.usage_tokens for g in gens)
    return {
        "id": f"{flavor.id_prefix}{next(_counter)}",
        "object": "chat.completion",
        "created": flavor.created,
        "model": flavor.model_out or body.get("model") or "default-model",
        "choices": choices,
        "usage": _usage(_prompt_tokens(body), completion),
    }


def chunk_docs(flavor: Flavor, body: Doc, gens: list[_Gen]) -> list[Doc]:
    """The ``chat.completion.chunk`` documents of a stream (without ``[DONE]``)."""
    base = {
        "id": f"{flavor.id_prefix}{next(_counter)}",
        "object": "chat.completion.chunk",
        "created": flavor.created,
        "model": flavor.model_out or body.get("model") or "default-model",
    }
    opts = body.get("stream_options") if flavor.stream_options == "honour" else None
    include_usage = isinstance(opts, dict) and opts.get("include_usage") is True

    def chunk(choices: list[Doc]) -> Doc:
        doc = {**base, "choices": choices}
        if include_usage and flavor.usage_null_on_chunks:
            doc["usage"] = None
        return doc

    out: list[Doc] = []
    for i, g in enumerate(gens):
        pieces: list[Doc] = []
        if g.tool_call:
            pieces.append(
                {"role": "assistant", "content": None, "tool_calls": [{"index": 0, **g.tool_call}]}
            )
        else:
            tokens = list(g.tokens)
            if flavor.piece_chars:
                text = "".join(tokens)
                size = flavor.piece_chars
                tokens = [text[j : j + size] for j in range(0, len(text), size)]
            if flavor.role_with_content and tokens:
                pieces.append({"role": "assistant", "content": tokens.pop(0)})
            else:
                first: Doc = {"role": "assistant"}
                if flavor.role_chunk_content == "empty":
                    first["content"] = ""
                elif flavor.role_chunk_content == "null":
                    first["content"] = None
                pieces.append(first)
            pieces.extend({"content": t} for t in tokens)
        lp = (g.logprobs or {}).get("content") if g.logprobs else None
        for pos, delta in enumerate(pieces):
            choice: Doc = {"index": i, "delta": delta, "finish_reason": None}
            if lp is not None and "content" in delta and delta["content"]:
                k = pos - (0 if flavor.role_with_content else 1)
                choice["logprobs"] = {"content": lp[k : k + 1], "refusal": None}
            last = pos == len(pieces) - 1
            if last and flavor.finish_on_last_content and len(pieces) > 1:
                choice["finish_reason"] = g.finish
            out.append(chunk([choice]))
        if not (flavor.finish_on_last_content and len(pieces) > 1):
            out.append(chunk([{"index": i, "delta": {}, "finish_reason": g.finish}]))
    if include_usage:
        completion = sum(g.usage_tokens for g in gens)
        out.append({**base, "choices": [], "usage": _usage(_prompt_tokens(body), completion)})
    return out


# --------------------------------------------------------------------------- the handler

_requests_seen: dict[str, int] = {}
_MIDSTREAM: dict[str, list[str]] = {
    # vLLM / OpenAI: an event whose data is the error envelope, then the stream ends
    "envelope": [
        json.dumps(
            {
                "error": {
                    "message": "The engine failed while generating.",
                    "type": "server_error",
                    "param": None,
                    "code": 500,
                }
            }
        ),
        "[DONE]",
    ],
    # the older vLLM ErrorResponse, not wrapped in {"error": ...}
    "flat": [
        json.dumps(
            {
                "object": "error",
                "message": "The engine failed while generating.",
                "type": "InternalServerError",
                "param": None,
                "code": 500,
            }
        )
    ],
    # error text as the data of an event
    "plain": ["Internal Server Error: the engine failed"],
    # OpenRouter: a chunk that carries an error object and finish_reason "error"
    "openrouter": [
        json.dumps(
            {
                "id": "gen-rt-1",
                "object": "chat.completion.chunk",
                "created": 1_731_000_000,
                "model": "rt-model",
                "provider": "Fireworks",
                "error": {"code": 502, "message": "Provider returned error"},
                "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}],
            }
        )
    ],
    # TGI: {"error": "<text>", "error_type": "..."}: the error is a bare string
    "tgi": [json.dumps({"error": "Request failed during generation", "error_type": "generation"})],
}


def model_object(flavor: Flavor, name: str) -> Doc:
    """One entry of the OpenAI model list."""
    return {"id": name, "object": "model", "created": flavor.created, "owned_by": "rt"}


def _models_reply(flavor: Flavor, path: str) -> Reply | None:
    """The answer to GET /v1/models or /v1/models/<id> (``None``: not such a path)."""
    trimmed = path.rstrip("/")
    routed = trimmed == "/v1/models" or trimmed.startswith("/v1/models/")
    if routed and not flavor.list_models:
        return _json_reply(flavor, 404, flavor.not_found_body or {"detail": "Not Found"})
    if trimmed == "/v1/models":
        if flavor.models_body is not None:
            return _json_reply(flavor, 200, flavor.models_body(flavor))
        data = [model_object(flavor, n) for n in flavor.models]
        return _json_reply(flavor, 200, {"object": "list", "data": data})
    if not trimmed.startswith("/v1/models/"):
        return None
    wanted = unquote(trimmed[len("/v1/models/") :])
    if not flavor.retrieve:
        return _json_reply(flavor, 404, flavor.not_found_body or {"detail": "Not Found"})
    if wanted not in flavor.models:
        return _error(flavor, 404, flavor.unknown_model_message(wanted), "model")
    if flavor.retrieve_body is not None:
        return _json_reply(flavor, 200, flavor.retrieve_body(flavor, wanted))
    return _json_reply(flavor, 200, model_object(flavor, wanted))


def handle_openai(flavor: Flavor, request: Request, path: str) -> Reply:
    """Answer one request to ``path`` (below the flavour's prefix)."""
    if request.method == "GET":
        models = _models_reply(flavor, path)
        if models is not None:
            return models
    if flavor.redirect_to_slash is not None and path == "/v1/chat/completions":
        return Reply(flavor.redirect_to_slash, [("Location", request.path + "/")], [b""])
    if path.rstrip("/") != "/v1/chat/completions" or request.method != "POST":
        return _json_reply(
            flavor,
            404,
            {
                "error": {
                    "message": f"no route {path}",
                    "type": "not_found",
                    "param": None,
                    "code": None,
                }
            },
        )
    streamed = b'"stream": true' in request.body or b'"stream":true' in request.body
    if flavor.require_key and not (flavor.auth_plain_only and streamed):
        auth = request.header("authorization")
        if not auth:
            reply = _error(flavor, 401, "You didn't provide an API key.")
            reply.headers.extend(flavor.auth_headers)
            return reply
        if auth != f"Bearer {KEY}" and not flavor.accept_any_key:
            reply = _error(flavor, flavor.wrong_key_status, "Incorrect API key provided.")
            reply.headers.extend(flavor.auth_headers)
            return reply
    if flavor.rate_limit_every is not None:
        seen = _requests_seen[flavor.name] = _requests_seen.get(flavor.name, 0) + 1
        if seen % flavor.rate_limit_every == 0:
            reply = _json_reply(
                flavor,
                429,
                {
                    "error": {
                        "message": "Rate limit reached, retry shortly.",
                        "type": "requests",
                        "param": None,
                        "code": "rate_limit_exceeded",
                    }
                },
            )
            reply.headers.append(("Retry-After", "0"))
            return reply
    try:
        body = json.loads(request.body)
    except ValueError:
        return _error(flavor, 400, "We could not parse the JSON body of your request.")
    problem = _validate(body, flavor)
    if problem is not None:
        if flavor.drop_on_invalid:
            return Reply(DROP_STATUS)
        if flavor.stream_errors_in_band and isinstance(body, dict) and body.get("stream") is True:
            _status, error = envelope(*problem)
            headers = [("Content-Type", flavor.sse_content_type), *flavor.extra_headers]
            return Reply(200, headers, default_sse([json.dumps(error), "[DONE]"]))
        return _error(flavor, *problem)
    refused = _refusal(body, flavor)
    if refused is not None:
        return _error(flavor, *refused)
    model = body.get("model")
    if isinstance(model, str) and model not in flavor.models and flavor.unknown_model != "answer":
        return _error(flavor, flavor.unknown_model, flavor.unknown_model_message(model), "model")
    rng = random.Random()
    n = body.get("n", 1) if flavor.n in ("honour",) else 1
    top = None
    if body.get("logprobs") and flavor.logprobs == "honour":
        top = body.get("top_logprobs") or 0
    if flavor.stream_ignores_stop and body.get("stream") is True:
        body = {k: v for k, v in body.items() if k != "stop"}
    gens = [_generate(body, flavor, rng, top) for _ in range(n)]
    if body.get("stream") is True:
        docs: list[Doc | str] = list(chunk_docs(flavor, body, gens))
        if flavor.chunks_hook is not None:
            docs = flavor.chunks_hook([d for d in docs if isinstance(d, dict)], body)
        payloads = [d if isinstance(d, str) else json.dumps(d) for d in docs] + ["[DONE]"]
        if request.header("x-conformance-midstream-error") and flavor.midstream != "ignore":
            payloads = payloads[:3] + _MIDSTREAM[flavor.midstream]
        encode = flavor.sse_encode or default_sse
        headers = [
            ("Content-Type", flavor.sse_content_type),
            ("Cache-Control", "no-cache"),
            *flavor.extra_headers,
        ]
        reply = Reply(200, headers, encode(payloads), framing=flavor.framing)
    else:
        doc = completion_doc(flavor, body, gens)
        if flavor.completion_hook is not None:
            doc = flavor.completion_hook(doc, body)
        reply = _json_reply(flavor, 200, doc)
    if flavor.reply_hook is not None:
        reply = flavor.reply_hook(request, body, reply)
    return reply


__all__ += [
    "STALL",
    "Pause",
    "chunk_docs",
    "completion_doc",
    "default_sse",
    "envelope",
    "model_object",
]
