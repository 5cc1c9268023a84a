"""A small, correct OpenAI-compatible target for respx, with one hook per behaviour.

Unit tests of the errors, auth and semantics checks subclass :class:`FakeOpenAI` and
override one method to break one property the way a real server does (a FastAPI 422
body, an error string instead of an object, a stop string leaking into a stream...),
independently of the reference backend and its planted faults.

The fake's tokenizer is one token per whitespace-separated word; its natural answer is
twelve words, separated by commas.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import respx

from conformance.engine import RunConfig, run_checks
from conformance.providers import get_provider
from conformance.results import CheckRun

BASE_URL = "http://target.test/v1"
KEY = "sk-fake-good-key"
WORDS = [
    "one,",
    "two,",
    "three,",
    "four,",
    "five,",
    "six,",
    "seven,",
    "eight,",
    "nine,",
    "ten,",
    "eleven,",
    "twelve",
]
#: the answer to a prompt that asks for sentences (the stop-string probes' prompt)
SENTENCES = (
    "The river was quiet at dawn, and mist rose slowly over the water. Herons waded near "
    "the reeds while the first light turned the ripples gold. A fisherman pushed his boat "
    "from the bank and the birds began to sing."
)
#: the JSON a json_schema request gets: it validates against the checks' schema
SCHEMA_ANSWER = {"name": "Pip", "colour": "green", "tags": ["small"],
                 "owner": {"city": "Oslo", "size": "small"}}  # fmt: skip
ROLES = {"system", "developer", "user", "assistant", "tool"}


def envelope(message: str, param: str | None = None, *, type_: str = "invalid_request_error",
             code: str | None = None) -> dict[str, Any]:  # fmt: skip
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


class FakeOpenAI:
    """A correct target: strict validation, honest usage, every optional feature."""

    created = 1_700_000_000

    def __init__(self, *, key: str | None = KEY) -> None:
        self.key = key
        self.requests: list[httpx.Request] = []

    # -- hooks --------------------------------------------------------------------------

    def refuse(self, status: int, message: str, param: str | None = None) -> httpx.Response:
        """An error answer (override to break the envelope)."""
        code = "invalid_api_key" if status == 401 else None
        kind = "invalid_request_error" if status != 401 else "authentication_error"
        return httpx.Response(status, json=envelope(message, param, type_=kind, code=code))

    def authenticate(self, request: httpx.Request) -> httpx.Response | None:
        if self.key is None:
            return None
        header = request.headers.get("authorization")
        if not header:
            return self.refuse(401, "You didn't provide an API key.")
        if header != f"Bearer {self.key}":
            return self.refuse(401, "Incorrect API key provided.")
        return None

    def validate(self, body: Any) -> httpx.Response | None:
        """Strict OpenAI-style validation of a parsed body."""
        if not isinstance(body, dict):
            return self.refuse(400, "The body must be a JSON object.")
        if "model" not in body:
            return self.refuse(400, "Missing required parameter: 'model'.", "model")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return self.refuse(400, "'messages' must be a non-empty array.", "messages")
        for m in messages:
            if not isinstance(m, dict) or m.get("role") not in ROLES:
                return self.refuse(400, "Invalid message or role.", "messages")
            if m["role"] == "user" and "content" not in m:
                return self.refuse(400, "A user message needs content.", "messages")
        ranges = {"temperature": (0, 2), "top_p": (0, 1), "presence_penalty": (-2, 2),
                  "frequency_penalty": (-2, 2)}  # fmt: skip
        for name, (low, high) in ranges.items():
            value = body.get(name)
            if value is not None and (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not low <= value <= high
            ):
                return self.refuse(400, f"Invalid '{name}'.", name)
        for name in ("n", "max_tokens", "max_completion_tokens"):
            value = body.get(name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                return self.refuse(400, f"Invalid '{name}'.", name)
        if "stream" in body and not isinstance(body["stream"], bool):
            return self.refuse(400, "Invalid 'stream'.", "stream")
        stop = body.get("stop")
        if isinstance(stop, list) and len(stop) > 4:
            return self.refuse(400, "Invalid 'stop': at most 4.", "stop")
        if body.get("stream_options") is not None and body.get("stream") is not True:
            return self.refuse(400, "stream_options needs stream.", "stream_options")
        return None

    def words(self, body: dict[str, Any], index: int) -> list[str]:
        """The answer's tokens before the cap and stop strings: what a "Repeat exactly:"
        prompt asks for, :data:`SENTENCES` when sentences are asked for, otherwise
        :data:`WORDS`."""
        last = body["messages"][-1] if body.get("messages") else {}
        content = last.get("content") if isinstance(last, dict) else None
        if isinstance(content, str) and content.startswith("Repeat exactly"):
            return content.split(":", 1)[1].split()
        if isinstance(content, str) and "sentences" in content:
            return SENTENCES.split()
        return list(WORDS)

    def choice(self, body: dict[str, Any], index: int) -> tuple[str, str, int]:
        """(text, finish_reason, completion tokens) of one choice."""
        words = self.words(body, index)
        cap = body.get("max_completion_tokens", body.get("max_tokens"))
        finish = "stop"
        if isinstance(cap, int) and len(words) > cap:
            words, finish = words[:cap], "length"
        text = " ".join(words)
        stops = body.get("stop") or []
        stops = [stops] if isinstance(stops, str) else stops
        cut = min((text.find(s) for s in stops if s in text), default=-1)
        if cut >= 0:
            text, finish = text[:cut], "stop"
        return text, finish, len(words)

    def prompt_tokens(self, body: dict[str, Any]) -> int:
        total = 0
        for m in body["messages"]:
            content = (m.get("content") if isinstance(m, dict) else m) or ""
            if isinstance(content, list):
                content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
            total += 1 + len(str(content).split())
        return total

    def message(self, body: dict[str, Any], text: str) -> dict[str, Any]:
        choice = body.get("tool_choice")
        if body.get("tools") and choice not in (None, "none", "auto"):
            named = choice.get("function", {}).get("name") if isinstance(choice, dict) else None
            name = named or body["tools"][0]["function"]["name"]
            arguments = '{"city": "Paris"}' if name == "get_weather" else '{"timezone": "UTC"}'
            call = {"id": "call_1", "type": "function",
                    "function": {"name": name, "arguments": arguments}}  # fmt: skip
            return {"role": "assistant", "content": None, "tool_calls": [call]}
        kind = (body.get("response_format") or {}).get("type")
        if kind == "json_object":
            return {"role": "assistant", "content": '{"colour": "blue"}'}
        if kind == "json_schema":
            return {"role": "assistant", "content": json.dumps(SCHEMA_ANSWER)}
        return {"role": "assistant", "content": text}

    def logprobs(self, body: dict[str, Any], text: str) -> dict[str, Any] | None:
        if not body.get("logprobs"):
            return None
        top = body.get("top_logprobs") or 0
        entries = [
            {"token": w, "logprob": -0.5, "bytes": None,
             "top_logprobs": [{"token": w, "logprob": -0.5, "bytes": None}] * top}
            for w in text.split()
        ]  # fmt: skip
        return {"content": entries}

    def completion(self, body: dict[str, Any]) -> dict[str, Any]:
        n = body.get("n") or 1
        choices, completion_tokens = [], 0
        for i in range(n):
            text, finish, tokens = self.choice(body, i)
            completion_tokens += tokens
            choices.append({"index": i, "message": self.message(body, text),
                            "logprobs": self.logprobs(body, text), "finish_reason": finish})  # fmt: skip
        prompt = self.prompt_tokens(body)
        return {
            "id": "chatcmpl-fake", "object": "chat.completion", "created": self.created,
            "model": body.get("model", "default"), "choices": choices,
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion_tokens,
                      "total_tokens": prompt + completion_tokens},
        }  # fmt: skip

    def chunks(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """The stream's chunks (without [DONE])."""
        done = self.completion(body)
        base = {"id": done["id"], "object": "chat.completion.chunk", "created": self.created,
                "model": done["model"]}  # fmt: skip
        out: list[dict[str, Any]] = []
        for choice in done["choices"]:
            i = choice["index"]
            out.append({**base, "choices": [{"index": i, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]})  # fmt: skip
            for k, call in enumerate(choice["message"].get("tool_calls") or []):
                out.append({**base, "choices": [{"index": i, "delta": {"tool_calls": [{"index": k, **call}]}, "finish_reason": None}]})  # fmt: skip
            text = choice["message"]["content"] or ""
            entries = iter((choice.get("logprobs") or {}).get("content") or [])
            for piece in self.pieces(text):
                part: dict[str, Any] = {
                    "index": i,
                    "delta": {"content": piece},
                    "finish_reason": None,
                }
                if body.get("logprobs"):  # streamed logprobs come per chunk
                    entry = next(entries, None)
                    part["logprobs"] = {"content": [entry] if entry and piece.strip() else []}
                out.append({**base, "choices": [part]})
            out.append({**base, "choices": [{"index": i, "delta": {}, "finish_reason": choice["finish_reason"]}]})  # fmt: skip
        if (body.get("stream_options") or {}).get("include_usage"):
            out.append({**base, "choices": [], "usage": done["usage"]})
        return out

    def pieces(self, text: str) -> list[str]:
        words = text.split(" ")
        return [w if i == 0 else " " + w for i, w in enumerate(words) if w or i == 0]

    def stream_body(self, body: dict[str, Any], request: httpx.Request) -> bytes:
        events = [b"data: " + json.dumps(c).encode() + b"\n\n" for c in self.chunks(body)]
        return b"".join(events) + b"data: [DONE]\n\n"

    # -- dispatch -----------------------------------------------------------------------

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        refusal = self.authenticate(request)
        if refusal is not None:
            return refusal
        try:
            body = json.loads(request.content)
        except ValueError:
            return self.refuse(400, "We could not parse the JSON body of your request.")
        problem = self.validate(body)
        if problem is not None:
            return problem
        if body.get("stream"):
            return httpx.Response(
                200,
                content=self.stream_body(body, request),
                headers={"content-type": "text/event-stream"},
            )
        return httpx.Response(200, json=self.completion(body))


@contextmanager
def mocked(fake: FakeOpenAI) -> Iterator[respx.MockRouter]:
    """Route every request to ``target.test`` to ``fake``."""
    with respx.mock(assert_all_called=False) as router:
        router.route(host="target.test").mock(side_effect=fake.handler)
        yield router


def run(
    fake: FakeOpenAI, only: str, *, api_key: str | None = KEY, mode: str = "live"
) -> dict[str, Any]:
    """Run the checks ``only`` against ``fake``; {check id: result}. ``mode="replay"``
    judges the exchanges as a replay would (no configuration diagnosis first)."""
    with mocked(fake):
        result: CheckRun = run_checks(
            RunConfig(
                provider=get_provider("openai", base_url=BASE_URL),
                api_key=api_key,
                only=only,
                max_requests=None,
                timeout=5,
                concurrency=2,
                mode=mode,
            )
        )
    return {r.id: r for r in result.checks}
