"""The secrets module: one set of rules for credentials, and the scrubbing every writer uses."""

from __future__ import annotations

import base64
import itertools
import json
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance import secrets as S
from conformance.cassettes.redact import Redactor as CassetteRedactor
from conformance.checks.evidence import redact_headers
from conformance.results import scrub
from conformance.wire.redact import Redactor as WireRedactor

KEY = "sk-proj/Ab+c=Zx-19f3e7"


def test_the_rules_are_the_union_of_what_the_writers_used_to_hold() -> None:
    for name in ("Authorization", "proxy-authorization", "X-Api-Key", "api-key"):
        assert S.is_credential_header(name)
    for name in ("x-goog-api-key", "Cookie", "set-cookie"):
        assert S.is_credential_header(name)
    assert not S.is_credential_header("content-type")
    for name in ("key", "api_key", "apikey", "api-key", "x-api-key", "access_token", "token"):
        assert S.is_credential_param(name)
    for name in ("auth", "secret", "password", "sig", "signature", "X-Goog-Api-Key", "authToken"):
        assert S.is_credential_param(name)
    for name in ("page", "model", "q", "stream"):
        assert not S.is_credential_param(name)
    assert S.MIN_SECRET_LENGTH == 4


def test_url_secrets_are_the_password_and_credential_parameters_in_both_spellings() -> None:
    url = "https://user:p%40ss-word@h/v1?api-key=abc%2Fdef&page=2&sig=xy"
    assert set(S.url_secrets(url)) == {"p%40ss-word", "p@ss-word", "abc%2Fdef", "abc/def"}
    assert S.url_secrets(None) == [] and S.url_secrets("http://h/v1") == []
    assert S.url_secrets("http://[::1/") == []  # unparseable: nothing, never a traceback


def test_credential_values_keep_the_scheme_word_only() -> None:
    assert S.credential_value(f"Bearer {KEY}", "<x>") == "Bearer <x>"
    assert S.credential_value(KEY, "<x>") == "<x>"
    assert S.credential_value("Bearer", "<x>") == "Bearer"
    assert S.credential_value("", "<x>") == ""
    assert S.credential_value("Token abc", lambda token: token.upper()) == "Token ABC"


@pytest.mark.parametrize(
    "spelling",
    [
        KEY,
        quote(KEY, safe=""),
        quote_plus(KEY, safe=""),
        json.dumps(KEY)[1:-1],
    ],
)
def test_text_bytes_and_structures_lose_every_known_spelling(spelling: str) -> None:
    scrubber = S.Scrubber([KEY])
    assert scrubber.text(f"a {spelling} b") == "a <redacted> b"
    assert scrubber.data(f"a {spelling} b".encode()) == b"a <redacted> b"
    value = {"k": [spelling, (1, {spelling: "x"})], "n": 3}
    assert scrubber.value(value) == {"k": ["<redacted>", [1, {"<redacted>": "x"}]], "n": 3}


def test_short_secrets_are_not_searched_for_in_text() -> None:
    scrubber = S.Scrubber(["abc", None, ""])
    assert not scrubber
    assert scrubber.text("abcdef") == "abcdef"
    assert scrubber.header("Authorization", "Bearer abc") == "Bearer <redacted>"
    assert scrub({"a": "abcdef"}, ["abc"]) == {"a": "abcdef"}
    assert scrub({"a": "abcd!"}, ["abcd"]) == {"a": "<redacted>!"}


def test_urls_lose_userinfo_credential_parameters_and_secrets_but_keep_the_rest() -> None:
    scrubber = S.Scrubber([KEY])
    url = f"https://me:pw@h/v1/{quote(KEY, safe='')}?page=%20x&x-goog-api-key=zz&n=1"
    assert (
        scrubber.url(url)
        == "https://<redacted>@h/v1/<redacted>?page=%20x&x-goog-api-key=<redacted>&n=1"
    )


def test_the_three_header_redactors_agree() -> None:
    headers = [("Authorization", f"Bearer {KEY}"), ("Cookie", "s=1"), ("x-echo", KEY)]
    wire = WireRedactor([KEY]).headers(headers)
    assert wire == [
        ("Authorization", "Bearer <redacted>"),
        ("Cookie", "<redacted>"),
        ("x-echo", "<redacted>"),
    ]
    evidence = redact_headers(headers)
    assert evidence["Authorization"] == "Bearer <redacted>" and evidence["Cookie"] == "<redacted>"
    cassette = CassetteRedactor([KEY]).headers(headers)
    assert cassette == [
        ("Authorization", "Bearer <API_KEY>"),
        ("Cookie", "<REDACTED>"),
        ("x-echo", "<API_KEY>"),
    ]


def test_cassettes_keep_their_placeholders_and_tell_the_key_from_other_credentials() -> None:
    red = CassetteRedactor([KEY, "tok"])
    assert red.credential(f"Bearer {KEY}") == "Bearer <API_KEY>"
    assert red.credential("Bearer tok") == "Bearer <API_KEY>"  # named, even if short
    assert red.credential("Bearer other-credential") == "Bearer <REDACTED>"
    assert red.credential("Bearer <API_KEY>") == "Bearer <API_KEY>"
    assert red.credential("Bearer <redacted>") == "Bearer <REDACTED>"
    url = f"http://h/v1?key={quote(KEY, safe='')}&token=zz"
    assert red.url(url) == "http://h/v1?key=<API_KEY>&token=<REDACTED>"


def test_chunks_keep_their_times_or_merge_where_a_secret_was_split() -> None:
    body = f"data: {KEY}\n\n".encode()
    cut = body.index(KEY.encode()) + 4
    chunks = [(1, body[:cut]), (2, body[cut:])]
    kept = S.Scrubber([KEY]).chunks(chunks)
    assert [t for t, _ in kept] == [1, 2]
    assert b"".join(c for _, c in kept) == b"data: <redacted>\n\n"
    merged = S.Scrubber([KEY]).chunks(chunks, merge=True)
    assert merged == [(2, b"data: <redacted>\n\n")]


def test_leaks_name_only_a_prefix_of_what_survived() -> None:
    assert S.Scrubber([KEY]).leaks(b"x" + KEY.encode()) == ["sk-p..."]
    assert S.Scrubber([KEY]).leaks(b"nothing") == []


# -- every spelling a server may echo (issue 16) ---------------------------------------------

ODD = "sk-Odd/Key+9f=ab-Zz\u00e9\u4e2d"


def _all_u(secret: str, upper: bool = False) -> str:
    form = "\\u%04X" if upper else "\\u%04x"
    return "".join(form % unit for c in secret for unit in _utf16(c))


def _utf16(char: str) -> list[int]:
    data = char.encode("utf-16-be")
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]


SPELLINGS = {
    "raw": ODD,
    "json ascii": json.dumps(ODD)[1:-1],
    "json \\/": ODD.replace("/", "\\/"),
    "json \\u002d": ODD.replace("-", "\\u002d"),
    "json \\u002D": ODD.replace("-", "\\u002D"),
    "all \\uXXXX": _all_u(ODD),
    "all \\uXXXX upper": _all_u(ODD, upper=True),
    "json in json": json.dumps(json.dumps(ODD)[1:-1])[1:-1],
    "percent": quote(ODD, safe=""),
    "percent lower-case hex": quote(ODD, safe="").replace("%2F", "%2f").replace("%E4", "%e4"),
    "form": quote_plus(ODD, safe=""),
    "html decimal": "".join(f"&#{ord(c)};" for c in ODD),
    "html hex": "".join(f"&#x{ord(c):X};" for c in ODD),
    "html named": ODD.replace("/", "&sol;").replace("+", "&plus;").replace("=", "&equals;"),
    "mixed": "sk\\u002dOdd%2FKey&plus;9f=ab-Zz\\u00E9%E4%B8%AD",
    "upper case": ODD.upper(),
}


@pytest.mark.parametrize("name", sorted(SPELLINGS))
def test_every_spelling_is_found_in_text_and_bytes(name: str) -> None:
    spelled = SPELLINGS[name]
    scrubber = S.Scrubber([ODD])
    assert scrubber.text(f"<p>key: {spelled}.</p>") == "<p>key: <redacted>.</p>"
    assert scrubber.data(f"key: {spelled}.".encode()) == b"key: <redacted>."
    assert scrubber.leaks(spelled.encode())
    assert scrub({"detail": [f"x{spelled}"]}, [ODD]) == {"detail": ["x<redacted>"]}


def test_a_base64_echo_of_a_basic_credential_is_found() -> None:
    secret = "sk-base64-canary-0123456789"
    for prefix in ("", "u:", "us:", "Bearer "):
        encoded = base64.b64encode(f"{prefix}{secret}".encode()).decode()
        assert secret not in encoded
        out = S.Scrubber([secret]).text(f"echo {encoded}")
        assert encoded[6:-6] not in out, prefix
        urlsafe = base64.urlsafe_b64encode(f"{prefix}{secret}?".encode()).decode()
        assert urlsafe[6:-6] not in S.Scrubber([secret]).text(urlsafe)


def _event(content: str, *, escape: str = "") -> bytes:
    payload = json.dumps({"id": "c1", "choices": [{"index": 0, "delta": {"content": content}}]})
    if escape == "all":
        inner = json.dumps(content)[1:-1]
        payload = payload.replace(inner, _all_u(content))
    return b"data: " + payload.encode() + b"\n\n"


def _contents(body: bytes) -> list[str]:
    out = []
    for line in body.split(b"\n"):
        if line.startswith(b"data: {"):
            out.append(json.loads(line[6:])["choices"][0]["delta"]["content"])
    return out


@pytest.mark.parametrize("escape", ["", "all"])
@pytest.mark.parametrize("cut", [1, 7, 12, len(ODD) - 1])
def test_a_key_split_across_deltas_loses_its_part_in_each_piece(escape: str, cut: int) -> None:
    pieces = ["Hello ", f"my key {ODD[:cut]}", f"{ODD[cut:]} bye", "!"]
    body = b"".join(_event(p, escape=escape) for p in pieces) + b"data: [DONE]\n\n"
    out = S.Scrubber([ODD]).data(body)
    contents = _contents(out)  # still valid JSON, event by event
    # the piece where the key began holds the placeholder, the next loses its part: the
    # reassembled text reads as the same answer sent in one piece would
    assert contents == ["Hello ", "my key <redacted>", " bye", "!"]
    assert "".join(contents) == "Hello my key <redacted> bye!"


def test_a_key_split_across_plain_events_ndjson_lines_and_a_json_array() -> None:
    scrubber = S.Scrubber([ODD])
    plain = f"data: {ODD[:9]}\n\ndata: {ODD[9:]}\n\n".encode()
    assert scrubber.data(plain) == b"data: <redacted>\n\ndata: \n\n"
    lines = [json.dumps({"message": {"content": p}}) for p in ("a " + ODD[:5], ODD[5:] + " b")]
    ndjson = ("\n".join(lines) + "\n").encode()
    out = [json.loads(line) for line in scrubber.data(ndjson).splitlines()]
    assert [o["message"]["content"] for o in out] == ["a <redacted>", " b"]
    array = json.dumps([{"text": ODD[:10]}, {"text": ODD[10:]}]).encode()
    assert json.loads(scrubber.data(array)) == [{"text": "<redacted>"}, {"text": ""}]


def test_pieces_in_different_places_are_not_joined() -> None:
    # the first half as an id, the second as content: no client joins those
    body = _event(ODD[:8]).replace(b'"c1"', b'"x"') + _event(ODD[8:])
    body = body.replace(b'"content": "' + ODD[:8].encode(), b'"content": "')
    out = S.Scrubber([ODD]).data(body)
    assert json.dumps(ODD[8:])[1:-1].encode() in out


def test_a_key_cut_off_by_the_end_of_the_body_is_covered() -> None:
    scrubber = S.Scrubber([ODD])
    assert scrubber.data(b'{"echo": "' + ODD[:10].encode()) == b'{"echo": "<redacted>'
    truncated = _event("x " + ODD[:3]) + b'data: {"choices":[{"index":0,"delta":{"content":"'
    truncated += ODD[3:12].encode()
    assert ODD[3:12].encode() not in scrubber.data(truncated)
    assert scrubber.data(b"short sk-Odd") == b"short sk-Odd"  # under FRAGMENT_MIN: kept


def test_split_across_chunks_and_deltas_at_once_keeps_every_chunk_time() -> None:
    body = _event("k=" + ODD[:6]) + _event(ODD[6:])
    cut = body.index(b"data", 3) - 5
    chunks = [(10, body[:cut]), (20, body[cut:])]
    out = S.Scrubber([ODD]).chunks(chunks)
    assert [t for t, _ in out] == [10, 20]
    assert _contents(b"".join(c for _, c in out)) == ["k=<redacted>", ""]


def test_scrubbing_never_breaks_on_odd_bodies() -> None:
    scrubber = S.Scrubber([ODD])
    for body in (
        b'data: {"a": "\\ud83d" \n\n',
        b"[" * 5000 + b'"x"',
        b'data: \xff\xfe"\\u12"\n\n' * 3,
        b'{"a": "\\',
        b"",
    ):
        assert isinstance(scrubber.data(body), bytes)


def _escape(piece: str, how: int) -> str:
    """``piece`` as the body of a JSON string, in one of four spellings."""
    if how == 0:
        return json.dumps(piece, ensure_ascii=False)[1:-1]
    if how == 1:
        return json.dumps(piece)[1:-1]
    if how == 2:
        return json.dumps(piece)[1:-1].replace("/", "\\/")
    return _all_u(piece, upper=True)


@settings(max_examples=60, deadline=None)
@given(
    cuts=st.lists(st.integers(1, len(ODD) - 1), max_size=3),
    escapes=st.lists(st.integers(0, 3), min_size=5, max_size=5),
    before=st.text("xyz .", max_size=6),
    after=st.text("xyz .", max_size=6),
    tcp=st.lists(st.integers(0, 2000), max_size=4),
)
def test_a_key_split_anyhow_across_deltas_and_chunks_never_survives(
    cuts: list[int], escapes: list[int], before: str, after: str, tcp: list[int]
) -> None:
    bounds = sorted({0, len(ODD), *cuts})
    parts = [ODD[a:b] for a, b in itertools.pairwise(bounds)]
    parts[0] = before + parts[0]
    parts[-1] = parts[-1] + after
    body = b""
    for i, part in enumerate(parts):
        payload = json.dumps({"choices": [{"index": 0, "delta": {"content": "@"}}]})
        body += b"data: " + payload.replace("@", _escape(part, escapes[i])).encode() + b"\n\n"
    body += b"data: [DONE]\n\n"
    points = sorted({0, len(body), *(c % (len(body) + 1) for c in tcp)})
    chunks = [(i, body[a:b]) for i, (a, b) in enumerate(itertools.pairwise(points)) if b > a]
    out = b"".join(c for _, c in S.Scrubber([ODD]).chunks(chunks))
    contents = _contents(out)  # every event is still JSON
    assert len(contents) == len(parts)
    text = "".join(contents)
    assert text == before + "<redacted>" + after
    for piece in contents:  # no piece keeps even three characters of the key
        assert not any(ODD[i : i + 3] in piece for i in range(len(ODD) - 2)), piece


def test_a_non_ascii_secret_echoed_in_a_header_read_as_latin_1_is_found() -> None:
    as_read = f"echo {ODD}".encode().decode("latin-1")  # how httpx hands header bytes over
    assert WireRedactor([ODD]).header("x-echo", as_read) == "echo <redacted>"
    assert WireRedactor([ODD]).header("x-echo", "caf\u00e9 ok") == "caf\u00e9 ok"
