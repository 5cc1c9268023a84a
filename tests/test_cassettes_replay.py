"""The respx replay router: matching rules, recorded chunking and timing, misses."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from conformance.cassettes import Cassette, CassetteMiss, CassetteSet, ReplayRouter, restore
from conformance.cassettes.matching import request_key
from conformance.cassettes.redact import Redactor
from conformance.cassettes.senders import ReplaySender
from conformance.wire.exchange import ErrorKind, Exchange, ExchangeError, RecordedRequest

BASE = "http://127.0.0.1:9/v1"
CHUNKS = [
    (2_000_000, b'data: {"choices": [{"delta": {"content": "a"}}]}\n\n'),
    (9_000_000, b'data: {"choices": [{"delta": {"content": "b"}}]}\n\n'),
    (9_500_000, b"data: [DONE]\n\n"),
]


def _recorded(
    body: bytes,
    *,
    chunks: list[tuple[int, bytes]] | None = None,
    status: int = 200,
    auth: str | None = "Bearer <API_KEY>",
    url: str = BASE + "/chat/completions",
    content_type: str = "application/json",
    error: ExchangeError | None = None,
) -> Exchange:
    headers = [("content-type", content_type)]
    if auth is not None:
        headers.append(("authorization", auth))
    chunks = CHUNKS if chunks is None else chunks
    return Exchange(
        probe="p",
        request=RecordedRequest("POST", url, headers, body),
        status=status,
        headers=[("content-type", "text/event-stream"), ("content-encoding", "gzip")],
        body=b"".join(c for _, c in chunks),
        chunks=chunks,
        events=[],
        t_send_ns=0,
        t_headers_ns=1_000_000,
        t_end_ns=10_000_000,
        error=error,
    )


def _router(*exchanges: Exchange, **kw: object) -> ReplayRouter:
    cassettes = CassetteSet([Cassette("p", list(exchanges), base_url=BASE)], [])
    return ReplayRouter(cassettes, base_url="http://elsewhere:1/nb/v1", api_key="k-run-1234", **kw)  # type: ignore[arg-type]


def _post(router: ReplayRouter, json: object, key: str | None = "k-run-1234") -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    with httpx.Client(transport=router.transport()) as client:
        response = client.post(
            "http://elsewhere:1/nb/v1/chat/completions", json=json, headers=headers
        )
        response.read()
        return response


def test_json_bodies_match_whatever_the_key_order_and_spacing(no_network: None) -> None:
    router = _router(_recorded(b'{"stream": true,  "model": "m"}'))
    response = _post(router, {"model": "m", "stream": True})
    assert response.status_code == 200
    assert response.content == b"".join(c for _, c in CHUNKS)
    # the recorded body is already decoded: replaying the encoding header would break it
    assert "content-encoding" not in response.headers


def test_different_bodies_and_stream_options_do_not_match(no_network: None) -> None:
    router = _router(_recorded(b'{"model": "m", "stream": true}'))
    with pytest.raises(CassetteMiss, match="no recorded exchange matches POST /chat/completions"):
        _post(router, {"model": "m", "stream": True, "stream_options": {"include_usage": True}})
    assert len(router.misses) == 1


def test_ignored_fields_are_left_out_of_the_match(no_network: None) -> None:
    router = _router(_recorded(b'{"model": "m", "user": "u-1"}'), ignore_fields=["user"])
    assert _post(router, {"model": "m", "user": "u-2"}).status_code == 200


def test_the_runs_key_and_a_wrong_key_are_told_apart(no_network: None) -> None:
    router = _router(
        _recorded(b'{"model": "m"}', status=401, auth="Bearer <REDACTED>", chunks=[]),
        _recorded(b'{"model": "m"}', status=200, chunks=[(1, b"{}")]),
        _recorded(b'{"model": "m"}', status=401, auth=None, chunks=[]),
    )
    # asked in a different order than recorded: each still gets its own answer
    assert _post(router, {"model": "m"}, key=None).status_code == 401
    assert _post(router, {"model": "m"}).status_code == 200
    assert _post(router, {"model": "m"}, key="sk-wrong-000000").status_code == 401


@pytest.mark.parametrize(
    "recorded_auth", ["Bearer <REDACTED>", "Bearer sk-made-up-by-hand", "Bearer <API_KEY>"]
)
def test_the_runs_key_matches_whatever_the_recorded_placeholder(
    recorded_auth: str, no_network: None
) -> None:
    """A cassette written with another placeholder (or a made-up key) still answers."""
    router = _router(_recorded(b'{"model": "m"}', auth=recorded_auth, chunks=[(1, b"{}")]))
    assert _post(router, {"model": "m"}).status_code == 200


def test_a_recording_without_a_key_answers_a_replay_with_one(no_network: None) -> None:
    router = _router(
        _recorded(b'{"model": "m", "max_tokens": 16}', auth=None, chunks=[(1, b"{}")]),
        _recorded(b'{"model": "m", "max_tokens": 4}', status=401, auth=None, chunks=[]),
        _recorded(b'{"model": "m", "max_tokens": 4}', status=403, auth="Bearer <REDACTED>"),
    )
    # the run's key: answered by the keyless recording of the same request
    assert _post(router, {"model": "m", "max_tokens": 16}).status_code == 200
    # the probes about keys keep their own recordings: no key, a wrong key
    assert _post(router, {"model": "m", "max_tokens": 4}, key=None).status_code == 401
    assert _post(router, {"model": "m", "max_tokens": 4}, key="sk-wrong-0000").status_code == 403


def test_the_probes_about_keys_are_never_answered_by_the_runs_key(no_network: None) -> None:
    """Without a key, or with a wrong one, only a recording of the same kind answers."""
    router = _router(_recorded(b'{"model": "m"}', chunks=[(1, b"{}")]))
    for key in (None, "sk-wrong-0000"):
        with pytest.raises(CassetteMiss):
            _post(router, {"model": "m"}, key=key)
    # and a run's key is never answered by the recording of another key, when the same
    # request was recorded without one
    router = _router(
        _recorded(b'{"model": "m"}', status=401, auth="Bearer <REDACTED>", chunks=[]),
        _recorded(b'{"model": "m"}', auth=None, chunks=[(1, b"{}")]),
    )
    assert _post(router, {"model": "m"}).status_code == 200


def test_restore_keeps_the_recorded_credentials_as_placeholders() -> None:
    sent = _recorded(b"{}", auth="Bearer <redacted>", chunks=[])
    sent.request.headers.append(("X-Api-Key", "<redacted>"))
    for recorded_auth, expected in [
        (None, None),
        ("Bearer <API_KEY>", "Bearer <API_KEY>"),
        ("Bearer sk-live-a-real-key-by-mistake", "Bearer <REDACTED>"),
    ]:
        restored = restore(sent, _recorded(b"{}", auth=recorded_auth, chunks=[]))
        assert restored.request.header("authorization") == expected
        assert restored.request.header("x-api-key") is None
        assert restored.request.header("content-type") == "application/json"


def test_repeated_requests_are_served_in_recorded_order(no_network: None) -> None:
    router = _router(
        _recorded(b'{"model": "m"}', chunks=[(1, b"first")]),
        _recorded(b'{"model": "m"}', chunks=[(1, b"second")]),
    )
    assert [_post(router, {"model": "m"}).content for _ in range(3)] == [
        b"first",
        b"second",
        b"second",
    ]


def test_multipart_fields_match_whatever_the_boundary(no_network: None) -> None:
    one = httpx.Request(
        "POST",
        "http://h/v1/text-generation/",
        files={"messages": (None, '[{"role": "user", "content": "hi"}]'), "model": (None, "m")},
    )
    one.read()
    two = httpx.Request(
        "POST",
        "http://h/v1/text-generation/",
        files={"model": (None, "m"), "messages": (None, '[{"content": "hi", "role": "user"}]')},
    )
    two.read()
    assert one.headers["content-type"] != two.headers["content-type"]

    def key(r: httpx.Request) -> object:
        return request_key(
            "POST",
            str(r.url),
            r.headers.multi_items(),
            r.content,
            base_url="http://h",
            redactor=Redactor(),
        )

    assert key(one) == key(two)


def test_streams_keep_their_recorded_chunking_sync_and_async(no_network: None) -> None:
    router = _router(_recorded(b'{"model": "m", "stream": true}'))
    with (
        httpx.Client(transport=router.transport()) as client,
        client.stream(
            "POST",
            "http://elsewhere:1/nb/v1/chat/completions",
            json={"model": "m", "stream": True},
            headers={"authorization": "Bearer k-run-1234"},
        ) as response,
    ):
        assert list(response.iter_raw()) == [c for _, c in CHUNKS]

    async def read_async() -> list[bytes]:
        async with (
            httpx.AsyncClient(transport=router.transport()) as aclient,
            aclient.stream(
                "POST",
                "http://elsewhere:1/nb/v1/chat/completions",
                json={"model": "m", "stream": True},
                headers={"authorization": "Bearer k-run-1234"},
            ) as aresponse,
        ):
            return [c async for c in aresponse.aiter_raw()]

    assert asyncio.run(read_async()) == [c for _, c in CHUNKS]


def test_replay_sender_restores_recorded_times_and_events(no_network: None) -> None:
    recorded = _recorded(b'{"model": "m", "stream": true}')
    cassettes = CassetteSet([Cassette("p", [recorded], base_url=BASE)], [])
    sender = ReplaySender(cassettes, base_url="http://elsewhere:1/nb/v1", api_key="k-run-1234")
    request = httpx.Request(
        "POST",
        "http://elsewhere:1/nb/v1/chat/completions",
        json={"model": "m", "stream": True},
        headers={"authorization": "Bearer k-run-1234"},
    )

    async def go() -> Exchange:
        try:
            return await sender.asend(request, probe="p", stream=True, api_key="k-run-1234")
        finally:
            await sender.aclose()

    ex = asyncio.run(go())
    assert ex.error is None and ex.status == 200
    assert [c for _, c in ex.chunks] == [c for _, c in CHUNKS]
    assert [t - ex.t_send_ns for t, _ in ex.chunks] == [t for t, _ in CHUNKS]
    assert ex.events is not None
    assert [e.t_ns - ex.t_send_ns for e in ex.events] == [t for t, _ in CHUNKS]
    assert ex.t_headers_ns is not None and ex.t_headers_ns - ex.t_send_ns == 1_000_000
    assert sender.unavailable(ex) is None


def test_replay_sender_reports_misses_as_unavailable(no_network: None) -> None:
    cassettes = CassetteSet([Cassette("p", [_recorded(b'{"model": "m"}')], base_url=BASE)], [])
    sender = ReplaySender(cassettes, base_url=BASE, api_key="k-run-1234")
    request = httpx.Request("POST", BASE + "/chat/completions", json={"model": "other"})

    async def go() -> Exchange:
        try:
            return await sender.asend(request, probe="x", stream=False, api_key=None)
        finally:
            await sender.aclose()

    ex = asyncio.run(go())
    reason = sender.unavailable(ex)
    assert reason is not None and reason.startswith("not in the replayed cassettes: POST")
    assert sender.missed == {"x": reason}


@pytest.mark.parametrize(
    ("kind", "raised"),
    [
        (ErrorKind.TRUNCATED, httpx.RemoteProtocolError),
        (ErrorKind.READ_TIMEOUT, httpx.ReadTimeout),
    ],
)
def test_recorded_transport_errors_are_replayed(
    no_network: None, kind: ErrorKind, raised: type[Exception]
) -> None:
    error = ExchangeError(kind, "cut", after_s=0.01)
    router = _router(_recorded(b'{"model": "m"}', error=error))
    with pytest.raises(raised):
        _post(router, {"model": "m"})


def test_restore_puts_back_a_recorded_error_and_times() -> None:
    error = ExchangeError(ErrorKind.TOTAL_TIMEOUT, "took too long", after_s=30.0)
    recorded = _recorded(b"{}", error=error)
    replayed = _recorded(b"{}", error=ExchangeError(ErrorKind.READ_TIMEOUT, "imitation"))
    replayed.t_send_ns = 5_000
    replayed.chunks = [(5_001, c) for _, c in CHUNKS]
    back = restore(replayed, recorded)
    assert back.error == error
    assert [t for t, _ in back.chunks] == [5_000 + t for t, _ in CHUNKS]
    assert back.t_end_ns == 5_000 + 10_000_000


def test_other_request_headers_take_part_in_the_match(no_network: None) -> None:
    faulty = _recorded(b'{"model": "m"}', chunks=[(1, b"faulty")])
    faulty.request.headers.append(("X-Conformance-Fault", "no_done"))
    plain = _recorded(b'{"model": "m"}', chunks=[(1, b"plain")])
    router = _router(faulty, plain)
    # volatile headers (user agent, host, length) and httpx's Accept: */* do not count
    assert _post(router, {"model": "m"}).content == b"plain"
    with httpx.Client(transport=router.transport()) as client:
        response = client.post(
            "http://elsewhere:1/nb/v1/chat/completions",
            json={"model": "m"},
            headers={"authorization": "Bearer k-run-1234", "x-conformance-fault": "no_done"},
        )
    assert response.content == b"faulty"


def test_delayed_replay_yields_the_same_chunks(no_network: None) -> None:
    router = _router(_recorded(b'{"model": "m"}'), delays=True, time_scale=0.01)
    assert _post(router, {"model": "m"}).content == b"".join(c for _, c in CHUNKS)


def test_the_router_is_a_respx_router_with_a_route_per_request(no_network: None) -> None:
    router = _router(_recorded(b'{"model": "a"}'), _recorded(b'{"model": "b"}'))
    assert [r.name for r in router.router.routes] == ["p#0", "p#1", "miss"]
    _post(router, {"model": "b"})
    _post(router, {"model": "b"})
    with pytest.raises(CassetteMiss):
        _post(router, {"model": "c"})
    routes = router.router.routes
    assert (routes["p#0"].call_count, routes["p#1"].call_count) == (0, 2)
    assert routes["miss"].call_count == 1


def test_recording_sender_tells_the_runs_key_from_other_credentials() -> None:
    from conformance.cassettes import RecordingSender
    from conformance.wire.client import WireClient

    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={}))
    sender = RecordingSender(WireClient(timeout=5, transport=transport), api_key="sk-real-123456")
    cases = {
        "Bearer sk-real-123456": "Bearer <API_KEY>",
        "Bearer sk-wrong-000000": "Bearer <REDACTED>",
        "Basic dXNlcjpwYXNz": "Basic <REDACTED>",
        "Bearer": "Bearer",
    }

    async def go() -> list[str | None]:
        seen = []
        for value in cases:
            request = httpx.Request("POST", BASE, json={}, headers={"Authorization": value})
            key = value.split(" ", 1)[-1] if " " in value else None
            ex = await sender.asend(request, probe="auth", stream=False, api_key=key)
            seen.append(ex.request.header("authorization"))
        await sender.aclose()
        return seen

    assert asyncio.run(go()) == list(cases.values())
    assert len(sender.exchanges) == len(cases)


def _documented(
    probe: str, body: bytes, *, stands_for: str | None, stream: bool = False
) -> Cassette:
    example = _recorded(
        body, chunks=CHUNKS if stream else [(0, b'{"documented": true}')], auth="Bearer <API_KEY>"
    )
    if not stream:
        example.events = None
    example.meta = {"messages": [{"role": "user", "content": "documented question"}], "params": {}}
    return Cassette(
        probe, [example], base_url=BASE, source="documented", note="docs", stands_for=stands_for
    )


def test_a_documented_example_stands_for_its_probe_with_its_own_request(
    no_network: None,
) -> None:
    cassettes = CassetteSet(
        [
            _documented(
                "docs.example", b'{"model": "m", "messages": ["documented"]}', stands_for="chat"
            )
        ],
        [],
    )
    sender = ReplaySender(cassettes, base_url="http://elsewhere:1/nb/v1", api_key="k-run-1234")

    async def send(probe: str, stream: bool = False) -> Exchange:
        request = httpx.Request(
            "POST",
            "http://elsewhere:1/nb/v1/chat/completions",
            json={"model": "m", "messages": ["the probe's own"]},
            headers={"authorization": "Bearer k-run-1234"},
        )
        return await sender.asend(request, probe=probe, stream=stream, api_key="k-run-1234")

    chat = asyncio.run(send("chat"))
    assert chat.status == 200 and chat.body == b'{"documented": true}'
    assert chat.request.body == b'{"model": "m", "messages": ["documented"]}'  # its own request
    assert chat.meta["messages"] == [{"role": "user", "content": "documented question"}]
    assert chat.meta["stand_in"].startswith("docs.example (documented example")
    assert chat.request.header("authorization") == "Bearer <API_KEY>"
    assert sender.missed == {}
    # another probe, or the same probe streamed, is not answered by it
    other = asyncio.run(send("other_prompt"))
    assert other.error is not None and sender.unavailable(other)
    streamed = asyncio.run(send("chat", stream=True))
    assert streamed.error is not None and "other_prompt" in sender.missed


def test_a_recording_of_the_probe_answers_before_a_documented_stand_in(no_network: None) -> None:
    own = _recorded(b'{"model": "m", "messages": ["own"]}', chunks=[(1, b'{"recorded": true}')])
    own.events = None
    cassettes = CassetteSet(
        [
            Cassette("chat", [own], base_url=BASE),
            _documented("docs.example", b'{"model": "m", "messages": ["doc"]}', stands_for="chat"),
        ],
        [],
    )
    sender = ReplaySender(cassettes, base_url="http://elsewhere:1/nb/v1", api_key="k-run-1234")
    request = httpx.Request(
        "POST",
        "http://elsewhere:1/nb/v1/chat/completions",
        content=b'{"model": "m", "messages": ["own"]}',
        headers={"authorization": "Bearer k-run-1234", "content-type": "application/json"},
    )
    ex = asyncio.run(sender.asend(request, probe="chat", stream=False, api_key="k-run-1234"))
    assert ex.body == b'{"recorded": true}' and "stand_in" not in ex.meta
