"""Deterministic text generation and the backend's tokenizer.

The backend does not run a model. It draws words from a fixed vocabulary
(:data:`VOCABULARY`) with a pseudo-random generator seeded by the prompt and the sampling
parameters, so the same prompt and seed always give the same text, streamed or not.

The tokenizer (used for every count the backend reports) is one token per word-piece:
a run of letters, digits or underscores, or a single punctuation character
(:func:`count_tokens`). A message costs one token for its role plus the tokens of its
text (:func:`count_prompt_tokens`). Every generated token is one word-piece, so the
text of an answer that was not cut by a stop sequence has exactly
``usage.completion_tokens`` tokens under the same tokenizer.

Because the vocabulary is fixed and no word is part of another, a test can request an
answer, pick a word from it and use that word as a stop sequence.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

#: every word the backend can produce; no word contains another one
VOCABULARY: tuple[str, ...] = (
    "amber", "bridge", "cloud", "delta", "ember", "forest", "garden", "harbor",
    "island", "jungle", "kettle", "lantern", "meadow", "nectar", "orbit", "pepper",
    "quartz", "river", "saddle", "timber", "umbra", "velvet", "willow", "xenon",
    "yonder", "zephyr", "anchor", "basil", "copper", "dune", "echo", "fjord",
    "glacier", "hollow", "ivory", "juniper", "kernel", "lagoon", "marble", "nimbus",
    "opal", "prairie", "quiver", "ravine", "sierra", "tundra", "upland", "valley",
    "walnut", "yarrow", "zenith", "acorn", "bramble", "cobalt", "drift", "fable",
    "grove", "heron", "indigo", "jasper", "knoll", "lotus", "mosaic", "pebble",
)  # fmt: skip
#: punctuation tokens that may follow a word
PUNCTUATION: tuple[str, ...] = (",", ".")

_WORD_PIECE = re.compile(r"\w+|[^\w\s]")


def count_tokens(text: str) -> int:
    """How many tokens ``text`` has under the backend's tokenizer."""
    return len(_WORD_PIECE.findall(text))


def count_prompt_tokens(texts: Iterable[str]) -> int:
    """The prompt tokens of a conversation given as its message texts (1 per message + text)."""
    return sum(1 + count_tokens(text) for text in texts)


def prompt_key(turns: Sequence[tuple[str, str]]) -> bytes:
    """A stable digest of a conversation (role and text of every message)."""
    digest = hashlib.blake2b(digest_size=16)
    for role, text in turns:
        digest.update(role.encode())
        digest.update(b"\x00")
        digest.update(text.encode("utf-8", "surrogatepass"))
        digest.update(b"\x01")
    return digest.digest()


@dataclass(frozen=True, slots=True)
class Sampling:
    """The parameters that shape the text (all of them change it deterministically).

    With ``temperature == 0`` the answer depends only on the prompt: the seed and the
    choice index are not used, so every choice is the same (greedy decoding).
    ``top_p`` narrows the words that can be drawn; a positive ``presence_penalty`` or
    ``frequency_penalty`` avoids repeating words, a negative one favours it.
    """

    seed: int | None = None
    temperature: float = 1.0
    top_p: float = 1.0
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0


@dataclass(frozen=True, slots=True)
class Completion:
    """One generated choice.

    ``pieces`` are the text fragments in sending order (one per content event; each is
    one token, or the part of a token before a stop sequence); ``tokens`` is how many
    tokens the backend generated (the usage count), which includes tokens that were
    swallowed by a stop sequence.
    """

    pieces: tuple[str, ...]
    finish_reason: str
    tokens: int
    #: the length the tokens were drawn with (None: natural), to replay them for logprobs
    drawn_length: int | None = None
    #: per piece, the drawn position it came from (-1: a certain JSON-mode token);
    #: None means piece k is drawn position k
    sources: tuple[int, ...] | None = None

    @property
    def text(self) -> str:
        return "".join(self.pieces)


def _rng_seed(key: bytes, sampling: Sampling, index: int) -> int:
    greedy = sampling.temperature == 0
    material = b"|".join(
        (
            key,
            b"greedy" if greedy else repr((sampling.seed, index, sampling.temperature)).encode(),
            repr((sampling.top_p, sampling.presence_penalty, sampling.frequency_penalty)).encode(),
        )
    )
    return int.from_bytes(hashlib.blake2b(material, digest_size=8).digest(), "big")


#: the tokens that open and close a JSON-mode answer: {"text": "<words>"}
JSON_OPEN: tuple[str, ...] = ("{", '"', "text", '"', ":", ' "')
JSON_CLOSE: tuple[str, ...] = ('"', "}")
#: the log-probability reported for a token the model could not have produced
IMPOSSIBLE = -9999.0


def _candidates(key: bytes, sampling: Sampling) -> list[str]:
    order = list(VOCABULARY)
    random.Random(key).shuffle(order)
    return order[: max(2, math.ceil(sampling.top_p * len(order)))]


def _sample(
    key: bytes,
    sampling: Sampling,
    index: int,
    length_bounds: tuple[int, int],
    length: int | None,
    with_probabilities: bool,
) -> tuple[tuple[str, ...], int, tuple[dict[str, float], ...]]:
    """Draw the tokens; with ``with_probabilities`` also each position's distribution.

    The distribution is exact for the drawing rule below: a uniform draw from the
    candidates, re-drawn up to three times to avoid a used word under a positive
    penalty, or replaced by the previous word with probability ``-penalty / 4`` under
    a negative one; greedy decoding and punctuation are certain.
    """
    rng = random.Random(_rng_seed(key, sampling, index))
    natural = rng.randint(*length_bounds)
    total = natural if length is None else length
    candidates = _candidates(key, sampling)
    k = len(candidates)
    greedy = sampling.temperature == 0
    penalty = sampling.presence_penalty + sampling.frequency_penalty
    out: list[str] = []
    used: set[str] = set()
    probabilities: list[dict[str, float]] = []
    cursor = 0
    for position in range(total):
        if position % 9 == 8:
            mark = PUNCTUATION[(position // 9) % 2]
            out.append(mark)
            if with_probabilities:
                probabilities.append({mark: 1.0})
            continue
        distribution: dict[str, float] | None = None
        if greedy:
            cursor = (cursor * 31 + 7 + position) % k
            word = candidates[cursor]
            distribution = {word: 1.0}
        else:
            word = rng.choice(candidates)
            if penalty > 0:
                if with_probabilities:
                    r = len(used) / k
                    fresh = (1 + r + r**2 + r**3) / k
                    distribution = {w: (r**3 / k if w in used else fresh) for w in candidates}
                for _ in range(3):
                    if word not in used:
                        break
                    word = rng.choice(candidates)
            elif penalty < 0 and used:
                q = min(1.0, -penalty / 4)
                previous = out[-1].strip() if out[-1] not in PUNCTUATION else None
                if rng.random() < q and previous is not None:
                    word = previous
                if with_probabilities and previous is not None:
                    distribution = {w: (1 - q) / k + (q if w == previous else 0.0)
                                    for w in candidates}  # fmt: skip
            if with_probabilities and distribution is None:
                distribution = dict.fromkeys(candidates, 1 / k)
        used.add(word)
        prefix = "" if position == 0 else " "
        out.append(prefix + word)
        if with_probabilities:
            assert distribution is not None
            probabilities.append({prefix + w: p for w, p in distribution.items()})
    return tuple(out), natural, tuple(probabilities)


@lru_cache(maxsize=8192)
def raw_tokens(
    key: bytes, sampling: Sampling, index: int, length_bounds: tuple[int, int], length: int | None
) -> tuple[tuple[str, ...], int]:
    """The token texts of one choice and the natural length of the answer.

    ``length`` forces how many tokens to produce (``None``: the natural length, which
    is drawn from ``length_bounds``). The first token has no leading space.
    """
    tokens, natural, _ = _sample(key, sampling, index, length_bounds, length, False)
    return tokens, natural


def token_logprobs(
    key: bytes,
    sampling: Sampling,
    index: int,
    pieces: Sequence[str],
    *,
    top: int,
    length_bounds: tuple[int, int],
    length: int | None,
    sources: Sequence[int] | None = None,
) -> list[dict[str, object]]:
    """OpenAI ``logprobs.content`` entries for the sent ``pieces`` of one choice.

    Each entry is the natural log of the probability the drawing rule gave the token,
    with the ``top`` most likely tokens at that position as alternatives (padded with
    impossible ones, at :data:`IMPOSSIBLE`, when fewer are possible). A piece cut short
    by a stop sequence reports its token's probability. ``sources`` maps pieces to drawn
    positions (see :attr:`Completion.sources`).
    """
    drawn, _, drawn_probabilities = _sample(key, sampling, index, length_bounds, length, True)
    if sources is None:
        tokens, probabilities = list(drawn), list(drawn_probabilities)
    else:  # JSON mode: structural tokens are certain
        tokens = [drawn[s] if s >= 0 else piece for s, piece in zip(sources, pieces, strict=False)]
        probabilities = [
            drawn_probabilities[s] if s >= 0 else {piece: 1.0}
            for s, piece in zip(sources, pieces, strict=False)
        ]
    entries: list[dict[str, object]] = []
    for piece, token, distribution in zip(pieces, tokens, probabilities, strict=False):
        ranked = sorted(distribution.items(), key=lambda item: (-item[1], item[0] != token))[:top]
        if len(ranked) < top:  # pad with tokens the rule could not have produced here
            prefix = " " if token.startswith(" ") else ""
            others = [prefix + w for w in VOCABULARY if prefix + w not in distribution]
            ranked += [(other, 0.0) for other in others[: top - len(ranked)]]
        entries.append(
            {
                "token": piece,
                "logprob": _log(distribution.get(token, 0.0)),
                "bytes": list(piece.encode()),
                "top_logprobs": [
                    {"token": t, "logprob": _log(p), "bytes": list(t.encode())} for t, p in ranked
                ],
            }
        )
    return entries


def _log(probability: float) -> float:
    return math.log(probability) if probability > 0 else IMPOSSIBLE


def complete(
    key: bytes,
    sampling: Sampling,
    index: int,
    *,
    max_tokens: int | None,
    stops: Sequence[str] = (),
    length_bounds: tuple[int, int] = (20, 100),
    ignore_eos: bool = False,
    keep_stop: bool = False,
    eager_stop: bool = False,
    json_object: bool = False,
) -> Completion:
    """Generate one choice, honouring ``max_tokens`` and the stop sequences.

    The answer ends with ``finish_reason`` ``"stop"`` at its natural length or at the
    first stop sequence (which is left out of the text), and with ``"length"`` when
    ``max_tokens`` cut it. With ``ignore_eos`` the answer runs to ``max_tokens``.
    ``keep_stop`` leaves the matched stop sequence in the text, and ``eager_stop`` keeps
    the tokens sent before the one that completed the match (the start of a stop sequence
    spanning tokens leaks); both only for fault modes.
    ``json_object`` (JSON mode) wraps the drawn words as ``{"text": "<words>"}``, the
    structural tokens counting like any other; a cut answer is cut JSON, as upstream.
    """
    forced = max_tokens if ignore_eos and max_tokens is not None else None
    tokens, _ = raw_tokens(key, sampling, index, length_bounds, forced)
    sources: tuple[int, ...] | None = None
    if json_object:
        words = max(1, len(tokens) - len(JSON_OPEN) - len(JSON_CLOSE))
        tokens = (*JSON_OPEN, *tokens[:words], *JSON_CLOSE)
        sources = (
            (-1,) * len(JSON_OPEN) + tuple(range(words)) + (-1,) * len(JSON_CLOSE)
        )  # fmt: skip
    limit = len(tokens) if max_tokens is None else min(len(tokens), max_tokens)
    cut = max_tokens is not None and (forced is not None or len(tokens) > max_tokens)
    if stops:
        longest = max(len(s) for s in stops)
        text = ""
        for position in range(limit):
            start = max(0, len(text) - longest)
            text += tokens[position]
            hits = [(p, len(s)) for p, s in ((text.find(s, start), s) for s in stops) if p >= 0]
            if hits:
                first, size = min(hits)
                end = first + size if keep_stop else first
                if eager_stop:
                    end = max(end, len(text) - len(tokens[position]))
                pieces: list[str] = []
                offset = 0
                for token in tokens[: position + 1]:
                    if offset >= end:
                        break
                    piece = token[: end - offset]
                    if piece:
                        pieces.append(piece)
                    offset += len(token)
                return Completion(tuple(pieces), "stop", position + 1, forced, sources)
    return Completion(tokens[:limit], "length" if cut else "stop", limit, forced, sources)


# ---------------------------------------------------------------- tool calls

_ONE_TOKEN = re.compile(r"\s*(?:\w+|[^\w\s])")


def word_pieces(text: str) -> tuple[str, ...]:
    """``text`` split into pieces of exactly one token each (leading spaces attached)."""
    return tuple(_ONE_TOKEN.findall(text))


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One function call the model makes instead of answering in text.

    ``pieces`` are the argument pieces sent (one token each; cut short when
    ``max_tokens`` ran out); ``tokens`` counts the name's tokens and the pieces.
    """

    id: str
    name: str
    pieces: tuple[str, ...]
    tokens: int
    cut: bool

    @property
    def arguments(self) -> str:
        return "".join(self.pieces)


def call_tool(
    key: bytes,
    sampling: Sampling,
    index: int,
    name: str,
    schema: dict[str, object],
    *,
    max_tokens: int | None,
) -> ToolCall:
    """Call ``name`` with arguments drawn to fit its JSON ``schema``.

    Every property of an object is filled: strings with words of the vocabulary,
    integers and numbers with their minimum (7 and 1.5 when unbounded), booleans with
    true, arrays with one item (or ``minItems``), enums and consts with their first
    value. The draw is as deterministic as the text.
    """
    material = key + b"|tool|" + name.encode() + b"|" + str(index).encode()
    digest = hashlib.blake2b(material, digest_size=12).hexdigest()
    drawn, _ = raw_tokens(key + name.encode(), sampling, index, (64, 64), None)
    words = [t.strip() for t in drawn if t.strip() not in PUNCTUATION]
    supply = iter(words * 64)
    value = _schema_value(schema, supply, 0)
    pieces = word_pieces(json.dumps(value, separators=(", ", ": "), ensure_ascii=False))
    name_tokens = count_tokens(name)
    cut = False
    if max_tokens is not None and name_tokens + len(pieces) > max_tokens:
        pieces = pieces[: max(0, max_tokens - name_tokens)]
        cut = True
    return ToolCall("call_" + digest, name, pieces, name_tokens + len(pieces), cut)


def json_answer(
    key: bytes,
    sampling: Sampling,
    index: int,
    schema: dict[str, Any],
    *,
    max_tokens: int | None,
    violate: bool = False,
) -> Completion:
    """A text answer that is JSON fitting ``schema`` (``response_format`` json_schema),
    drawn like tool-call arguments, one token per piece; cut (finish "length") at
    ``max_tokens``. ``violate`` (a fault mode only) breaks the schema: every enum gets a
    value outside it and the first required property is left out."""
    drawn, _ = raw_tokens(key + b"|schema", sampling, index, (64, 64), None)
    words = [t.strip() for t in drawn if t.strip() not in PUNCTUATION] or ["word"]
    value = _schema_value(schema, iter(words * 64), 0)
    if violate:
        value = _violated(value, schema)
    pieces = word_pieces(json.dumps(value, separators=(", ", ": "), ensure_ascii=False))
    if max_tokens is not None and len(pieces) > max_tokens:
        return Completion(pieces[:max_tokens], "length", max_tokens)
    return Completion(pieces, "stop", len(pieces))


def _violated(value: object, schema: dict[str, Any]) -> object:
    """``value`` with every enum property outside its enum and a required property gone."""
    if not isinstance(value, dict):
        return {"not": "the schema"}
    properties = schema.get("properties")
    out = dict(value)
    for name, sub in (properties if isinstance(properties, dict) else {}).items():
        if isinstance(sub, dict) and isinstance(sub.get("enum"), list) and name in out:
            out[name] = "outside-the-enum"
    required = schema.get("required")
    if isinstance(required, list) and required and required[-1] in out:
        del out[required[-1]]
    return out


def _schema_value(schema: object, words: Iterator[str], depth: int) -> object:
    if not isinstance(schema, dict) or depth > 6:
        return next(words)
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "string"
    if kind == "object":
        properties = schema.get("properties")
        properties = properties if isinstance(properties, dict) else {}
        out = {str(n): _schema_value(sub, words, depth + 1) for n, sub in properties.items()}
        required = schema.get("required")
        for missing in required if isinstance(required, list) else []:
            if isinstance(missing, str) and missing not in out:
                out[missing] = next(words)
        return out
    if kind == "array":
        low = schema.get("minItems")
        count = min(3, low) if isinstance(low, int) and low > 1 else 1
        return [_schema_value(schema.get("items", {}), words, depth + 1) for _ in range(count)]
    if kind in ("integer", "number"):
        low, high = schema.get("minimum"), schema.get("maximum")
        value: float = 7 if kind == "integer" else 1.5
        if isinstance(low, int | float) and not isinstance(low, bool):
            value = low
        elif isinstance(high, int | float) and not isinstance(high, bool) and high < value:
            value = high
        return math.ceil(value) if kind == "integer" else float(value)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return next(words)
