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

__all__ = ["Target", "check_api_key", "embedded_target", "key_variable", "resolve_api_key"]


@dataclass(frozen=True, slots=True)
class Target:
    """A provider profile aimed at a base URL, with the key to use there."""

    provider: Provider
    api_key: str | None = field(default=None, repr=False)
    #: ``live`` or ``embedded``
    mode: str = "live"


def key_variable(provider_name: str, api_key_env: str | None) -> str:
    """The environment variable the key is read from: ``--api-key-env`` or the profile's."""
    provider = get_provider(provider_name)
    var = api_key_env or type(provider).api_key_env
    if not var or not var.replace("_", "").isalnum():
        raise ConfigError(f"--api-key-env {var!r} is not an environment variable name")
    return var


def resolve_api_key(provider_name: str, api_key_env: str | None) -> tuple[str, str | None]:
    """(variable name, key) from the environment; the default variable is the profile's.

    Raises :class:`ConfigError` (one line, exit 2, before anything is sent) when the
    variable was named with ``--api-key-env`` but is unset or empty (the run would
    otherwise go on without the key the user meant to send), and when the key holds a
    character no HTTP header can carry (see :func:`check_api_key`). The profile's default
    variable may be unset: the run then goes on without credentials and says so.
    """
    var = key_variable(provider_name, api_key_env)
    value = os.environ.get(var)
    key = (value.strip() or None) if value is not None else None
    if key is None and api_key_env is not None:
        state = "is not set" if value is None else "is empty"
        raise ConfigError(
            f"--api-key-env {var}: ${var} {state}; export the key in it "
            "(or leave out --api-key-env to send no key)"
        )
    if key is not None:
        check_api_key(key, var)
    return var, key


def check_api_key(key: str, var: str) -> None:
    """Refuse a key that cannot go into an HTTP header, naming the variable, never the key.

    A header value is visible ASCII and spaces (RFC 9110 section 5.5): a line break or
    another control character (a key pasted with its newline, or two keys in one
    variable) would be sent as a broken request and blamed on the server; a non-ASCII
    character (a typographic quote or dash pasted with the key) cannot be encoded at all.
    """
    for char in key:
        code = ord(char)
        if code > 0x7E:
            raise ConfigError(
                f"${var} holds a non-ASCII character (U+{code:04X}), which no HTTP header "
                "can carry: API keys are ASCII; was it pasted with a typographic quote or dash?"
            )
        if code < 0x20 or code == 0x7F:
            what = "a line break" if char in "\r\n" else f"a control character (0x{code:02X})"
            raise ConfigError(
                f"${var} holds {what} inside the key, which no HTTP header can carry: "
                "store the key alone on one line"
            )


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
