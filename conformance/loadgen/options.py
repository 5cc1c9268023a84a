"""The load generator's own command-line options, as Locust sees them.

These are added to Locust's parser (``events.init_command_line_parser``), so they work
with plain ``locust -f loadtests/<file>.py`` as well as under ``conformance bench``, and
Locust hands them to its worker processes. :class:`LoadOptions` is the typed view of them.

The API key is never an option: ``--api-key-env`` names the environment variable that
holds it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from conformance.errors import ConfigError
from conformance.loadgen.prompts import PromptLength
from conformance.loadgen.schedule import Arrival
from conformance.loadgen.verdict import DEFAULT_MAX_FAILURE_RATE

__all__ = ["LoadOptions", "add_arguments"]


def add_arguments(parser: Any) -> None:
    """Add the options to Locust's (configargparse) parser."""
    group = parser.add_argument_group("conformance", "Text-generation load (conformance)")
    group.add_argument(
        "--provider", default=None, help="provider profile (default: the user class's, else openai)"
    )
    group.add_argument("--model", default=None, help="model name (default: the profile's first)")
    group.add_argument(
        "--api-key-env",
        default=None,
        help="environment variable holding the API key (default: the profile's)",
    )
    group.add_argument("--max-tokens", type=int, default=64, help="max_tokens of every request")
    group.add_argument(
        "--length-param",
        default="max_tokens",
        choices=["max_tokens", "max_completion_tokens"],
        help="the parameter the length cap is sent as (a reasoning model refuses max_tokens)",
    )
    group.add_argument(
        "--stream-usage",
        default="documented",
        choices=["documented", "on", "off"],
        help="ask streamed answers for a usage chunk (stream_options.include_usage): where "
        "the profile's document lists it (documented), always (on) or never (off)",
    )
    group.add_argument(
        "--prompt-tokens", default="128", help="synthetic prompt length in tokens, MEAN[:STDDEV]"
    )
    group.add_argument("--prompts", default=None, help="JSON Lines file of conversations")
    group.add_argument("--seed", type=int, default=0, help="seed for prompts and Poisson arrivals")
    group.add_argument(
        "--no-stream",
        action="store_true",
        default=False,
        help="send non-streamed requests (for user classes that do not fix it)",
    )
    group.add_argument(
        "--rate", type=float, default=0.0, help="open loop: total requests/s (OpenLoopUser)"
    )
    group.add_argument(
        "--arrival", default="constant", choices=["constant", "poisson"], help="open-loop arrivals"
    )
    group.add_argument(
        "--max-in-flight",
        type=int,
        default=1024,
        help="open loop: in-flight cap per process; arrivals beyond it are counted, not sent",
    )
    group.add_argument(
        "--warmup", type=float, default=0.0, help="seconds at the start left out of the statistics"
    )
    group.add_argument(
        "--request-timeout", type=float, default=60.0, help="connect and read timeout, seconds"
    )
    group.add_argument(
        "--result-json",
        default=None,
        help="where the master writes the bench result (rewritten every second while running)",
    )
    group.add_argument(
        "--true-ttft-ms",
        type=float,
        default=None,
        help="known TTFT of the target, for the calibration block (reference backend)",
    )
    group.add_argument("--true-itl-ms", type=float, default=None, help="known ITL of the target")
    group.add_argument(
        "--max-failure-rate",
        type=float,
        default=DEFAULT_MAX_FAILURE_RATE,
        help="the result's verdict fails (and Locust exits 1) above this share of failed "
        "requests, or with no successful one",
    )


@dataclass(frozen=True, slots=True)
class LoadOptions:
    """What a load-generating process needs to know (from Locust's parsed options)."""

    provider: str | None = None
    model: str | None = None
    api_key_env: str | None = None
    max_tokens: int = 64
    length_param: str = "max_tokens"
    #: ``stream_options.include_usage``: ``None`` where the profile documents it
    stream_usage: bool | None = None
    prompt_length: PromptLength = field(default_factory=PromptLength)
    prompts_file: str | None = None
    seed: int = 0
    stream: bool = True
    rate: float = 0.0
    arrival: Arrival = Arrival.CONSTANT
    max_in_flight: int = 1024
    warmup_s: float = 0.0
    timeout_s: float = 60.0
    result_json: str | None = None
    run_time_s: float | None = None
    true_ttft_ms: float | None = None
    true_itl_ms: float | None = None
    max_failure_rate: float = DEFAULT_MAX_FAILURE_RATE

    @classmethod
    def from_parsed(cls, parsed: Any) -> LoadOptions:
        """Read Locust's ``environment.parsed_options`` (missing ones take defaults)."""

        def get(name: str, default: Any) -> Any:
            value = getattr(parsed, name, None) if parsed is not None else None
            return default if value is None else value

        opts = cls(
            provider=get("provider", None),
            model=get("model", None),
            api_key_env=get("api_key_env", None),
            max_tokens=int(get("max_tokens", 64)),
            length_param=str(get("length_param", "max_tokens")),
            stream_usage={"on": True, "off": False}.get(str(get("stream_usage", "documented"))),
            prompt_length=PromptLength.parse(str(get("prompt_tokens", "128"))),
            prompts_file=get("prompts", None),
            seed=int(get("seed", 0)),
            stream=not bool(get("no_stream", False)),
            rate=float(get("rate", 0.0)),
            arrival=Arrival(get("arrival", "constant")),
            max_in_flight=int(get("max_in_flight", 1024)),
            warmup_s=float(get("warmup", 0.0)),
            timeout_s=float(get("request_timeout", 60.0)),
            result_json=get("result_json", None),
            run_time_s=_seconds(getattr(parsed, "run_time", None)),
            true_ttft_ms=get("true_ttft_ms", None),
            true_itl_ms=get("true_itl_ms", None),
            max_failure_rate=float(get("max_failure_rate", DEFAULT_MAX_FAILURE_RATE)),
        )
        if not 0 <= opts.max_failure_rate <= 1:
            raise ConfigError("--max-failure-rate must be between 0 and 1, e.g. 0.01")
        if opts.max_tokens < 1:
            raise ConfigError("--max-tokens must be at least 1")
        if opts.warmup_s < 0 or opts.timeout_s <= 0 or opts.rate < 0 or opts.max_in_flight < 1:
            raise ConfigError(
                "--warmup, --rate must be >= 0; --request-timeout, --max-in-flight > 0"
            )
        return opts

    def api_key(self, default_env: str) -> str | None:
        """The API key from the environment (``--api-key-env`` or the profile's variable)."""
        return os.environ.get(self.api_key_env or default_env) or None


def _seconds(value: Any) -> float | None:
    """Locust's run time: seconds, or a timespan such as ``30s``, ``2m``, ``1h30m``."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip().lower()
    try:
        return float(text)
    except ValueError:
        pass
    total, number = 0.0, ""
    for ch in text:
        if ch.isdigit() or ch == ".":
            number += ch
        elif ch in "hms" and number:
            total += float(number) * {"h": 3600, "m": 60, "s": 1}[ch]
            number = ""
        else:
            raise ConfigError(f"run time {value!r}: expected seconds or e.g. 30s, 2m, 1h30m")
    return total
