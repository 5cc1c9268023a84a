"""Stop strings, chosen from the target's own words (family ``semantics``, ids ``semantics.stop_*``).

A fixed stop string proves nothing when the model never writes it. So the target is first
asked without ``stop`` (probe ``stop_free``: temperature 0, a seed, enough tokens, plain
and streamed); stop strings are then picked from the middle of that answer and the same
request is sent again with them (probe ``stop_string``, built ``after`` ``stop_free``):

- ``word``: one word, sent as a plain string (the specification allows a string or an
  array; a server that iterates a string as a list stops at its first character);
- ``phrase``: two words with the space between them;
- ``span``: the end of one streamed delta and the start of the next, so a streaming
  server must hold back text until it knows whether the stop string completes;
- ``list``: four stop strings (the most OpenAI accepts) of which only one occurs.

Every answer with ``stop`` must end right before the first occurrence (whitespace next to
the cut may be trimmed, as some servers do), must not contain the stop string (not even its
start, in any delta) and must say ``finish_reason: "stop"``, plainly and streamed.

A target that is not deterministic at temperature 0 answers the second request in other
words: that is a warning with both answers as evidence, never a failure. "Ignored the
stop" and "answered differently" are told apart by whether a stop string occurs at all in
the second answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from conformance.checks._judge import accepted
from conformance.checks._oai import decode_exchange
from conformance.checks.evidence import exchange_evidence
from conformance.checks.probes import greedy_params
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
from conformance.providers.base import DecodeError, Provider
from conformance.wire.exchange import Exchange
from conformance.wire.json_bounded import parse_json_bounded

__all__ = ["CASES", "FREE_PROMPT", "MAX_STOPS", "pick_stops"]

_SOURCE = "OpenAI API reference, Create chat completion: stop (up to 4 sequences where the "
_SOURCE += "API will stop generating further tokens; the returned text will not contain them)"

#: a prompt whose answer is long enough to have a middle
FREE_PROMPT = "Describe a walk along a river at dawn in four sentences."
#: enough tokens for the answer to reach its middle and more
FREE_TOKENS = 80
#: an answer shorter than this (in characters) has no middle worth the name
MIN_ANSWER = 24
#: OpenAI refuses a longer stop list
MAX_STOPS = 4
#: the cases, in report order
CASES: tuple[str, ...] = ("word", "phrase", "span", "list")
#: strings that (almost) never occur in an answer: the list's other members
_ABSENT: tuple[str, ...] = ("\u00a7\u00a7", "zxqvj", "###", "<<halt>>", "qqkx", "~~~~")
#: where a stop string's first occurrence may start (share of the answer's length)
_MIDDLE = (0.25, 0.75)
_WORD = re.compile(r"[^\W\d_]{4,}")


# --------------------------------------------------------------------------- picking


def _first_in_middle(text: str, candidate: str) -> int | None:
    """Where ``candidate`` first occurs, when that is in the middle of ``text``."""
    at = text.find(candidate)
    low, high = (len(text) * share for share in _MIDDLE)
    return at if at > 0 and low <= at <= high else None


def _words_near(text: str, target: float) -> list[tuple[int, str]]:
    """Words (4+ letters) whose first occurrence is in the middle, nearest to
    ``target`` (a share of the length) first."""
    found: list[tuple[int, str]] = []
    for match in _WORD.finditer(text):
        at = _first_in_middle(text, match.group())
        if at is not None and at == match.start():
            found.append((at, match.group()))
    return sorted(found, key=lambda item: abs(item[0] - len(text) * target))


def _phrase(text: str) -> str | None:
    """Two words and the space between them, first occurring in the middle of ``text``."""
    for match in re.finditer(r"([^\W\d_]{2,}) ([^\W\d_]{2,})", text):
        at = _first_in_middle(text, match.group())
        if at is not None and at == match.start() and at > len(text) * 0.4:
            return match.group()
    return None


def _span(deltas: Sequence[str], text: str) -> str | None:
    """The end of one content delta and the start of the next (each with a visible
    character), first occurring right at that boundary, in the middle of the answer;
    preferably starting inside a word (a server that matches stop strings only at token
    boundaries shows then)."""
    offset = 0
    options: list[tuple[bool, float, str]] = []
    for pos in range(len(deltas) - 1):
        offset += len(deltas[pos])
        tail, head = deltas[pos][-3:], deltas[pos + 1][:3]
        if not tail.strip() or not head.strip():
            continue
        candidate = tail + head
        if len(candidate.strip()) < 4:
            continue
        if _first_in_middle(text, candidate) == offset - len(tail):
            inside = len(deltas[pos]) > 3 and deltas[pos][-4].isalnum() and tail[0].isalnum()
            options.append((not inside, abs(offset - len(text) / 2), candidate))
    return min(options)[2] if options else None


def pick_stops(text: str, deltas: Sequence[str] | None = None) -> dict[str, list[str] | str]:
    """The stop strings of each case that ``text`` (and its streamed ``deltas``) allows.

    ``word`` is a plain string; the others are lists (``list`` has :data:`MAX_STOPS`
    members of which only one occurs in ``text``). A case the answer gives no material
    for is left out, and every case when the answer is shorter than :data:`MIN_ANSWER`.
    """
    picked: dict[str, list[str] | str] = {}
    if len(text.strip()) < MIN_ANSWER:
        return picked
    words = _words_near(text, 0.5)
    if words:
        picked["word"] = words[0][1]
    phrase = _phrase(text)
    if phrase is not None:
        picked["phrase"] = [phrase]
    if deltas:
        span = _span(deltas, text)
        if span is not None:
            picked["span"] = [span]
    others = [w for _, w in _words_near(text, 0.4) if w != picked.get("word")]
    absent = [s for s in _ABSENT if s not in text][: MAX_STOPS - 1]
    if others and len(absent) == MAX_STOPS - 1:
        picked["list"] = [absent[0], absent[1], others[0], absent[2]]
    return picked


# --------------------------------------------------------------------------- probes


def _params(pctx: ProbeContext, *, stream: bool) -> dict[str, Any]:
    """The greedy parameters with room for the unstopped answer (``FREE_TOKENS``)."""
    params = greedy_params(pctx)
    if "max_tokens" in params:
        params["max_tokens"] = FREE_TOKENS
    if stream:
        params["stream"] = True
        if pctx.capabilities.stream_usage:
            params["stream_options"] = {"include_usage": True}
    return params


@probe("stop_free", dialects=OPENAI_ONLY, requires="stop", priority=22)
def stop_free_probe(pctx: ProbeContext) -> list[ProbeRequest]:
    """A greedy answer without stop (temperature 0, a seed), plain and streamed: the words
    the stop strings are picked from."""
    messages = pctx.messages(FREE_PROMPT)
    out = [ProbeRequest(messages=messages, params=_params(pctx, stream=False), label="plain")]
    if pctx.capabilities.streaming:
        params = _params(pctx, stream=True)
        out.append(ProbeRequest(messages=messages, params=params, label="streamed"))
    return out


def content_deltas(ex: Exchange) -> list[str]:
    """The content deltas of the first choice of a streamed answer, in order."""
    out: list[str] = []
    for event in ex.events or ():
        if not event.data or event.data.strip() == "[DONE]":
            continue
        try:
            chunk = parse_json_bounded(event.data)
        except ValueError:
            continue
        choices = chunk.get("choices") if isinstance(chunk, dict) else None
        for choice in choices if isinstance(choices, list) else ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta")
            if isinstance(delta, dict) and isinstance(delta.get("content"), str):
                out.append(delta["content"])
    return out


def _text(provider: Provider, ex: Exchange) -> str | None:
    """The answer's text (``None`` when it cannot be decoded: ``schema.*`` says why)."""
    try:
        return decode_exchange(provider, ex).text
    except DecodeError:
        return None


def _asked_again(pctx: ProbeContext, parent: Exchange | None, mode: str) -> dict[str, Any]:
    """The parameters the answer without stop was asked with (those the engine recorded),
    to be sent again with ``stop``."""
    sent = parent.meta.get("params") if parent is not None else None
    if isinstance(sent, dict) and sent:
        return dict(sent)
    return _params(pctx, stream=mode == "streamed")


@probe(
    "stop_string",
    dialects=OPENAI_ONLY,
    requires="stop",
    priority=22,
    after="stop_free",
    reserve=2 * len(CASES),
)
def stop_string_probe(pctx: ProbeContext, parent: Sequence[Exchange]) -> list[ProbeRequest]:
    """The same greedy requests again, with stop strings picked from the middle of the
    answers without stop: a word, a phrase, a string spanning two streamed deltas, and a
    list of four where one occurs."""
    by_label = {ex.meta.get("label"): ex for ex in parent}
    texts = {label: _text(pctx.provider, ex) for label, ex in by_label.items()}
    streamed = by_label.get("streamed")
    deltas = content_deltas(streamed) if streamed is not None else []
    out: list[ProbeRequest] = []
    for mode in ("plain", "streamed"):
        text = texts.get(mode)
        if not text:
            continue
        picked = pick_stops(text, deltas if mode == "streamed" else None)
        if mode == "plain" and "span" not in picked and texts.get("streamed"):
            # the span is found in the streamed deltas; the plain answer is asked too
            span = pick_stops(str(texts["streamed"]), deltas).get("span")
            if isinstance(span, list) and text.find(span[0]) > 0:
                picked["span"] = span
        messages = pctx.messages(FREE_PROMPT)
        for case in CASES:
            if case not in picked:
                continue
            params = {**_asked_again(pctx, by_label.get(mode), mode), "stop": picked[case]}
            meta = {"case": case, "mode": mode}
            out.append(
                ProbeRequest(messages=messages, params=params, label=f"{case}_{mode}", meta=meta)
            )
    if not out:
        shown = "; ".join(f"{k}: {str(v)[:80]!r}" for k, v in texts.items())
        raise Skipped(
            "not judgeable: the answers without stop are too short to pick a stop string from "
            f"their middle ({shown or 'no text'})"
        )
    return out


# --------------------------------------------------------------------------- judging


@dataclass(frozen=True, slots=True)
class _Verdict:
    #: "ok", "fail" or "warn"
    kind: str
    problem: str = ""
    evidence: dict[str, Any] | None = None


def _stops_of(ex: Exchange) -> list[str]:
    params = ex.meta.get("params")
    stop = params.get("stop") if isinstance(params, dict) else None
    if isinstance(stop, str):
        return [stop]
    return [s for s in stop or () if isinstance(s, str) and s]


def _shown(finish: str | None) -> str:
    return "null" if finish is None else f"{finish!r}"


def _leaked_start(text: str, expected: str, stops: Sequence[str]) -> str | None:
    """What follows ``expected`` in ``text`` when it is only the start of a stop string
    (sent before the rest of the stop string matched)."""
    got, want = text.strip(), expected.strip()
    if not got.startswith(want):
        return None
    rest = got[len(want) :]
    if not rest.strip():
        return None
    for stop in stops:
        if len(rest.strip()) < len(stop.strip()) and stop.strip().startswith(rest.strip()):
            return rest
    return None


def _stopped_at_a_character(ex: Exchange, text: str, expected: str) -> str | None:
    """The character the answer stopped before, when ``stop`` was a plain string, the
    answer is a shorter start of the expected one and the next character that was due is
    one of the stop string's characters."""
    params = ex.meta.get("params")
    stop = params.get("stop") if isinstance(params, dict) else None
    if not isinstance(stop, str) or len(stop) < 2:
        return None
    got, want = text.strip(), expected.strip()
    if len(got) >= len(want) or not want.startswith(got):
        return None
    due = want[len(got) :].lstrip()[:1]
    return due if due and due in stop else None


def _leak_delta(ex: Exchange, expected: str) -> int | None:
    """The index of the first content delta that goes past ``expected``."""
    seen = ""
    for pos, delta in enumerate(content_deltas(ex)):
        seen += delta
        if len(seen.strip()) > len(expected.strip()):
            return pos
    return None


def _judge(ctx: CheckContext, ex: Exchange, free: Exchange | None) -> _Verdict:
    """The verdict on one answer with ``stop`` against the same request without it."""
    mode = str(ex.meta.get("mode") or "plain")
    stops = _stops_of(ex)
    try:
        gen = decode_exchange(ctx.provider, ex)
    except DecodeError as exc:
        raise Skipped(
            f"not judged: the {mode} answer with stop could not be decoded: {exc}"
        ) from None
    text = gen.text
    finish = gen.choices[0].finish_reason if gen.choices else None
    free_text = _text(ctx.provider, free) if free is not None else None
    facts: dict[str, Any] = {
        "mode": mode,
        "stop": stops,
        "text": text[:400],
        "finish_reason": finish,
        "answer_without_stop": (free_text or "")[:400],
    }
    if ex.events is not None:
        facts["deltas"] = content_deltas(ex)[:60]
    found = [s for s in stops if s in text]
    if found:
        problem = f"the {mode} answer contains the stop string {found[0]!r}: the stop was ignored"
        return _Verdict("fail", problem, exchange_evidence(ex, problem=problem, **facts))
    if free_text is None:
        return _Verdict("warn", f"the {mode} answer without stop is missing or undecodable")
    cuts = [free_text.find(s) for s in stops if s in free_text]
    if not cuts:
        return _Verdict("warn", f"no stop string occurs in the {mode} answer without stop")
    expected = free_text[: min(cuts)]
    facts["expected"] = expected[:400]
    if text.strip() == expected.strip():
        if finish != "stop":
            problem = (
                f"the {mode} answer ends right before the stop string but says finish_reason "
                f'{_shown(finish)}, not "stop" (clients take it for a cut or unfinished answer)'
            )
            return _Verdict("fail", problem, exchange_evidence(ex, problem=problem, **facts))
        return _Verdict("ok")
    leaked = _leaked_start(text, expected, stops)
    if leaked is not None:
        where = ""
        if ex.events is not None:
            pos = _leak_delta(ex, expected)
            where = f" (content delta {pos})" if pos is not None else ""
            facts["leak_delta"] = pos
        problem = (
            f"the {mode} answer ends with {leaked.strip()!r}{where}, the start of the stop "
            "string: it was sent before the rest of the stop string matched"
        )
        return _Verdict("fail", problem, exchange_evidence(ex, problem=problem, **facts))
    early = _stopped_at_a_character(ex, text, expected)
    if early is not None:
        problem = (
            f"the {mode} answer stops before {early!r}, a character of the stop string "
            f"{stops[0]!r}, not before the stop string itself: a plain-string `stop` was read "
            "as a list of one-character stop strings"
        )
        return _Verdict("fail", problem, exchange_evidence(ex, problem=problem, **facts))
    got, want = text.strip(), expected.strip()
    if got and len(got) < len(want) and want.startswith(got):
        problem = (
            f"the {mode} answer with stop ends early, {len(want) - len(got)} character(s) "
            f"before the stop string (missing {want[len(got) :][:60]!r}): a server that cuts "
            "at a token boundary, or one that is not deterministic at temperature 0"
        )
    else:
        problem = (
            f"the {mode} answer with stop is worded differently from the same request without "
            "stop (and contains no stop string): the target is not deterministic at "
            "temperature 0, so the stop could not be judged exactly"
        )
    return _Verdict("warn", problem, exchange_evidence(ex, problem=problem, **facts))


def _judge_case(ctx: CheckContext, case: str) -> str:
    """Judge one case in both modes; raises the worst verdict."""
    frees = {ex.meta.get("label"): ex for ex in ctx.exchanges("stop_free")}
    answers = [ex for ex in ctx.exchanges("stop_string") if ex.meta.get("case") == case]
    if not answers:
        raise Skipped(
            f"not judgeable: the answers without stop gave no material for a {case} stop string"
        )
    fails: list[_Verdict] = []
    warns: list[_Verdict] = []
    skips: list[str] = []
    judged: list[str] = []
    for ex in answers:
        label = str(ex.meta.get("label"))
        mode = str(ex.meta.get("mode") or "plain")
        try:
            answer = accepted(ctx, "stop_string", feature="stop", label=label)
        except Skipped as exc:  # a clean refusal of `stop` (a reasoning model): by design
            skips.append(exc.detail)
            continue
        verdict = _judge(ctx, answer, frees.get(mode))
        if verdict.kind == "fail":
            fails.append(verdict)
        elif verdict.kind == "warn":
            warns.append(verdict)
        else:
            judged.append(mode)
    if fails:
        detail = fails[0].problem
        if len(fails) > 1:
            detail += f" (and {len(fails) - 1} more answer(s) with stop: see the evidence)"
        raise Failed(detail, {"bad": [v.evidence for v in fails], "answers": len(answers)})
    if warns:
        raise Warned(warns[0].problem, {"differs": [v.evidence or {} for v in warns]})
    if not judged:
        raise Skipped(skips[0] if skips else f"not judged: no {case} answer")
    return f"the {case} stop string cuts the answer right before it ({', '.join(judged)})"


_PROBES = ("stop_free", "stop_string")


@check(
    id="semantics.stop_word",
    fact="param.stop",
    title="A stop word (given as a plain string) ends the answer right before it",
    severity=Severity.CLIENT,
    source=_SOURCE,
    probes=_PROBES,
    dialects=OPENAI_ONLY,
    requires="stop",
)
def stop_word(ctx: CheckContext) -> str:
    """Asked again with a word from the middle of its own greedy answer as `stop` (a plain
    string), the target ends the answer right before that word, leaves it out and says
    finish_reason "stop", plainly and streamed. A different wording at temperature 0 is a
    warning (not deterministic), never a failure."""
    return _judge_case(ctx, "word")


@check(
    id="semantics.stop_phrase",
    fact="param.stop",
    title="A stop string of several words ends the answer right before it",
    severity=Severity.CLIENT,
    source=_SOURCE,
    probes=_PROBES,
    dialects=OPENAI_ONLY,
    requires="stop",
)
def stop_phrase(ctx: CheckContext) -> str:
    """With two words of its own answer as the stop string, the target ends right before
    them and sends neither of them, nor their start (a streaming server must hold back the
    first word until it knows whether the second follows); finish_reason is "stop"."""
    return _judge_case(ctx, "phrase")


@check(
    id="semantics.stop_span",
    fact="param.stop",
    title="A stop string spanning two streamed deltas never leaks",
    severity=Severity.CLIENT,
    source=_SOURCE,
    probes=_PROBES,
    dialects=OPENAI_ONLY,
    requires="stop",
)
def stop_span(ctx: CheckContext) -> str:
    """With a stop string made of the end of one streamed delta and the start of the next,
    the answer ends right before it, plainly and streamed, and no delta carries any part of
    it; finish_reason is "stop"."""
    return _judge_case(ctx, "span")


@check(
    id="semantics.stop_list",
    fact="param.stop",
    title="A list of four stop strings stops at the one that occurs",
    severity=Severity.CLIENT,
    source=_SOURCE,
    probes=_PROBES,
    dialects=OPENAI_ONLY,
    requires="stop",
)
def stop_list(ctx: CheckContext) -> str:
    """With four stop strings (the most OpenAI accepts) of which only one occurs in the
    answer, the target ends right before that one, plainly and streamed, with finish_reason
    "stop" (a server that reads only the first item of the list fails)."""
    return _judge_case(ctx, "list")
