"""The cassette format: exact round trips, readable bodies, redaction, refusing to overwrite."""

from __future__ import annotations

import itertools
from pathlib import Path

import httpx
import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from conformance.cassettes import (
    FORMAT_VERSION,
    Cassette,
    CassetteError,
    Redactor,
    dump_yaml,
    exchange_from_data,
    exchange_to_data,
    read_cassette,
    read_cassettes,
    write_cassette,
    write_recording,
)
from conformance.cassettes._bodies import (
    decode_bytes,
    decode_request_body,
    encode_bytes,
    encode_request_body,
)
from conformance.wire.exchange import ErrorKind, Exchange, ExchangeError, RecordedRequest

KEY = "sk-test-DISTINCTIVE-7f3a9c1e5b"


def _exchange(
    *,
    body: bytes = b'{"model":"m","stream":true}',
    chunks: list[tuple[int, bytes]] | None = None,
    stream: bool = True,
    error: ExchangeError | None = None,
    auth: str = f"Bearer {KEY}",
) -> Exchange:
    chunks = (
        chunks
        if chunks is not None
        else [(2_000_000, b'data: {"a": 1}\n\n'), (5_500_000, b"data: [DONE]\n\n")]
    )
    return Exchange(
        probe="stream",
        request=RecordedRequest(
            "POST",
            "http://127.0.0.1:9/v1/chat/completions",
            [("content-type", "application/json"), ("authorization", auth)],
            body,
        ),
        status=200,
        headers=[("content-type", "text/event-stream" if stream else "application/json")],
        body=b"".join(c for _, c in chunks),
        chunks=chunks,
        events=[] if stream else None,
        t_send_ns=1_000_000,
        t_headers_ns=1_500_000,
        t_end_ns=7_000_000,
        error=error,
        meta={"label": "", "params": {"stream": stream}},
    )


def _round_trip(ex: Exchange) -> Exchange:
    text = dump_yaml(exchange_to_data(ex))
    return exchange_from_data(yaml.safe_load(text), probe=ex.probe, where="test")


@given(st.binary(max_size=200))
def test_any_bytes_survive_as_text_or_base64(data: bytes) -> None:
    written = yaml.safe_load(dump_yaml({"v": encode_bytes(data)}))["v"]
    assert decode_bytes(written, where="t") == data


@given(st.text(max_size=200))
@example("\x85 NEL, \u2028 LS, \u2029 PS, CR\r, CRLF\r\n, BOM \ufeff, NUL \x00")
@example("data: {}\n\n  trailing spaces  \n")
def test_any_text_survives_yaml_exactly(text: str) -> None:
    data = text.encode("utf-8", "surrogatepass")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return
    written = yaml.safe_load(dump_yaml({"v": encode_bytes(data)}))["v"]
    assert decode_bytes(written, where="t") == data


def test_non_utf8_bytes_are_marked_base64() -> None:
    assert encode_bytes(b"\xff\xfe") == {"base64": "//4="}
    assert encode_bytes("héllo".encode()) == "héllo"
    with pytest.raises(CassetteError, match="invalid base64"):
        decode_bytes({"base64": "%%%"}, where="x")


@given(st.lists(st.binary(min_size=1, max_size=40), max_size=6))
def test_stream_chunks_and_times_round_trip(parts: list[bytes]) -> None:
    chunks = [(1_000_000 + 1_234_000 * (i + 1), c) for i, c in enumerate(parts)]
    ex = _exchange(chunks=chunks)
    back = _round_trip(ex)
    assert [c for _, c in back.chunks] == parts
    # times are stored relative to the send, to the microsecond
    assert [t for t, _ in back.chunks] == [t - ex.t_send_ns for t, _ in chunks]
    assert back.body == ex.body
    assert back.t_headers_ns == 500_000 and back.t_end_ns == 6_000_000
    assert back.events is not None  # re-parsed from the chunks


def test_stream_events_are_reparsed_with_recorded_times() -> None:
    back = _round_trip(_exchange())
    assert back.events is not None
    assert [e.data for e in back.events] == ['{"a": 1}', "[DONE]"]
    assert [e.t_ns for e in back.events] == [1_000_000, 4_500_000]
    assert back.observations is not None and back.observations.line_endings == {"lf"}


def test_error_meta_and_status_round_trip() -> None:
    err = ExchangeError(ErrorKind.READ_TIMEOUT, "no data for 2 s", after_s=2.0)
    back = _round_trip(_exchange(error=err))
    assert back.error == err
    assert back.meta == {"label": "", "params": {"stream": True}}
    assert back.status == 200


def test_non_stream_body_is_kept_raw() -> None:
    raw = b'{\n  "id": "x",\n  "weird"  : 1}'
    back = _round_trip(_exchange(chunks=[(3_000_000, raw)], stream=False))
    assert back.body == raw
    assert back.events is None


@pytest.mark.parametrize(
    ("kwargs", "form"),
    [
        ({"json": {"model": "m", "messages": [{"role": "user", "content": "é"}]}}, "json"),
        ({"content": b'{"b": 1,  "a": 2}'}, "text"),
        ({"content": b"\xff\x00garbage"}, "base64"),
        (
            {
                "files": {
                    "messages": (None, '[{"role": "user", "content": "what is it?"}]'),
                    "model": (None, "llama-3.3-70b"),
                }
            },
            "form",
        ),
    ],
)
def test_request_bodies_are_readable_and_exact(kwargs: dict[str, object], form: str) -> None:
    request = httpx.Request("POST", "http://x/", **kwargs)  # type: ignore[arg-type]
    body = request.read()
    written = encode_request_body(body, request.headers.get("content-type"))
    assert written is not None and form in written
    again = yaml.safe_load(dump_yaml(written))
    assert decode_request_body(again, where="t") == body


def test_multipart_fields_are_written_as_text() -> None:
    request = httpx.Request(
        "POST", "http://x/", files={"messages": (None, "[1, 2]"), "model": (None, "m")}
    )
    written = encode_request_body(request.read(), request.headers["content-type"])
    assert written is not None
    assert written["form"]["parts"] == [
        {"name": "messages", "value": "[1, 2]"},
        {"name": "model", "value": "m"},
    ]


def test_cassette_file_is_versioned_readable_yaml(tmp_path: Path) -> None:
    path = write_cassette(
        tmp_path / "stream.yaml",
        Cassette("stream", [_exchange()], provider="openai", base_url="http://127.0.0.1:9/v1"),
        Redactor([KEY]),
    )
    text = path.read_text()
    assert text.startswith(f"version: {FORMAT_VERSION}\nprobe: stream\n")
    assert "at_ms: 1.0" in text  # chunk arrival in ms after the send
    assert "stream: true" in text
    back = read_cassette(path)
    assert back.probe == "stream" and back.provider == "openai"
    assert back.exchanges[0].request.header("authorization") == "Bearer <API_KEY>"


def test_unknown_version_and_bad_fields_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "v2.yaml"
    bad.write_text("version: 2\nprobe: chat\nexchanges: []\n")
    with pytest.raises(CassetteError, match="version 2 is not supported"):
        read_cassette(bad)
    bad.write_text("version: 1\nprobe: chat\nexchanges:\n- request: {method: GET}\n")
    with pytest.raises(CassetteError, match=r"exchanges\[0\]\.request: needs a method and a url"):
        read_cassette(bad)
    bad.write_text("version: 1\nprobe: [unclosed\n")
    with pytest.raises(CassetteError, match="not valid YAML"):
        read_cassette(bad)


def test_redaction_everywhere(tmp_path: Path) -> None:
    """The key is removed from headers, URLs, bodies, chunks split mid-key and errors."""
    half = len(KEY) // 2
    chunks = [
        (2_000_000, b'data: {"echo": "' + KEY[:half].encode()),
        (3_000_000, KEY[half:].encode() + b'"}\n\n'),
        (4_000_000, b"data: [DONE]\n\n"),
    ]
    ex = _exchange(chunks=chunks, body=b'{"key": "' + KEY.encode() + b'"}')
    ex.request = RecordedRequest(
        "POST",
        f"http://u:{KEY}@127.0.0.1:9/v1/chat/completions?api_key={KEY}&x=1",
        [*ex.request.headers, ("x-api-key", KEY), ("x-echo", f"k={KEY}")],
        ex.request.body,
    )
    ex.headers.append(("set-cookie", "session=abc123secret"))
    ex.error = ExchangeError(ErrorKind.OTHER, f"bad key {KEY}")
    ex.meta["note"] = [KEY]
    cassette = Cassette("stream", [ex], base_url=f"http://h/v1?key={KEY}", note=KEY)
    path = write_cassette(tmp_path / "c.yaml", cassette, Redactor([KEY]))
    raw = path.read_bytes()
    assert KEY.encode() not in raw
    assert b"abc123secret" not in raw
    back = read_cassette(path)
    exb = back.exchanges[0]
    assert exb.request.header("authorization") == "Bearer <API_KEY>"
    assert exb.request.header("x-api-key") == "<API_KEY>"
    assert exb.request.header("x-echo") == "k=<API_KEY>"
    assert "api_key=<API_KEY>" in exb.request.url and "x=1" in exb.request.url
    # the two chunks that held the split key were merged, timed at the later one
    assert exb.chunks[0] == (2_000_000, b'data: {"echo": "<API_KEY>"}\n\n')
    assert len(exb.chunks) == 2


def test_other_credentials_are_told_apart_from_the_key() -> None:
    red = Redactor([KEY])
    assert red.credential(f"Bearer {KEY}") == "Bearer <API_KEY>"
    assert red.credential("Bearer sk-wrong-key-000") == "Bearer <REDACTED>"
    assert red.credential("Token <redacted>") == "Token <REDACTED>"
    assert red.credential("Bearer") == "Bearer"


def test_write_recording_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    kw = {"provider": "openai", "base_url": "http://h/v1", "model": "m", "redactor": Redactor()}
    first = write_recording(tmp_path, [Cassette("chat", [_exchange(stream=False)])], **kw)  # type: ignore[arg-type]
    assert [p.name for p in first.files] == ["chat.yaml"]
    with pytest.raises(CassetteError, match="pass --force"):
        write_recording(tmp_path, [Cassette("stream", [_exchange()])], **kw)  # type: ignore[arg-type]
    second = write_recording(tmp_path, [Cassette("stream", [_exchange()])], force=True, **kw)  # type: ignore[arg-type]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.yaml", "stream.yaml"]
    assert second.index is not None
    index = yaml.safe_load(second.index.read_text())
    assert index["cassettes"] == [{"file": "stream.yaml", "probe": "stream", "exchanges": 1}]
    loaded = read_cassettes([tmp_path])
    assert [c.probe for c in loaded.cassettes] == ["stream"]
    assert loaded.meta("base_url") == "http://h/v1"


def test_annotations_that_are_not_plain_data_are_written_plainly(tmp_path: Path) -> None:
    ex = _exchange()
    ex.meta = {"params": {"stop": ("3", "4")}, "odd": {1, 2} and object(), "b": b"x"}
    path = write_cassette(tmp_path / "m.yaml", Cassette("stream", [ex]), Redactor())
    meta = read_cassette(path).exchanges[0].meta
    assert meta["params"] == {"stop": ["3", "4"]}
    assert isinstance(meta["odd"], str) and meta["b"] == "b'x'"


@given(
    st.text(alphabet=st.characters(codec="utf-8"), max_size=60),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=60),
    st.lists(st.integers(min_value=0, max_value=200), max_size=6),
)
def test_a_key_split_anywhere_across_chunks_never_survives(
    before: str, after: str, cuts: list[int]
) -> None:
    body = (before + KEY + after + KEY).encode("utf-8")
    points = sorted({c % (len(body) + 1) for c in cuts} | {0, len(body)})
    chunks = [(i, body[a:b]) for i, (a, b) in enumerate(itertools.pairwise(points))]
    chunks = [(t, c) for t, c in chunks if c]
    redacted = Redactor([KEY]).chunks(chunks)
    joined = b"".join(c for _, c in redacted)
    assert KEY.encode() not in joined
    assert joined == body.replace(KEY.encode(), b"<API_KEY>")
    # chunk times stay in order and come from the original chunks
    times = [t for t, _ in redacted]
    assert times == sorted(times) and set(times) <= {t for t, _ in chunks}


def test_a_secret_that_survives_redaction_is_never_written(tmp_path: Path) -> None:
    ex = _exchange()
    ex.headers.append((f"x-{KEY}", "header names are not redacted"))
    path = tmp_path / "leak.yaml"
    with pytest.raises(CassetteError, match="refusing to write, a secret survived redaction"):
        write_cassette(path, Cassette("stream", [ex]), Redactor([KEY]))
    assert not path.exists()
