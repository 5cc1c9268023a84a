"""Which faults trip the parameter checks in each mode, usage and streamed bad input.

Every rule that is judged plainly and streamed is tripped by its fault limited to one
mode (``<fault>_stream``, ``<fault>_plain``: the reference backend's per-mode faults), so
a check that reads only one of the two modes cannot pass this matrix.
``tests/test_selftest_modes.py`` also asserts that each verdict names the broken mode.
"""

from __future__ import annotations


def _modes(*faults: str) -> list[str]:
    return [f"{fault}_{mode}" for fault in faults for mode in ("stream", "plain")]


TRIPS: dict[str, list[str]] = {
    "semantics.max_tokens": _modes("max_tokens_ignored"),
    "semantics.max_completion_tokens": _modes("max_tokens_ignored"),
    "semantics.length_finish_reason": _modes("length_reported_as_stop"),
    "semantics.n_choices": _modes("n_ignored"),
    "semantics.logprobs": _modes("logprobs_ignored", "top_logprobs_wrong"),
    "semantics.tools": _modes("tools_ignored", "tool_name_ignored"),
    "semantics.tool_choice_none": _modes("tool_choice_none_ignored"),
    "semantics.tool_choice_required": _modes("tools_ignored"),
    "semantics.json_mode": _modes("response_format_ignored"),
    "semantics.json_schema": _modes("json_schema_violated", "response_format_ignored"),
    "semantics.seed": _modes("seed_ignored"),
    "semantics.usage_consistent": [
        "usage_prompt_zero",
        "usage_completion_zero",
        "usage_over_cap",
        *_modes(
            "usage_total_wrong", "usage_prompt_zero", "usage_completion_zero", "usage_over_cap"
        ),
    ],
    "errors.stream_refused_before_events": ["invalid_stream_event"],
    "errors.invalid_refused": ["invalid_accepted_stream"],
    "errors.no_server_error": ["invalid_500_stream"],
}
