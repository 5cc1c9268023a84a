"""The engine: request building, budget, hang handling, unreachable targets, replay misses,
and the evaluation of verdicts (outcomes, warn-only, crashes, capabilities)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import httpx
import pytest

from conformance.checks import (
    CHECKS,
    PROBES,
    CheckContext,
    Failed,
    ProbeContext,
    ProbeRequest,
    Severity,
    Skipped,
    Status,
    Warned,
    check,
    probe,
    select_checks,
)
from conformance.engine import (
    Collected,
    RunConfig,
    TargetUnreachable,
    build_request,
    collect,
    evaluate_one,
    probes_for,
    run_checks,
)
from conformance.providers import get_provider
from conformance.wire.client import WireClient
from conformance.wire.exchange import Exchange

BASE = "http://target.test/v1"
COMPLETION = {
    "id": "c1",
    "object": "chat.completion",
    "created": 1,
    "model": "m",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}


@pytest.fixture
def scratch_registry() -> Iterator[None]:
    """Checks and probes registered by a test are removed afterwards."""
    checks, probes = dict(CHECKS), dict(PROBES)
    yield
    CHECKS.clear()
    CHECKS.update(checks)
    PROBES.clear()
    PROBES.update(probes)


def _provider(name: str = "openai") -> object:
    return get_provider(name, base_url=BASE)


def _client(handler: object, timeout: float = 5.0) -> WireClient:
    return WireClient(timeout=timeout, transport=httpx.MockTransport(handler))  # type: ignore[arg-type]


def _ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=COMPLETION)


# ------------------------------------------------------------------ building requests


def test_build_request_applies_overrides() -> None:
    provider = get_provider("openai", base_url=BASE)
    preq = ProbeRequest(
        messages=[{"role": "user", "content": "x"}],
        params={"max_tokens": 3},
        api_key=None,
        headers={"X-Extra": "1", "User-Agent": None},
        body=b"{broken",
        content_type="text/plain",
        path="/models",
        method="post",
    )
    request = build_request(provider, preq, "sk-default")
    assert str(request.url) == BASE + "/models"
    assert request.method == "POST"
    assert request.content == b"{broken"
    assert request.headers["content-length"] == "7"
    assert request.headers["content-type"] == "text/plain"
    assert request.headers["x-extra"] == "1"
    assert "authorization" not in request.headers
    assert "user-agent" not in request.headers


def test_build_request_keys() -> None:
    provider = get_provider("openai", base_url=BASE)
    msgs = [{"role": "user", "content": "x"}]
    default = build_request(provider, ProbeRequest(messages=msgs), "sk-default")
    assert default.headers["authorization"] == "Bearer sk-default"
    wrong = build_request(provider, ProbeRequest(messages=msgs, api_key="sk-wrong"), "sk-default")
    assert wrong.headers["authorization"] == "Bearer sk-wrong"
    body = json.loads(default.content)
    assert body["messages"] == msgs


def test_wetrocloud_request_is_multipart_with_token() -> None:
    provider = get_provider("wetrocloud", base_url="http://wc.test")
    request = build_request(
        provider, ProbeRequest(messages=[{"role": "user", "content": "x"}]), "k1"
    )
    assert request.headers["content-type"].startswith("multipart/form-data")
    assert request.headers["authorization"] == "Token k1"
    assert int(request.headers["content-length"]) == len(request.content)


# ------------------------------------------------------------------ collecting


def _register_probes(count: int, *, requests_each: int = 1, prefix: str = "t") -> list[str]:
    names = []
    for i in range(count):
        name = f"{prefix}{i}"

        def make(pctx: ProbeContext, _i: int = i) -> list[ProbeRequest]:
            return [
                ProbeRequest(messages=pctx.messages(f"probe {_i}"), label=f"r{j}")
                for j in range(requests_each)
            ]

        probe(name, priority=100 + i)(make)
        names.append(name)
    return names


@pytest.mark.usefixtures("scratch_registry")
def test_budget_cuts_probes_whole() -> None:
    names = _register_probes(4, requests_each=2)
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content)["messages"][0]["content"])
        return _ok(request)

    out = asyncio.run(
        collect(
            get_provider("openai", base_url=BASE),
            [PROBES[n] for n in names],
            _client(handler),
            api_key="k",
            max_requests=5,
        )
    )
    assert out.requests_sent == 4
    assert sorted(out.exchanges) == ["t0", "t1"]
    assert "--max-requests budget of 5" in out.unavailable["t2"]
    assert "t3" in out.unavailable
    assert [ex.meta["label"] for ex in out.exchanges["t0"]] == ["r0", "r1"]
    assert len(sent) == 4


@pytest.mark.usefixtures("scratch_registry")
def test_probe_requiring_undocumented_capability_is_not_sent() -> None:
    @probe("needs_n", requires="n")
    def needs_n(pctx: ProbeContext) -> ProbeRequest:
        return ProbeRequest(messages=pctx.messages(), params={"n": 2})

    out = asyncio.run(
        collect(
            get_provider("nebulablock", base_url=BASE),  # documents no `n`
            [PROBES["needs_n"]],
            _client(_ok),
            api_key="k",
        )
    )
    assert out.requests_sent == 0
    assert "not documented by nebulablock" in out.unavailable["needs_n"]


@pytest.mark.usefixtures("scratch_registry")
def test_broken_probe_is_an_error_not_a_crash() -> None:
    @probe("broken")
    def broken(pctx: ProbeContext) -> ProbeRequest:
        raise RuntimeError("bug in probe")

    @check(
        id="t.uses_broken",
        title="t",
        severity=Severity.CLIENT,
        source="s",
        basis="http",
        probes=("broken",),
    )
    def uses_broken(ctx: CheckContext) -> None:
        """Reads a broken probe."""
        ctx.exchange("broken")

    provider = get_provider("openai", base_url=BASE)
    out = asyncio.run(collect(provider, [PROBES["broken"]], _client(_ok), api_key="k"))
    result = evaluate_one(CHECKS["t.uses_broken"], provider, out)
    assert result.status is Status.ERROR
    assert "bug in probe" in result.detail


@pytest.mark.usefixtures("scratch_registry")
def test_hanging_target_is_diagnosed_once_and_run_stays_bounded() -> None:
    names = _register_probes(12)

    async def handler(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        return _ok(request)

    provider = get_provider("openai", base_url=BASE)
    started = time.monotonic()
    out = asyncio.run(
        collect(provider, [PROBES[n] for n in names], _client(handler, timeout=0.3), api_key="k")
    )
    elapsed = time.monotonic() - started
    assert out.hung_on == "t0"
    assert out.requests_sent == 1  # the first request goes alone; nothing follows a hang
    for name in names[1:]:
        assert "the target hung on probe 't0'" in out.unavailable[name]
    assert elapsed < 5  # generous bound: two timeouts of 0.3 s in the worst case


@pytest.mark.usefixtures("scratch_registry")
def test_unreachable_target_raises_config_error() -> None:
    names = _register_probes(2)

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    provider = get_provider("openai", base_url=BASE)
    with pytest.raises(TargetUnreachable, match="cannot reach"):
        asyncio.run(collect(provider, [PROBES[n] for n in names], _client(handler), api_key="k"))


class _MissingSender:
    """A sender that, like replay, says some requests could not be made."""

    def __init__(self) -> None:
        self.client = _client(_ok)

    async def asend(
        self, request: httpx.Request, *, probe: str, stream: bool, api_key: str | None
    ) -> Exchange:
        ex = await self.client.asend(request, probe=probe, stream=stream, api_key=api_key)
        ex.meta["miss"] = probe == "t1"
        return ex

    def unavailable(self, exchange: Exchange) -> str | None:
        return "not in the replayed cassettes: t1" if exchange.meta.get("miss") else None


@pytest.mark.usefixtures("scratch_registry")
def test_sender_misses_become_unavailable_probes() -> None:
    names = _register_probes(2)
    provider = get_provider("openai", base_url=BASE)
    out = asyncio.run(
        collect(
            provider,
            [PROBES[n] for n in names],
            _MissingSender(),
            api_key="k",
            preflight=False,
        )
    )
    assert out.exchanges["t0"]
    assert out.unavailable["t1"] == "not in the replayed cassettes: t1"


# ------------------------------------------------------------------ evaluating


@pytest.mark.usefixtures("scratch_registry")
def test_outcomes_map_to_statuses() -> None:
    provider = get_provider("openai", base_url=BASE)

    @probe("p_ok")
    def p_ok(pctx: ProbeContext) -> ProbeRequest:
        return ProbeRequest(messages=pctx.messages())

    def register(check_id: str, body: object, **kw: object) -> None:
        def fn(ctx: CheckContext) -> str | None:
            """A test check."""
            ctx.exchange("p_ok")
            if isinstance(body, Exception):
                raise body
            return body  # type: ignore[return-value]

        check(
            id=check_id,
            title=check_id,
            severity=Severity.CLIENT,
            source="s",
            probes=("p_ok",),
            basis="http",
            **kw,
        )(fn)  # type: ignore[arg-type]

    register("t.pass", "fine")
    register("t.fail", Failed("broken", {"k": 1}))
    register("t.warn", Warned("meh"))
    register("t.skip", Skipped("n/a"))
    register("t.crash", ZeroDivisionError("oops"))
    register("t.warn_only", Failed("minor"), warn_only=True)
    register("t.capability", "unused", requires="n")

    out = asyncio.run(collect(provider, [PROBES["p_ok"]], _client(_ok), api_key="k"))
    nebula = get_provider("nebulablock", base_url=BASE)
    got = {cid: evaluate_one(CHECKS[cid], provider, out) for cid in CHECKS if cid.startswith("t.")}
    assert got["t.pass"].status is Status.PASSED and got["t.pass"].detail == "fine"
    assert got["t.fail"].status is Status.FAILED and got["t.fail"].evidence == {"k": 1}
    assert got["t.warn"].status is Status.WARNED
    assert got["t.skip"].status is Status.SKIPPED and got["t.skip"].detail == "n/a"
    assert got["t.crash"].status is Status.ERROR
    assert "ZeroDivisionError" in got["t.crash"].detail
    assert "traceback" in got["t.crash"].evidence
    assert got["t.warn_only"].status is Status.WARNED
    skipped = evaluate_one(CHECKS["t.capability"], nebula, out)
    assert skipped.status is Status.SKIPPED and "not documented by nebulablock" in skipped.detail


@pytest.mark.usefixtures("scratch_registry")
def test_reading_an_undeclared_probe_is_an_error() -> None:
    @check(id="t.sneaky", title="t", severity=Severity.CLIENT, source="s", basis="http", probes=())
    def sneaky(ctx: CheckContext) -> None:
        """Reads what it did not declare."""
        ctx.exchange("chat")

    result = evaluate_one(CHECKS["t.sneaky"], get_provider("openai", base_url=BASE), Collected())
    assert result.status is Status.ERROR
    assert "without declaring it" in result.detail


def test_registration_is_validated() -> None:
    with pytest.raises(ValueError, match="dotted"):
        check(id="nodot", title="t", severity=Severity.SDK, source="s")
    with pytest.raises(ValueError, match="unknown capability"):
        check(id="a.b", title="t", severity=Severity.SDK, source="s", requires="teleport")
    with pytest.raises(ValueError, match="docstring"):

        @check(id="a.nodoc", title="t", severity=Severity.SDK, source="s", basis="http")
        def nodoc(ctx: CheckContext) -> None:
            return None


def test_select_checks_patterns() -> None:
    from conformance.checks import load_families
    from conformance.providers.base import Dialect

    load_families()
    stream = select_checks(dialect=Dialect.OPENAI, only="stream")
    assert stream and all(s.id.startswith("stream.") for s in stream)
    both = {s.id for s in select_checks(dialect=Dialect.OPENAI, only="sse.no_bom, schema.usage*")}
    assert both == {"sse.no_bom", "schema.usage", "schema.usage_total", "schema.usage_details"}
    wetro = select_checks(dialect=Dialect.WETROCLOUD)
    assert all(Dialect.WETROCLOUD in s.dialects for s in wetro)
    assert not any(s.id.startswith("sse.") for s in wetro)


def test_probes_for_unknown_probe_raises(scratch_registry: None) -> None:
    @check(
        id="t.ghost",
        title="t",
        severity=Severity.CLIENT,
        source="s",
        basis="http",
        probes=("ghost",),
    )
    def ghost(ctx: CheckContext) -> None:
        """Declares a probe nobody registered."""

    with pytest.raises(KeyError, match="ghost"):
        probes_for([CHECKS["t.ghost"]])


def test_run_checks_end_to_end_with_mock_transport() -> None:
    provider = get_provider("openai", base_url=BASE)
    config = RunConfig(
        provider=provider, api_key="sk-e2e-secret", only="schema", sender=_client(_ok), timeout=5
    )
    run = run_checks(config)
    ids = {r.id for r in run.checks}
    assert ids and all(i.startswith("schema.") for i in ids)
    doc = run.to_dict(secrets=["sk-e2e-secret"])
    assert doc["kind"] == "check" and doc["version"] == 2
    assert set(doc["summary"]) == {"passed", "failed", "warned", "skipped", "error"}
    assert "sk-e2e-secret" not in json.dumps(doc)
    # the mock completion lacks refusal/logprobs: warned, never failed
    assert run.by_id()["schema.spec_only_fields"].status is Status.WARNED


def test_result_file_round_trip(tmp_path: object) -> None:
    from pathlib import Path

    from conformance.results import CheckResult, CheckRun, load_check_run

    run = CheckRun(
        provider="openai",
        base_url=BASE,
        model="m",
        checks=[
            CheckResult(
                id="a.b",
                title="T",
                severity=Severity.SDK,
                status=Status.FAILED,
                detail="bad sk-roundtrip-key",
                evidence={"headers": {"x": "sk-roundtrip-key"}},
            )
        ],
        duration_s=1.5,
        target={"mode": "live"},
    )
    path = run.write_json(Path(str(tmp_path)) / "sub" / "r.json", secrets=["sk-roundtrip-key"])
    text = path.read_text()
    assert "sk-roundtrip-key" not in text and "<redacted>" in text
    loaded = load_check_run(path)
    assert loaded.summary() == {"passed": 0, "failed": 1, "warned": 0, "skipped": 0, "error": 0}
    assert loaded.exit_code == 1 and not loaded.passed
    assert loaded.checks[0].category == "a" and loaded.checks[0].severity is Severity.SDK
    with pytest.raises(ValueError, match="not a check result"):
        CheckRun.from_dict({"kind": "bench", "version": 1})


@pytest.mark.usefixtures("scratch_registry")
def test_rate_limited_request_is_retried_after_retry_after() -> None:
    names = _register_probes(1)
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            return httpx.Response(429, headers={"retry-after": "0"}, json={"error": {}})
        return _ok(request)

    provider = get_provider("openai", base_url=BASE)
    out = asyncio.run(collect(provider, [PROBES[names[0]]], _client(handler), api_key="k"))
    (ex,) = out.exchanges["t0"]
    assert ex.status == 200 and ex.meta["rate_limited_retries"] == 1
    assert out.requests_sent == 2 and len(calls) == 2


def test_a_target_refusing_max_tokens_is_adapted_to_not_failed() -> None:
    """OpenAI's reasoning models answer max_tokens with 400 unsupported_parameter: the run
    resends with max_completion_tokens, and only the max_tokens checks are skipped."""
    seen: list[dict[str, object]] = []

    def reasoning_model(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append(body)
        if "max_tokens" in body:
            error = {
                "message": "Unsupported parameter: 'max_tokens' is not supported with this "
                "model. Use 'max_completion_tokens' instead.",
                "type": "invalid_request_error",
                "param": "max_tokens",
                "code": "unsupported_parameter",
            }
            return httpx.Response(400, json={"error": error})
        return httpx.Response(200, json=COMPLETION)

    provider = get_provider("openai", base_url=BASE)
    config = RunConfig(
        provider=provider,
        only="schema.completion,semantics.max_tokens",
        sender=_client(reasoning_model),
        timeout=5,
    )
    run = run_checks(config)
    verdicts = run.by_id()
    assert verdicts["schema.completion"].status is Status.PASSED
    assert verdicts["semantics.max_tokens"].status is Status.SKIPPED
    assert "max_completion_tokens" in verdicts["semantics.max_tokens"].detail
    assert "max_tokens" in seen[0] and all("max_tokens" not in b for b in seen[1:])
    assert len(seen) == 2  # the refused first request and its resend; length_cap not sent
    assert "max_tokens" in run.target["refused_capabilities"]
