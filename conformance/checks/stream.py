"""Stream semantics: the order and uniqueness rules of ``chat.completion.chunk`` streams.

Role first and once per choice, a finish reason exactly once per choice, content deltas
that are increments (not snapshots of the text so far), the usage chunk when asked for
(``choices: []``, exactly one, after the finish chunks), ``[DONE]`` last.
Valid variants pass: role and first content in one delta, the finish reason on the last
content chunk, ``usage`` absent (rather than null) on ordinary chunks.
"""

from __future__ import annotations

import itertools
from typing import Any

from conformance.checks._oai import (
    STREAM_PROBES,
    Chunk,
    chunks_or_skip,
    events_or_skip,
    stream_exchanges,
)
from conformance.checks.evidence import exchange_evidence
from conformance.checks.registry import OPENAI_ONLY, CheckContext, Failed, Severity, Skipped, check

_CHUNK_REF = "OpenAI API reference, The chat completion chunk object"
_USAGE_REF = "OpenAI API reference, Chat Completions: stream_options.include_usage"


def _content(choice: dict[str, Any]) -> str:
    delta = choice.get("delta")
    if isinstance(delta, dict) and isinstance(delta.get("content"), str):
        return str(delta["content"])
    return ""


def _index(choice: dict[str, Any]) -> Any:
    return choice.get("index", 0)


@check(
    id="stream.done_sentinel",
    fact="stream.sse",
    title="The stream ends with `data: [DONE]`, and nothing follows it",
    severity=Severity.CLIENT,
    source=_CHUNK_REF + "; OpenAI API reference, Chat Completions: stream",
    probes=STREAM_PROBES,
    dialects=OPENAI_ONLY,
    requires="streaming",
)
def done_sentinel(ctx: CheckContext) -> str:
    """The last event of a stream is `data: [DONE]`, sent once. Clients that wait for it
    hang or report an incomplete answer without it, and events after it are lost."""
    for ex in stream_exchanges(ctx):
        events = events_or_skip(ex)
        done = [pos for pos, ev in enumerate(events) if (ev.data or "").strip() == "[DONE]"]
        if not done:
            pending = ex.meta.get("sse_unterminated")
            if isinstance(pending, dict) and str(pending.get("data") or "").strip() == "[DONE]":
                continue  # sent, but unterminated: sse.events_separated reports that
            raise Failed(
                f"the stream of probe {ex.probe!r} never sends `data: [DONE]` "
                f"({len(events)} events)",
                exchange_evidence(ex, event=-1, body=False),
            )
        if len(done) > 1:
            raise Failed(
                f"`[DONE]` is sent {len(done)} times in probe {ex.probe!r}",
                exchange_evidence(ex, event=done[1], body=False),
            )
        if done[0] != len(events) - 1:
            raise Failed(
                f"{len(events) - 1 - done[0]} event(s) follow `[DONE]` in probe {ex.probe!r}",
                exchange_evidence(ex, event=done[0] + 1, body=False),
            )
    return "[DONE] last"


@check(
    id="stream.role_first",
    fact="stream.delta_rules",
    title='The first delta of each choice carries role "assistant"',
    severity=Severity.CLIENT,
    source=_CHUNK_REF + " (delta.role)",
    probes=STREAM_PROBES,
    dialects=OPENAI_ONLY,
    requires="streaming",
)
def role_first(ctx: CheckContext) -> str:
    """The first chunk of every choice says `delta.role: "assistant"` (with or without
    content); clients that build the message from the deltas take its role from there."""
    for ex in stream_exchanges(ctx):
        seen: set[Any] = set()
        for chunk in chunks_or_skip(ex):
            for choice in chunk.choices:
                idx = _index(choice)
                if idx in seen:
                    continue
                seen.add(idx)
                delta = choice.get("delta")
                role = delta.get("role") if isinstance(delta, dict) else None
                if role != "assistant":
                    raise Failed(
                        f"the first delta of choice {idx!r} in probe {ex.probe!r} has role "
                        f"{role!r}, not 'assistant'",
                        exchange_evidence(ex, event=chunk.event, body=False),
                    )
        if not seen:
            raise Skipped(f"not judged: probe {ex.probe!r} streamed no choice")
    return "role first"


@check(
    id="stream.role_once",
    fact="stream.delta_rules",
    title="`role` is sent once per choice, not in every delta",
    severity=Severity.SDK,
    source=_CHUNK_REF + "; openai-python ChatCompletionStreamState (concatenates string deltas)",
    probes=STREAM_PROBES,
    dialects=OPENAI_ONLY,
    requires="streaming",
)
def role_once(ctx: CheckContext) -> str:
    """Only the first delta of a choice carries `role`; when every delta repeats it, the
    SDK's stream helper concatenates them into roles like "assistantassistant"."""
    for ex in stream_exchanges(ctx):
        seen: dict[Any, int] = {}
        for chunk in chunks_or_skip(ex):
            for choice in chunk.choices:
                delta = choice.get("delta")
                if isinstance(delta, dict) and delta.get("role") is not None:
                    idx = _index(choice)
                    if idx in seen:
                        raise Failed(
                            f"choice {idx!r} of probe {ex.probe!r} gets `role` again "
                            f"(first in event {seen[idx]}, again in event {chunk.event})",
                            exchange_evidence(ex, event=chunk.event, body=False),
                        )
                    seen[idx] = chunk.event
    return "role once"


@check(
    id="stream.finish_reason_once",
    fact="stream.delta_rules",
    title="Each choice gets a finish_reason exactly once, at its end",
    severity=Severity.CLIENT,
    source=_CHUNK_REF + " (choices[].finish_reason)",
    probes=STREAM_PROBES,
    dialects=OPENAI_ONLY,
    requires="streaming",
)
def finish_reason_once(ctx: CheckContext) -> str:
    """Every streamed choice ends with exactly one non-null `finish_reason`, and no
    content follows it; clients use it to know why and whether the answer ended."""
    for ex in stream_exchanges(ctx):
        finished: dict[Any, int] = {}
        choices_seen: set[Any] = set()
        for chunk in chunks_or_skip(ex):
            for choice in chunk.choices:
                idx = _index(choice)
                choices_seen.add(idx)
                if idx in finished and _content(choice):
                    raise Failed(
                        f"choice {idx!r} of probe {ex.probe!r} gets content after its "
                        f"finish_reason (event {finished[idx]})",
                        exchange_evidence(ex, event=chunk.event, body=False),
                    )
                if choice.get("finish_reason") is not None:
                    if idx in finished:
                        raise Failed(
                            f"choice {idx!r} of probe {ex.probe!r} gets a finish_reason twice "
                            f"(events {finished[idx]} and {chunk.event})",
                            exchange_evidence(ex, event=chunk.event, body=False),
                        )
                    finished[idx] = chunk.event
        missing = sorted(str(i) for i in choices_seen - set(finished))
        if missing:
            raise Failed(
                f"choice(s) {', '.join(missing)} of probe {ex.probe!r} never get a finish_reason",
                exchange_evidence(ex, event=-1, body=False),
            )
    return "one finish_reason per choice"


#: a stream is cumulative when this many consecutive content deltas each restate the
#: previous delta and add to it (natural token streams never do that three times running)
_CUMULATIVE_RUN = 3


def _cumulative_from(deltas: list[tuple[int, str]]) -> int | None:
    """The event at which ``deltas`` ((event, content) of one choice) have restated the
    previous delta :data:`_CUMULATIVE_RUN` times in a row, or ``None``."""
    run = 0
    for (_, prev), (event, cur) in itertools.pairwise(deltas):
        if len(prev.strip()) >= 2 and len(cur) > len(prev) and cur.startswith(prev):
            run += 1
            if run >= _CUMULATIVE_RUN:
                return event
        else:
            run = 0
    return None


@check(
    id="stream.deltas_incremental",
    fact="stream.delta_rules",
    title="Each content delta carries only the new text",
    severity=Severity.SDK,
    source=_CHUNK_REF + " (delta: the chunk's part of the message); openai-python "
    "ChatCompletionStreamState (concatenates content deltas)",
    probes=STREAM_PROBES,
    dialects=OPENAI_ONLY,
    requires="streaming",
)
def deltas_incremental(ctx: CheckContext) -> str:
    """Every `delta.content` is the next piece of the answer, not the whole answer so far.
    Every client, the SDK's stream helper included, concatenates the deltas: cumulative
    snapshots show the text many times over ("Once Once upon Once upon a...")."""
    for ex in stream_exchanges(ctx):
        per_choice: dict[Any, list[tuple[int, str]]] = {}
        for chunk in chunks_or_skip(ex):
            for choice in chunk.choices:
                text = _content(choice)
                if text:
                    per_choice.setdefault(_index(choice), []).append((chunk.event, text))
        for idx, deltas in per_choice.items():
            event = _cumulative_from(deltas)
            if event is not None:
                raise Failed(
                    f"the content deltas of choice {idx!r} in probe {ex.probe!r} repeat the "
                    "text sent so far and add to it (cumulative snapshots, not increments): "
                    "clients that join the deltas show the answer many times over",
                    exchange_evidence(ex, event=event, body=False),
                )
    return "incremental deltas"


def _usage_chunks(chunks: list[Chunk]) -> list[Chunk]:
    return [c for c in chunks if c.data.get("usage") is not None]


@check(
    id="stream.usage_chunk",
    fact="stream.usage",
    title="include_usage yields one final usage chunk with empty choices",
    severity=Severity.CLIENT,
    source=_USAGE_REF,
    probes=("stream_usage",),
    dialects=OPENAI_ONLY,
    requires="stream_usage",
)
def usage_chunk(ctx: CheckContext) -> str:
    """With `stream_options: {"include_usage": true}`, exactly one extra chunk carries
    `usage`, with `choices: []`, after every finish_reason and before `[DONE]`; clients
    count tokens and bill from it."""
    (ex,) = stream_exchanges(ctx, ("stream_usage",))
    chunks = chunks_or_skip(ex)
    carriers = _usage_chunks(chunks)
    if not carriers:
        raise Failed(
            "include_usage was asked for, but no chunk carries a usage object",
            exchange_evidence(ex, event=-1, body=False),
        )
    if len(carriers) > 1:
        raise Failed(
            f"{len(carriers)} chunks carry usage; exactly one (the last) should",
            exchange_evidence(ex, event=carriers[0].event, body=False),
        )
    final = carriers[0]
    raw_choices = final.data.get("choices")
    if raw_choices != []:
        raise Failed(
            f"the usage chunk has choices {raw_choices!r:.200}; it must have `choices: []`",
            exchange_evidence(ex, event=final.event, body=False),
        )
    last_finish = max(
        (c.event for c in chunks for ch in c.choices if ch.get("finish_reason") is not None),
        default=-1,
    )
    if final.event < last_finish:
        raise Failed(
            "the usage chunk comes before the last finish_reason chunk",
            exchange_evidence(ex, event=final.event, body=False),
        )
    later = [c for c in chunks if c.event > final.event]
    if later:
        raise Failed(
            f"{len(later)} chunk(s) follow the usage chunk; it must be the last before [DONE]",
            exchange_evidence(ex, event=later[0].event, body=False),
        )
    return "one usage chunk, last, with empty choices"


@check(
    id="stream.usage_only_on_usage_chunk",
    fact="stream.usage",
    title="Ordinary chunks carry no usage (null or absent)",
    severity=Severity.CLIENT,
    source=_USAGE_REF + " (usage is null on every other chunk)",
    probes=STREAM_PROBES,
    dialects=OPENAI_ONLY,
    requires="streaming",
)
def usage_only_on_usage_chunk(ctx: CheckContext) -> str:
    """`usage` is null or absent on every chunk that carries choices: clients that sum
    usage per chunk over-count. Where the profile documents `stream_options`, no usage
    chunk is sent unless it was asked for (OpenAI's rule). Where it does not, a server
    that always ends its streams with a usage chunk (`choices: []`) is not failed: there
    was no way to ask, and the official SDK reads such a chunk without harm (it iterates
    `chunk.choices` and keeps `chunk.usage`)."""
    documented = ctx.capabilities.stream_usage
    unasked = 0
    for ex in stream_exchanges(ctx):
        asked = ex.probe == "stream_usage"
        for chunk in chunks_or_skip(ex):
            if chunk.data.get("usage") is None:
                continue
            if chunk.choices:
                raise Failed(
                    f"a chunk with choices carries usage in probe {ex.probe!r} "
                    f"(event {chunk.event})",
                    exchange_evidence(ex, event=chunk.event, body=False),
                )
            if not asked:
                if not documented:
                    unasked += 1
                    continue
                raise Failed(
                    "a usage chunk was sent although stream_options.include_usage was not asked",
                    exchange_evidence(ex, event=chunk.event, body=False),
                )
    if unasked:
        return (
            f"usage only on usage chunks; {unasked} sent unasked, which "
            f"{ctx.provider.name} allows (its document lists no stream_options)"
        )
    return "usage only where asked"
