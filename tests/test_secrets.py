"""The secrets module: one set of rules for credentials, and the scrubbing every writer uses."""

from __future__ import annotations

import json
from urllib.parse import quote, quote_plus

import pytest

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
