"""The semantics family against respx targets that misread parameters like real servers."""

from __future__ import annotations

import itertools
from typing import Any

import httpx
from fake_openai import FakeOpenAI, run

ONLY = "semantics"


def _status(results: dict[str, Any], check_id: str) -> str:
    return str(results[check_id].status)


def _one(fake: FakeOpenAI, check_id: str) -> Any:
    return run(fake, check_id)[check_id]


def test_a_correct_target_passes_everything() -> None:
    results = run(FakeOpenAI(), ONLY)
    statuses = {check_id: str(r.status) for check_id, r in results.items()}
    assert statuses and set(statuses.values()) == {"passed"}, statuses


# --------------------------------------------------------------------------- length caps


class OffByOneUsage(FakeOpenAI):
    """Counts the end-of-sequence token: completion_tokens is cap + 1 when cut."""

    def choice(self, body: dict[str, Any], index: int) -> tuple[str, str, int]:
        text, finish, tokens = super().choice(body, index)
        return text, finish, tokens + 1


def test_usage_above_the_cap_fails() -> None:
    verdict = _one(OffByOneUsage(), "semantics.max_tokens")
    assert str(verdict.status) == "failed"
    assert "6 completion tokens with max_tokens=5" in verdict.detail


class CapIgnoredNoUsage(FakeOpenAI):
    """Ignores the cap and reports no usage at all."""

    def choice(self, body: dict[str, Any], index: int) -> tuple[str, str, int]:
        return super().choice({k: v for k, v in body.items() if "max" not in k}, index)

    def completion(self, body: dict[str, Any]) -> dict[str, Any]:
        done = super().completion(body)
        del done["usage"]
        return done


def test_without_usage_the_cap_is_judged_in_words() -> None:
    results = run(CapIgnoredNoUsage(), "semantics.max_tokens,semantics.length_finish_reason")
    assert _status(results, "semantics.max_tokens") == "failed"
    assert "words (no usage reported)" in results["semantics.max_tokens"].detail
    # an ignored cap cut nothing: finish_reason "stop" is honest, reported once only
    assert _status(results, "semantics.length_finish_reason") == "skipped"
    assert "not applied" in results["semantics.length_finish_reason"].detail


class CutButStopNoUsage(FakeOpenAI):
    """Cuts at the cap but says "stop", and reports no usage: judged in words."""

    def choice(self, body: dict[str, Any], index: int) -> tuple[str, str, int]:
        text, _, tokens = super().choice(body, index)
        return text, "stop", tokens

    def completion(self, body: dict[str, Any]) -> dict[str, Any]:
        done = super().completion(body)
        del done["usage"]
        return done


def test_a_cut_answer_reported_as_stop_fails_even_without_usage() -> None:
    verdict = _one(CutButStopNoUsage(), "semantics.length_finish_reason")
    assert str(verdict.status) == "failed", verdict.detail


class StopWhenCutInStream(FakeOpenAI):
    """Streams finish_reason "stop" for an answer the cap cut (plain answers are right)."""

    def chunks(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        out = super().chunks(body)
        for chunk in out:
            for choice in chunk["choices"]:
                if choice.get("finish_reason") == "length":
                    choice["finish_reason"] = "stop"
        return out


def test_stop_for_a_cut_stream_fails_length_finish_reason() -> None:
    verdict = _one(StopWhenCutInStream(), "semantics.length_finish_reason")
    assert str(verdict.status) == "failed"
    assert verdict.evidence["bad"][0]["label"] == "streamed"


class ShortAnswers(FakeOpenAI):
    """The model ends after three words, well before any cap."""

    def words(self, body: dict[str, Any], index: int) -> list[str]:
        return ["Hello", "there", "friend"]


def test_answers_that_end_on_their_own_are_not_judged() -> None:
    results = run(ShortAnswers(), "semantics.max_tokens,semantics.length_finish_reason")
    assert _status(results, "semantics.max_tokens") == "passed"
    verdict = results["semantics.length_finish_reason"]
    assert str(verdict.status) == "skipped" and "not judgeable" in verdict.detail


# stop strings: tests/test_checks_stops.py


# --------------------------------------------------------------------------- n


class StreamIndexZero(FakeOpenAI):
    """Honours n in plain answers but streams every choice as index 0."""

    def chunks(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        out = super().chunks(body)
        for chunk in out:
            for choice in chunk["choices"]:
                choice["index"] = 0
        return out


def test_streamed_choices_all_at_index_zero_fail() -> None:
    verdict = _one(StreamIndexZero(), "semantics.n_choices")
    assert str(verdict.status) == "failed"
    assert "n2_stream" in verdict.detail


class RefusesN(FakeOpenAI):
    """llama.cpp style: n > 1 is refused with a clean 400."""

    def validate(self, body: Any) -> httpx.Response | None:
        if isinstance(body, dict) and (body.get("n") or 1) > 1:
            return self.refuse(400, "Only one completion choice is allowed", "n")
        return super().validate(body)


def test_a_clean_refusal_of_n_is_a_capability() -> None:
    verdict = _one(RefusesN(), "semantics.n_choices")
    assert str(verdict.status) == "skipped"
    assert "refuses n > 1 with HTTP 400" in verdict.detail


# --------------------------------------------------------------------------- optional features


class LogprobsIgnored(FakeOpenAI):
    def logprobs(self, body: dict[str, Any], text: str) -> dict[str, Any] | None:
        return None


class LogprobsWithoutAlternatives(FakeOpenAI):
    def logprobs(self, body: dict[str, Any], text: str) -> dict[str, Any] | None:
        return super().logprobs({**body, "top_logprobs": 0}, text)


class LogprobsRefused(FakeOpenAI):
    def validate(self, body: Any) -> httpx.Response | None:
        if isinstance(body, dict) and body.get("logprobs"):
            return self.refuse(400, "logprobs is not supported", "logprobs")
        return super().validate(body)


def test_logprobs_ignored_fails_and_refused_is_skipped() -> None:
    assert str(_one(LogprobsIgnored(), "semantics.logprobs").status) == "failed"
    partial = _one(LogprobsWithoutAlternatives(), "semantics.logprobs")
    assert str(partial.status) == "failed" and "top_logprobs" in partial.detail
    assert str(_one(LogprobsRefused(), "semantics.logprobs").status) == "skipped"


class ToolsIgnored(FakeOpenAI):
    def message(self, body: dict[str, Any], text: str) -> dict[str, Any]:
        return {"role": "assistant", "content": "I would call get_weather for Paris."}


class ToolArgumentsNotJSON(FakeOpenAI):
    def message(self, body: dict[str, Any], text: str) -> dict[str, Any]:
        msg = super().message(body, text)
        if msg.get("tool_calls"):
            msg["tool_calls"][0]["function"]["arguments"] = {"city": "Paris"}  # an object
        return msg


def test_tools_ignored_or_malformed_fail() -> None:
    ignored = _one(ToolsIgnored(), "semantics.tools")
    assert str(ignored.status) == "failed" and "silently ignored" in ignored.detail
    malformed = _one(ToolArgumentsNotJSON(), "semantics.tools")
    assert str(malformed.status) == "failed" and "arguments" in malformed.detail


class JsonFenced(FakeOpenAI):
    def message(self, body: dict[str, Any], text: str) -> dict[str, Any]:
        msg = super().message(body, text)
        if (body.get("response_format") or {}).get("type") == "json_object":
            msg["content"] = '```json\n{"colour": "blue"}\n```'
        return msg


def test_json_mode_answered_in_a_code_fence_fails() -> None:
    verdict = _one(JsonFenced(), "semantics.json_mode")
    assert str(verdict.status) == "failed"


# --------------------------------------------------------------------------- determinism


class Nondeterministic(FakeOpenAI):
    """Every request gets a different text (batching noise, or a seed that is ignored)."""

    def __init__(self) -> None:
        super().__init__()
        self.counter = itertools.count()

    def words(self, body: dict[str, Any], index: int) -> list[str]:
        return [f"w{next(self.counter)}", *super().words(body, index)[1:]]


def test_nondeterminism_only_warns() -> None:
    results = run(Nondeterministic(), "semantics.stream_matches_plain,semantics.seed")
    assert _status(results, "semantics.stream_matches_plain") == "warned"
    assert _status(results, "semantics.seed") == "warned"


# --------------------------------------------------------------------------- usage, multi-turn


class ZeroPromptTokens(FakeOpenAI):
    """Reports prompt_tokens 0 (a prompt-cache hit counted as nothing: impossible, OpenAI
    counts cached tokens inside prompt_tokens)."""

    def prompt_tokens(self, body: dict[str, Any]) -> int:
        return 0


class StreamTotalWrong(FakeOpenAI):
    """Only the streamed usage chunk has a wrong total."""

    def chunks(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        out = super().chunks(body)
        if out and out[-1].get("usage"):
            out[-1]["usage"] = {**out[-1]["usage"], "total_tokens": 1}
        return out


class ConstantPromptTokens(FakeOpenAI):
    def prompt_tokens(self, body: dict[str, Any]) -> int:
        return 9


def test_usage_problems() -> None:
    zero = _one(ZeroPromptTokens(), "semantics.usage_consistent")
    assert str(zero.status) == "failed" and "prompt_tokens is 0" in zero.detail
    total = _one(StreamTotalWrong(), "semantics.usage_consistent")
    assert str(total.status) == "failed" and "streamed" in total.detail
    constant = _one(ConstantPromptTokens(), "semantics.usage_consistent")
    assert str(constant.status) == "warned" and "conversation" in constant.detail


class RolesMustAlternate(FakeOpenAI):
    """A chat template that refuses a system message (some Mistral/Gemma templates)."""

    def validate(self, body: Any) -> httpx.Response | None:
        if isinstance(body, dict) and any(
            isinstance(m, dict) and m.get("role") == "system" for m in body.get("messages") or []
        ):
            return self.refuse(
                400, "Conversation roles must alternate user/assistant/user/assistant/..."
            )
        return super().validate(body)


def test_a_refused_conversation_fails_multi_turn() -> None:
    verdict = _one(RolesMustAlternate(), "semantics.multi_turn")
    assert str(verdict.status) == "failed"
    assert "roles must alternate" in verdict.detail


# --------------------------------------------------------------------------- both modes


class NoneIgnored(FakeOpenAI):
    """Calls the first tool whatever tool_choice says (Ollama-like: tool_choice unread)."""

    def message(self, body: dict[str, Any], text: str) -> dict[str, Any]:
        if body.get("tools"):
            body = {**body, "tool_choice": "required"}
        return super().message(body, text)


def test_tool_choice_none_and_named_ignored_fail() -> None:
    results = run(NoneIgnored(), "semantics.tool_choice_none,semantics.tools")
    none = results["semantics.tool_choice_none"]
    assert str(none.status) == "failed" and "'get_weather'" in none.detail
    assert {b["mode"] for b in none.evidence["bad"]} == {"plain", "streamed"}
    named = results["semantics.tools"]
    assert str(named.status) == "failed" and "not get_local_time" in named.detail


class NIgnoredWhenStreaming(FakeOpenAI):
    """n honoured plain, one choice when streaming (a stream path that loops once)."""

    def chunks(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        return super().chunks({**body, "n": 1})


def test_n_ignored_only_when_streaming_names_the_mode() -> None:
    verdict = _one(NIgnoredWhenStreaming(), "semantics.n_choices")
    assert str(verdict.status) == "failed"
    assert "streamed" in verdict.detail and len(verdict.evidence["bad"]) == 1


class SchemaBroken(FakeOpenAI):
    """json_schema accepted; a nested enum value is outside its enum (streamed only)."""

    def chunks(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        out = super().chunks(body)
        for chunk in out:
            for choice in chunk.get("choices", []):
                content = choice["delta"].get("content")
                if content and '"small"}' in content:
                    choice["delta"]["content"] = content.replace('"small"', '"huge"')
        return out


def test_json_schema_is_validated_in_the_streamed_mode() -> None:
    verdict = _one(SchemaBroken(), "semantics.json_schema")
    assert str(verdict.status) == "failed", verdict.detail
    assert "streamed JSON does not validate" in verdict.detail
    assert "owner/size" in verdict.detail and "'huge'" in verdict.detail


class StrictSchemaRefused(FakeOpenAI):
    """Supports json_object but refuses json_schema with a clean 400 (many servers)."""

    def validate(self, body: Any) -> httpx.Response | None:
        if isinstance(body, dict) and (body.get("response_format") or {}).get("type") == (
            "json_schema"
        ):
            return self.refuse(
                400, "response_format json_schema is not supported", "response_format"
            )
        return super().validate(body)


def test_a_refused_json_schema_is_skipped_not_failed() -> None:
    verdict = _one(StrictSchemaRefused(), "semantics.json_schema")
    assert str(verdict.status) == "skipped" and "refuses" in verdict.detail


class StreamTopLogprobsWrong(FakeOpenAI):
    """Streamed chunks carry every alternative the engine computed (5), not top_logprobs."""

    def chunks(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        out = super().chunks(body)
        for chunk in out:
            for choice in chunk.get("choices", []):
                for entry in (choice.get("logprobs") or {}).get("content") or []:
                    entry["top_logprobs"] = entry["top_logprobs"][:1] * 5
        return out


def test_top_logprobs_count_is_judged_in_the_stream() -> None:
    verdict = _one(StreamTopLogprobsWrong(), "semantics.logprobs")
    assert str(verdict.status) == "failed"
    assert verdict.detail.startswith("streamed:") and "5 alternatives" in verdict.detail


class StreamZeroCompletion(FakeOpenAI):
    """The streamed usage chunk counts no completion tokens (a counter never fed by the
    stream path); the plain answer counts right."""

    def chunks(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        out = super().chunks(body)
        if out and out[-1].get("usage"):
            usage = out[-1]["usage"]
            out[-1]["usage"] = {**usage, "completion_tokens": 0,
                                "total_tokens": usage["prompt_tokens"]}  # fmt: skip
        return out


def test_streamed_content_with_zero_completion_tokens_fails() -> None:
    verdict = _one(StreamZeroCompletion(), "semantics.usage_consistent")
    assert str(verdict.status) == "failed"
    assert "completion_tokens is 0" in verdict.detail and "streamed" in verdict.detail


class ReasoningInsideTheCap(FakeOpenAI):
    """A reasoning model: completion_tokens include reasoning tokens, all within the cap,
    and a short visible answer that ends on its own ("stop")."""

    def choice(self, body: dict[str, Any], index: int) -> tuple[str, str, int]:
        cap = body.get("max_completion_tokens", body.get("max_tokens"))
        if isinstance(cap, int):
            return "Hi", "length", cap  # the cap was spent mostly on reasoning
        return "Hello there", "stop", 6

    def completion(self, body: dict[str, Any]) -> dict[str, Any]:
        done = super().completion(body)
        used = done["usage"]["completion_tokens"]
        done["usage"]["completion_tokens_details"] = {"reasoning_tokens": max(0, used - 1)}
        return done


def test_reasoning_tokens_within_the_cap_are_not_a_failure() -> None:
    verdict = _one(ReasoningInsideTheCap(), "semantics.usage_consistent")
    assert str(verdict.status) == "passed", verdict.detail


class CapNotCountingReasoning(ReasoningInsideTheCap):
    """Counts 40 tokens beyond the cap, none of them reasoning: impossible."""

    def choice(self, body: dict[str, Any], index: int) -> tuple[str, str, int]:
        text, finish, tokens = super().choice(body, index)
        return text, finish, tokens + 40 if finish == "length" else tokens

    def completion(self, body: dict[str, Any]) -> dict[str, Any]:
        done = super().completion(body)
        done["usage"]["completion_tokens_details"] = {"reasoning_tokens": 0}
        return done


def test_completion_tokens_above_the_cap_fail() -> None:
    verdict = _one(CapNotCountingReasoning(), "semantics.usage_consistent")
    assert str(verdict.status) == "failed" and "is above max_" in verdict.detail


class CapOnTheAnswerOnly(ReasoningInsideTheCap):
    """DeepSeek-reasoner style: max_tokens bounds the final answer; the reasoning tokens
    (reported in completion_tokens_details) come on top of it."""

    def completion(self, body: dict[str, Any]) -> dict[str, Any]:
        done = super().completion(body)
        usage = done["usage"]
        if body.get("max_tokens") or body.get("max_completion_tokens"):
            usage["completion_tokens"] += 50
            usage["total_tokens"] += 50
            usage["completion_tokens_details"] = {"reasoning_tokens": 50}
        return done


def test_reasoning_outside_a_documented_answer_cap_only_warns() -> None:
    verdict = _one(CapOnTheAnswerOnly(), "semantics.usage_consistent")
    assert str(verdict.status) == "warned", verdict.detail
    assert "reasoning tokens counted outside the cap" in verdict.detail
