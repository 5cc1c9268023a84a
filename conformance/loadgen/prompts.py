"""Prompts for load runs: synthetic ones of a chosen token length, or conversations from a file.

Synthetic prompts are built from a fixed list of short, common English words that
tokenizers of the usual model families encode as one token each, so a prompt of ``n``
words is close to ``n`` prompt tokens. Lengths are drawn from a normal distribution
(``--prompt-tokens MEAN[:STDDEV]``, clipped to at least 1) with a fixed seed, so every run
with the same settings sends the same prompts.

A prompts file is JSON Lines: each line is either an object with ``messages`` (a list of
``{"role", "content"}``), a bare list of messages, or an object with ``prompt`` (a string,
sent as one user message).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from conformance.errors import ConfigError

__all__ = ["PromptLength", "load_prompts", "synthetic_prompts"]

_WORDS = [
    "the",
    "time",
    "people",
    "way",
    "year",
    "day",
    "thing",
    "man",
    "world",
    "life",
    "hand",
    "part",
    "child",
    "eye",
    "woman",
    "place",
    "work",
    "week",
    "case",
    "point",
    "number",
    "group",
    "problem",
    "fact",
    "water",
    "room",
    "mother",
    "area",
    "money",
    "story",
    "month",
    "lot",
    "right",
    "study",
    "book",
    "word",
    "business",
    "issue",
    "side",
    "kind",
    "head",
    "house",
    "service",
    "friend",
    "father",
    "power",
    "hour",
    "game",
    "line",
    "end",
    "member",
    "law",
    "car",
    "city",
    "name",
    "team",
    "minute",
    "idea",
    "kid",
    "body",
    "back",
    "parent",
    "face",
    "level",
    "office",
    "door",
    "health",
    "person",
    "art",
    "war",
    "history",
    "party",
    "result",
    "change",
    "morning",
    "reason",
    "research",
    "girl",
    "guy",
    "moment",
    "air",
    "teacher",
    "force",
    "order",
]


@dataclass(frozen=True, slots=True)
class PromptLength:
    """A prompt-length distribution in tokens: normal, ``mean`` and ``stddev``."""

    mean: int = 128
    stddev: float = 0.0

    @classmethod
    def parse(cls, text: str) -> PromptLength:
        """Parse ``MEAN[:STDDEV]`` (raises :class:`ConfigError` with what to fix)."""
        mean_text, _, std_text = text.partition(":")
        try:
            mean = int(mean_text)
            stddev = float(std_text) if std_text else 0.0
        except ValueError:
            raise ConfigError(
                f"--prompt-tokens {text!r}: expected MEAN[:STDDEV], e.g. 128 or 128:32"
            ) from None
        if mean < 1 or stddev < 0 or stddev != stddev:
            raise ConfigError(f"--prompt-tokens {text!r}: need MEAN >= 1 and STDDEV >= 0")
        return cls(mean, stddev)


def synthetic_prompts(
    length: PromptLength, count: int, *, seed: int = 0
) -> list[list[dict[str, str]]]:
    """``count`` single-message conversations whose lengths follow ``length``."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        n = (
            length.mean
            if not length.stddev
            else max(1, round(rng.gauss(length.mean, length.stddev)))
        )
        text = " ".join(rng.choice(_WORDS) for _ in range(n))
        out.append([{"role": "user", "content": text}])
    return out


def load_prompts(path: str | Path) -> list[list[dict[str, Any]]]:
    """Read conversations from a JSON Lines file (see the module documentation)."""
    p = Path(path)
    try:
        lines = p.read_bytes().splitlines()
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(f"--prompts {str(p)!r}: cannot read it ({reason})") from None
    out: list[list[dict[str, Any]]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise ConfigError(f"--prompts {str(p)!r} line {number}: not JSON") from None
        if isinstance(item, dict) and isinstance(item.get("prompt"), str):
            messages: Any = [{"role": "user", "content": item["prompt"]}]
        elif isinstance(item, dict):
            messages = item.get("messages")
        else:
            messages = item
        if (
            not isinstance(messages, list)
            or not messages
            or not all(isinstance(m, dict) and "role" in m and "content" in m for m in messages)
        ):
            raise ConfigError(
                f"--prompts {str(p)!r} line {number}: expected messages "
                '[{"role": ..., "content": ...}] or {"prompt": "..."}'
            )
        out.append(messages)
    if not out:
        raise ConfigError(f"--prompts {str(p)!r}: the file has no conversations")
    return out
