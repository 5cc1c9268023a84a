"""The fault registry: named ways for the reference backend to break exactly one property.

A fault is chosen for the whole server (``conformance serve --fault NAME``) or per
request, by the path prefix ``/fault/<name>`` in front of any route or by the header
``X-Conformance-Fault: <name>``; the request's choice wins, and ``none`` turns a
server-wide fault off. Entries with ``correct=True`` are *valid variants*: unusual but
legal behaviour (CRLF line ends, comment lines, extra fields, ...) that a correct checker
must accept. The README next to this module lists them all as a table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: dialects a fault can apply to (the OpenAI dialect covers the NebulaBlock and WeAI paths)
OPENAI = "openai"
WETROCLOUD = "wetrocloud"
_OAI = frozenset({OPENAI})
_WC = frozenset({WETROCLOUD})
_BOTH = frozenset({OPENAI, WETROCLOUD})

#: what a request must have for a fault to show (``needs``)
NEEDS_STREAM = "stream"  # stream: true
NEEDS_USAGE = "include_usage"  # stream_options.include_usage: true
NEEDS_MAX_TOKENS = "max_tokens"  # a max_tokens below the natural length (e.g. 5)
NEEDS_STOP = "stop"  # a stop sequence that occurs in the text
NEEDS_N = "n"  # n >= 2
NEEDS_INVALID = "invalid"  # an invalid request
NEEDS_KEYS = "api_keys"  # the server is configured with API keys
NEEDS_WRONG_KEY = "wrong_key"  # the request carries a key that is not configured
NEEDS_NO_KEY = "no_key"  # the request carries no key
NEEDS_LOGPROBS = "logprobs"  # logprobs: true
NEEDS_TOOLS = "tools"  # tools with a forced tool_choice (required or named)
NEEDS_RESPONSE_FORMAT = "response_format"  # response_format json_object
NEEDS_JSON_SCHEMA = "json_schema"  # response_format json_schema
NEEDS_TOOL_CHOICE_NONE = "tool_choice_none"  # tools offered with tool_choice "none"
NEEDS_NAMED_TOOL = "named_tool"  # several tools, tool_choice naming one that is not the first
NEEDS_SEED = "seed"  # a sampled request (temperature > 0) with a seed
NEEDS_MAX_TOKENS_NULL = "max_tokens_null"  # max_tokens: null
NEEDS_TOP_P = "top_p"  # top_p set
NEEDS_HOT = "temperature_above_1"  # a temperature above 1 (within the range 0..2)
NEEDS_OUT_OF_RANGE = "out_of_range"  # a temperature or top_p outside its range

#: the modes a per-mode fault is limited to (``Fault.mode``)
MODE_STREAM = "stream"
MODE_PLAIN = "plain"


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault mode (or, with ``correct=True``, one valid variant).

    ``breaks`` says in user words which property is broken (for a valid variant: what
    is unusual but legal). ``needs`` lists what a request must have for the fault to be
    visible (see the ``NEEDS_*`` names); ``hangs`` marks faults that stall the client
    until its timeout.
    """

    name: str
    category: str
    breaks: str
    dialects: frozenset[str] = _OAI
    correct: bool = False
    needs: frozenset[str] = field(default_factory=frozenset)
    hangs: bool = False
    #: a per-mode fault: it acts as the fault ``base`` on streamed requests only
    #: (:data:`MODE_STREAM`) or on plain ones only (:data:`MODE_PLAIN`)
    mode: str | None = None
    base: str | None = None


def _f(
    name: str,
    category: str,
    breaks: str,
    *needs: str,
    dialects: frozenset[str] = _OAI,
    correct: bool = False,
    hangs: bool = False,
) -> Fault:
    return Fault(name, category, breaks, dialects, correct, frozenset(needs), hangs)


def _per_mode(fault: Fault) -> tuple[Fault, Fault]:
    """``<name>_stream`` and ``<name>_plain``: ``fault`` limited to one mode, the way real
    servers break when stream and plain answers are built by two code paths."""
    return tuple(  # type: ignore[return-value]
        Fault(
            f"{fault.name}_{mode}",
            fault.category,
            f"{fault.breaks} ({'streamed' if mode == MODE_STREAM else 'plain'} requests only)",
            fault.dialects,
            False,
            fault.needs | ({NEEDS_STREAM} if mode == MODE_STREAM else set()),
            fault.hangs,
            mode,
            fault.name,
        )
        for mode in (MODE_STREAM, MODE_PLAIN)
    )


def effective(fault: Fault | None, *, streaming: bool) -> Fault | None:
    """The fault that acts on one request: a per-mode fault is its base fault in its own
    mode and no fault in the other."""
    if fault is None or fault.mode is None or fault.base is None:
        return fault
    if (fault.mode == MODE_STREAM) != streaming:
        return None
    return FAULTS[fault.base]


_S = NEEDS_STREAM
_ALL_BASE: tuple[Fault, ...] = (
    # --- SSE framing
    _f("no_done", "sse_framing", "the stream ends without the `data: [DONE]` sentinel", _S),
    _f("bom", "sse_framing", "the stream starts with a UTF-8 byte order mark", _S),
    _f("no_blank_line", "sse_framing", "events are not separated by a blank line", _S),
    _f("event_without_data", "sse_framing",
       "the stream carries an event with an `event:` line but no `data:` line", _S),
    _f("wrong_content_type", "sse_framing",
       "a stream is served with Content-Type application/json, not text/event-stream", _S),
    _f("json_instead_of_stream", "sse_framing",
       "`stream: true` is answered with one plain JSON chat.completion", _S),
    # --- chunk schema
    _f("chunk_object_wrong", "chunk_schema",
       "chunks have `object` \"chat.completion\" instead of \"chat.completion.chunk\"", _S),
    _f("created_string", "chunk_schema",
       "`created` is a string instead of an integer (chunks and completions)"),
    _f("created_missing", "chunk_schema", "`created` is missing (chunks and completions)"),
    _f("created_changes", "chunk_schema", "`created` changes from chunk to chunk", _S),
    _f("id_changes", "chunk_schema", "the chunk `id` changes from chunk to chunk", _S),
    _f("id_missing", "chunk_schema", "chunks have no `id`", _S),
    # --- stream semantics
    _f("no_role", "stream_semantics", "no delta carries `role`", _S),
    _f("role_every_delta", "stream_semantics",
       "`role` is repeated in every delta, not only the first", _S),
    _f("finish_never", "stream_semantics",
       "`finish_reason` is never set (stays null in every chunk / choice)"),
    _f("finish_twice", "stream_semantics", "each choice's `finish_reason` is sent twice", _S),
    _f("finish_bad_value", "stream_semantics",
       "`finish_reason` is \"eos\", a value outside the OpenAI enum"),
    _f("usage_ignored", "stream_semantics",
       "`stream_options.include_usage` is ignored: no usage chunk", _S, NEEDS_USAGE),
    _f("usage_every_chunk", "stream_semantics",
       "every chunk carries a usage object, not only the final one", _S),
    _f("usage_chunk_with_choices", "stream_semantics",
       "the usage chunk has non-empty `choices` (usage rides on the last finish chunk)",
       _S, NEEDS_USAGE),
    _f("usage_unrequested", "stream_semantics",
       "a usage chunk (`choices: []`) ends every stream, even without "
       "`stream_options.include_usage` (harmless where a profile does not document it)", _S),
    _f("usage_total_wrong", "stream_semantics",
       "usage.total_tokens is not prompt_tokens + completion_tokens"),
    # --- parameter semantics
    _f("max_tokens_ignored", "parameters",
       "max_tokens / max_completion_tokens is not enforced (more tokens, finish \"stop\")",
       NEEDS_MAX_TOKENS),
    _f("stop_left_in", "parameters", "the matched stop sequence is left in the output",
       NEEDS_STOP),
    _f("stop_ignored_stream", "parameters",
       "stop sequences are honoured in plain answers and ignored when streaming",
       _S, NEEDS_STOP),
    _f("stop_leak_delta", "parameters",
       "streamed, the start of a stop sequence that spans tokens is sent before the rest "
       "matched (it leaks in a delta; the answer then ends)", _S, NEEDS_STOP),
    _f("stop_list_first_only", "parameters",
       "only the first item of a `stop` list is honoured", NEEDS_STOP),
    _f("stop_finish_length", "parameters",
       "an answer ended by a stop sequence says finish_reason \"length\", not \"stop\"",
       NEEDS_STOP),
    _f("stop_finish_null", "parameters",
       "an answer ended by a stop sequence says finish_reason null, not \"stop\"",
       NEEDS_STOP),
    _f("nondeterministic", "parameters",
       "answers are worded anew on every request, even at temperature 0 (legal, but "
       "determinism checks warn; stop checks must warn, never fail)"),
    _f("n_ignored", "parameters", "`n` is ignored: one choice comes back", NEEDS_N),
    _f("choice_index_wrong", "parameters", "choice indexes run 1..n instead of 0..n-1"),
    _f("logprobs_ignored", "parameters",
       "`logprobs: true` is accepted and silently ignored (logprobs stay null)", NEEDS_LOGPROBS),
    _f("tools_ignored", "parameters",
       "a forced tool call (`tool_choice` required or named) is answered in text",
       NEEDS_TOOLS),
    _f("response_format_ignored", "parameters",
       "`response_format` json_object / json_schema is accepted and silently ignored",
       NEEDS_RESPONSE_FORMAT),
    _f("length_reported_as_stop", "parameters",
       "finish_reason is \"stop\" when the max_tokens cap cut the answer", NEEDS_MAX_TOKENS),
    _f("tool_choice_none_ignored", "parameters",
       "`tool_choice: \"none\"` is ignored: the first tool is called anyway",
       NEEDS_TOOL_CHOICE_NONE),
    _f("tool_name_ignored", "parameters",
       "a `tool_choice` naming one function calls the first tool offered instead",
       NEEDS_NAMED_TOOL),
    _f("top_logprobs_wrong", "parameters",
       "`top_logprobs: k` gives k + 1 alternatives per token", NEEDS_LOGPROBS),
    _f("json_schema_violated", "parameters",
       "`response_format` json_schema is accepted but the JSON breaks the schema (an enum "
       "value outside the enum, a missing required property)", NEEDS_JSON_SCHEMA),
    _f("seed_ignored", "parameters",
       "`seed` is ignored: the same seeded sampled request gives another text each time",
       NEEDS_SEED),
    _f("usage_prompt_zero", "parameters",
       "usage counts 0 prompt tokens for a non-empty prompt (total stays the sum)"),
    _f("usage_completion_zero", "parameters",
       "usage counts 0 completion tokens for a non-empty answer (total stays the sum)"),
    _f("usage_over_cap", "parameters",
       "usage counts more completion tokens than max_tokens allows (the text is capped)",
       NEEDS_MAX_TOKENS),
    # --- documented sampling parameters (conformance/backend/sampling.py)
    _f("max_tokens_null_500", "parameters",
       "`max_tokens: null` (\"the model's default\") is answered 500", NEEDS_MAX_TOKENS_NULL),
    _f("top_p_500", "parameters", "a request that sets `top_p` is answered 500", NEEDS_TOP_P),
    _f("temperature_high_malformed", "parameters",
       "a temperature above 1 (inside the range 0..2) gets a 200 whose body is not a "
       "chat.completion (`choices` is a string; streamed requests get it too)", NEEDS_HOT),
    _f("sampling_range_clamped", "parameters",
       "a temperature or top_p outside its range is clamped into it and answered 200, "
       "not refused", NEEDS_OUT_OF_RANGE),
    # --- errors
    _f("invalid_accepted", "errors", "invalid input is answered 200 with a completion",
       NEEDS_INVALID, dialects=_BOTH),
    _f("invalid_500", "errors", "invalid input is answered 500 instead of 400",
       NEEDS_INVALID, dialects=_BOTH),
    _f("error_not_envelope", "errors",
       "error bodies are {\"error\": \"<text>\"}, not the {\"error\": {message, type, param, "
       "code}} envelope", NEEDS_INVALID),
    _f("invalid_stream_event", "errors",
       "a streamed invalid request is answered 200 with an event stream whose first event "
       "carries the error, instead of a 4xx before any event", NEEDS_INVALID, _S),
    _f("midstream_error_plain", "errors",
       "a mid-stream failure is written as plain text, not as an SSE event carrying "
       "{\"error\": {...}} (the correct form: header X-Conformance-Midstream-Error)", _S),
    # --- auth
    _f("wrong_key_accepted", "auth", "a wrong API key is accepted although keys are configured",
       NEEDS_KEYS, NEEDS_WRONG_KEY, dialects=_BOTH),
    _f("missing_key_accepted", "auth", "a request without any API key is accepted although "
       "keys are configured", NEEDS_KEYS, NEEDS_NO_KEY, dialects=_BOTH),
    # --- the model surface
    _f("models_missing", "models",
       "GET .../models (and .../models/<id>) is not served: 404, as on a server that has "
       "only the chat route"),
    _f("models_bare_array", "models",
       "the model list is a bare JSON array of model objects, not {\"object\": \"list\", "
       "\"data\": [...]}"),
    _f("models_ollama_shape", "models",
       "the model list is in Ollama's native /api/tags shape ({\"models\": [{\"name\", "
       "\"size\", \"digest\"...}]}), not the OpenAI list"),
    _f("models_unlisted", "models",
       "the model list leaves out the first (default) model, which is still served"),
    _f("models_retrieve_broken", "models",
       "GET .../models/<id> answers the whole list instead of the one model object"),
    _f("unknown_model_served", "models",
       "a request for a model that does not exist is answered 200 by the first listed model"),
    _f("unknown_model_500", "models",
       "a request for a model that does not exist is answered 500 instead of 404"),
    _f("model_renamed", "models",
       "answers name another model (`model: \"unrelated-model-7b\"`) than the one asked for"),
    # --- robustness
    _f("hang_before_headers", "robustness", "the server never sends response headers",
       dialects=_BOTH, hangs=True),
    _f("hang_mid_stream", "robustness",
       "the server stops sending halfway through the answer and keeps the connection open",
       hangs=True),
    _f("truncated_stream", "robustness",
       "the response is closed halfway through (stream: no finish, no [DONE]; JSON: cut)"),
    _f("connection_dropped", "robustness",
       "the connection closes halfway through the body without ending the HTTP message"),
    _f("unparseable_event", "robustness", "one stream event's data is not valid JSON", _S),
    _f("huge_body", "robustness",
       "the body never ends (endless chunks or an endless JSON string, up to the size cap)",
       dialects=_BOTH),
    # --- Wetrocloud
    _f("wc_tokens_string", "wetrocloud", "`tokens` is a string, not an integer", dialects=_WC),
    _f("wc_success_string", "wetrocloud", "`success` is the string \"true\", not a boolean",
       dialects=_WC),
    _f("wc_multipart_rejected", "wetrocloud",
       "a valid multipart/form-data request is refused (415)", dialects=_WC),
    _f("wc_token_scheme_rejected", "wetrocloud",
       "`Authorization: Token <key>` is refused (401) even with a valid key; "
       "`Bearer <key>` is accepted instead", dialects=_WC),
    # --- valid variants: a correct checker must accept every one of these
    _f("ok_no_space", "valid", "`data:` lines have no space after the colon", _S, correct=True),
    _f("ok_crlf", "valid", "SSE lines end with CRLF", _S, correct=True),
    _f("ok_cr", "valid", "SSE lines end with a bare CR", _S, correct=True),
    _f("ok_comments", "valid", "`:` comment lines and keep-alive comment blocks between events",
       _S, correct=True),
    _f("ok_sse_id", "valid", "events carry an `id:` field besides `data:`", _S, correct=True),
    _f("ok_extra_fields", "valid",
       "unknown extra fields in chunks, choices, messages, responses and model lists (vLLM's "
       "`root`, `max_model_len`..., llama.cpp's top-level `models`)", correct=True,
       dialects=_BOTH),
    _f("ok_usage_key_absent", "valid",
       "chunks other than the usage chunk omit `usage` instead of sending null",
       _S, NEEDS_USAGE, correct=True),
    _f("ok_role_with_content", "valid",
       "the first delta carries role and the first content together (no role-only chunk)",
       _S, correct=True),
    _f("ok_finish_with_content", "valid",
       "finish_reason arrives on the last content chunk instead of a chunk of its own",
       _S, correct=True),
    _f("ok_split_writes", "valid", "events are split across several network writes",
       _S, correct=True),
    _f("ok_coalesced_writes", "valid", "the whole stream arrives in one network write",
       _S, correct=True),
    _f("ok_reasoning_model", "valid",
       "like OpenAI's reasoning models: `max_tokens`, `stop`, `top_p`, `logprobs` and a "
       "temperature other than 1 are refused (400); `max_completion_tokens` is honoured",
       NEEDS_MAX_TOKENS, correct=True),
)  # fmt: skip

#: the faults that also come limited to one mode (``<name>_stream``, ``<name>_plain``)
PER_MODE: tuple[str, ...] = (
    "max_tokens_ignored", "length_reported_as_stop", "n_ignored", "logprobs_ignored",
    "top_logprobs_wrong", "tools_ignored", "tool_choice_none_ignored", "tool_name_ignored",
    "response_format_ignored", "json_schema_violated", "seed_ignored", "usage_total_wrong",
    "usage_prompt_zero", "usage_completion_zero", "usage_over_cap", "invalid_500",
    "invalid_accepted",
)  # fmt: skip
_BY_NAME = {fault.name: fault for fault in _ALL_BASE}
_ALL: tuple[Fault, ...] = _ALL_BASE + tuple(
    variant for name in PER_MODE for variant in _per_mode(_BY_NAME[name])
)

#: every fault and valid variant by name
FAULTS: dict[str, Fault] = {fault.name: fault for fault in _ALL}


def fault_table() -> str:
    """The registry as a Markdown table (what the README shows)."""
    rows = [
        "| name | category | correct | dialects | needs | what it breaks (or varies) |",
        "|---|---|---|---|---|---|",
    ]
    for fault in _ALL:
        rows.append(
            f"| `{fault.name}` | {fault.category} | {'yes' if fault.correct else 'no'} | "
            f"{', '.join(sorted(fault.dialects))} | {', '.join(sorted(fault.needs)) or '-'} | "
            f"{fault.breaks.replace('|', '/')} |"
        )
    return "\n".join(rows)
