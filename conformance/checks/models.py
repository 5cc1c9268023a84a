"""The model surface: the model list, one model, unknown model names, the answers' `model`.

The model list (``GET {base}/models``) is the first thing many clients touch: the official
SDK's ``client.models.list()``, LiteLLM's health checks, Open WebUI and most chat front
ends discover models there. These checks judge it with the official SDK as the oracle
(the recorded answer replayed through ``openai``, as :mod:`conformance.checks.sdk` does),
then look at what the chat route does with model names: an unknown name must be refused
(404, ideally ``code: "model_not_found"``), and an answer should name the model that was
asked for (a dated version of it is fine).

One defect fails one check: ``models.list_served`` judges whether there is a list at all,
``models.list_sdk`` whether the SDK can read it, ``models.list_schema`` the fields the SDK
lets through in its default mode, ``models.listed`` whether the model under test is there.
"""

from __future__ import annotations

import json
import re
from typing import Any

from conformance.checks._judge import fail_if_error_instead_of_answer, judge_envelope
from conformance.checks._oai import STREAM_PROBES, is_annotation_chunk, is_int, type_name
from conformance.checks.evidence import excerpt, exchange_evidence
from conformance.checks.probes import base_params
from conformance.checks.registry import (
    OPENAI_ONLY,
    CheckContext,
    Failed,
    ProbeContext,
    ProbeRequest,
    Severity,
    Skipped,
    Warned,
    check,
    probe,
)
from conformance.wire.exchange import Exchange, is_json_media_type
from conformance.wire.json_bounded import parse_json_bounded

__all__ = ["listed_ids", "same_model"]

_LIST_REF = "OpenAI API reference, Models: List models (the list and the model object)"
_RETRIEVE_REF = "OpenAI API reference, Models: Retrieve model"
_SDK = "openai-python (the official SDK) models.list() / models.retrieve()"
_MAX_LISTED = 8


# --------------------------------------------------------------------------- probes


def _models_url(pctx: ProbeContext, model_id: str | None = None) -> str:
    url = pctx.provider.models_url(model_id)
    if url is None:
        raise ValueError(f"{pctx.provider.name} documents no model list")
    return url


@probe("models_list", dialects=OPENAI_ONLY, priority=10)
def models_list_probe(pctx: ProbeContext) -> ProbeRequest:
    """GET {base}/models: the model list, with the run's key."""
    return ProbeRequest(
        messages=pctx.messages(),
        method="GET",
        path=_models_url(pctx),
        headers={"Accept": "application/json"},
    )


@probe("models_retrieve", dialects=OPENAI_ONLY, priority=70)
def models_retrieve_probe(pctx: ProbeContext) -> ProbeRequest:
    """GET {base}/models/{model}: the model under test, its id encoded as the SDK does."""
    return ProbeRequest(
        messages=pctx.messages(),
        method="GET",
        path=_models_url(pctx, pctx.model),
        headers={"Accept": "application/json"},
    )


#: the prefix of the invented model name (the rest is drawn from the probe's seeded random)
UNKNOWN_MODEL_PREFIX = "conformance-no-such-model-"


@probe("unknown_model", dialects=OPENAI_ONLY, priority=65)
def unknown_model_probe(pctx: ProbeContext) -> list[ProbeRequest]:
    """A plain request (and a streamed one) for a model name that cannot exist."""
    name = UNKNOWN_MODEL_PREFIX + "".join(pctx.random.choices("0123456789abcdef", k=10))
    requests = [
        ProbeRequest(
            messages=pctx.messages(),
            params=base_params(pctx, model=name),
            label="plain",
            meta={"unknown_model": name},
        )
    ]
    if pctx.capabilities.streaming:
        requests.append(
            ProbeRequest(
                messages=pctx.messages(),
                params=base_params(pctx, model=name, stream=True),
                label="stream",
                meta={"unknown_model": name},
            )
        )
    return requests


# --------------------------------------------------------------------------- reading


def _json(body: bytes) -> tuple[bool, Any]:
    try:
        return True, parse_json_bounded(body)
    except (ValueError, UnicodeDecodeError):
        return False, None


def listed_ids(document: Any) -> list[str] | None:
    """The model names a list document offers, read leniently (``None``: no list at all).

    The OpenAI shape (``data[].id``), a bare array of model objects, and the native lists
    of Ollama (``models[].name``) and others (``models[].id``): the shape is judged by
    ``models.list_sdk`` and ``models.list_schema``; this only finds the names.
    """
    entries: Any = None
    if isinstance(document, list):
        entries = document
    elif isinstance(document, dict):
        entries = document.get("data")
        if not isinstance(entries, list):
            entries = document.get("models")
    if not isinstance(entries, list):
        return None
    names: list[str] = []
    for entry in entries:
        if isinstance(entry, str):
            names.append(entry)
        elif isinstance(entry, dict):
            for key in ("id", "name", "model"):
                value = entry.get(key)
                if isinstance(value, str) and value:
                    names.append(value)
                    break
    return names


def _served_list(ctx: CheckContext) -> tuple[Exchange, Any]:
    """The list exchange and its JSON document; :class:`Skipped` unless it was served."""
    ex = ctx.completed("models_list")
    if ex.status is None or not 200 <= ex.status < 300:
        raise Skipped(
            f"not judged: the model list was answered HTTP {ex.status} (models.list_served)"
        )
    is_json, document = _json(ex.body)
    if not is_json:
        raise Skipped("not judged: the model list is not JSON (see models.list_served)")
    return ex, document


def _skip_if_key_refused(ctx: CheckContext, status: int) -> None:
    """:class:`Skipped` when ``status`` refuses the key and the chat route refuses it too
    (no key, or a wrong one: that is the run's configuration, not the model surface)."""
    if status not in (401, 403):
        return
    try:
        chat = ctx.completed("chat").status
    except Skipped:
        return
    if chat in (401, 403):
        raise Skipped(
            f"not judged: the chat route refuses the run's key too (HTTP {chat}); give a key "
            "with --api-key-env"
        )


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:_MAX_LISTED])
    return shown + (f" and {len(names) - _MAX_LISTED} more" if len(names) > _MAX_LISTED else "")


# --------------------------------------------------------------------------- the list


@check(
    id="models.list_served",
    fact="models.list",
    title="GET /models answers with a JSON model list",
    severity=Severity.CLIENT,
    source=_LIST_REF,
    probes=("models_list", "chat"),
    dialects=OPENAI_ONLY,
)
def list_served(ctx: CheckContext) -> str:
    """`GET {base}/models` answers 200 with JSON, with the key that the chat route accepts.
    Without it, clients that discover models there (the SDK's `models.list()`, LiteLLM's
    health checks, Open WebUI and most chat front ends) find nothing to offer, and
    `conformance` itself cannot pick a model when `--model` is left out."""
    ex = ctx.completed("models_list")
    status = ex.status or 0
    url = ex.request.url
    if status in (404, 405, 501):
        raise Failed(
            f"there is no model list: GET {url} is answered HTTP {status}; clients that "
            "discover models (models.list(), Open WebUI, LiteLLM health checks) find none",
            exchange_evidence(ex),
        )
    _skip_if_key_refused(ctx, status)
    if status in (401, 403):
        raise Failed(
            f"GET {url} refuses the run's key with HTTP {status}: clients that list models "
            "before chatting stop here",
            exchange_evidence(ex),
        )
    if not 200 <= status < 300:
        raise Failed(f"GET {url} is answered HTTP {status}", exchange_evidence(ex))
    is_json, _ = _json(ex.body)
    if not is_json:
        raise Failed(
            f"GET {url} answers HTTP {status} with a body that is not JSON "
            f"({excerpt(ex.body, 80)!r}): a web page or a catch-all route, not a model list",
            exchange_evidence(ex),
        )
    if not is_json_media_type(ex.content_type):
        raise Failed(
            f"the model list is served with Content-Type {ex.content_type!r}, not "
            "application/json: the official Node SDK then returns the body as a string",
            exchange_evidence(ex),
        )
    return f"HTTP {status}, JSON"


def _sdk_list(ex: Exchange, *, strict: bool) -> list[Any]:
    from conformance.checks.sdk import replay_client

    with replay_client(ex, strict=strict) as client:
        return list(client.models.list())


def _sdk_error(exc: BaseException) -> str:
    cause = exc.__cause__
    errors = getattr(cause, "errors", None)
    if callable(errors):
        found = [
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
            for err in errors()[:4]
            if isinstance(err, dict)
        ]
        if found:
            return f"{type(exc).__name__} ({'; '.join(found)})"
    return f"{type(exc).__name__}: {excerpt(str(exc), 200)}"


def _shape_hint(document: Any) -> str:
    if isinstance(document, list):
        return 'a bare JSON array instead of {"object": "list", "data": [...]}'
    if isinstance(document, dict) and "data" not in document:
        keys = sorted(str(k) for k in document)[:6]
        if isinstance(document.get("models"), list):
            return (
                "another vendor's list shape (a `models` array, as Ollama's /api/tags or "
                f"Gemini answer; top-level keys {keys}) instead of the OpenAI `data` array"
            )
        return f"an object without a `data` array (top-level keys {keys})"
    return "a body the SDK cannot read as a page of models"


@check(
    id="models.list_sdk",
    fact="models.list",
    title="The official SDK reads the model list (models.list())",
    severity=Severity.SDK,
    source=_SDK + "; " + _LIST_REF,
    probes=("models_list",),
    dialects=OPENAI_ONLY,
)
def list_sdk(ctx: CheckContext) -> str:
    """The recorded model list, replayed through the official SDK's `client.models.list()`,
    is read without raising and yields the models the wire lists. A bare array, a single
    model object or another vendor's list shape (Ollama's `{"models": [...]}`) makes the
    SDK raise: every SDK-based client fails to list models."""
    ex, document = _served_list(ctx)
    try:
        models = _sdk_list(ex, strict=False)
    except Exception as exc:
        raise Failed(
            f"the official SDK raises on the model list ({_sdk_error(exc)}): it is "
            f"{_shape_hint(document)}",
            exchange_evidence(ex, sdk_exception=type(exc).__name__),
        ) from None
    wire = listed_ids(document) or []
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, list) or len(models) != len(data):
        raise Failed(
            f"the SDK's models.list() yields {len(models)} model(s) where the wire lists "
            f"{len(wire)}: it is {_shape_hint(document)}",
            exchange_evidence(ex, wire_ids=wire[:_MAX_LISTED]),
        )
    return f"models.list() reads {len(models)} model(s)"


def _entry_problems(entry: Any, index: int) -> list[str]:
    where = f"data[{index}]"
    if not isinstance(entry, dict):
        return [f"{where} is a JSON {type_name(entry)}, not a model object"]
    problems: list[str] = []
    model_id = entry.get("id")
    if not isinstance(model_id, str) or not model_id:
        problems.append(f"{where}.id is {_describe(entry, 'id')}, not a non-empty string")
    if entry.get("object") != "model":
        problems.append(f'{where}.object is {_describe(entry, "object")}, not "model"')
    if not is_int(entry.get("created")):
        problems.append(f"{where}.created is {_describe(entry, 'created')}, not an integer")
    if not isinstance(entry.get("owned_by"), str):
        problems.append(f"{where}.owned_by is {_describe(entry, 'owned_by')}, not a string")
    return problems


def _describe(entry: dict[str, Any], key: str) -> str:
    if key not in entry:
        return "missing"
    value = entry[key]
    return f"{type_name(value)} {excerpt(json.dumps(value), 40)}"


@check(
    id="models.list_schema",
    fact="models.list",
    title='The model list is {"object": "list", "data": [model objects]}',
    severity=Severity.CLIENT,
    source=_LIST_REF,
    probes=("models_list",),
    dialects=OPENAI_ONLY,
)
def list_schema(ctx: CheckContext) -> str:
    """The list says `object: "list"` and every entry of `data` has a string `id`,
    `object: "model"`, an integer `created` and a string `owned_by`; extra fields are
    fine. The SDK's default mode lets a missing `created` or `owned_by` through (it then
    hands out `None`); its strict mode, typed clients and UIs that sort by `created` do
    not. (A list the SDK cannot read at all is `models.list_sdk`.)"""
    ex, document = _served_list(ctx)
    if not isinstance(document, dict) or not isinstance(document.get("data"), list):
        raise Skipped("not judged: there is no `data` array (see models.list_sdk)")
    problems: list[str] = []
    if document.get("object") != "list":
        problems.append(f'object is {_describe(document, "object")}, not "list"')
    for index, entry in enumerate(document["data"]):
        problems.extend(_entry_problems(entry, index))
    if not problems:
        try:
            _sdk_list(ex, strict=True)
        except Exception as exc:
            problems.append(f"strict validation rejects the list: {_sdk_error(exc)}")
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise Failed(
            "the model list breaks the documented shape: " + "; ".join(problems[:3]) + more,
            exchange_evidence(ex, problems=problems[:20]),
        )
    return f"{len(document['data'])} model object(s), each in the documented shape"


@check(
    id="models.listed",
    fact="models.list",
    title="The model under test is in the model list",
    severity=Severity.CLIENT,
    source=_LIST_REF,
    probes=("models_list",),
    dialects=OPENAI_ONLY,
    warn_only=True,
)
def listed(ctx: CheckContext) -> str:
    """The model the run asks for is among the ids `GET /models` lists. Clients that
    offer only listed models (Open WebUI, model pickers) cannot select it otherwise.
    Proxies sometimes serve aliases they do not list, so this only warns."""
    ex, document = _served_list(ctx)
    names = listed_ids(document)
    if names is None:
        raise Skipped("not judged: no list of models could be read (see models.list_sdk)")
    model = ctx.provider.model
    if model in names or f"{model}:latest" in names:
        return f"{model!r} is listed"
    if not names:
        raise Failed(f"the model list is empty; the run uses {model!r}", exchange_evidence(ex))
    raise Failed(
        f"{model!r} is not among the {len(names)} listed model(s): {_names(names)}",
        exchange_evidence(ex, model=model, listed=names[:50]),
    )


@check(
    id="models.retrieve",
    fact="models.list",
    title="GET /models/{id} returns the model (models.retrieve())",
    severity=Severity.SDK,
    source=_SDK + "; " + _RETRIEVE_REF,
    probes=("models_retrieve", "chat"),
    dialects=OPENAI_ONLY,
)
def retrieve(ctx: CheckContext) -> str:
    """Where `GET {base}/models/{id}` is served, the official SDK's
    `client.models.retrieve(id)` reads it (strict validation) and gets back a model
    object with that id. Many servers (vLLM, llama.cpp) serve only the list: a 404 is a
    warning, not a failure; a 5xx or an answer that is not the model is a failure."""
    ex = ctx.completed("models_retrieve")
    status = ex.status or 0
    model = ctx.provider.model
    _skip_if_key_refused(ctx, status)
    if 400 <= status < 500:
        raise Warned(
            f"GET {ex.request.url} is answered HTTP {status}: the server does not serve "
            f"one model, so models.retrieve({model!r}) raises (many servers serve only the "
            "list)",
            exchange_evidence(ex),
        )
    if not 200 <= status < 300:
        raise Failed(f"GET {ex.request.url} is answered HTTP {status}", exchange_evidence(ex))
    from conformance.checks.sdk import replay_client

    got: Any = None
    try:
        with replay_client(ex, strict=False) as client:
            got = client.models.retrieve(model)
    except Exception as exc:
        raise Failed(
            f"the official SDK raises on models.retrieve({model!r}): {_sdk_error(exc)}",
            exchange_evidence(ex, sdk_exception=type(exc).__name__),
        ) from None
    got_id = getattr(got, "id", None)
    if got_id not in (model, f"{model}:latest") and f"{got_id}:latest" != model:
        raise Failed(
            f"models.retrieve({model!r}) returns a model whose id is {got_id!r}: the answer "
            "is not the model object asked for",
            exchange_evidence(ex, expected=model, actual=got_id),
        )
    is_json, document = _json(ex.body)
    problems = _entry_problems(document, 0) if is_json else ["the body is not JSON"]
    if not problems:
        try:
            with replay_client(ex, strict=True) as client:
                client.models.retrieve(model)
        except Exception as exc:
            problems.append(f"strict validation rejects it: {_sdk_error(exc)}")
    if problems:
        raise Failed(
            "the model object breaks the documented shape: "
            + "; ".join(p.replace("data[0]", "the model") for p in problems[:3]),
            exchange_evidence(ex, problems=problems),
        )
    return f"models.retrieve({model!r}) reads the model object"


# --------------------------------------------------------------------------- chat side


def _named(data: Any) -> str | None:
    model = data.get("model") if isinstance(data, dict) else None
    return model if isinstance(model, str) and model.strip() else None


def _answered_model(ex: Exchange) -> str | None:
    """The `model` a 2xx answer names: the body's, or the first chunk's that names one
    (Azure's content-filter annotations say `model: ""`; an empty name names nothing)."""
    if ex.events is None:
        return _named(_json(ex.body)[1])
    for event in ex.events:
        _, data = _json((event.data or "").encode())
        if is_annotation_chunk(data):
            continue
        said = _named(data)
        if said is not None:
            return said
    return None


_MODEL_WORDS = re.compile(r"model", re.IGNORECASE)


@check(
    id="models.unknown_refused",
    fact="errors.invalid",
    title="A request for an unknown model is refused with 404 (or 400)",
    severity=Severity.CLIENT,
    source="OpenAI API reference, Error codes (404 model_not_found); openai-python NotFoundError",
    probes=("unknown_model", "chat"),
    dialects=OPENAI_ONLY,
)
def unknown_refused(ctx: CheckContext) -> str:
    """A chat request (plain and streamed) for a model name that does not exist is
    refused with 404 (or 400) and the error envelope, ideally `code: "model_not_found"`:
    the SDK raises `NotFoundError` and the user learns the name is wrong. A 5xx makes the
    SDK retry and then blame the server; an answer from another model hides the mistake
    (warned, naming the model that answered)."""
    exchanges = ctx.exchanges("unknown_model")
    notes: list[str] = []
    warnings: list[tuple[str, Exchange]] = []
    judged = 0
    for ex in exchanges:
        if ex.error is not None:
            continue  # transport trouble: robustness.*
        if ex.status == 429:
            continue  # still rate-limited after the engine's retries: not a verdict
        judged += 1
        name = str(ex.meta.get("unknown_model") or "?")
        label = ex.meta.get("label") or "plain"
        status = ex.status or 0
        what = f"a {label} request for the model {name!r}, which does not exist,"
        if 200 <= status < 300:
            fail_if_error_instead_of_answer(ctx.provider, ex, what)
            said = _answered_model(ex)
            by = f"by {said!r}" if said else "without naming a model"
            warnings.append(
                (
                    f"{what} was answered HTTP {status} {by}: a mistyped model name gets "
                    "another model's answer without notice",
                    ex,
                )
            )
            continue
        _skip_if_key_refused(ctx, status)
        if status >= 500:
            raise Failed(
                f"{what} was answered HTTP {status}: the SDK retries a 5xx and then raises "
                "InternalServerError instead of NotFoundError",
                exchange_evidence(ex),
            )
        verdict = judge_envelope(ctx.provider, status, ex.body)
        if verdict.fatal:
            raise Failed(
                f"{what} was refused with HTTP {status}, but {verdict.fatal}",
                exchange_evidence(ex),
            )
        err = ctx.provider.decode_error(status, ex.body)
        said = " ".join(str(x) for x in (err.message, err.param, err.code) if x is not None)
        if status not in (400, 404):
            warnings.append(
                (
                    f"{what} was refused with HTTP {status}; 404 (the SDK's NotFoundError) "
                    "tells the user the name is wrong",
                    ex,
                )
            )
        elif status == 400 and not _MODEL_WORDS.search(said):
            warnings.append(
                (
                    f"{what} was refused with HTTP 400, but the error does not mention the "
                    f"model ({excerpt(err.message or '', 120)!r}): the refusal may be for "
                    "another reason",
                    ex,
                )
            )
        elif verdict.minor:
            warnings.append(
                (f"{what} was refused with an incomplete envelope: {verdict.minor[0]}", ex)
            )
        elif err.code != "model_not_found":
            notes.append(f"{label}: HTTP {status}, code {err.code!r}")
        else:
            notes.append(f"{label}: HTTP {status} model_not_found")
    if not judged:
        raise Skipped("not judged: no request for an unknown model completed (robustness.*)")
    if warnings:
        detail, ex = warnings[0]
        raise Warned(detail, exchange_evidence(ex, event=0 if ex.events else None))
    return "refused: " + "; ".join(notes)


#: tokens a name may gain or lose and still name the same model: numbers and dates,
#: versions, release channels, quantisations and sizes, file suffixes
_VERSION_TOKEN = re.compile(
    r"^(\d+[a-z]?|v\d+(\.\d+)*|latest|preview|stable|exp|experimental|instruct|chat|it|hf|"
    r"gguf|ggml|awq|gptq|fp\d+|bf\d+|int\d+|\d+(\.\d+)?[bmk])$"
)
_SEPARATORS = re.compile(r"[-_:.@]")


def _normal(name: str) -> str:
    """The last path segment, lower case, without a model-file extension."""
    base = name.strip().lower().rstrip("/").rsplit("/", 1)[-1]
    return re.sub(r"\.(gguf|bin|safetensors|ggml)$", "", base)


#: a llama.cpp / Ollama quantisation tag (``q4_K_M``, ``iq3_xs``), whose ``_`` is no separator
_QUANT = re.compile(r"(?<![a-z0-9])i?q\d+(_[a-z0-9]+)*")


def _versions_only(tail: str) -> bool:
    tokens = [t for t in _SEPARATORS.split(_QUANT.sub("", tail)) if t]
    return all(_VERSION_TOKEN.match(t) for t in tokens)


def same_model(requested: str, answered: str) -> bool:
    """Whether ``answered`` names the model ``requested`` asked for.

    Equal names, and names that differ only by a path (``meta-llama/Llama-3.1-8B`` vs
    ``/models/Llama-3.1-8B``), a file extension, case, or tokens that mark a version
    (OpenAI answers ``gpt-4o-2024-08-06`` for ``gpt-4o``; Ollama ``llama3.2:latest`` for
    ``llama3.2``; ``-latest`` aliases become dated names). ``gpt-4o-mini`` is not
    ``gpt-4o``: the extra tokens must all be version-like.
    """
    a, b = _normal(requested), _normal(answered)
    if a == b:
        return True
    for short, long in ((a, b), (b, a)):
        for stem in {short, re.sub(r"[-_:.@]latest$", "", short)}:
            if stem and long.startswith(stem):
                rest = long[len(stem) :]
                if rest[:1] and _SEPARATORS.match(rest[:1]) and _versions_only(rest):
                    return True
    return False


@check(
    id="models.answer_model",
    fact="response.completion",
    title="Answers name the model that was asked for",
    severity=Severity.CLIENT,
    source="OpenAI API reference, The chat completion object: `model`",
    probes=("chat", *STREAM_PROBES),
    dialects=OPENAI_ONLY,
    warn_only=True,
)
def answer_model(ctx: CheckContext) -> str:
    """The `model` of a completion and of its chunks names the requested model or a
    version of it (`gpt-4o-2024-08-06` for `gpt-4o`, `llama3.2:latest` for `llama3.2`).
    Another name means the server ignores the requested model or serves a different one;
    clients that log, bill or route by `model` see the wrong one. (That `model` is a
    string is `schema.completion` / `schema.chunk`.)"""
    requested = ctx.provider.model
    seen: list[str] = []
    for name in ("chat", *STREAM_PROBES):
        try:
            ex = ctx.successful(name)
        except Skipped:
            continue
        said = _answered_model(ex)
        if said is None:
            continue
        seen.append(said)
        if not same_model(requested, said):
            raise Failed(
                f"asked for {requested!r}, the answer (probe {name!r}) names {said!r}",
                exchange_evidence(
                    ex, event=0 if ex.events else None, requested=requested, answered=said
                ),
            )
    if not seen:
        raise Skipped("not judged: no successful answer names a model")
    return f"answers name {sorted(set(seen))!r} for {requested!r}"
