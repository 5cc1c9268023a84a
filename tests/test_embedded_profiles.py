"""A provider is one module and one line: every registered profile is served by the
reference backend under the prefix the profile names, and ``conformance run`` checks
every registered profile when no target is given.

The backend stays independent of the harness (it shares no encoder with the profiles),
so this test is what keeps the two in step: a profile whose ``embedded_prefix`` the
backend does not serve fails here, not in a user's ``conformance run``.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from conformance.backend import BackendConfig, create_app
from conformance.cli.run import embedded_profiles
from conformance.providers import PROVIDERS, get_provider

KEY = "sk-embedded-profile-test"
ROOT = "http://backend"


async def _exchange(name: str, prefix: str) -> tuple[httpx.Response, httpx.Response | None]:
    """A plain request of profile ``name`` (and its model list, where it has one) sent to
    the backend below ``prefix``."""
    provider = get_provider(name, base_url=ROOT + prefix)
    app = create_app(BackendConfig(api_keys=(KEY,)))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app)) as client:
        request = provider.encode(
            [{"role": "user", "content": "Say hello."}], {"max_tokens": 8}, api_key=KEY
        )
        answer = await client.send(request)
        listing = None
        url = provider.models_url()
        if url is not None:
            listing = await client.get(url, headers=provider.auth_headers(KEY))
    return answer, listing


@pytest.mark.parametrize("name", list(PROVIDERS))
def test_every_profile_is_served_under_its_embedded_prefix(name: str) -> None:
    cls = PROVIDERS[name]
    answer, listing = asyncio.run(_exchange(name, cls.embedded_prefix))
    assert answer.status_code == 200, answer.text[:500]
    generation = get_provider(name).decode(answer.content)
    assert generation.text, f"{name}: the backend answered with no text"
    if listing is not None:
        assert listing.status_code == 200, listing.text[:500]


@pytest.mark.parametrize("name", list(PROVIDERS))
def test_a_prefix_the_backend_does_not_serve_is_found_out(name: str) -> None:
    """The check above can fail: the same request below a prefix nobody serves is not
    answered with a completion."""
    answer, _ = asyncio.run(_exchange(name, "/no-such-provider/v1"))
    assert answer.status_code == 404


def test_run_checks_every_registered_profile_by_default() -> None:
    assert embedded_profiles() == list(PROVIDERS)
