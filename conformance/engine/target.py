"""Where a run's requests go: the embedded reference backend, or a live base URL."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field

from conformance.errors import ConfigError
from conformance.providers import get_provider
from conformance.providers.base import Provider

__all__ = ["Target", "embedded_target", "resolve_api_key"]


@dataclass(frozen=True, slots=True)
class Target:
    """A provider profile aimed at a base URL, with the key to use there."""

    provider: Provider
    api_key: str | None = field(default=None, repr=False)
    #: ``live`` or ``embedded``
    mode: str = "live"


def resolve_api_key(provider_name: str, api_key_env: str | None) -> tuple[str, str | None]:
    """(variable name, key) from the environment; the default variable is the profile's."""
    provider = get_provider(provider_name)
    var = api_key_env or type(provider).api_key_env
    if not var or not var.replace("_", "").isalnum():
        raise ConfigError(f"--api-key-env {var!r} is not an environment variable name")
    value = os.environ.get(var)
    return var, (value.strip() or None) if value is not None else None


@contextlib.contextmanager
def embedded_target(
    provider_name: str,
    *,
    model: str | None = None,
    fault: str | None = None,
    ttft_ms: float = 0.0,
    itl_ms: float = 0.0,
    hang_s: float | None = None,
) -> Iterator[Target]:
    """Start the reference backend in a thread and yield a target for ``provider_name``.

    The backend is configured with a fresh random key (so missing and wrong keys can be
    told apart) and, with ``fault``, serves that fault on every request (through the
    ``/fault/<name>`` path prefix).
    """
    from conformance.backend import BackendConfig, serve_in_thread

    key = "sk-embedded-" + secrets.token_hex(12)
    # a --model of the user's choice is served too (the backend refuses unknown models)
    config = BackendConfig(
        api_keys=(key,), ttft_ms=ttft_ms, itl_ms=itl_ms, models=(model,) if model else ()
    )
    if hang_s is not None:
        config = config.replace(hang_s=hang_s)
    probe = get_provider(provider_name)
    with serve_in_thread(config) as root:
        base = root.rstrip("/") + (f"/fault/{fault}" if fault else "")
        provider = get_provider(
            provider_name, base_url=type(probe).embedded_base_url(base), model=model
        )
        yield Target(provider=provider, api_key=key, mode="embedded")
