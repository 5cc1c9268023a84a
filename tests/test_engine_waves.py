"""Probes built from earlier answers (``@probe(after=...)``): dependency waves, skips when
the parent failed or was refused, the budget, hangs, and record-then-replay determinism."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest

from conformance.backend import BackendConfig, serve_in_thread
from conformance.cassettes import open_replay, read_cassettes, record
from conformance.checks import (
    CHECKS,
    PROBES,
    CheckContext,
    ProbeContext,
    ProbeRequest,
    Refused,
    Severity,
    Skipped,
    Status,
    check,
    load_families,
    probe,
)
from conformance.engine import RunConfig, collect, evaluate_one, probes_for, run_checks
from conformance.providers import PROVIDERS, get_provider
from conformance.wire.client import WireClient
from conformance.wire.exchange import Exchange

BASE = "http://target.test/v1"


def _completion(text: str) -> dict[str, object]:
    return {
        "id": "c1",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
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


def _prompt(request: httpx.Request) -> str:
    return str(json.loads(request.content)["messages"][0]["content"])


class Target:
    """Answers each prompt with ``answers[prompt]`` (default: its echo), recording the
    order of the prompts; a prompt in ``fail`` gets that status."""

    def __init__(self, fail: dict[str, int] | None = None) -> None:
        self.fail = fail or {}
        self.seen: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        prompt = _prompt(request)
        self.seen.append(prompt)
        if prompt in self.fail:
            status = self.fail[prompt]
            body = {"error": {"message": f"no {prompt}", "type": "x", "param": None, "code": None}}
            return httpx.Response(status, json=body)
        return httpx.Response(200, json=_completion(f"echo of {prompt}"))


def _client(target: Target, timeout: float = 5.0) -> WireClient:
    return WireClient(timeout=timeout, transport=httpx.MockTransport(target))


def _answer(ex: Exchange) -> str:
    return str(json.loads(ex.body)["choices"][0]["message"]["content"])


def _register_chain() -> None:
    """root (2 requests) -> child (built from root's answers) -> grandchild."""

    @probe("root", priority=1)
    def root(pctx: ProbeContext) -> list[ProbeRequest]:
        return [
            ProbeRequest(messages=pctx.messages("root-a"), label="a"),
            ProbeRequest(messages=pctx.messages("root-b"), label="b"),
        ]

    @probe("child", after="root", priority=0)
    def child(pctx: ProbeContext, parent: Sequence[Exchange]) -> list[ProbeRequest]:
        return [ProbeRequest(messages=pctx.messages("child<" + _answer(ex) + ">")) for ex in parent]

    @probe("grandchild", after="child")
    def grandchild(pctx: ProbeContext, parent: Sequence[Exchange]) -> ProbeRequest:
        return ProbeRequest(messages=pctx.messages("grand<" + _answer(parent[0]) + ">"))


def _collect(target: Target, names: Sequence[str], **kwargs: object) -> object:
    provider = get_provider("openai", base_url=BASE)
    return asyncio.run(
        collect(provider, [PROBES[n] for n in names], _client(target), api_key="k", **kwargs)  # type: ignore[arg-type]
    )


@pytest.mark.usefixtures("scratch_registry")
def test_dependants_go_in_waves_built_from_their_parents_answers() -> None:
    _register_chain()
    target = Target()
    planned: list[int] = []
    out = _collect(target, ["grandchild", "child", "root"], on_planned=planned.append)
    # every parent request precedes the first dependant, whatever the priorities
    assert set(target.seen[:2]) == {"root-a", "root-b"}
    assert sorted(target.seen[2:4]) == ["child<echo of root-a>", "child<echo of root-b>"]
    assert target.seen[4] == "grand<echo of child<echo of root-a>>"
    assert out.requests_sent == 5  # type: ignore[attr-defined]
    assert planned == [2, 4, 5]  # the progress total grows wave by wave
    assert not out.unavailable and not out.broken  # type: ignore[attr-defined]


@pytest.mark.usefixtures("scratch_registry")
def test_a_check_declaring_a_dependant_gets_its_parents_sent_too() -> None:
    _register_chain()

    @check(id="scratch.grand", title="t", severity=Severity.COSMETIC, source="s", basis="http",
           probes=("grandchild",))  # fmt: skip
    def grand(ctx: CheckContext) -> str:
        """Reads the grandchild only."""
        return _answer(ctx.exchange("grandchild"))

    assert [p.name for p in probes_for([CHECKS["scratch.grand"]])] == [
        "grandchild",
        "child",
        "root",
    ]


@pytest.mark.usefixtures("scratch_registry")
@pytest.mark.parametrize(("status", "by_design"), [(500, False), (400, True)])
def test_a_failed_or_refused_parent_skips_its_dependants(status: int, by_design: bool) -> None:
    _register_chain()
    target = Target(fail={"root-a": status, "root-b": status})
    out = _collect(target, ["grandchild", "child", "root"], preflight=False)
    assert all(not seen.startswith(("child", "grand")) for seen in target.seen)
    reason = out.unavailable["child"]  # type: ignore[attr-defined]
    assert "built from the answer of probe 'root'" in reason and str(status) in reason
    assert "child" not in out.broken  # type: ignore[attr-defined]
    assert ("child" in out.by_design) is by_design  # type: ignore[attr-defined]
    assert "which was not made" in out.unavailable["grandchild"]  # type: ignore[attr-defined]

    @check(id="scratch.child", title="t", severity=Severity.COSMETIC, source="s", basis="http",
           probes=("child",))  # fmt: skip
    def child_check(ctx: CheckContext) -> str:
        """Reads the child."""
        return _answer(ctx.exchange("child"))

    result = evaluate_one(CHECKS["scratch.child"], get_provider("openai", base_url=BASE), out)  # type: ignore[arg-type]
    assert result.status is Status.SKIPPED  # never error
    assert result.by_design is by_design


@pytest.mark.usefixtures("scratch_registry")
def test_only_the_successful_parent_answers_are_given_to_the_builder() -> None:
    _register_chain()
    target = Target(fail={"root-b": 500})
    out = _collect(target, ["child", "root"], preflight=False)
    assert target.seen[-1] == "child<echo of root-a>"
    assert len(out.exchanges["child"]) == 1  # type: ignore[attr-defined]


@pytest.mark.usefixtures("scratch_registry")
def test_a_builder_may_skip_refuse_or_crash() -> None:
    @probe("p")
    def parent(pctx: ProbeContext) -> ProbeRequest:
        return ProbeRequest(messages=pctx.messages("p"))

    @probe("skips", after="p")
    def skips(pctx: ProbeContext, parent: Sequence[Exchange]) -> ProbeRequest:
        raise Skipped("not judgeable: the answer is too short")

    @probe("refuses", after="p")
    def refuses(pctx: ProbeContext, parent: Sequence[Exchange]) -> ProbeRequest:
        raise Refused("the answer says the feature is off")

    @probe("crashes", after="p")
    def crashes(pctx: ProbeContext, parent: Sequence[Exchange]) -> ProbeRequest:
        raise ValueError("bug")

    out = _collect(Target(), ["skips", "refuses", "crashes", "p"])
    assert out.unavailable["skips"] == "not judgeable: the answer is too short"  # type: ignore[attr-defined]
    assert "skips" not in out.by_design and "refuses" in out.by_design  # type: ignore[attr-defined]
    assert "ValueError: bug" in out.broken["crashes"]  # type: ignore[attr-defined]
    assert out.requests_sent == 1  # type: ignore[attr-defined]


@pytest.mark.usefixtures("scratch_registry")
def test_a_cycle_or_an_unknown_parent_is_a_broken_probe() -> None:
    @probe("x", after="y")
    def x(pctx: ProbeContext, parent: Sequence[Exchange]) -> ProbeRequest:
        return ProbeRequest(messages=pctx.messages())

    @probe("y", after="x")
    def y(pctx: ProbeContext, parent: Sequence[Exchange]) -> ProbeRequest:
        return ProbeRequest(messages=pctx.messages())

    out = _collect(Target(), ["x", "y"])
    assert "depends on it in turn" in out.broken["x"]  # type: ignore[attr-defined]
    out = _collect(Target(), ["x"])
    assert "is not among the probes to send" in out.broken["x"]  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="after itself"):
        probe("z", after="z")


@pytest.mark.usefixtures("scratch_registry")
def test_dependants_get_what_the_budget_leaves() -> None:
    _register_chain()
    target = Target()
    out = _collect(target, ["grandchild", "child", "root"], max_requests=3)
    assert out.requests_sent == 2  # type: ignore[attr-defined]
    assert "--max-requests budget of 3" in out.unavailable["child"]  # type: ignore[attr-defined]
    assert "child" in out.unavailable["grandchild"]  # type: ignore[attr-defined]
    out = _collect(Target(), ["grandchild", "child", "root"], max_requests=4)
    assert out.requests_sent == 4  # type: ignore[attr-defined]
    assert "--max-requests budget of 4" in out.unavailable["grandchild"]  # type: ignore[attr-defined]


@pytest.mark.usefixtures("scratch_registry")
def test_no_dependant_is_sent_after_a_hang() -> None:
    _register_chain()

    async def slow(request: httpx.Request) -> httpx.Response:
        if _prompt(request) == "root-b":
            await asyncio.sleep(30)
        return httpx.Response(200, json=_completion("x"))

    provider = get_provider("openai", base_url=BASE)
    client = WireClient(timeout=0.3, transport=httpx.MockTransport(slow))
    out = asyncio.run(collect(provider, [PROBES["grandchild"], PROBES["child"], PROBES["root"]],
                              client, api_key="k"))  # fmt: skip
    assert out.hung_on == "root"
    assert "the target hung on probe 'root'" in out.unavailable["child"]
    assert out.requests_sent == 2


# ------------------------------------------------------------------ record, then replay

KEY = "sk-WAVES-distinctive-0c9a7e11"


@pytest.fixture(scope="module")
def backend_root() -> Iterator[str]:
    with serve_in_thread(BackendConfig(api_keys=(KEY,))) as root:
        yield root


def _statuses(config: RunConfig) -> dict[str, tuple[str, str]]:
    return {r.id: (r.status.value, r.detail) for r in run_checks(config).checks}


@pytest.mark.parametrize("fault", ["", "stop_left_in"])
def test_record_then_replay_judges_dependants_the_same(
    backend_root: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    """The dependant's request is rebuilt from the recorded parent answer, so replay finds
    it in the cassettes and gives the live verdicts, detail for detail."""
    load_families()
    only = "semantics.stop_*"
    root = backend_root + (f"/fault/{fault}" if fault else "")
    base = PROVIDERS["openai"].embedded_base_url(root)
    provider = get_provider("openai", base_url=base)
    record(provider, out=tmp_path, api_key=KEY, timeout=10, only=only)
    live = _statuses(RunConfig(provider=provider, api_key=KEY, only=only, timeout=10))
    assert {status for status, _ in live.values()} == {"failed" if fault else "passed"}
    cassettes = read_cassettes([tmp_path])
    with monkeypatch.context() as m:
        m.setattr(socket.socket, "connect", _refuse)
        sender = open_replay(tmp_path)
        replay = RunConfig(
            provider=get_provider("openai", base_url=str(cassettes.meta("base_url"))),
            api_key=sender.api_key or "",
            only=only,
            sender=sender,
            mode="replay",
        )
        replayed = _statuses(replay)
    assert sender.missed == {}
    assert replayed == live


def _refuse(self: socket.socket, *args: object) -> None:
    raise OSError("network disabled by the test")


@pytest.mark.usefixtures("scratch_registry")
def test_a_reservation_keeps_budget_for_a_dependant_of_high_priority() -> None:
    @probe("first", priority=0)
    def first(pctx: ProbeContext) -> ProbeRequest:
        return ProbeRequest(messages=pctx.messages("first"))

    @probe("built", after="first", priority=1, reserve=2)
    def built(pctx: ProbeContext, parent: Sequence[Exchange]) -> list[ProbeRequest]:
        return [ProbeRequest(messages=pctx.messages(f"built{i}"), label=str(i)) for i in (0, 1)]

    @probe("later", priority=9)
    def later(pctx: ProbeContext) -> list[ProbeRequest]:
        return [ProbeRequest(messages=pctx.messages(f"later{i}"), label=str(i)) for i in (0, 1)]

    target = Target()
    out = _collect(target, ["first", "built", "later"], max_requests=3)
    assert sorted(out.exchanges) == ["built", "first"]  # type: ignore[attr-defined]
    assert "--max-requests budget of 3" in out.unavailable["later"]  # type: ignore[attr-defined]
    out = _collect(Target(), ["first", "built", "later"], max_requests=2)
    assert "needs up to 2 request(s)" in out.unavailable["built"]  # type: ignore[attr-defined]
    assert sorted(out.exchanges) == ["first"]  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="reserve"):
        probe("orphan", reserve=2)


def test_cassette_coverage_finds_the_missing_requests_of_a_dependant(
    backend_root: str, tmp_path: Path
) -> None:
    """`verify --coverage` replays the recorded parent answers to know the dependants'
    requests: a recording without them is reported, one with them is complete."""
    from conformance.cassettes.coverage import uncovered_requests

    load_families()
    base = PROVIDERS["openai"].embedded_base_url(backend_root)
    provider = get_provider("openai", base_url=base)
    record(provider, out=tmp_path, api_key=KEY, timeout=10)
    assert [u for u in uncovered_requests(read_cassettes([tmp_path]), "openai")
            if u.probe.startswith("stop")] == []  # fmt: skip
    (tmp_path / "stop_string.yaml").unlink()
    missing = uncovered_requests(read_cassettes([tmp_path]), "openai")
    assert [u.probe for u in missing] == ["stop_string"]
    assert "not in the replayed cassettes" in missing[0].request
