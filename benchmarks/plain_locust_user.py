"""The baseline: a streamed chat user written the way Locust's docs and most blog posts do it.

    locust -f benchmarks/plain_locust_user.py --headless -u 64 -r 64 -t 30s \
        --host http://127.0.0.1:8000/v1 PlainChatStreamUser

A ``FastHttpUser`` posts a streamed Chat Completions request, reads the response line by
line, parses each ``data:`` line as JSON, and reports the time to the first content line
as ``TTFT`` and the mean gap between content lines as ``ITL`` (Locust's ``request``
event, so they show in Locust's own table). It does no more than that: no per-gap
histogram, no usage check, no size or time limits beyond Locust's.

Two ways to read the lines, one class each:

- ``PlainChatStreamUser`` (the baseline ``benchmarks/peers.py`` compares with): each line
  as soon as it arrives (``readline`` on the streamed response);
- ``PlainIterLinesUser``: Locust's own ``client.iter_lines`` helper. It reads the body in
  1 KiB blocks and waits for each block to fill, so with small SSE events the first
  content line is seen only once about a kilobyte has arrived (a few tokens late).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable

from locust import FastHttpUser, constant, task

MODEL = os.environ.get("PLAIN_MODEL", "gpt-4o-mini")
MAX_TOKENS = int(os.environ.get("PLAIN_MAX_TOKENS", "32"))
#: about 128 tokens of prompt, as ``conformance bench`` sends by default
PROMPT = " ".join(["Tell me a story about load testing an inference server."] * 12)
PAYLOAD = {
    "model": MODEL,
    "messages": [{"role": "user", "content": PROMPT}],
    "max_tokens": MAX_TOKENS,
    "stream": True,
}


class _StreamUser(FastHttpUser):
    abstract = True
    wait_time = constant(0)

    def measure(self, start: float, lines: Iterable[str]) -> None:
        """Time the content lines of one stream; report TTFT and the mean ITL."""
        first = last = None
        chunks = 0
        for line in lines:
            if not line.startswith("data: ") or line.startswith("data: [DONE]"):
                continue
            event = json.loads(line[6:])
            choices = event.get("choices") or []
            if not choices or not choices[0].get("delta", {}).get("content"):
                continue
            now = time.perf_counter()
            if first is None:
                first = now
                self.environment.events.request.fire(
                    request_type="TTFT",
                    name="chat",
                    response_time=(now - start) * 1000,
                    response_length=0,
                    exception=None,
                    context={},
                )
            last = now
            chunks += 1
        if first is not None and last is not None and chunks > 1:
            self.environment.events.request.fire(
                request_type="ITL",
                name="chat",
                response_time=(last - first) * 1000 / (chunks - 1),
                response_length=0,
                exception=None,
                context={},
            )


class PlainChatStreamUser(_StreamUser):
    """Closed loop, reading each line of the stream as it arrives."""

    @task
    def chat(self) -> None:
        start = time.perf_counter()
        with self.client.post(
            "/chat/completions", json=PAYLOAD, stream=True, catch_response=True
        ) as response:
            raw = response._response  # the streamed body, read as it comes

            def lines() -> Iterable[str]:
                while raw is not None:
                    line = raw.readline(b"\n")
                    if not line:
                        return
                    yield line.decode("utf-8").rstrip("\r\n")

            self.measure(start, lines())


class PlainIterLinesUser(_StreamUser):
    """Closed loop, reading the stream with Locust's ``client.iter_lines`` helper."""

    @task
    def chat(self) -> None:
        start = time.perf_counter()
        self.measure(
            start, self.client.iter_lines("/chat/completions", method="POST", json=PAYLOAD)
        )
