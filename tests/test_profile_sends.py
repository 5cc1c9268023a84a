"""One source of truth for what a profile sends: the bench and the stream checks read the
profile's capabilities, so an undocumented ``stream_options`` is neither sent to a provider
nor required of it."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.backend import BackendConfig, serve_in_thread
from conformance.checks import Status, load_families
from conformance.engine import RunConfig, run_checks
from conformance.loadgen.target import Target, request_params
from conformance.providers import PROVIDERS, get_provider
from conformance.providers.base import Dialect
from conformance.results import CheckRun

load_families()
KEY = "sk-sends-" + secrets.token_hex(8)
_OPENAI_STYLE = sorted(n for n, p in PROVIDERS.items() if p.dialect is Dialect.OPENAI)


@pytest.fixture(scope="module")
def root() -> Iterator[str]:
    with serve_in_thread(BackendConfig(api_keys=(KEY,))) as url:
        yield url


@pytest.mark.parametrize("name", _OPENAI_STYLE)
def test_bench_asks_for_usage_only_where_documented(name: str) -> None:
    provider = get_provider(name)
    params = request_params(provider, stream=True, max_tokens=16)
    assert params["stream"] is True and params["max_tokens"] == 16
    assert ("stream_options" in params) is provider.capabilities.stream_usage
    if provider.capabilities.stream_usage:
        assert params["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("name", _OPENAI_STYLE)
def test_bench_sends_include_usage_when_the_user_asks(name: str) -> None:
    """--stream-usage sends stream_options to any profile, --no-stream-usage to none;
    a plain request never carries it."""
    provider = get_provider(name)
    on = request_params(provider, stream=True, max_tokens=16, stream_usage=True)
    assert on["stream_options"] == {"include_usage": True}
    off = request_params(provider, stream=True, max_tokens=16, stream_usage=False)
    assert "stream_options" not in off
    plain = request_params(provider, stream=False, max_tokens=16, stream_usage=True)
    assert "stream_options" not in plain


def test_the_bench_option_reaches_the_load_process() -> None:
    from types import SimpleNamespace

    from conformance.loadgen.options import LoadOptions
    from conformance.loadgen.runner import BenchSpec, _locust_args

    for given, flag, read in ((True, "on", True), (False, "off", False), (None, None, None)):
        spec = BenchSpec(provider="nebulablock", users=[1], stream=True, stream_usage=given)
        args = _locust_args(spec, "http://127.0.0.1:9/nebulablock/v1", 1, Path("r.json"), True)
        if flag is None:
            assert "--stream-usage" not in args
        else:
            assert args[args.index("--stream-usage") + 1] == flag
        parsed = SimpleNamespace(stream_usage=flag or "documented")
        assert LoadOptions.from_parsed(parsed).stream_usage is read
    target = Target(
        "nebulablock",
        "http://127.0.0.1:9/nebulablock/v1",
        model=None,
        stream=True,
        max_tokens=8,
        conversations=[[{"role": "user", "content": "hi"}]],
        api_key=None,
        stream_usage=True,
    )
    assert b"include_usage" in target.next_request().body


def test_nebulablock_bench_request_has_no_stream_options() -> None:
    target = Target(
        "nebulablock",
        "http://127.0.0.1:9/nebulablock/v1",
        model=None,
        stream=True,
        max_tokens=8,
        conversations=[[{"role": "user", "content": "hi"}]],
        api_key=None,
    )
    body = target.next_request().body
    assert b'"stream":true' in body.replace(b" ", b"")
    assert b"stream_options" not in body and b"include_usage" not in body
    openai = Target(
        "openai",
        "http://127.0.0.1:9/v1",
        model=None,
        stream=True,
        max_tokens=8,
        conversations=[[{"role": "user", "content": "hi"}]],
        api_key=None,
    )
    assert b"include_usage" in openai.next_request().body


def _usage_check(root: str, profile: str, fault: str | None) -> CheckRun:
    cls = PROVIDERS[profile]
    base = cls.embedded_base_url(root + (f"/fault/{fault}" if fault else ""))
    return run_checks(
        RunConfig(
            provider=get_provider(profile, base_url=base),
            api_key=KEY,
            timeout=5.0,
            only=["stream.*", "schema.*", "sse.*", "sdk.*"],
            mode="embedded",
        )
    )


def test_unrequested_usage_chunk_fails_only_where_stream_options_is_documented(
    root: str,
) -> None:
    """A server that ends every stream with a usage chunk: OpenAI's document says usage
    comes only when asked; NebulaBlock's lists no stream_options, so nobody could ask."""
    openai = {r.id: r for r in _usage_check(root, "openai", "usage_unrequested").checks}
    assert openai["stream.usage_only_on_usage_chunk"].status is Status.FAILED
    nebula = _usage_check(root, "nebulablock", "usage_unrequested")
    problems = [
        f"{r.id}: {r.status.value}: {r.detail}"
        for r in nebula.checks
        if r.status not in (Status.PASSED, Status.SKIPPED)
    ]
    assert not problems, problems
    (usage,) = [r for r in nebula.checks if r.id == "stream.usage_only_on_usage_chunk"]
    assert usage.status is Status.PASSED and "unasked" in usage.detail


def test_usage_on_a_chunk_with_choices_still_fails_undocumented(root: str) -> None:
    """Not asking does not excuse usage on every chunk: clients summing it over-count."""
    run = _usage_check(root, "nebulablock", "usage_every_chunk")
    (usage,) = [r for r in run.checks if r.id == "stream.usage_only_on_usage_chunk"]
    assert usage.status is Status.FAILED


def test_official_sdk_reads_an_unrequested_usage_chunk(root: str) -> None:
    """What the check relies on: openai-python iterates such a chunk without error and
    keeps its usage (its stream helper loops over ``chunk.choices``)."""
    openai = pytest.importorskip("openai")
    base = PROVIDERS["nebulablock"].embedded_base_url(root + "/fault/usage_unrequested")
    client = openai.OpenAI(base_url=base, api_key=KEY, max_retries=0, timeout=5.0)
    with client.chat.completions.stream(
        model=PROVIDERS["nebulablock"].models[0],
        messages=[{"role": "user", "content": "hi"}],
        max_tokens=1024,  # long enough to finish "stop" (the helper refuses "length")
    ) as stream:
        for _event in stream:
            pass
        final = stream.get_final_completion()
    assert final.choices and final.choices[0].message.content
    assert final.usage is not None and final.usage.completion_tokens > 0


# -- WeAI: its capabilities are what its guide documents ------------------------------------------

#: WeAI's "Text generation models" guide: model, messages (system and multi-turn), temperature
#: 0 to 2; streaming and max_tokens kept as the Chat Completions basics (see the profile)
_WEAI_UNDOCUMENTED = (
    "stream_usage",
    "n",
    "stop",
    "max_completion_tokens",
    "top_p",
    "seed",
    "tools",
    "logprobs",
    "response_format",
)


def test_weai_capabilities_follow_its_document() -> None:
    caps = PROVIDERS["weai"].capabilities
    assert [name for name in _WEAI_UNDOCUMENTED if getattr(caps, name)] == []
    assert caps.temperature and caps.temperature_range == (0.0, 2.0)
    assert caps.system_role and caps.multi_turn and caps.streaming and caps.max_tokens
    # the bench sends WeAI nothing its guide does not name
    assert "stream_options" not in request_params(PROVIDERS["weai"](), stream=True, max_tokens=8)


def _failures(run: CheckRun) -> list[str]:
    """Every finding that is not a pass or a skip (a warn-only check warns)."""
    return [
        f"{r.id}: {r.status.value}: {r.detail}"
        for r in run.checks
        if r.status not in (Status.PASSED, Status.SKIPPED)
    ]


@pytest.mark.parametrize(
    "fault",
    [
        "n_ignored",
        "stop_ignored_stream",
        "logprobs_ignored",
        "tools_ignored",
        "response_format_ignored",
        "usage_ignored",
        "seed_ignored",
    ],
)
def test_weai_server_ignoring_an_undocumented_feature_is_not_failed(root: str, fault: str) -> None:
    """The same server fails ``--provider openai`` (whose document lists the feature) and
    passes ``--provider weai``: the feature's checks are skipped by design there."""

    def run(profile: str) -> CheckRun:
        base = PROVIDERS[profile].embedded_base_url(root + f"/fault/{fault}")
        config = RunConfig(
            provider=get_provider(profile, base_url=base), api_key=KEY, timeout=5.0,
            mode="embedded",
        )  # fmt: skip
        return run_checks(config)

    assert _failures(run("openai")), f"{fault} should fail the openai profile"
    weai = run("weai")
    assert _failures(weai) == []
    assert [r for r in weai.checks if r.status is Status.SKIPPED]
