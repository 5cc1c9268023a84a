"""The red-team servers: correct-but-different ones and broken ones the planted faults lack.

Each :class:`Case` is served under ``/s/<name>`` by :func:`serve_catalog`. A correct case
must get no failed or errored check; a broken case must get each of its ``trips`` check
ids failed or warned. ``only`` narrows the run to the checks that matter (faster),
``timeout`` shortens the wire timeout (stall cases).
"""

from __future__ import annotations

import contextlib
import copy
import gzip
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from tests.redteam.openai_like import (
    KEY,
    Flavor,
    default_sse,
    envelope,
    handle_openai,
    model_object,
)
from tests.redteam.server import STALL, Part, Reply, Request, serve
from tests.redteam.wetro_like import WKEY, WetroFlavor, handle_wetro

__all__ = ["CASES", "Case", "serve_catalog"]

Doc = dict[str, Any]


@dataclass(frozen=True)
class Case:
    """One fake server and what the harness must say about it."""

    name: str
    flavor: Flavor | WetroFlavor
    #: empty: a correct server; else the check ids that must fail or warn
    trips: tuple[str, ...] = ()
    only: str | None = None
    timeout: float = 5.0
    why: str = ""

    @property
    def provider(self) -> str:
        return "wetrocloud" if isinstance(self.flavor, WetroFlavor) else "openai"

    @property
    def key(self) -> str:
        return WKEY if isinstance(self.flavor, WetroFlavor) else KEY

    @property
    def correct(self) -> bool:
        return not self.trips


# --------------------------------------------------------------------------- hooks


def _each_chunk(fn: Callable[[Doc], Doc | None]) -> Callable[[list[Doc], Doc], list[Doc | str]]:
    def hook(chunks: list[Doc], body: Doc) -> list[Doc | str]:
        out: list[Doc | str] = []
        for c in chunks:
            r = fn(copy.deepcopy(c))
            if r is not None:
                out.append(r)
        return out

    return hook


def _choices(doc: Doc) -> list[Doc]:
    return [c for c in doc.get("choices") or [] if isinstance(c, dict)]


def _vllm_chunk(c: Doc) -> Doc:
    for ch in _choices(c):
        ch.setdefault("logprobs", None)
        ch["stop_reason"] = None
        if ch["delta"] == {}:
            ch["delta"] = {"content": ""}
    if c.get("usage"):
        c["usage"]["prompt_tokens_details"] = None
    return c


def _vllm_completion(doc: Doc, body: Doc) -> Doc:
    for ch in _choices(doc):
        ch["stop_reason"] = None
        ch["message"].update({"reasoning_content": None, "tool_calls": [], "function_call": None})
        ch["message"].setdefault("tool_calls", [])
    doc["usage"]["prompt_tokens_details"] = None
    doc.update(
        {
            "prompt_logprobs": None,
            "kv_transfer_params": None,
            "service_tier": None,
            "system_fingerprint": None,
        }
    )
    return doc


def _vllm_tool_completion(doc: Doc, body: Doc) -> Doc:
    had = [ch["message"].get("tool_calls") for ch in _choices(doc)]
    doc = _vllm_completion(doc, body)
    for ch, calls in zip(_choices(doc), had, strict=True):
        ch["message"]["tool_calls"] = calls or []
    return doc


def _vllm_error(status: int, message: str, param: str | None) -> tuple[int, Any]:
    return status, {
        "error": {"message": message, "type": "BadRequestError", "param": param, "code": status}
    }


_TIMINGS = {
    "prompt_n": 12,
    "prompt_ms": 10.5,
    "predicted_n": 5,
    "predicted_ms": 40.2,
    "predicted_per_second": 124.3,
}


def _llamacpp_chunk(c: Doc) -> Doc:
    c["system_fingerprint"] = "b4514-6c5bdb5d"
    if any(ch.get("finish_reason") for ch in _choices(c)) or c.get("usage"):
        c["timings"] = dict(_TIMINGS)
    return c


def _llamacpp_completion(doc: Doc, body: Doc) -> Doc:
    doc["system_fingerprint"] = "b4514-6c5bdb5d"
    doc["timings"] = dict(_TIMINGS)
    for ch in _choices(doc):
        ch["message"].pop("refusal", None)
    return doc


def _llamacpp_error(status: int, message: str, param: str | None) -> tuple[int, Any]:
    kind = "authentication_error" if status == 401 else "invalid_request_error"
    return status, {"error": {"code": status, "message": message, "type": kind}}


def _ollama_chunk(c: Doc) -> Doc:
    c["system_fingerprint"] = "fp_ollama"
    return c


def _ollama_completion(doc: Doc, body: Doc) -> Doc:
    doc["system_fingerprint"] = "fp_ollama"
    for ch in _choices(doc):
        ch.pop("logprobs", None)
        ch["message"].pop("refusal", None)
    return doc


_FILTER = {
    k: {"filtered": False, "severity": "safe"} for k in ("hate", "self_harm", "sexual", "violence")
}


def _azure_chunks(real: bool) -> Callable[[list[Doc], Doc], list[Doc | str]]:
    def hook(chunks: list[Doc], body: Doc) -> list[Doc | str]:
        first = chunks[0]
        prompt: Doc = {
            "id": first["id"],
            "object": first["object"],
            "created": first["created"],
            "model": first["model"],
            "choices": [],
            "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": _FILTER}],
        }
        if real:
            prompt.update({"id": "", "object": "", "created": 0, "model": ""})
        out: list[Doc | str] = [prompt]
        for c in chunks:
            c = copy.deepcopy(c)
            c["system_fingerprint"] = "fp_azure01"
            for ch in _choices(c):
                ch["content_filter_results"] = {} if "role" in ch["delta"] else dict(_FILTER)
                ch.setdefault("logprobs", None)
            out.append(c)
        if real:
            finish_at = max(
                i
                for i, c in enumerate(out)
                if isinstance(c, dict) and any(ch.get("finish_reason") for ch in _choices(c))
            )
            annotation = {
                "id": "",
                "object": "",
                "created": 0,
                "model": "",
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": None,
                        "content_filter_results": _FILTER,
                        "content_filter_offsets": {
                            "check_offset": 0,
                            "start_offset": 0,
                            "end_offset": 40,
                        },
                    }
                ],
            }
            out.insert(finish_at + 1, annotation)
        return out

    return hook


def _azure_completion(doc: Doc, body: Doc) -> Doc:
    doc["prompt_filter_results"] = [{"prompt_index": 0, "content_filter_results": _FILTER}]
    for ch in _choices(doc):
        ch["content_filter_results"] = dict(_FILTER)
    doc["system_fingerprint"] = "fp_azure01"
    return doc


def _openai_chunk(c: Doc) -> Doc:
    c["service_tier"] = "default"
    c["system_fingerprint"] = "fp_560af6e559"
    c["obfuscation"] = "qX3" if c.get("choices") else "Zp"
    for ch in _choices(c):
        ch.setdefault("logprobs", None)
        if "role" in ch["delta"]:
            ch["delta"]["refusal"] = None
    if c.get("usage"):
        c["usage"]["prompt_tokens_details"] = {"cached_tokens": 0, "audio_tokens": 0}
        c["usage"]["completion_tokens_details"] = {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        }
    return c


def _openai_completion(doc: Doc, body: Doc) -> Doc:
    doc["service_tier"] = "default"
    doc["system_fingerprint"] = "fp_560af6e559"
    for ch in _choices(doc):
        ch["message"]["annotations"] = []
    doc["usage"]["prompt_tokens_details"] = {"cached_tokens": 0, "audio_tokens": 0}
    doc["usage"]["completion_tokens_details"] = {
        "reasoning_tokens": 0,
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    }
    return doc


def _reasoning_chunks(chunks: list[Doc], body: Doc) -> list[Doc | str]:
    out: list[Doc | str] = []
    for c in chunks:
        out.append(c)
        for ch in _choices(c):
            if ch["delta"].get("role"):
                thought = copy.deepcopy(c)
                thought["choices"] = [
                    {
                        "index": ch["index"],
                        "finish_reason": None,
                        "delta": {"content": None, "reasoning_content": "Thinking."},
                    }
                ]
                out.append(thought)
    return out


def _reasoning_completion(doc: Doc, body: Doc) -> Doc:
    for ch in _choices(doc):
        ch["message"]["reasoning_content"] = "Thinking."
    return doc


# --------------------------------------------------------------------------- SSE encoders


def _sse(
    *,
    sep: str = "\n",
    prefix: str = "data: ",
    before: Callable[[int], str] = lambda i: "",
    after_fields: str = "",
    head: str = "",
    bom: bool = False,
    coalesce: bool = False,
    bytewise: bool = False,
) -> Callable[[list[str]], list[Part]]:
    def encode(payloads: list[str]) -> list[Part]:
        events = [
            before(i) + f"{prefix}{p}{sep}" + after_fields.format(i=i) + sep
            for i, p in enumerate(payloads)
        ]
        text = head + "".join(events)
        data = (b"\xef\xbb\xbf" if bom else b"") + text.encode()
        if coalesce:
            return [data]
        if bytewise:
            return [data[i : i + 1] for i in range(len(data))]
        first = (b"\xef\xbb\xbf" if bom else b"") + (head + events[0]).encode()
        return [first, *(e.encode() for e in events[1:])]

    return encode


def _keepalive(i: int) -> str:
    return ": keep-alive\n\n" if i % 2 else ": ping\n"


def _sse_with_payload_edit(
    edit: Callable[[list[str]], list[str]],
) -> Callable[[list[str]], list[Part]]:
    def encode(payloads: list[str]) -> list[Part]:
        return default_sse(edit(list(payloads)))

    return encode


# --------------------------------------------------------------------------- broken hooks


def _stall_after(n: int) -> Callable[[list[str]], list[Part]]:
    def encode(payloads: list[str]) -> list[Part]:
        return [*default_sse(payloads[:n]), STALL]

    return encode


def _nan_completion(doc: Doc, body: Doc) -> Doc:
    doc["choices"][0]["logprobs"] = {
        "content": [{"token": "Once", "logprob": math.nan, "bytes": None, "top_logprobs": []}],
        "refusal": None,
    }
    return doc


def _nan_chunk(c: Doc) -> Doc:
    for ch in _choices(c):
        if ch["delta"].get("content"):
            ch["logprobs"] = {
                "content": [
                    {
                        "token": ch["delta"]["content"],
                        "logprob": -math.inf,
                        "bytes": None,
                        "top_logprobs": [],
                    }
                ],
                "refusal": None,
            }
    return c


def _gzip_broken(request: Request, body: Doc, reply: Reply) -> Reply:
    reply.headers.append(("Content-Encoding", "gzip"))
    return reply


def _gzip_ok(request: Request, body: Doc, reply: Reply) -> Reply:
    data = b"".join(p for p in reply.parts if isinstance(p, bytes))
    reply.headers.append(("Content-Encoding", "gzip"))
    reply.parts = [gzip.compress(data)]
    return reply


def _error_200(status: int, message: str, param: str | None) -> tuple[int, Any]:
    if status == 401:
        return envelope(status, message, param)
    return 200, envelope(status, message, param)[1]


def _n_index0(doc: Doc, body: Doc | None = None) -> Doc:
    for ch in _choices(doc):
        ch["index"] = 0
    return doc


def _max_plus_one(doc: Doc, body: Doc) -> Doc:
    cap = body.get("max_completion_tokens", body.get("max_tokens"))
    ch = doc["choices"][0]
    if isinstance(cap, int) and ch["finish_reason"] == "length":
        ch["message"]["content"] += " extra"
        doc["usage"]["completion_tokens"] += 1
        doc["usage"]["total_tokens"] += 1
    return doc


def _max_plus_one_chunks(chunks: list[Doc], body: Doc) -> list[Doc | str]:
    cap = body.get("max_completion_tokens", body.get("max_tokens"))
    out: list[Doc | str] = []
    for c in chunks:
        if isinstance(cap, int) and any(ch.get("finish_reason") == "length" for ch in _choices(c)):
            extra = copy.deepcopy(c)
            extra["choices"] = [{"index": 0, "delta": {"content": " extra"}, "finish_reason": None}]
            out.append(extra)
        if c.get("usage") and isinstance(cap, int):
            c = copy.deepcopy(c)
            c["usage"]["completion_tokens"] += 1
            c["usage"]["total_tokens"] += 1
        out.append(c)
    return out


def _stop_partial(chunks: list[Doc], body: Doc) -> list[Doc | str]:
    """Streamed, the first word of a stop string of several words is sent before the rest
    is matched (a detokeniser that flushes each word as soon as it is generated)."""
    stops = body.get("stop") or []
    stops = [stops] if isinstance(stops, str) else stops
    phrases = [s for s in stops if isinstance(s, str) and " " in s.strip()]
    if not phrases:
        return list(chunks)
    out: list[Doc | str] = []
    leaked = False
    for c in chunks:
        if not leaked and any(ch.get("finish_reason") for ch in _choices(c)):
            leak = copy.deepcopy(c)
            leak["choices"][0]["delta"] = {"content": " " + phrases[0].split()[0]}
            leak["choices"][0]["finish_reason"] = None
            out.append(leak)
            leaked = True
        out.append(c)
    return out


def _wrong_type(key: str, value: Any) -> Callable[[Doc], Doc]:
    def fn(c: Doc) -> Doc:
        c[key] = value
        return c

    return fn


def _usage_total_off(doc: Doc, body: Doc | None = None) -> Doc:
    if doc.get("usage"):
        doc["usage"]["total_tokens"] += 1
    return doc


def _done_twice(payloads: list[str]) -> list[str]:
    return [*payloads, "[DONE]"]


def _after_done(payloads: list[str]) -> list[str]:
    return [*payloads, payloads[-2]]


def _delta_missing(c: Doc) -> Doc:
    for ch in _choices(c):
        if ch.get("finish_reason"):
            ch.pop("delta", None)
    return c


def _role_model(c: Doc) -> Doc:
    for ch in _choices(c):
        if ch.get("delta", {}).get("role"):
            ch["delta"]["role"] = "model"
    return c


def _role_model_completion(doc: Doc, body: Doc) -> Doc:
    for ch in _choices(doc):
        ch["message"]["role"] = "model"
    return doc


def _finish(value: str) -> Callable[[Doc], Doc]:
    def fn(c: Doc) -> Doc:
        for ch in _choices(c):
            if ch.get("finish_reason"):
                ch["finish_reason"] = value
        return c

    return fn


def _finish_completion(value: str) -> Callable[[Doc, Doc], Doc]:
    def fn(doc: Doc, body: Doc) -> Doc:
        return _finish(value)(doc)

    return fn


def _content_after_finish(chunks: list[Doc], body: Doc) -> list[Doc | str]:
    out: list[Doc | str] = list(chunks)
    finish = max(
        i for i, c in enumerate(chunks) if any(ch.get("finish_reason") for ch in _choices(c))
    )
    late = copy.deepcopy(chunks[finish])
    late["choices"] = [{"index": 0, "delta": {"content": " late"}, "finish_reason": None}]
    out.insert(finish + 1, late)
    return out


def _usage_not_asked(chunks: list[Doc], body: Doc) -> list[Doc | str]:
    if body.get("stream_options"):
        return list(chunks)
    last = copy.deepcopy(chunks[-1])
    last["choices"] = []
    last["usage"] = {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}
    return [*chunks, last]


def _ollama_real_chunk(c: Doc) -> Doc:
    c["system_fingerprint"] = "fp_ollama"
    for ch in _choices(c):
        ch["delta"]["role"] = "assistant"
        ch["delta"].setdefault("content", "")
    return c


def _tgi_chunk(c: Doc) -> Doc:
    c["id"] = ""
    c["system_fingerprint"] = "2.0.4-native"
    for ch in _choices(c):
        ch["delta"]["role"] = "assistant"
        ch.setdefault("logprobs", None)
        if ch.get("finish_reason") == "stop":
            ch["finish_reason"] = "eos_token"
    return c


def _tgi_completion(doc: Doc, body: Doc) -> Doc:
    doc["id"] = ""
    for ch in _choices(doc):
        if ch.get("finish_reason") == "stop":
            ch["finish_reason"] = "eos_token"
    return doc


def _http_error_html(status: int, message: str, param: str | None) -> tuple[int, Any]:
    return (502 if status != 401 else 401), b"<html><body><h1>502 Bad Gateway</h1></body></html>"


def _auth_400(status: int, message: str, param: str | None) -> tuple[int, Any]:
    return envelope(400 if status == 401 else status, message, param)


# --------------------------------------------------------------------------- model lists


def _vllm_models(flavor: Flavor) -> Doc:
    """vLLM's /v1/models: root, parent, max_model_len and a permission list per entry."""
    data = []
    for name in flavor.models:
        entry = model_object(flavor, name) | {"owned_by": "vllm", "root": name, "parent": None}
        entry["max_model_len"] = 32768
        entry["permission"] = [
            {"id": "modelperm-9f1c", "object": "model_permission", "created": flavor.created,
             "allow_create_engine": False, "allow_sampling": True, "allow_logprobs": True,
             "allow_search_indices": False, "allow_view": True, "allow_fine_tuning": False,
             "organization": "*", "group": None, "is_blocking": False}
        ]  # fmt: skip
        data.append(entry)
    return {"object": "list", "data": data}


def _llamacpp_models(flavor: Flavor) -> Doc:
    """llama.cpp's /v1/models: an Ollama-style ``models`` array beside the OpenAI ``data``,
    ``owned_by: "llamacpp"`` and a ``meta`` object per entry."""
    return {
        "models": [
            {"name": n, "model": n, "modified_at": "", "size": "", "digest": "", "type": "model",
             "description": "", "tags": [""], "capabilities": ["completion"], "parameters": "",
             "details": {"parent_model": "", "format": "gguf", "family": "", "families": [""],
                         "parameter_size": "", "quantization_level": ""}}
            for n in flavor.models
        ],
        "object": "list",
        "data": [
            model_object(flavor, n) | {"owned_by": "llamacpp", "meta": {
                "vocab_type": 2, "n_vocab": 128256, "n_ctx_train": 131072, "n_embd": 2048,
                "n_params": 1235814432, "size": 799862912}}
            for n in flavor.models
        ],
    }  # fmt: skip


def _ollama_models(flavor: Flavor) -> Doc:
    """Ollama's OpenAI endpoint: ``owned_by: "library"``, names with a tag."""
    return {
        "object": "list",
        "data": [model_object(flavor, n) | {"owned_by": "library"} for n in flavor.models],
    }


def _bare_array(flavor: Flavor) -> Any:
    """Together AI's /v1/models: a bare JSON array of model objects."""
    return [
        model_object(flavor, n) | {"type": "chat", "display_name": n, "context_length": 8192}
        for n in flavor.models
    ]


def _ollama_native(flavor: Flavor) -> Doc:
    """Ollama's native /api/tags list, served where the OpenAI list belongs."""
    return {
        "models": [
            {"name": n, "model": n, "modified_at": "2024-11-14T10:00:00Z", "size": 4920753328,
             "digest": "a80c4f17acd5", "details": {"format": "gguf", "family": "llama"}}
            for n in flavor.models
        ]
    }  # fmt: skip


def _single_model(flavor: Flavor) -> Doc:
    """One model object instead of a list (a server describing the one model it serves)."""
    return model_object(flavor, flavor.models[0])


def _no_created(flavor: Flavor) -> Doc:
    """Entries without ``created``."""
    data = [{"id": n, "object": "model", "owned_by": "rt"} for n in flavor.models]
    return {"object": "list", "data": data}


def _models_retrieve_list(flavor: Flavor, wanted: str) -> Doc:
    return {"object": "list", "data": [model_object(flavor, n) for n in flavor.models]}


# --------------------------------------------------------------------------- the cases

_STREAM_ONLY = "sse.*,stream.*,schema.*,sdk.*,robustness.*"

OPENAI_CORRECT: list[Case] = [
    Case("strict", Flavor("strict")),
    Case(
        "vllm",
        Flavor(
            "vllm",
            model_required=False,
            role_chunk_content="empty",
            finish_on_last_content=True,
            error_body=_vllm_error,
            tools="honour",
            sampling_ignores_seed=True,
            chunks_hook=_each_chunk(_vllm_chunk),
            completion_hook=_vllm_tool_completion,
            models=("gpt-4o-mini",),
            models_body=_vllm_models,
            retrieve=False,
        ),
        why="vLLM: role chunk with content '', finish on the last content chunk, logprobs null, "
        "stop_reason, prompt_tokens_details null, int error code, model optional, unseeded; "
        "its model list with root/max_model_len/permission, no /v1/models/<id> route (warned)",
    ),
    Case(
        "llamacpp",
        Flavor(
            "llamacpp",
            id_prefix="gen-7Hq",
            model_out="gpt-3.5-turbo",
            role_chunk_content="null",
            n="refuse400",
            tools="refuse400",
            error_body=_llamacpp_error,
            chunks_hook=_each_chunk(_llamacpp_chunk),
            completion_hook=_llamacpp_completion,
            models=("gpt-4o-mini",),
            models_body=_llamacpp_models,
            retrieve=False,
            unknown_model="answer",
        ),
        why="llama.cpp server: timings, system_fingerprint b4514-..., id without chatcmpl-, "
        "model echoed as gpt-3.5-turbo, n>1 refused, error without param, int code; its model "
        "list with a `models` array and `meta`; any model name served by its one model "
        "(warned), no /v1/models/<id> (warned)",
    ),
    Case(
        "ollama",
        Flavor(
            "ollama",
            role_with_content=True,
            n="refuse400",
            logprobs="refuse400",
            chunks_hook=_each_chunk(_ollama_chunk),
            completion_hook=_ollama_completion,
            models=("gpt-4o-mini", "llama3.2:latest"),
            models_body=_ollama_models,
            unknown_model_message=lambda m: f'model "{m}" not found, try pulling it first',
        ),
        why="Ollama-like: fp_ollama, no logprobs/refusal keys, role with first content; "
        "owned_by library, 404 'model not found, try pulling it first'",
    ),
    Case(
        "azure",
        Flavor(
            "azure",
            chunks_hook=_azure_chunks(real=False),
            completion_hook=_azure_completion,
            usage_null_on_chunks=True,
        ),
        why="Azure-like: first chunk with choices [] and prompt_filter_results, "
        "content_filter_results on every choice",
    ),
    Case(
        "openai",
        Flavor(
            "openai",
            model_out="gpt-4o-mini-2024-07-18",
            usage_null_on_chunks=True,
            sampling_ignores_seed=True,
            chunks_hook=_each_chunk(_openai_chunk),
            completion_hook=_openai_completion,
        ),
        why="OpenAI itself: dated model snapshot, service_tier, obfuscation, usage details, "
        "annotations, usage null on ordinary chunks",
    ),
    Case(
        "reasoning",
        Flavor("reasoning", chunks_hook=_reasoning_chunks, completion_hook=_reasoning_completion),
        why="a reasoning model (DeepSeek/vLLM parser): reasoning_content deltas with content "
        "null before the answer",
    ),
    Case(
        "sse_keepalive",
        Flavor("sse_keepalive", sse_encode=_sse(before=_keepalive, head=": connected\n\n")),
        why="`:` comment lines and keep-alive blocks",
    ),
    Case(
        "sse_event_message",
        Flavor("sse_event_message", sse_encode=_sse(before=lambda i: "event: message\n")),
    ),
    Case("sse_nospace", Flavor("sse_nospace", sse_encode=_sse(prefix="data:"))),
    Case(
        "sse_crlf_starlette",
        Flavor(
            "sse_crlf_starlette",
            sse_encode=_sse(
                sep="\r\n",
                before=lambda i: ": ping - 2024-01-01 00:00:00\r\n\r\n" if i == 3 else "",
            ),
            sse_content_type="text/event-stream; charset=utf-8",
        ),
        why="sse-starlette: CRLF line ends, ping comments, charset in the Content-Type",
    ),
    Case("sse_cr", Flavor("sse_cr", sse_encode=_sse(sep="\r"))),
    Case(
        "sse_retry",
        Flavor("sse_retry", sse_encode=_sse(before=lambda i: "retry: 3000\n" if i == 0 else "")),
    ),
    Case("sse_id", Flavor("sse_id", sse_encode=_sse(after_fields="id: {i}\n"))),
    Case("sse_close_delimited", Flavor("sse_close_delimited", framing="close")),
    Case("sse_content_length", Flavor("sse_content_length", framing="length")),
    Case("sse_coalesced", Flavor("sse_coalesced", sse_encode=_sse(coalesce=True))),
    Case(
        "sse_bytewise",
        Flavor("sse_bytewise", sse_encode=_sse(bytewise=True)),
        only=_STREAM_ONLY,
        why="one byte per write",
    ),
    Case(
        "gzip",
        Flavor("gzip", reply_hook=_gzip_ok, framing="length"),
        why="Content-Encoding: gzip on every answer (httpx decodes)",
    ),
    Case(
        "errors_422",
        Flavor(
            "errors_422", error_body=lambda s, m, p: (422 if s == 400 else s, envelope(s, m, p)[1])
        ),
    ),
    Case(
        "refuse_features",
        Flavor(
            "refuse_features",
            n="refuse400",
            logprobs="refuse400",
            tools="refuse400",
            response_format="refuse400",
            stream_options="refuse400",
        ),
        why="every optional feature refused with a clean 400 (stream_options too)",
    ),
    Case("nondeterministic", Flavor("nondeterministic", sampling_ignores_seed=True)),
    Case(
        "short_answers",
        Flavor("short_answers", natural_length=3),
        why="the model stops on its own before max_tokens",
    ),
    Case(
        "error_code_variants",
        Flavor(
            "error_code_variants",
            error_body=lambda s, m, p: (
                s,
                {
                    "error": {
                        "message": m,
                        "type": "invalid_request_error",
                        "param": None,
                        "code": 400 if s != 401 else "invalid_api_key",
                    }
                },
            ),
        ),
    ),
]


def _litellm_chunk(c: Doc) -> Doc:
    c.update({"citations": None, "provider_specific_fields": None})
    for ch in _choices(c):
        delta = ch["delta"]
        for key in ("role", "content", "function_call", "tool_calls", "audio", "refusal"):
            delta.setdefault(key, None)
    return c


def _multiline_data(payloads: list[str]) -> list[Part]:
    out: list[Part] = []
    for p in payloads:
        lines = p.replace(', "', ',\n"', 2).split("\n")
        out.append(("".join(f"data: {line}\n" for line in lines) + "\n").encode())
    return out


OPENAI_CORRECT += [
    Case(
        "litellm",
        Flavor(
            "litellm",
            chunks_hook=_each_chunk(_litellm_chunk),
            unknown_model=400,
            unknown_model_message=lambda m: (
                f"Invalid model name passed in model={m}. Call "
                "`/v1/models` to view available models for your key."
            ),
        ),
        why="LiteLLM proxy: every delta key present, null when unused (role null after the "
        "first), citations / provider_specific_fields null; an unknown model is a 400",
    ),
    Case(
        "sse_event_named",
        Flavor("sse_event_named", sse_encode=_sse(before=lambda i: "event: completion.chunk\n")),
        why="named events (the SDK ignores event names other than error and thread.*)",
    ),
    Case(
        "sse_multiline_data",
        Flavor("sse_multiline_data", sse_encode=_multiline_data),
        why="one JSON document split over several data: lines (joined with a newline)",
    ),
    Case(
        "rate_limited",
        Flavor("rate_limited", rate_limit_every=4),
        why="every 4th request answered 429 with Retry-After: 0 (the harness resends it)",
    ),
    Case(
        "midstream_envelope",
        Flavor("midstream_envelope", midstream="envelope"),
        why="a mid-stream failure (asked for with the reference backend's header) sent as "
        "an event carrying the error envelope, as vLLM does",
    ),
]


def _groq_chunk(c: Doc) -> Doc:
    c["x_groq"] = {"id": "req_01jrt"}
    c["service_tier"] = "on_demand"
    c["system_fingerprint"] = "fp_3f3b593e33"
    if c.get("usage"):
        c["usage"].update(
            {"queue_time": 0.02, "prompt_time": 0.003, "completion_time": 0.04, "total_time": 0.043}
        )
    return c


def _groq_completion(doc: Doc, body: Doc) -> Doc:
    doc = _groq_chunk(doc)
    doc["usage"].update(
        {"queue_time": 0.02, "prompt_time": 0.003, "completion_time": 0.04, "total_time": 0.043}
    )
    return doc


OPENAI_CORRECT += [
    Case(
        "groq",
        Flavor("groq", chunks_hook=_each_chunk(_groq_chunk), completion_hook=_groq_completion),
        why="Groq: service_tier 'on_demand' (a value the SDK's Literal does not list), "
        "x_groq, timing floats in usage",
    ),
]

OPENAI_CORRECT += [
    Case(
        "open_server",
        Flavor("open_server", require_key=False),
        only="auth.*,robustness.*",
        why="no authentication at all (vLLM / llama.cpp without --api-key), checked with a "
        "key configured: the auth checks may warn, not fail",
    ),
]

OPENAI_DEBATABLE: list[Case] = [
    Case(
        "azure_real",
        Flavor(
            "azure_real",
            chunks_hook=_azure_chunks(real=True),
            completion_hook=_azure_completion,
            usage_null_on_chunks=True,
        ),
        why="the real Azure OpenAI service: annotation chunks with id '', object '', "
        "created 0, model '' (prompt filter first, asynchronous-filter offsets after the "
        "finish chunk, without delta); the official SDK's stream helper skips them",
    ),
    Case(
        "refuse_501",
        Flavor(
            "refuse_501",
            n="refuse501",
            logprobs="refuse501",
            tools="refuse501",
            response_format="refuse501",
        ),
    ),
]

OPENAI_BROKEN: list[Case] = [
    Case(
        "done_twice",
        Flavor("done_twice", sse_encode=_sse_with_payload_edit(_done_twice)),
        trips=("stream.done_sentinel",),
        only=_STREAM_ONLY,
    ),
    Case(
        "data_after_done",
        Flavor("data_after_done", sse_encode=_sse_with_payload_edit(_after_done)),
        trips=("stream.done_sentinel",),
        only=_STREAM_ONLY,
    ),
    Case(
        "finish_end_turn",
        Flavor(
            "finish_end_turn",
            chunks_hook=_each_chunk(_finish("end_turn")),
            completion_hook=_finish_completion("end_turn"),
        ),
        trips=("schema.finish_reason_enum",),
        only=_STREAM_ONLY,
    ),
    Case(
        "created_float",
        Flavor(
            "created_float",
            chunks_hook=_each_chunk(_wrong_type("created", 1731000000.25)),
            completion_hook=lambda d, b: _wrong_type("created", 1731000000.25)(d),
        ),
        trips=("schema.created_integer",),
        only=_STREAM_ONLY,
    ),
    Case(
        "created_ms_float",
        Flavor(
            "created_ms_float",
            chunks_hook=_each_chunk(_wrong_type("created", 1731000000123.0)),
            completion_hook=lambda d, b: _wrong_type("created", 1731000000123.0)(d),
        ),
        trips=("schema.created_integer",),
        only=_STREAM_ONLY,
    ),
    Case(
        "created_ms_int",
        Flavor("created_ms_int", created=1731000000123),
        trips=("schema.created_integer",),
        only=_STREAM_ONLY,
        why="created in milliseconds (an integer, but year 56000)",
    ),
    Case(
        "total_off_by_one",
        Flavor(
            "total_off_by_one",
            completion_hook=_usage_total_off,
            chunks_hook=_each_chunk(_usage_total_off),
        ),
        trips=("schema.usage_total",),
        only="schema.*,semantics.usage_consistent",
    ),
    Case(
        "delta_missing",
        Flavor("delta_missing", chunks_hook=_each_chunk(_delta_missing)),
        trips=("schema.chunk",),
        only=_STREAM_ONLY,
    ),
    Case(
        "role_model",
        Flavor(
            "role_model",
            chunks_hook=_each_chunk(_role_model),
            completion_hook=_role_model_completion,
        ),
        trips=("stream.role_first", "schema.message_role"),
        only=_STREAM_ONLY,
    ),
    Case(
        "error_200",
        Flavor("error_200", error_body=_error_200),
        trips=("errors.invalid_refused",),
        only="errors.*",
        why="invalid requests answered 200 with an error envelope",
    ),
    Case(
        "n_both_index0",
        Flavor("n_both_index0", completion_hook=_n_index0, chunks_hook=_each_chunk(_n_index0)),
        trips=("semantics.n_choices",),
        only="semantics.n_choices,schema.*",
    ),
    Case(
        "max_tokens_plus_one",
        Flavor(
            "max_tokens_plus_one", completion_hook=_max_plus_one, chunks_hook=_max_plus_one_chunks
        ),
        trips=("semantics.max_tokens",),
        only="semantics.*",
    ),
    Case(
        "stop_partial",
        Flavor("stop_partial", chunks_hook=_stop_partial),
        trips=("semantics.stop_phrase",),
        only="semantics.stop_*",
    ),
    Case(
        "stall_after_3",
        Flavor("stall_after_3", sse_encode=_stall_after(3)),
        trips=("robustness.no_hang",),
        only="robustness.*,sse.*,stream.*",
        timeout=1.5,
    ),
    Case(
        "gzip_broken",
        Flavor("gzip_broken", reply_hook=_gzip_broken, framing="length"),
        trips=("robustness.content_encoding",),
        only="robustness.*,schema.*,sse.*",
    ),
    Case(
        "nan_json",
        Flavor("nan_json", completion_hook=_nan_completion, chunks_hook=_each_chunk(_nan_chunk)),
        trips=("schema.completion_json", "sse.data_is_json"),
        only=_STREAM_ONLY,
        why="NaN / -Infinity are not JSON (RFC 8259): JSON.parse and the Node SDK throw",
    ),
    Case(
        "content_after_finish",
        Flavor("content_after_finish", chunks_hook=_content_after_finish),
        trips=("stream.finish_reason_once",),
        only=_STREAM_ONLY,
    ),
    Case(
        "usage_not_asked",
        Flavor("usage_not_asked", chunks_hook=_usage_not_asked),
        trips=("stream.usage_only_on_usage_chunk",),
        only=_STREAM_ONLY,
    ),
    Case(
        "ollama_real",
        Flavor(
            "ollama_real",
            n="ignore",
            chunks_hook=_each_chunk(_ollama_real_chunk),
            completion_hook=_ollama_completion,
        ),
        trips=("stream.role_once", "semantics.n_choices"),
        why="Ollama: role in every delta, n silently ignored",
    ),
    Case(
        "tgi",
        Flavor(
            "tgi",
            natural_length=6,
            chunks_hook=_each_chunk(_tgi_chunk),
            completion_hook=_tgi_completion,
        ),
        trips=("stream.role_once", "schema.finish_reason_enum", "schema.chunk_id_stable"),
        only=_STREAM_ONLY,
        why="TGI: id '', role in every delta, finish_reason eos_token",
    ),
    Case(
        "errors_html_502",
        Flavor("errors_html_502", error_body=_http_error_html),
        trips=("errors.no_server_error",),
        only="errors.*",
    ),
    Case(
        "auth_400",
        Flavor("auth_400", error_body=_auth_400),
        trips=("auth.wrong_key_refused", "auth.missing_key_refused"),
        only="auth.*",
    ),
    Case(
        "wrong_key_ok",
        Flavor("wrong_key_ok", accept_any_key=True),
        trips=("auth.wrong_key_refused",),
        only="auth.*",
    ),
    Case(
        "sse_json_ctype",
        Flavor("sse_json_ctype", sse_content_type="application/json"),
        trips=("sse.content_type",),
        only=_STREAM_ONLY,
    ),
    Case(
        "sse_bom_crlf",
        Flavor("sse_bom_crlf", sse_encode=_sse(sep="\r\n", bom=True)),
        trips=("sse.no_bom",),
        only=_STREAM_ONLY,
    ),
]


def _trailing_garbage(request: Request, body: Doc, reply: Reply) -> Reply:
    if body.get("stream") is not True:
        reply.parts = [*reply.parts, b'{"id": "again"}']
    return reply


def _done_as_string(payloads: list[str]) -> list[str]:
    return [*payloads[:-1], json.dumps("[DONE]")]


def _auth_html(status: int, message: str, param: str | None) -> tuple[int, Any]:
    if status == 401:
        return 401, b"<html><head><title>401 Authorization Required</title></head></html>"
    return envelope(status, message, param)


OPENAI_BROKEN += [
    Case(
        "midstream_flat",
        Flavor("midstream_flat", midstream="flat"),
        trips=("errors.stream_error_event",),
        only="errors.stream_error_event",
        why="mid-stream error as the older flat vLLM ErrorResponse (no error object)",
    ),
    Case(
        "midstream_plain",
        Flavor("midstream_plain", midstream="plain"),
        trips=("errors.stream_error_event",),
        only="errors.stream_error_event",
    ),
    Case(
        "auth_html",
        Flavor("auth_html", error_body=_auth_html),
        trips=("auth.error_envelope",),
        only="auth.*",
    ),
    Case(
        "json_trailing_garbage",
        Flavor("json_trailing_garbage", reply_hook=_trailing_garbage, framing="length"),
        trips=("schema.completion_json",),
        only="schema.*,sdk.*,robustness.*",
    ),
    Case(
        "done_as_json_string",
        Flavor("done_as_json_string", sse_encode=_sse_with_payload_edit(_done_as_string)),
        trips=("stream.done_sentinel",),
        only=_STREAM_ONLY,
    ),
]


def _interleave(chunks: list[Doc], body: Doc) -> list[Doc | str]:
    """Round-robin the choices of an n > 1 stream (as vLLM and OpenAI send them)."""
    by_index: dict[int, list[Doc]] = {}
    rest: list[Doc] = []
    for c in chunks:
        chs = _choices(c)
        if len(chs) == 1:
            by_index.setdefault(chs[0]["index"], []).append(c)
        else:
            rest.append(c)
    out: list[Doc | str] = []
    queues = [by_index[i] for i in sorted(by_index)]
    while any(queues):
        for q in queues:
            if q:
                out.append(q.pop(0))
    return [*out, *rest]


_UNICODE = " caf\u00e9 \u00fcber \U0001f600 \u4f60\u597d"


def _unicode_completion(doc: Doc, body: Doc) -> Doc:
    for ch in _choices(doc):
        if ch["message"].get("content") and ch["finish_reason"] == "stop":
            ch["message"]["content"] += _UNICODE
    return doc


def _unicode_chunks(chunks: list[Doc], body: Doc) -> list[Doc | str]:
    out: list[Doc | str] = []
    for c in chunks:
        if any(ch.get("finish_reason") == "stop" for ch in _choices(c)):
            extra = copy.deepcopy(c)
            extra["choices"] = [{"index": 0, "delta": {"content": _UNICODE}, "finish_reason": None}]
            out.append(extra)
        out.append(c)
    return out


def _hold_after_done(payloads: list[str]) -> list[Part]:
    return [*default_sse(payloads), STALL]


def _finish_empty(c: Doc) -> Doc:
    for ch in _choices(c):
        if ch.get("finish_reason") is None:
            ch["finish_reason"] = ""
    return c


def _delta_text(c: Doc) -> Doc:
    for ch in _choices(c):
        if "content" in ch["delta"]:
            ch["delta"]["text"] = ch["delta"].pop("content") or ""
    return c


def _sse_id_keepalive(payloads: list[str]) -> list[Part]:
    return [f"id: {i}\ndata: {p}\n\n: keep-alive\n\n".encode() for i, p in enumerate(payloads)]


OPENAI_CORRECT += [
    Case(
        "vllm_interleaved",
        Flavor("vllm_interleaved", chunks_hook=_interleave, usage_null_on_chunks=True),
        only="semantics.n_choices,stream.*,schema.*,sdk.*",
        why="n > 1 streamed with the choices interleaved chunk by chunk",
    ),
    Case(
        "unicode_bytewise",
        Flavor(
            "unicode_bytewise",
            completion_hook=_unicode_completion,
            chunks_hook=_unicode_chunks,
            sse_encode=_sse(bytewise=True),
        ),
        only=_STREAM_ONLY + ",semantics.stream_matches_plain",
        why="accents, emoji and CJK in the text, sent one byte per write (UTF-8 split)",
    ),
    Case(
        "llamacpp_charset",
        Flavor("llamacpp_charset", json_content_type="application/json; charset=utf-8"),
        only="schema.*,sdk.*,robustness.*,errors.*",
    ),
]

OPENAI_BROKEN += [
    Case(
        "sse_retry_alone",
        Flavor("sse_retry_alone", sse_encode=_sse(head="retry: 3000\n\n")),
        trips=("sse.events_have_data", "sdk.stream_chunks"),
        only=_STREAM_ONLY,
        why="a `retry:` field in a block of its own: valid WHATWG (no event is dispatched) "
        "but the official SDK dispatches an empty event and raises JSONDecodeError",
    ),
    Case(
        "sse_id_keepalive",
        Flavor("sse_id_keepalive", sse_encode=_sse_id_keepalive),
        trips=("sdk.stream_chunks",),
        only=_STREAM_ONLY,
        why="id: fields then comment keep-alive blocks: once an id is set the official SDK "
        "dispatches every blank line as an empty event and raises JSONDecodeError",
    ),
    Case(
        "hold_after_done",
        Flavor("hold_after_done", sse_encode=_hold_after_done),
        trips=("robustness.no_hang",),
        only="robustness.*,stream.*,sse.*",
        timeout=1.5,
        why="[DONE] sent but the response never ends",
    ),
    Case(
        "finish_empty_string",
        Flavor("finish_empty_string", chunks_hook=_each_chunk(_finish_empty)),
        trips=("schema.finish_reason_enum", "stream.finish_reason_once"),
        only=_STREAM_ONLY,
        why='finish_reason "" instead of null on ordinary chunks',
    ),
    Case(
        "delta_text_field",
        Flavor("delta_text_field", chunks_hook=_each_chunk(_delta_text)),
        trips=("semantics.stream_matches_plain",),
        only=_STREAM_ONLY + ",semantics.stream_matches_plain",
        why="streamed text in delta.text (the legacy completions shape) instead of content",
    ),
]


def _object_empty_with_content(c: Doc) -> Doc:
    c.update({"object": "", "id": ""})
    for ch in _choices(c):
        ch["content_filter_results"] = dict(_FILTER)
    return c


def _only_annotations(chunks: list[Doc], body: Doc) -> list[Doc | str]:
    return [
        {
            "id": "",
            "object": "",
            "created": 0,
            "model": "",
            "choices": [],
            "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": _FILTER}],
        }
    ]


OPENAI_BROKEN += [
    Case(
        "azure_lookalike_content",
        Flavor("azure_lookalike_content", chunks_hook=_each_chunk(_object_empty_with_content)),
        trips=("schema.object_values", "schema.chunk_id_stable"),
        only=_STREAM_ONLY,
        why="object '' and id '' on chunks that carry content: not an annotation, still judged",
    ),
    Case(
        "azure_only_annotations",
        Flavor("azure_only_annotations", chunks_hook=_only_annotations),
        trips=("sdk.stream_chunks", "schema.object_values"),
        only=_STREAM_ONLY,
        why="a stream of filter annotations and [DONE], no answer at all",
    ),
]

WETRO_CORRECT: list[Case] = [
    Case("wc_strict", WetroFlavor("wc_strict")),
    Case(
        "wc_extra_fields",
        WetroFlavor(
            "wc_extra_fields",
            answer_hook=lambda d: {**d, "model": "llama-3.3-70b", "usage": {"prompt_tokens": 3}},
        ),
    ),
    Case(
        "wc_error_shapes",
        WetroFlavor("wc_error_shapes", error_body=lambda s, m: (s, {"success": False, "error": m})),
    ),
    Case(
        "wc_bearer_too",
        WetroFlavor("wc_bearer_too", schemes=("Token", "Bearer")),
        why="also accepts Bearer: lenient, not a fault (the harness sends Token)",
    ),
    Case("wc_json_too", WetroFlavor("wc_json_too", accept_json=True)),
    Case(
        "wc_fastapi_422",
        WetroFlavor(
            "wc_fastapi_422",
            error_body=lambda s, m: (
                422 if s == 400 else s,
                {"detail": [{"loc": ["body", "messages"], "msg": m, "type": "value_error"}]},
            ),
        ),
    ),
]

WETRO_DEBATABLE: list[Case] = [
    Case(
        "wc_model_optional",
        WetroFlavor("wc_model_optional", model_required=False),
        why="defaults the model when the field is left out (the document does not say "
        "that model is required)",
    ),
]

WETRO_BROKEN: list[Case] = [
    Case(
        "wc_tokens_float",
        WetroFlavor("wc_tokens_float", answer_hook=lambda d: {**d, "tokens": float(d["tokens"])}),
        trips=("wetrocloud.tokens_integer",),
    ),
    Case(
        "wc_success_missing",
        WetroFlavor(
            "wc_success_missing",
            answer_hook=lambda d: {k: v for k, v in d.items() if k != "success"},
        ),
        trips=("wetrocloud.success_boolean",),
    ),
    Case(
        "wc_errors_200",
        WetroFlavor(
            "wc_errors_200",
            error_body=lambda s, m: (200, {"success": False, "response": None, "error": m}),
        ),
        trips=("errors.invalid_refused", "auth.wrong_key_refused"),
    ),
    Case(
        "wc_multipart_refused",
        WetroFlavor("wc_multipart_refused", accept_multipart=False, accept_json=True),
        trips=("wetrocloud.multipart_accepted",),
    ),
    Case(
        "wc_multipart_422",
        WetroFlavor(
            "wc_multipart_422",
            accept_multipart=False,
            accept_json=True,
            error_body=lambda s, m: (
                422 if s in (400, 415) else s,
                {
                    "detail": [
                        {
                            "loc": ["body"],
                            "type": "model_attributes_type",
                            "msg": "Input should be a valid dictionary",
                        }
                    ]
                },
            ),
        ),
        trips=("robustness.valid_request_succeeds",),
        why="a FastAPI JSON-only endpoint answers the form with 422 (multipart_accepted only "
        "recognises 415 and 400-about-the-form; the 422 is caught as a failed valid request)",
    ),
    Case(
        "wc_bearer_only",
        WetroFlavor("wc_bearer_only", schemes=("Bearer",)),
        trips=("wetrocloud.token_scheme",),
    ),
    Case(
        "wc_response_null",
        WetroFlavor("wc_response_null", answer_hook=lambda d: {**d, "response": None}),
        trips=("wetrocloud.response_string",),
    ),
    Case(
        "wc_wrong_key_ok",
        WetroFlavor("wc_wrong_key_ok", accept_any_key=True),
        trips=("auth.wrong_key_refused",),
    ),
]

# --------------------------------------------------------------------------- round 2:
# parameter semantics, errors, auth, Wetrocloud (the second red team)


def _extra_error_fields(status: int, message: str, param: str | None) -> tuple[int, Any]:
    code, body = envelope(status, message, param)
    body["error"]["request_id"] = "req_7f3a"
    body["error"]["innererror"] = {"code": "ResponsibleAIPolicyViolation"}
    body["request_id"] = "req_7f3a"
    return code, body


def _message_object(status: int, message: str, param: str | None) -> tuple[int, Any]:
    return status, {
        "error": {
            "message": {"detail": message},
            "type": "invalid_request_error",
            "param": param,
            "code": None,
        }
    }


def _html_4xx(status: int, message: str, param: str | None) -> tuple[int, Any]:
    if status in (401, 403):
        return envelope(status, message, param)
    return status, b"<html><body><h1>400 Bad Request</h1><p>nginx</p></body></html>"


def _finish_length_always(doc: Doc, body: Doc) -> Doc:
    for ch in _choices(doc):
        ch["finish_reason"] = "length"
    return doc


def _finish_length_chunk(c: Doc) -> Doc:
    for ch in _choices(c):
        if ch.get("finish_reason"):
            ch["finish_reason"] = "length"
    return c


def _completion_zero(doc: Doc, body: Doc | None = None) -> Doc:
    if doc.get("usage"):
        doc["usage"]["total_tokens"] -= doc["usage"]["completion_tokens"]
        doc["usage"]["completion_tokens"] = 0
    return doc


def _constant_usage(doc: Doc, body: Doc | None = None) -> Doc:
    if doc.get("usage"):
        done = doc["usage"]["completion_tokens"]
        doc["usage"].update({"prompt_tokens": 10, "total_tokens": 10 + done})
    return doc


def _n_minus_one(doc: Doc, body: Doc) -> Doc:
    if body.get("n", 1) > 2:
        doc["choices"] = doc["choices"][: body["n"] - 1]
    return doc


def _n_minus_one_chunks(chunks: list[Doc], body: Doc) -> list[Doc | str]:
    n = body.get("n", 1)
    if n <= 2:
        return list(chunks)
    return [c for c in chunks if all(ch["index"] < n - 1 for ch in _choices(c))]


def _second_never_finishes(chunks: list[Doc], body: Doc) -> list[Doc | str]:
    out = _interleave(chunks, body)
    return [
        c
        for c in out
        if not (
            isinstance(c, dict)
            and any(ch.get("index") == 1 and ch.get("finish_reason") for ch in _choices(c))
        )
    ]


_LONG_MD = (
    "# A large language model\n\nA **large language model** is a program trained on text.\n\n"
    + "".join(
        f"{i}. **Point {i}**: caf\u00e9, na\u00efve, \u4f60\u597d, \U0001f600 and `code` "
        "with a [link](https://example.com).\n"
        for i in range(1, 400)
    )
    + "\n```python\nprint('hello')\n```\n"
)


def _drf_error(status: int, message: str) -> tuple[int, Any]:
    """Django REST Framework's shapes: `detail` for auth / media type / parse errors,
    `{"field": ["..."]}` for validation errors."""
    field_name, sep, text = message.partition(": ")
    if status == 400 and sep and field_name in ("messages", "model"):
        return 400, {field_name: [text[:1].upper() + text[1:]]}
    if status == 401:
        return 401, {"detail": message}
    return status, {"detail": message}


OPENAI_CORRECT += [
    Case(
        "tokenizer_two_per_word",
        Flavor("tokenizer_two_per_word", tokens_per_word=2, usage_null_on_chunks=True),
        why="every word is two tokens: usage counts twice the chunks, a 5-token cap shows "
        "2.5 words with finish 'length'",
    ),
    Case(
        "tokenizer_sub_word_chunks",
        Flavor("tokenizer_sub_word_chunks", tokens_per_word=3, piece_chars=3),
        why="3 tokens per word, streamed in 3-character pieces: the multi-word stop string "
        "spans several chunks, completion_tokens != number of chunks",
    ),
    Case(
        "tokenizer_many_per_chunk",
        Flavor("tokenizer_many_per_chunk", tokens_per_word=2, piece_chars=24),
        why="several tokens per chunk (coalesced deltas of 24 characters)",
    ),
    Case(
        "vllm_no_auto_tool_choice",
        Flavor(
            "vllm_no_auto_tool_choice",
            auto_tool_choice=False,
            model_required=False,
            error_body=_vllm_error,
            chunks_hook=_each_chunk(_vllm_chunk),
            completion_hook=_vllm_tool_completion,
        ),
        only="semantics.*",
        why='vLLM without --enable-auto-tool-choice: tool_choice "auto" (the default when '
        "tools are given) is a 400, a named tool_choice works",
    ),
    Case(
        "vllm_mistral_tool_ids",
        Flavor(
            "vllm_mistral_tool_ids",
            tool_id_pattern=r"[a-zA-Z0-9]{9}",
            error_body=_vllm_error,
            completion_hook=_vllm_tool_completion,
        ),
        only="semantics.tool*",
        why="vLLM serving a Mistral model: tool call ids in the conversation must be 9 "
        "alphanumeric characters",
    ),
    Case(
        "vllm_gemma2_no_system",
        Flavor(
            "vllm_gemma2_no_system",
            system_role=False,
            model_required=False,
            error_body=_vllm_error,
            chunks_hook=_each_chunk(_vllm_chunk),
            completion_hook=_vllm_tool_completion,
        ),
        only="semantics.*",
        why="vLLM serving Gemma 2: the chat template raises on a system message (400 "
        "'System role not supported'): semantics.multi_turn warns",
    ),
    Case(
        "mct_unknown_400",
        Flavor("mct_unknown_400", mct="refuse400", error_body=_vllm_error),
        why="older vLLM: max_completion_tokens refused as an unknown field (400)",
    ),
    Case(
        "error_extra_fields",
        Flavor("error_extra_fields", error_body=_extra_error_fields),
        only="errors.*,auth.*",
        why="error envelopes with request_id / innererror (Azure) beside the four keys",
    ),
    Case(
        "auth_www_authenticate",
        Flavor("auth_www_authenticate", auth_headers=[("WWW-Authenticate", 'Bearer realm="api"')]),
        only="auth.*,robustness.*",
        why="401 with WWW-Authenticate (RFC 9110 requires it on 401)",
    ),
    Case(
        "auth_403_wrong_key",
        Flavor("auth_403_wrong_key", wrong_key_status=403),
        only="auth.*,robustness.*",
        why="a missing key is 401, a wrong key 403 (the SDK: PermissionDeniedError)",
    ),
    Case(
        "canned_but_greedy",
        Flavor("canned_but_greedy", natural_length=7),
        only="semantics.*",
        why="short answers that end on their own: stop never occurs in the free answer",
    ),
]

OPENAI_BROKEN += [
    Case(
        "redirect_307_slash",
        Flavor("redirect_307_slash", redirect_to_slash=307),
        trips=("robustness.no_redirect",),
        why="the route is declared with a trailing slash (FastAPI): POST /v1/chat/completions "
        "is answered 307 to .../completions/; the official SDK follows it (httpx "
        "follow_redirects=True), curl without -L does not: a finding (client severity), "
        "the documented URL must answer itself",
    ),
    Case(
        "mct_ignored",
        Flavor("mct_ignored", mct="ignore"),
        trips=("semantics.max_completion_tokens",),
        only="semantics.*",
        why="max_completion_tokens accepted and ignored while max_tokens is honoured",
    ),
    Case(
        "finish_length_early",
        Flavor(
            "finish_length_early",
            natural_length=3,
            completion_hook=_finish_length_always,
            chunks_hook=_each_chunk(_finish_length_chunk),
        ),
        trips=("semantics.length_finish_reason",),
        only="semantics.*",
        why='finish_reason "length" on a 3-word answer that ended on its own below the cap',
    ),
    Case(
        "completion_tokens_zero",
        Flavor(
            "completion_tokens_zero",
            completion_hook=_completion_zero,
            chunks_hook=_each_chunk(_completion_zero),
        ),
        trips=("semantics.usage_consistent",),
        only="semantics.*,schema.*",
        why="usage.completion_tokens 0 for a non-empty answer",
    ),
    Case(
        "usage_constant_prompt",
        Flavor(
            "usage_constant_prompt",
            completion_hook=_constant_usage,
            chunks_hook=_each_chunk(_constant_usage),
        ),
        trips=("semantics.usage_consistent",),
        only="semantics.*,schema.*",
        why="prompt_tokens 10 whatever the prompt",
    ),
    Case(
        "n3_gives_2",
        Flavor("n3_gives_2", completion_hook=_n_minus_one, chunks_hook=_n_minus_one_chunks),
        trips=("semantics.n_choices",),
        only="semantics.n_choices",
    ),
    Case(
        "n2_stream_one_unfinished",
        Flavor("n2_stream_one_unfinished", chunks_hook=_second_never_finishes),
        trips=("semantics.n_choices",),
        only="semantics.n_choices,stream.*,sdk.*",
        why="n=2 streamed: choice 1 never gets a finish_reason",
    ),
    Case(
        "stop_plain_only",
        Flavor("stop_plain_only", stream_ignores_stop=True),
        trips=(
            "semantics.stop_word",
            "semantics.stop_phrase",
            "semantics.stop_span",
            "semantics.stop_list",
        ),
        only="semantics.stop_*",
        why="stop honoured in plain answers, ignored when streaming",
    ),
    Case(
        "stop_str_as_chars",
        Flavor("stop_str_as_chars", stop_str_as_chars=True),
        trips=("semantics.stop_word",),
        only="semantics.stop_*",
        why="`stop` given as a plain string iterated as a list: every character stops",
    ),
    Case(
        "error_message_object",
        Flavor("error_message_object", error_body=_message_object),
        trips=("errors.envelope",),
        only="errors.*",
    ),
    Case(
        "error_html_400",
        Flavor("error_html_400", error_body=_html_4xx),
        trips=("errors.envelope",),
        only="errors.*",
    ),
    Case(
        "content_parts_refused",
        Flavor("content_parts_refused", content_parts="refuse400"),
        trips=("semantics.content_parts",),
        why="content as an array of text parts refused with 400 (TGI, older llama.cpp)",
    ),
    Case(
        "content_parts_dropped",
        Flavor("content_parts_dropped", content_parts="ignore"),
        trips=("semantics.content_parts",),
        only="semantics.*",
        why="content parts accepted with 200 but their text dropped: the model answers an "
        "empty message (CommandCodeAI/command-code#820)",
    ),
    Case(
        "tool_role_refused",
        Flavor("tool_role_refused", tool_role=False),
        trips=("semantics.tool_result_turn",),
        why="tools honoured, but the follow-up turn with the tool's result is refused with "
        "400 (warned: a model's template may lack the tool role)",
    ),
    Case(
        "tool_role_500",
        Flavor(
            "tool_role_500",
            tool_role=False,
            error_body=lambda st, m, p: (
                500 if "'tool'" in m else st,
                {"error": {"message": m, "type": "server_error", "param": p, "code": None}},
            ),
        ),
        trips=("semantics.tool_result_turn",),
        only="semantics.tool*",
        why="the tool-result turn crashes the server (500)",
    ),
    Case(
        "auth_plain_only",
        Flavor("auth_plain_only", auth_plain_only=True),
        trips=("auth.missing_key_refused",),
        only="auth.*",
        why="the key is checked on plain requests only: a streamed request without a key is "
        "answered",
    ),
    Case(
        "canned_text",
        Flavor("canned_text", canned="Hello! How can I help you today?"),
        trips=("semantics.answers_the_prompt",),
        only="semantics.*",
        why="the same text whatever the conversation (a stub, or the prompt never reaches "
        "the model)",
    ),
]

WETRO_CORRECT += [
    Case(
        "wc_drf",
        WetroFlavor("wc_drf", error_body=_drf_error),
        why='Django REST Framework: {"detail": ...} for 401/415, {"messages": ["This field '
        'is required."]} for 400',
    ),
    Case(
        "wc_drf_403",
        WetroFlavor("wc_drf_403", error_body=_drf_error, wrong_key_status=403),
        why="DRF TokenAuthentication behind a permission class: a wrong key is 403",
    ),
    Case(
        "wc_long_markdown",
        WetroFlavor(
            "wc_long_markdown",
            answer_hook=lambda d: {
                **d,
                "response": d["response"] + _LONG_MD,
                "tokens": d["tokens"] + 2 * len(_LONG_MD.split()),
            },
        ),
        why="a very long markdown answer with unicode (accents, CJK, emoji)",
    ),
    Case(
        "wc_redirect_no_slash",
        WetroFlavor("wc_redirect_no_slash", redirect_no_slash=301, error_body=_drf_error),
        why="Django APPEND_SLASH: the path without the slash redirects (the harness uses "
        "the documented path with the slash)",
    ),
]

WETRO_CORRECT += [
    Case(
        "wc_drf_201",
        WetroFlavor("wc_drf_201", success_status=201, error_body=_drf_error),
        why="Django REST Framework's CreateAPIView: a generated answer is 201 Created",
    ),
]

WETRO_BROKEN += [
    Case(
        "wc_success_true_on_4xx",
        WetroFlavor(
            "wc_success_true_on_4xx",
            error_body=lambda s, m: (s, {"success": True, "response": m, "tokens": 0}),
        ),
        trips=("errors.envelope",),
        why="an error answered with success: true (clients test `if body['success']`)",
    ),
    Case(
        "wc_tokens_constant",
        WetroFlavor("wc_tokens_constant", answer_hook=lambda d: {**d, "tokens": 12}),
        trips=("wetrocloud.tokens_plausible",),
        why="`tokens` 12 for every answer, whatever its length",
    ),
    Case(
        "wc_tokens_tiny",
        WetroFlavor("wc_tokens_tiny", answer_hook=lambda d: {**d, "tokens": 1}),
        trips=("wetrocloud.tokens_plausible",),
        why="`tokens` 1 for a 17-word answer",
    ),
    Case(
        "wc_tokens_negative",
        WetroFlavor("wc_tokens_negative", answer_hook=lambda d: {**d, "tokens": -1}),
        trips=("wetrocloud.tokens_integer",),
    ),
    Case(
        "wc_messages_json_500",
        WetroFlavor("wc_messages_json_500", messages_json_500=True),
        trips=("errors.no_server_error",),
        why="a messages field that is not JSON crashes the view (500)",
    ),
    Case(
        "wc_bad_key_200",
        WetroFlavor(
            "wc_bad_key_200",
            error_body=lambda s, m: (200 if s == 401 else s, {"success": False, "detail": m}),
        ),
        trips=("auth.wrong_key_refused", "auth.missing_key_refused"),
        why="a bad or missing key answered 200 with a JSON error body",
    ),
]


def _tool_chunks(
    edit: Callable[[Doc, Doc], list[Doc]],
) -> Callable[[list[Doc], Doc], list[Doc | str]]:
    """Rewrite every chunk carrying ``delta.tool_calls`` into the chunks ``edit`` returns."""

    def hook(chunks: list[Doc], body: Doc) -> list[Doc | str]:
        out: list[Doc | str] = []
        for c in chunks:
            chs = _choices(c)
            if chs and chs[0].get("delta", {}).get("tool_calls"):
                out.extend(edit(copy.deepcopy(c), chs[0]["delta"]["tool_calls"][0]))
            else:
                out.append(c)
        return out

    return hook


def _split_args(c: Doc, call: Doc) -> list[Doc]:
    """OpenAI / vLLM: id, type and name first with arguments "", then argument fragments."""
    args = call["function"]["arguments"]
    first = copy.deepcopy(c)
    first["choices"][0]["delta"]["tool_calls"] = [
        {"index": 0, "id": call["id"], "type": "function",
         "function": {"name": call["function"]["name"], "arguments": ""}}
    ]  # fmt: skip
    out = [first]
    for j in range(0, len(args), 4):
        frag = copy.deepcopy(c)
        frag["choices"][0]["delta"] = {
            "tool_calls": [{"index": 0, "function": {"arguments": args[j : j + 4]}}]
        }
        out.append(frag)
    return out


def _no_index(c: Doc, call: Doc) -> list[Doc]:
    for entry in c["choices"][0]["delta"]["tool_calls"]:
        entry.pop("index", None)
    return [c]


def _args_object(c: Doc, call: Doc) -> list[Doc]:
    for entry in c["choices"][0]["delta"]["tool_calls"]:
        entry["function"]["arguments"] = json.loads(entry["function"]["arguments"])
    return [c]


def _as_text(c: Doc, call: Doc) -> list[Doc]:
    c["choices"][0]["delta"] = {"role": "assistant", "content": "It is sunny in Paris."}
    return [c]


def _stop_not_tool_calls(c: Doc) -> Doc:
    for ch in _choices(c):
        if ch.get("finish_reason") == "tool_calls":
            ch["finish_reason"] = "stop"
    return c


def _chain(
    *hooks: Callable[[list[Doc], Doc], list[Doc | str]],
) -> Callable[[list[Doc], Doc], list[Doc | str]]:
    def hook(chunks: list[Doc], body: Doc) -> list[Doc | str]:
        out: list[Doc | str] = list(chunks)
        for h in hooks:
            out = h([d for d in out if isinstance(d, dict)], body)
        return out

    return hook


OPENAI_CORRECT += [
    Case(
        "tool_stream_split_args",
        Flavor("tool_stream_split_args", chunks_hook=_tool_chunks(_split_args)),
        only="semantics.tool*,sdk.*,stream.*",
        why="streamed tool call as OpenAI and vLLM send it: id and name first, then the "
        "arguments in 4-character fragments",
    ),
]

OPENAI_BROKEN += [
    Case(
        "tool_stream_no_index",
        Flavor("tool_stream_no_index", chunks_hook=_tool_chunks(_no_index)),
        trips=("semantics.tool_call_stream",),
        only="semantics.tool*,sdk.*",
        why="streamed tool_calls deltas without `index` (early Ollama / proxies)",
    ),
    Case(
        "tool_stream_args_object",
        Flavor("tool_stream_args_object", chunks_hook=_tool_chunks(_args_object)),
        trips=("semantics.tool_call_stream",),
        only="semantics.tool*,sdk.*",
        why="streamed function.arguments as a JSON object instead of a string",
    ),
    Case(
        "tools_ignored_streaming",
        Flavor(
            "tools_ignored_streaming",
            chunks_hook=_chain(_tool_chunks(_as_text), _each_chunk(_stop_not_tool_calls)),
        ),
        trips=("semantics.tools",),
        only="semantics.tool*",
        why="the forced tool call is honoured plain but answered with text when streaming",
    ),
]

# --------------------------------------------------------------------------- more servers:
# how hosted APIs and local servers actually stream and answer


def _openrouter_chunk(c: Doc) -> Doc:
    c["provider"] = "Fireworks"
    for ch in _choices(c):
        ch.setdefault("logprobs", None)
        ch["native_finish_reason"] = ch.get("finish_reason")
    if c.get("usage"):
        c["usage"].update({"cost": 0.0000123, "is_byok": False})
    return c


def _openrouter_sse(payloads: list[str]) -> list[Part]:
    """`: OPENROUTER PROCESSING` comments before the first event and while it waits."""
    out: list[Part] = [b": OPENROUTER PROCESSING\n\n", b": OPENROUTER PROCESSING\n\n"]
    for i, p in enumerate(payloads):
        out.append(f"data: {p}\n\n".encode())
        if i == 2:
            out.append(b": OPENROUTER PROCESSING\n\n")
    return out


def _deepseek_chunks(chunks: list[Doc], body: Doc) -> list[Doc | str]:
    """deepseek-reasoner: reasoning_content deltas (content null) before the answer's
    content deltas (reasoning_content null)."""
    out: list[Doc | str] = []
    for c in chunks:
        c = copy.deepcopy(c)
        c["system_fingerprint"] = "fp_5417b77867_prod0225"
        for ch in _choices(c):
            ch.setdefault("logprobs", None)
            delta = ch["delta"]
            if delta.get("role"):
                delta.update({"content": None, "reasoning_content": ""})
            elif "content" in delta:
                delta["reasoning_content"] = None
        if c.get("usage"):
            prompt = c["usage"]["prompt_tokens"]
            c["usage"].update({"prompt_cache_hit_tokens": 0, "prompt_cache_miss_tokens": prompt})
        out.append(c)
        if any(ch["delta"].get("role") for ch in _choices(c)):
            thought = copy.deepcopy(c)
            for ch in _choices(thought):
                ch["delta"] = {"content": None, "reasoning_content": "Let me think."}
            out.append(thought)
    return out


def _deepseek_completion(doc: Doc, body: Doc) -> Doc:
    doc["system_fingerprint"] = "fp_5417b77867_prod0225"
    for ch in _choices(doc):
        ch["message"]["reasoning_content"] = "Let me think."
    prompt = doc["usage"]["prompt_tokens"]
    doc["usage"].update({"prompt_cache_hit_tokens": 0, "prompt_cache_miss_tokens": prompt})
    return doc


def _keepalive_lines(request: Request, body: Doc, reply: Reply) -> Reply:
    """DeepSeek: empty lines sent while a non-streamed answer is being generated."""
    if body.get("stream") is not True and reply.status == 200:
        reply.parts = [b"\n\n", *reply.parts]
    return reply


def _deepseek_sse(payloads: list[str]) -> list[Part]:
    return [b": keep-alive\n\n", *default_sse(payloads)]


def _sglang_chunk(c: Doc) -> Doc:
    c["metadata"] = {"weight_version": "default"}
    for ch in _choices(c):
        ch.setdefault("logprobs", None)
        ch["delta"].setdefault("reasoning_content", None)
        ch["delta"].setdefault("tool_calls", None)
        if ch.get("finish_reason"):
            ch["matched_stop"] = 128009
    if c.get("usage"):
        c["usage"].update({"prompt_tokens_details": None, "reasoning_tokens": 0})
    return c


def _sglang_completion(doc: Doc, body: Doc) -> Doc:
    doc["metadata"] = {"weight_version": "default"}
    for ch in _choices(doc):
        ch["matched_stop"] = 128009 if ch["finish_reason"] == "stop" else None
        ch["message"].setdefault("tool_calls", None)
        ch["message"]["reasoning_content"] = None
    doc["usage"].update({"prompt_tokens_details": None, "reasoning_tokens": 0})
    return doc


def _created_201(request: Request, body: Doc, reply: Reply) -> Reply:
    """A NestJS controller without @HttpCode(200): every POST is answered 201 Created."""
    if reply.status == 200:
        reply.status, reply.reason = 201, "Created"
    return reply


def _tool_finish_stop(doc: Doc, body: Doc) -> Doc:
    return _stop_not_tool_calls(doc)


def _together_chunk(c: Doc) -> Doc:
    for ch in _choices(c):
        ch.update({"text": ch["delta"].get("content") or "", "seed": None})
        ch.setdefault("logprobs", None)  # null unless asked for (then per chunk, as upstream)
        ch["delta"]["token_id"] = 1264
        ch["delta"].setdefault("tool_calls", None)
    return c


def _lmstudio_error(status: int, message: str, param: str | None) -> tuple[int, Any]:
    if param == "response_format":
        return status, {"error": "'response_format.type' must be 'json_schema' or 'text'"}
    return envelope(status, message, param)


def _lmstudio_chunk(c: Doc) -> Doc:
    c["system_fingerprint"] = c["model"]
    return c


def _lmstudio_completion(doc: Doc, body: Doc) -> Doc:
    doc.update({"system_fingerprint": doc["model"], "stats": {}})
    return doc


def _usage_of(chunks: list[Doc], body: Doc) -> Doc:
    done = sum(1 for c in chunks for ch in _choices(c) if ch["delta"].get("content"))
    prompt = sum(len(str(m.get("content", "")).split()) + 3 for m in body["messages"])
    return {"prompt_tokens": prompt, "completion_tokens": done, "total_tokens": prompt + done}


def _usage_on_finish_chunk(chunks: list[Doc], body: Doc) -> list[Doc | str]:
    """Mistral: usage rides on the chunk with the finish_reason (asked for or not); no
    separate `choices: []` chunk."""
    kept = [copy.deepcopy(c) for c in chunks if _choices(c)]
    usage = _usage_of(kept, body)
    for c in kept:
        if any(ch.get("finish_reason") for ch in _choices(c)):
            c["usage"] = usage
    return list(kept)


def _gemini_error(status: int, message: str, param: str | None) -> tuple[int, Any]:
    """Gemini's OpenAI endpoint: a bad key is 400, and errors come as a JSON list."""
    code = 400 if status in (401, 403) and "Incorrect" in message else status
    return code, [{"error": {"code": code, "message": message, "status": "INVALID_ARGUMENT"}}]


def _finish_every_chunk(c: Doc) -> Doc:
    for ch in _choices(c):
        if ch["delta"].get("content"):
            ch["finish_reason"] = "stop"
    return c


def _string_error(status: int, message: str, param: str | None) -> tuple[int, Any]:
    return status, {"error": message}


def _cumulative_usage(chunks: list[Doc], body: Doc) -> list[Doc | str]:
    """Perplexity: every chunk carries the usage so far (and the citations)."""
    out: list[Doc | str] = []
    prompt = sum(len(str(m.get("content", "")).split()) + 3 for m in body["messages"])
    done = 0
    for c in chunks:
        if not _choices(c):
            continue  # no separate usage chunk: the last chunk's usage is the total
        c = copy.deepcopy(c)
        done += sum(1 for ch in _choices(c) if ch["delta"].get("content"))
        c["usage"] = {"prompt_tokens": prompt, "completion_tokens": done,
                      "total_tokens": prompt + done}  # fmt: skip
        c["citations"] = ["https://example.com/lighthouse"]
        out.append(c)
    return out


def _foundry_chunks(chunks: list[Doc], body: Doc) -> list[Doc | str]:
    """microsoft/foundry-local#144: a new id per chunk, model null, the choice index
    counting tokens, role in every delta mirrored in `message`, `"error": null`."""
    out: list[Doc | str] = []
    for pos, c in enumerate(chunks):
        c = copy.deepcopy(c)
        c.update({"id": f"chat.id.{4100 + pos}", "model": None, "IsDelta": False, "error": None})
        for ch in _choices(c):
            ch["index"] = pos
            ch["delta"]["role"] = "assistant"
            ch["message"] = dict(ch["delta"])
        out.append(c)
    return out


def _tgi_old_chunks(chunks: list[Doc], body: Doc) -> list[Doc | str]:
    """TGI 1.4 (huggingface/text-generation-inference#1648): chunks say object
    "text_completion" and the choice index counts tokens."""
    out: list[Doc | str] = []
    for pos, c in enumerate(chunks):
        c = copy.deepcopy(c)
        c["object"] = "text_completion"
        for ch in _choices(c):
            ch["index"] = pos + 1
        out.append(c)
    return out


def _role_every_delta(c: Doc) -> Doc:
    for ch in _choices(c):
        ch["delta"]["role"] = "assistant"
        ch["delta"].setdefault("reasoning_content", None)
    return c


def _gemini_stream_tool_stop(chunks: list[Doc], body: Doc) -> list[Doc | str]:
    return _each_chunk(_stop_not_tool_calls)(chunks, body)


OPENAI_CORRECT += [
    Case(
        "openrouter",
        Flavor(
            "openrouter",
            id_prefix="gen-1731000000-",
            usage_null_on_chunks=True,
            chunks_hook=_each_chunk(_openrouter_chunk),
            sse_encode=_openrouter_sse,
        ),
        why="OpenRouter: `: OPENROUTER PROCESSING` comments before and between events, "
        "provider and native_finish_reason fields, cost and is_byok in usage",
    ),
    Case(
        "openrouter_midstream",
        Flavor("openrouter_midstream", midstream="openrouter"),
        only="errors.*,robustness.*",
        why="OpenRouter's documented mid-stream error: a chunk carrying an error object "
        'and finish_reason "error" (the SDK raises APIError on the error key)',
    ),
    Case(
        "deepseek_reasoner",
        Flavor(
            "deepseek_reasoner",
            chunks_hook=_deepseek_chunks,
            completion_hook=_deepseek_completion,
            reply_hook=_keepalive_lines,
            sse_encode=_deepseek_sse,
            framing="length",
        ),
        why="DeepSeek: empty keep-alive lines before a non-streamed JSON body, `: keep-alive` "
        "before the stream, reasoning_content deltas with content null, prompt cache counts",
    ),
    Case(
        "sglang",
        Flavor(
            "sglang",
            chunks_hook=_each_chunk(_sglang_chunk),
            completion_hook=_sglang_completion,
            error_body=_vllm_error,
        ),
        why="SGLang: matched_stop on finished choices, reasoning_content / tool_calls null in "
        "every delta, metadata.weight_version, reasoning_tokens in usage",
    ),
    Case(
        "nestjs_201",
        Flavor("nestjs_201", reply_hook=_created_201),
        why="a NestJS proxy: every successful POST answered 201 Created (any 2xx is success "
        "to the SDK and to fetch)",
    ),
    Case(
        "spring_sse",
        Flavor(
            "spring_sse",
            sse_encode=_sse(prefix="data:"),
            sse_content_type="text/event-stream;charset=UTF-8",
            json_content_type="application/json;charset=UTF-8",
        ),
        why="Spring WebFlux: `data:` without a space, charset parameters without a space",
    ),
    Case(
        "openai_forced_tool_stop",
        Flavor(
            "openai_forced_tool_stop",
            chunks_hook=_each_chunk(_stop_not_tool_calls),
            completion_hook=_tool_finish_stop,
        ),
        only="semantics.tool*,sdk.*,schema.*,stream.*",
        why='OpenAI: a call forced by a named tool_choice ends with finish_reason "stop", '
        "not tool_calls, plain and streamed (vllm-project/vllm#25054 aligned vLLM to it)",
    ),
    Case(
        "together",
        Flavor("together", chunks_hook=_each_chunk(_together_chunk)),
        why="Together: streamed choices also carry `text` and `seed`, deltas a token_id "
        "(mlflow/mlflow#11557)",
    ),
    Case(
        "lmstudio",
        Flavor(
            "lmstudio",
            response_format="refuse400",
            error_body=_lmstudio_error,
            chunks_hook=_each_chunk(_lmstudio_chunk),
            completion_hook=_lmstudio_completion,
        ),
        only="sse.*,stream.*,schema.*,sdk.*,semantics.*",
        why='LM Studio: json_object refused with 400 {"error": "\'response_format.type\' must '
        "be 'json_schema' or 'text'\"} (a capability), system_fingerprint = the model, stats {}",
    ),
    Case(
        "localai_char_chunks",
        Flavor("localai_char_chunks", piece_chars=1),
        why="LocalAI: one character per chunk (mudler/LocalAI#2101)",
    ),
]

OPENAI_CORRECT += [
    Case(
        "openai_reasoning_model",
        Flavor("openai_reasoning_model", reasoning_limits=True, model_out="o4-mini-2025-04-16"),
        why="OpenAI's reasoning models (o-series, gpt-5): max_tokens, stop and logprobs "
        "refused with 400, and any temperature but 1 (unsupported_value)",
    ),
]

OPENAI_BROKEN += [
    Case(
        "mistral_usage_on_finish",
        Flavor("mistral_usage_on_finish", chunks_hook=_usage_on_finish_chunk),
        trips=("stream.usage_chunk", "stream.usage_only_on_usage_chunk"),
        only=_STREAM_ONLY,
        why="Mistral's API: usage on the last content chunk (with the finish_reason), asked "
        "for or not, and no `choices: []` usage chunk",
    ),
    Case(
        "gemini_errors_list",
        Flavor("gemini_errors_list", error_body=_gemini_error),
        trips=("errors.envelope", "auth.wrong_key_refused", "auth.error_envelope"),
        only="errors.*,auth.*",
        why='Gemini\'s OpenAI endpoint: errors as a JSON list [{"error": {code, message, '
        "status}}] and a bad key answered 400 INVALID_ARGUMENT",
    ),
    Case(
        "gemini_finish_every_chunk",
        Flavor("gemini_finish_every_chunk", chunks_hook=_each_chunk(_finish_every_chunk)),
        trips=("stream.finish_reason_once",),
        only=_STREAM_ONLY,
        why='Gemini through one-api / new-api: finish_reason "stop" on every chunk '
        "(QuantumNous/new-api#378, BerriAI/litellm#2195)",
    ),
    Case(
        "gemini_stream_tool_stop",
        Flavor("gemini_stream_tool_stop", chunks_hook=_gemini_stream_tool_stop),
        trips=("semantics.tool_call_stream",),
        only="semantics.tool*",
        why='Gemini\'s OpenAI endpoint: a streamed tool call ends with "stop" where the same '
        'request plain says "tool_calls" (googleapis/python-genai#2868)',
    ),
    Case(
        "anthropic_compat",
        Flavor(
            "anthropic_compat",
            id_prefix="msg_01",
            n="refuse400",
            logprobs="ignore",
            response_format="ignore",
        ),
        trips=("semantics.logprobs", "semantics.json_mode"),
        only="semantics.*",
        why="Anthropic's OpenAI SDK compatibility: n must be 1, logprobs and response_format "
        "accepted and ignored (as its documentation says)",
    ),
    Case(
        "lmstudio_string_errors",
        Flavor("lmstudio_string_errors", error_body=_string_error),
        trips=("errors.envelope",),
        only="errors.*",
        why='LM Studio: {"error": "<text>"} for every refusal; the SDK then says only '
        '"Error code: 400"',
    ),
    Case(
        "perplexity_cumulative_usage",
        Flavor("perplexity_cumulative_usage", chunks_hook=_cumulative_usage),
        trips=("stream.usage_only_on_usage_chunk", "stream.usage_chunk"),
        only=_STREAM_ONLY,
        why="Perplexity: cumulative usage and citations on every chunk (clients that add up "
        "per-chunk usage over-count; langchain-ai/langchain#38070)",
    ),
    Case(
        "foundry_local",
        Flavor("foundry_local", chunks_hook=_foundry_chunks),
        trips=("schema.chunk_id_stable", "schema.choice_index", "schema.chunk"),
        only=_STREAM_ONLY,
        why="Foundry Local (microsoft/foundry-local#144): a new id per chunk, model null, the "
        'choice index counting tokens, role in every delta, "error": null on every chunk',
    ),
    Case(
        "tgi_text_completion_index",
        Flavor("tgi_text_completion_index", chunks_hook=_tgi_old_chunks),
        trips=("schema.object_values", "schema.choice_index"),
        only=_STREAM_ONLY,
        why='TGI 1.4: chunks with object "text_completion" and an index per token '
        "(huggingface/text-generation-inference#1648)",
    ),
    Case(
        "sglang_gateway_role_every_delta",
        Flavor("sglang_gateway_role_every_delta", chunks_hook=_each_chunk(_role_every_delta)),
        trips=("stream.role_once", "sdk.stream_accumulate"),
        only=_STREAM_ONLY,
        why='SGLang\'s gRPC gateway: role "assistant" in every delta (sgl-project/sglang#19895); '
        'the SDK\'s stream helper builds "assistantassistant..."',
    ),
    Case(
        "tgi_midstream_string",
        Flavor("tgi_midstream_string", midstream="tgi"),
        trips=("errors.stream_error_event",),
        only="errors.stream_error_event",
        why='TGI: a mid-stream error as {"error": "<text>", "error_type": ...}; the SDK '
        "raises a generic message, the server's reason is lost",
    ),
]


def _json_as_html(request: Request, body: Doc, reply: Reply) -> Reply:
    """A JSON answer served as text/html (a web framework's default media type)."""
    if body.get("stream") is not True:
        reply.headers = [
            (k, "text/html; charset=utf-8") if k.lower() == "content-type" else (k, v)
            for k, v in reply.headers
        ]
    return reply


def _gzip_stream(request: Request, body: Doc, reply: Reply) -> Reply:
    """nginx with `gzip_types text/event-stream`: the event stream itself is compressed."""
    if body.get("stream") is True:
        data = b"".join(p for p in reply.parts if isinstance(p, bytes))
        reply.headers.append(("Content-Encoding", "gzip"))
        reply.parts = [gzip.compress(data)]
    return reply


def _json_bom(request: Request, body: Doc, reply: Reply) -> Reply:
    """.NET's StreamWriter with Encoding.UTF8 writes a byte order mark before the JSON."""
    if body.get("stream") is not True:
        reply.parts = [b"\xef\xbb\xbf", *reply.parts]
    return reply


def _thinking_parts(text: str) -> list[Doc]:
    return [
        {"type": "thinking", "thinking": [{"type": "text", "text": "Let me think."}]},
        {"type": "text", "text": text},
    ]


def _magistral_completion(doc: Doc, body: Doc) -> Doc:
    for ch in _choices(doc):
        if isinstance(ch["message"].get("content"), str):
            ch["message"]["content"] = _thinking_parts(ch["message"]["content"])
    return doc


def _magistral_chunk(c: Doc) -> Doc:
    for ch in _choices(c):
        content = ch["delta"].get("content")
        if content:
            ch["delta"]["content"] = [{"type": "text", "text": content}]
    return c


def _call_with_finish(chunks: list[Doc], body: Doc) -> list[Doc | str]:
    """Mistral: the whole tool call and finish_reason "tool_calls" in one chunk."""
    out: list[Doc | str] = []
    for c in chunks:
        chs = _choices(c)
        if chs and chs[0].get("finish_reason") == "tool_calls" and out:
            prev = out[-1]
            if isinstance(prev, dict) and _choices(prev)[0]["delta"].get("tool_calls"):
                _choices(prev)[0]["finish_reason"] = "tool_calls"
                continue
        out.append(copy.deepcopy(c))
    return out


def _vllm_reasoning_chunks(chunks: list[Doc], body: Doc) -> list[Doc | str]:
    """vLLM 0.10+: the reasoning parser fills `reasoning` (not reasoning_content)."""
    out = _reasoning_chunks(chunks, body)
    for c in out:
        for ch in _choices(c) if isinstance(c, dict) else []:
            if "reasoning_content" in ch["delta"]:
                ch["delta"]["reasoning"] = ch["delta"].pop("reasoning_content")
    return out


OPENAI_CORRECT += [
    Case(
        "sse_gzip",
        Flavor("sse_gzip", reply_hook=_gzip_stream, framing="close"),
        why="nginx with gzip_types text/event-stream: the stream is gzip-compressed",
    ),
    Case(
        "mistral_tool_call_with_finish",
        Flavor(
            "mistral_tool_call_with_finish",
            chunks_hook=_call_with_finish,
            completion_hook=_vllm_tool_completion,
        ),
        only="semantics.tool*,sdk.*,stream.*,schema.*",
        why='Mistral: the whole tool call and finish_reason "tool_calls" in one chunk',
    ),
    Case(
        "vllm_reasoning_field",
        Flavor(
            "vllm_reasoning_field",
            chunks_hook=_vllm_reasoning_chunks,
            completion_hook=_reasoning_completion,
        ),
        why="vLLM 0.10+ with a reasoning parser: `reasoning` deltas with content null",
    ),
]

OPENAI_BROKEN += [
    Case(
        "json_as_html",
        Flavor("json_as_html", reply_hook=_json_as_html),
        trips=("schema.completion_json",),
        only="schema.*,sdk.*,robustness.*",
        why="a completion served as text/html (Flask's Response default): the official "
        "Node SDK returns it as a string",
    ),
    Case(
        "json_bom",
        Flavor("json_bom", reply_hook=_json_bom, framing="length"),
        trips=("schema.completion_json",),
        only="schema.*,sdk.*,robustness.*",
        why="a completion preceded by a UTF-8 byte order mark (.NET StreamWriter with "
        "Encoding.UTF8)",
    ),
    Case(
        "mistral_magistral_content_parts",
        Flavor(
            "mistral_magistral_content_parts",
            completion_hook=_magistral_completion,
            chunks_hook=_each_chunk(_magistral_chunk),
        ),
        trips=("schema.completion", "sdk.completion", "schema.chunk", "sdk.stream_chunks"),
        only=_STREAM_ONLY,
        why="Mistral's Magistral models: message content as an array of thinking and text "
        "parts, not a string",
    ),
]


def _cumulative_chunks(chunks: list[Doc], body: Doc) -> list[Doc | str]:
    """DashScope (QwenLM/qwen-code#3896): each delta.content is the text so far."""
    so_far: dict[int, str] = {}
    out: list[Doc | str] = []
    for c in chunks:
        c = copy.deepcopy(c)
        for ch in _choices(c):
            if ch["delta"].get("content"):
                so_far[ch["index"]] = so_far.get(ch["index"], "") + ch["delta"]["content"]
                ch["delta"]["content"] = so_far[ch["index"]]
        out.append(c)
    return out


def _single_chunk(chunks: list[Doc], body: Doc) -> list[Doc | str]:
    """LiteLLM's fake streaming for a backend that cannot stream: the whole answer, role
    and finish_reason in one chunk (then the usage chunk when asked for)."""
    out: list[Doc | str] = []
    merged: dict[int, Doc] = {}
    for c in chunks:
        chs = _choices(c)
        if not chs:
            out.append(c)
            continue
        for ch in chs:
            into = merged.get(ch["index"])
            if into is None:
                into = merged[ch["index"]] = copy.deepcopy(c)
                into["choices"] = [copy.deepcopy(ch)]
                out.append(into)
                continue
            target = into["choices"][0]
            text = ch["delta"].get("content")
            if text:
                target["delta"]["content"] = (target["delta"].get("content") or "") + text
            if ch["delta"].get("tool_calls"):
                target["delta"]["tool_calls"] = ch["delta"]["tool_calls"]
            entries = (ch.get("logprobs") or {}).get("content")
            if entries:  # the whole answer's logprobs ride on the one chunk
                joined = (target.get("logprobs") or {}).get("content") or []
                target["logprobs"] = {"content": joined + entries, "refusal": None}
            if ch.get("finish_reason"):
                target["finish_reason"] = ch["finish_reason"]
    return out


def _choices_together(chunks: list[Doc], body: Doc) -> list[Doc | str]:
    """n > 1 with the choices' deltas of one step in a single chunk (llama.cpp, TGI)."""
    by_index: dict[int, list[Doc]] = {}
    rest: list[Doc | str] = []
    for c in chunks:
        chs = _choices(c)
        if len(chs) == 1:
            by_index.setdefault(chs[0]["index"], []).append(chs[0])
        else:
            rest.append(c)
    if len(by_index) < 2:
        return list(chunks)
    base = {k: v for k, v in chunks[0].items() if k != "choices"}
    steps = max(len(v) for v in by_index.values())
    out: list[Doc | str] = []
    for step in range(steps):
        row = [v[step] for _, v in sorted(by_index.items()) if step < len(v)]
        out.append({**base, "choices": row})
    return [*out, *rest]


OPENAI_CORRECT += [
    Case(
        "litellm_single_chunk",
        Flavor("litellm_single_chunk", chunks_hook=_single_chunk),
        why="LiteLLM's fake streaming (a backend that cannot stream): one chunk with role, "
        "the whole content and finish_reason",
    ),
    Case(
        "n_choices_one_chunk",
        Flavor("n_choices_one_chunk", chunks_hook=_choices_together),
        only="semantics.n_choices,stream.*,schema.*,sdk.*",
        why="n > 1 streamed with every choice's delta of a step in one chunk",
    ),
]


def _error_null(c: Doc) -> Doc:
    c["error"] = None
    return c


OPENAI_CORRECT += [
    Case(
        "error_key_null",
        Flavor("error_key_null", chunks_hook=_each_chunk(_error_null)),
        why='every chunk carries "error": null (a server that serializes its unset error '
        "field; the SDK raises only on an error that is set)",
    ),
]

OPENAI_BROKEN += [
    Case(
        "error_null_cut",
        Flavor(
            "error_null_cut",
            chunks_hook=_each_chunk(_error_null),
            sse_encode=_sse_with_payload_edit(lambda p: p[:4]),
        ),
        trips=("robustness.complete_body",),
        only="robustness.*,stream.*,sse.*",
        why='chunks with "error": null, and the stream stops after four events (no '
        "finish_reason, no [DONE]): still a cut stream",
    ),
    Case(
        "dashscope_cumulative",
        Flavor("dashscope_cumulative", chunks_hook=_cumulative_chunks),
        trips=("stream.deltas_incremental",),
        only=_STREAM_ONLY,
        why="DashScope's OpenAI-compatible endpoint (QwenLM/qwen-code#3896): each "
        "delta.content is the whole text so far, so clients show it many times over",
    ),
]


def _vllm_auth_error(status: int, message: str, param: str | None) -> tuple[int, Any]:
    """vLLM started with --api-key: its middleware answers {"error": "Unauthorized"}."""
    if status == 401:
        return 401, {"error": "Unauthorized"}
    return _vllm_error(status, message, param)


def _cloudflare_auth_error(status: int, message: str, param: str | None) -> tuple[int, Any]:
    """Cloudflare's API v4 envelope, in front of Workers AI's OpenAI endpoint."""
    if status in (401, 403):
        return status, {
            "success": False,
            "errors": [{"code": 10000, "message": "Authentication error"}],
            "messages": [],
            "result": None,
        }
    return envelope(status, message, param)


OPENAI_BROKEN += [
    Case(
        "vllm_api_key_middleware",
        Flavor("vllm_api_key_middleware", error_body=_vllm_auth_error, model_required=False),
        trips=("auth.error_envelope",),
        only="auth.*",
        why='vLLM with --api-key: 401 {"error": "Unauthorized"}, a string where the SDK '
        'looks for error.message (it says only "Error code: 401")',
    ),
    Case(
        "cloudflare_v4_auth",
        Flavor("cloudflare_v4_auth", error_body=_cloudflare_auth_error),
        trips=("auth.error_envelope",),
        only="auth.*",
        why="Cloudflare's API v4 envelope for a bad token in front of Workers AI "
        '({"success": false, "errors": [...]}): no error object',
    ),
]


def _xai_usage(usage: Doc) -> None:
    """xAI: reasoning tokens outside completion_tokens, inside total_tokens."""
    usage["completion_tokens_details"] = {"reasoning_tokens": 2}
    usage["total_tokens"] += 2
    usage["num_sources_used"] = 0


def _xai_chunks(chunks: list[Doc], body: Doc) -> list[Doc | str]:
    out = _reasoning_chunks(chunks, body)
    for c in out:
        if isinstance(c, dict) and c.get("usage"):
            _xai_usage(c["usage"])
    return out


def _xai_completion(doc: Doc, body: Doc) -> Doc:
    doc = _reasoning_completion(doc, body)
    _xai_usage(doc["usage"])
    return doc


OPENAI_BROKEN += [
    Case(
        "xai_reasoning_usage",
        Flavor("xai_reasoning_usage", chunks_hook=_xai_chunks, completion_hook=_xai_completion),
        trips=("schema.usage_total",),
        only="schema.*,semantics.usage_consistent",
        why="xAI's reasoning models: reasoning_tokens counted outside completion_tokens but in "
        "total_tokens (vercel/ai#12425, lobehub/lobehub#8984: clients under-billed)",
    ),
]


def _drop_usage(doc: Doc, body: Doc) -> Doc:
    doc.pop("usage", None)
    return doc


OPENAI_DEBATABLE += [
    Case(
        "completion_without_usage",
        Flavor("completion_without_usage", completion_hook=_drop_usage),
        only="schema.*,sdk.*,semantics.usage_consistent",
        why="a completion without `usage`: the OpenAPI schema of chat.completion does not list "
        "it among the required keys and the official SDKs type it optional",
    ),
]


def _mlx_chunk(c: Doc) -> Doc:
    """mlx_lm.server: every delta is {role, content, reasoning, tool_calls}."""
    c["system_fingerprint"] = "0.28.2-0.29.1-macOS-15.5-arm64-applegpu_g15s"
    for ch in _choices(c):
        delta = ch["delta"]
        ch["delta"] = {
            "role": "assistant",
            "content": delta.get("content") or "",
            "reasoning": None,
            "tool_calls": delta.get("tool_calls") or [],
        }
    return c


def _mlx_sse(payloads: list[str]) -> list[Part]:
    return [b": keepalive 12/12\n\n", *default_sse(payloads)]


def _tgi_error(status: int, message: str, param: str | None) -> tuple[int, Any]:
    """TGI's ErrorResponse: {"error": "<text>", "error_type": "validation"}, 422."""
    code = 422 if status == 400 else status
    return code, {"error": f"Input validation error: {message}", "error_type": "validation"}


def _unexpected_endpoint_200(request: Request, body: Doc, reply: Reply) -> Reply:
    """LM Studio at a path it does not serve: 200 with {"error": "Unexpected endpoint or
    method. (...)"} (its log says "Returning 200 anyway")."""
    message = f"Unexpected endpoint or method. ({request.method} {request.path})"
    data = json.dumps({"error": message}).encode()
    return Reply(200, [("Content-Type", "application/json")], [data], framing="length")


def _refusal_with_200(status: int, message: str, param: str | None) -> tuple[int, Any]:
    """A refused optional feature answered 200 with the error envelope."""
    code, body = envelope(status, message, param)
    return (200 if param in ("n", "tools") else code), body


OPENAI_BROKEN += [
    Case(
        "refusal_with_200",
        Flavor("refusal_with_200", n="refuse400", tools="refuse400", error_body=_refusal_with_200),
        trips=("semantics.n_choices", "semantics.tools"),
        only="semantics.*",
        why="n > 1 and tools refused with status 200 and an error body (OpenRouter reports "
        "errors that arise after the status was sent this way): clients take it for an answer",
    ),
    Case(
        "lmstudio_unexpected_endpoint_200",
        Flavor("lmstudio_unexpected_endpoint_200", reply_hook=_unexpected_endpoint_200),
        trips=("robustness.valid_request_succeeds",),
        only="robustness.*,schema.completion_json,sse.stream_when_asked",
        why="LM Studio answers a path it does not serve with 200 and an error body "
        '(lmstudio-ai/lmstudio-bug-tracker#1879: "Returning 200 anyway"), as a base URL '
        "without the right prefix gets",
    ),
    Case(
        "tgi_error_response",
        Flavor("tgi_error_response", error_body=_tgi_error, require_key=False),
        trips=("errors.envelope",),
        only="errors.*",
        why='TGI: validation errors as 422 {"error": "Input validation error: ...", '
        '"error_type": "validation"}; the SDK says only "Error code: 422"',
    ),
    Case(
        "mlx_lm_invalid_drops",
        Flavor("mlx_lm_invalid_drops", drop_on_invalid=True, error_body=_string_error),
        trips=("errors.no_server_error",),
        only="errors.*,robustness.*",
        why="mlx_lm.server: a request that fails its parameter validation raises inside "
        "http.server's handler, which closes the connection without any answer",
    ),
    Case(
        "mlx_lm_server",
        Flavor("mlx_lm_server", chunks_hook=_each_chunk(_mlx_chunk), sse_encode=_mlx_sse),
        trips=("stream.role_once", "sdk.stream_accumulate"),
        only=_STREAM_ONLY,
        why="mlx_lm.server (ml-explore/mlx-lm): every delta repeats role, reasoning null and "
        "tool_calls [], after `: keepalive` comments",
    ),
]


def _blank_head_ping_tail(payloads: list[str]) -> list[Part]:
    """Empty lines flushed before the first event (to send the headers early) and a
    keep-alive comment that a ping timer writes after [DONE], before the close."""
    return [b"\n\n", *default_sse(payloads), b": ping - 2024-11-07 12:00:01\n\n"]


OPENAI_CORRECT += [
    Case(
        "sse_blank_head_ping_tail",
        Flavor("sse_blank_head_ping_tail", sse_encode=_blank_head_ping_tail),
        only=_STREAM_ONLY,
        why="empty lines before the first event and a sse-starlette ping comment after "
        "[DONE]: neither is an event",
    ),
]


OPENAI_CORRECT += [
    Case(
        "models_listed_alias_only",
        Flavor("models_listed_alias_only", models=("gpt-4o-mini", "gpt-4o-mini-2024-07-18")),
        why="a model list with a dated snapshot beside the alias, as OpenAI lists them",
    ),
]

_MODELS_ONLY = "models"
OPENAI_BROKEN += [
    Case(
        "models_bare_array",
        Flavor("models_bare_array", models_body=_bare_array),
        trips=("models.list_sdk",),
        only=_MODELS_ONLY,
        why="Together AI's model list: a bare array; the SDK's models.list() raises",
    ),
    Case(
        "models_ollama_native",
        Flavor("models_ollama_native", models_body=_ollama_native),
        trips=("models.list_sdk",),
        only=_MODELS_ONLY,
        why="Ollama's /api/tags shape at /v1/models: the SDK's models.list() raises",
    ),
    Case(
        "models_single_object",
        Flavor("models_single_object", models_body=_single_model),
        trips=("models.list_sdk",),
        only=_MODELS_ONLY,
        why="one model object instead of a list: models.list() yields nothing",
    ),
    Case(
        "models_no_created",
        Flavor("models_no_created", models_body=_no_created),
        trips=("models.list_schema",),
        only=_MODELS_ONLY,
        why="entries without `created`: strict validation rejects them",
    ),
    Case(
        "models_not_served",
        Flavor("models_not_served", list_models=False),
        trips=("models.list_served",),
        only=_MODELS_ONLY,
        why="only the chat route: GET /v1/models is a 404",
    ),
    Case(
        "models_retrieve_list",
        Flavor("models_retrieve_list", retrieve_body=_models_retrieve_list),
        trips=("models.retrieve",),
        only=_MODELS_ONLY,
        why="GET /v1/models/<id> answers the whole list",
    ),
    Case(
        "unknown_model_500",
        Flavor("unknown_model_500", unknown_model=500),
        trips=("models.unknown_refused",),
        only=_MODELS_ONLY,
        why="an unknown model crashes the server: 500",
    ),
    Case(
        "unknown_model_answered",
        Flavor("unknown_model_answered", unknown_model="answer", model_out="rt-model"),
        trips=("models.unknown_refused", "models.answer_model"),
        only=_MODELS_ONLY,
        why="any model name answered by the one loaded model, named in the answer",
    ),
]


def _logprobs_dropped_in_stream(c: Doc) -> Doc:
    for ch in _choices(c):
        ch["logprobs"] = None
    return c


def _n_dropped_in_stream(c: Doc) -> Doc | None:
    chs = _choices(c)
    if chs and all(ch.get("index", 0) != 0 for ch in chs):
        return None
    return c


def _stream_usage_zero(c: Doc) -> Doc:
    usage = c.get("usage")
    if isinstance(usage, dict):
        c["usage"] = {**usage, "completion_tokens": 0, "total_tokens": usage["prompt_tokens"]}
    return c


def _schema_loose(doc: Doc, body: Doc) -> Doc:
    """Structured output that only asks the model nicely (no constrained decoding): the
    answer is JSON, but not the schema's."""
    if (body.get("response_format") or {}).get("type") == "json_schema":
        for ch in _choices(doc):
            ch["message"]["content"] = '{"answer": "a pet named Pip"}'
    return doc


# parameters honoured in one mode only, and bad input validated late (issue 11)
OPENAI_BROKEN += [
    Case(
        "tool_choice_unread",
        Flavor("tool_choice_unread", tool_choice_unread=True),
        trips=("semantics.tool_choice_none", "semantics.tools"),
        why='Ollama\'s OpenAI layer: tool_choice is not read; "none" and a named function '
        "still get the first tool",
    ),
    Case(
        "stream_validates_late",
        Flavor("stream_validates_late", stream_errors_in_band=True),
        trips=("errors.stream_refused_before_events",),
        why="a streamed invalid request gets 200 and an error event (validated inside the "
        "generator), a plain one a 400",
    ),
    Case(
        "logprobs_plain_only",
        Flavor("logprobs_plain_only", chunks_hook=_each_chunk(_logprobs_dropped_in_stream)),
        trips=("semantics.logprobs",),
        why="logprobs filled in the plain answer, dropped by the streaming path",
    ),
    Case(
        "n_plain_only",
        Flavor("n_plain_only", chunks_hook=_each_chunk(_n_dropped_in_stream)),
        trips=("semantics.n_choices",),
        why="n > 1 honoured plain; the stream carries only choice 0",
    ),
    Case(
        "stream_usage_zero",
        Flavor("stream_usage_zero", chunks_hook=_each_chunk(_stream_usage_zero)),
        trips=("semantics.usage_consistent",),
        why="the streamed usage chunk counts 0 completion tokens (a counter the stream path "
        "never feeds)",
    ),
    Case(
        "json_schema_unconstrained",
        Flavor("json_schema_unconstrained", completion_hook=_schema_loose),
        trips=("semantics.json_schema",),
        why="json_schema accepted without constrained decoding: JSON, but not the schema's",
    ),
]


CASES: list[Case] = [
    *OPENAI_CORRECT,
    *OPENAI_DEBATABLE,
    *OPENAI_BROKEN,
    *WETRO_CORRECT,
    *WETRO_DEBATABLE,
    *WETRO_BROKEN,
]


def _router(cases: list[Case]) -> Callable[[Request], Reply]:
    by_name = {c.name: c for c in cases}

    def handle(request: Request) -> Reply:
        parts = request.path.split("/", 3)  # "", "s", name, rest
        case = by_name.get(parts[2]) if len(parts) > 3 and parts[1] == "s" else None
        if case is None:
            return Reply(404, [("Content-Type", "text/plain")], [b"unknown red-team server"])
        rest = "/" + parts[3].split("?", 1)[0]
        if isinstance(case.flavor, WetroFlavor):
            return handle_wetro(case.flavor, request, rest)
        return handle_openai(case.flavor, request, rest)

    return handle


@contextlib.contextmanager
def serve_catalog(cases: list[Case] | None = None) -> Iterator[str]:
    """Serve every case under ``<root>/s/<name>``; yields the root URL."""
    with serve(_router(cases or CASES)) as root:
        yield root


def base_url(root: str, case: Case) -> str:
    """The base URL the provider profile of ``case`` expects."""
    return f"{root}/s/{case.name}" + ("" if case.provider == "wetrocloud" else "/v1")
