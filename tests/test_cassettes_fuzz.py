"""Fuzzing the cassette reader: a mutated cassette loads, or is refused with CassetteError.

Valid cassettes from the shipped fixtures (plain, streamed, multipart, documented) are
mutated two ways: a value anywhere in the data is replaced by another (infinite and
negative numbers, huge integers, dates, bytes, deep or odd structures) or a key deleted;
or the YAML text itself is cut, spliced or overwritten. Whatever comes out must be read
(and then replayed through the respx router and verified against the schemas) or refused
with :class:`CassetteError`, the error the command line prints as one line and exit 2.
Nothing else may escape.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
from pathlib import Path
from typing import Any

import httpx
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.cassettes import CassetteError, CassetteSet, ReplayRouter, ReplaySender
from conformance.cassettes._format import cassette_from_data
from conformance.cassettes._load import load_yaml_text
from conformance.cassettes.verify import FileReport, verify_exchange

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SOURCES = [
    FIXTURES / "openai" / "recorded" / "chat.yaml",
    FIXTURES / "openai" / "recorded" / "stream.yaml",
    FIXTURES / "openai" / "recorded" / "wrong_key.yaml",
    FIXTURES / "wetrocloud" / "recorded" / "chat.yaml",
    FIXTURES / "nebulablock" / "documented" / "stream.yaml",
    FIXTURES / "weai" / "documented" / "docs.quickstart.yaml",
]
TEXTS = {path.name + path.parent.parent.name: path.read_text() for path in SOURCES}

odd_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.binary(max_size=20),
    st.dates(),
    st.datetimes(timezones=st.none()),
    st.sampled_from(["POST", "http://h/v1/x", "http://[::1", "data: [DONE]\n\n", "Bearer x"]),
)
odd_values = st.recursive(
    odd_scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=8) | st.integers(), inner, max_size=3)
    ),
    max_leaves=8,
)


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every location in ``data`` (dict keys and list indexes), the root included."""
    out = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            out += _paths(value, (*prefix, i))
    return out


def _replace(data: Any, path: tuple[Any, ...], value: Any, delete: bool) -> Any:
    if not path:
        return value
    parent = data
    for step in path[:-1]:
        parent = parent[step]
    if delete and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return data


def _read_all_the_way(text: str) -> None:
    """Load, build the replay router, answer the first request and verify: or refuse."""
    try:
        data = load_yaml_text(text, where="fuzzed.yaml")
        cassette = cassette_from_data(data, where="fuzzed.yaml")
    except CassetteError as exc:
        assert "\n" not in str(exc)
        assert str(exc).startswith("fuzzed.yaml")
        return
    router = ReplayRouter(CassetteSet([cassette], []), base_url=cassette.base_url)
    report = FileReport(path=Path("fuzzed.yaml"))
    for i, exchange in enumerate(cassette.exchanges):
        verify_exchange(exchange, "openai", f"exchanges[{i}]", report)
    if cassette.stands_for:  # a documented example answers its probe's other request
        sender = ReplaySender(CassetteSet([cassette], []), base_url=cassette.base_url)
        url = str(cassette.base_url or "http://h/v1") + "/chat/completions"
        other = httpx.Request("POST", url, json={"another": "request"})
        asyncio.run(sender.asend(other, probe=cassette.stands_for, stream=False, api_key=None))
    if cassette.exchanges:
        first = cassette.exchanges[0].request
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in first.headers]
        # a recorded transport error is replayed as one
        with (
            httpx.Client(transport=router.transport()) as client,
            contextlib.suppress(httpx.TransportError),
        ):
            client.request(first.method, first.url, headers=headers, content=first.body).read()


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(
    source=st.sampled_from(sorted(TEXTS)),
    where=st.integers(min_value=0),
    value=odd_values,
    delete=st.booleans(),
)
def test_a_cassette_with_any_value_replaced_loads_or_is_refused(
    source: str, where: int, value: Any, delete: bool
) -> None:
    data = yaml.safe_load(TEXTS[source])
    paths = _paths(data)
    data = _replace(data, paths[where % len(paths)], value, delete)
    _read_all_the_way(yaml.safe_dump(data, allow_unicode=True))


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(
    source=st.sampled_from(sorted(TEXTS)),
    start=st.integers(min_value=0),
    length=st.integers(min_value=0, max_value=40),
    insert=st.text(
        alphabet=st.sampled_from(list("[]{}&*!:-|>'\"#,.? \n\t0aZ\x00\x85\ufeff"))
        | st.characters(),
        max_size=20,
    ),
)
def test_a_cassette_with_its_text_spliced_loads_or_is_refused(
    source: str, start: int, length: int, insert: str
) -> None:
    text = TEXTS[source]
    at = start % (len(text) + 1)
    _read_all_the_way(text[:at] + insert + text[at + length :])


def test_the_mutations_reach_the_reader() -> None:
    """The fuzzing is not vacuous: an untouched source reads, a known mutation is refused."""
    for text in TEXTS.values():
        _read_all_the_way(text)
        assert cassette_from_data(load_yaml_text(text, where="f"), where="f").exchanges
    data = yaml.safe_load(TEXTS[sorted(TEXTS)[0]])
    data["exchanges"][0]["timing"]["end_ms"] = datetime.date(2020, 1, 1)
    try:
        cassette_from_data(load_yaml_text(yaml.safe_dump(data), where="f"), where="f")
    except CassetteError as exc:
        assert "end_ms" in str(exc)
    else:
        raise AssertionError("a date as a timing was read")
