"""Live conformance runs against the providers' real endpoints (marker ``live``).

Each test runs the engine against one provider's live base URL with the key from its
environment variable, and is skipped, saying which variable, when the key is absent.
Nothing is recorded. Override the target with ``<PROVIDER>_BASE_URL`` and
``<PROVIDER>_MODEL`` (e.g. ``OPENAI_BASE_URL`` for an OpenAI-compatible server).

Run them with ``pytest -m live tests/test_live.py`` (the nightly CI job does, see
docs/ci.md). A live run may legitimately find failures: the test fails then, with the
failing checks and their details in the message, which is the point of a nightly job.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from conformance.engine import RunConfig, arun_checks
from conformance.providers import PROVIDERS, get_provider

pytestmark = pytest.mark.live

#: where the nightly job collects result files (one per provider), if set
RESULTS_DIR_ENV = "CONFORMANCE_LIVE_RESULTS"


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_live_endpoint_conforms(name: str) -> None:
    cls = PROVIDERS[name]
    key = os.environ.get(cls.api_key_env, "").strip()
    if not key:
        pytest.skip(f"${cls.api_key_env} is not set: no key for the live {name} endpoint")
    prefix = name.upper()
    provider = get_provider(
        name,
        base_url=os.environ.get(f"{prefix}_BASE_URL") or None,
        model=os.environ.get(f"{prefix}_MODEL") or None,
    )
    config = RunConfig(
        provider=provider,
        api_key=key,
        timeout=float(os.environ.get("CONFORMANCE_LIVE_TIMEOUT", "60")),
        mode="live",
    )
    run = asyncio.run(arun_checks(config))
    document = run.to_dict([key])
    results_dir = os.environ.get(RESULTS_DIR_ENV)
    if results_dir:
        import json

        out = Path(results_dir) / f"check_{name}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    bad = [c for c in document["checks"] if c["status"] in ("failed", "error")]
    summary = document["summary"]
    assert summary["passed"] > 0, f"no check passed against {provider.base_url}: {summary}"
    assert not bad, "\n".join(
        f"{c['id']} [{c['severity']}] {c['status']}: {c['detail']}" for c in bad
    )
