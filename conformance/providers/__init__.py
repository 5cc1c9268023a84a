"""Provider profiles and their registry.

A profile knows one provider's dialect (see :mod:`conformance.providers.base`).
Look one up by the name given to ``--provider``::

    from conformance.providers import get_provider

    provider = get_provider("weai", base_url="http://127.0.0.1:8000/weai/v1")
    request = provider.encode([{"role": "user", "content": "hi"}], {"max_tokens": 8})

Adding a provider takes one new module and one line here. Write
``conformance/providers/acme.py`` with a subclass of :class:`OpenAIProvider` (for an
OpenAI-compatible API: set ``name``, ``title``, ``default_base_url``, ``api_key_env``,
``models``, ``capabilities``, ``docs`` and ``embedded_prefix``) or of :class:`Provider`
(for another dialect: also implement ``encode``, ``decode``, ``decode_error`` and
``decode_request``), then register it in :data:`PROVIDERS` below::

    from conformance.providers.acme import AcmeProvider
    ...
        AcmeProvider.name: AcmeProvider,
"""

from __future__ import annotations

from conformance.errors import ConfigError
from conformance.providers.base import (
    NULL,
    Adaptation,
    APIError,
    Capabilities,
    Choice,
    DecodeError,
    Dialect,
    Generation,
    Message,
    Params,
    Provider,
    Usage,
    plain_params,
)
from conformance.providers.nebulablock import NebulaBlockProvider
from conformance.providers.openai import OpenAIProvider
from conformance.providers.weai import WeAIProvider
from conformance.providers.wetrocloud import WetrocloudProvider

__all__ = [
    "NULL",
    "PROVIDERS",
    "APIError",
    "Adaptation",
    "Capabilities",
    "Choice",
    "DecodeError",
    "Dialect",
    "Generation",
    "Message",
    "NebulaBlockProvider",
    "OpenAIProvider",
    "Params",
    "Provider",
    "Usage",
    "WeAIProvider",
    "WetrocloudProvider",
    "get_provider",
    "plain_params",
    "provider_names",
]

#: every known profile by its ``--provider`` name
PROVIDERS: dict[str, type[Provider]] = {
    OpenAIProvider.name: OpenAIProvider,
    NebulaBlockProvider.name: NebulaBlockProvider,
    WeAIProvider.name: WeAIProvider,
    WetrocloudProvider.name: WetrocloudProvider,
}


def provider_names() -> list[str]:
    """The registered profile names, sorted."""
    return sorted(PROVIDERS)


def get_provider(name: str, base_url: str | None = None, model: str | None = None) -> Provider:
    """The profile registered as ``name``, aimed at ``base_url`` (default: its live URL)
    with ``model`` (default: the first model its documentation names).

    A ``base_url`` that already ends with the profile's endpoint path is trimmed to the
    base. Raises :class:`~conformance.errors.ConfigError` for an unknown name or a
    ``base_url`` that is not an http(s) URL.
    """
    cls = PROVIDERS.get(name.strip().lower()) if isinstance(name, str) else None
    if cls is None:
        known = ", ".join(provider_names())
        raise ConfigError(f"unknown provider {name!r}: use one of {known} (--provider NAME)")
    if base_url is not None and not base_url.strip():
        raise ConfigError("empty --base-url: give the API's base URL, e.g. http://host:8000/v1")
    if base_url is not None and not base_url.startswith(("http://", "https://")):
        raise ConfigError(
            f"--base-url {base_url!r} must be an http(s) URL, starting with http:// or "
            f"https:// (for example {cls.default_base_url})"
        )
    if base_url is not None:
        _check_text(base_url, "--base-url")
        if any(ch.isspace() for ch in base_url.strip()) or not _host(base_url):
            raise ConfigError(
                f"--base-url {base_url!r} needs a host and no spaces, e.g. {cls.default_base_url}"
            )
        _check_url(base_url)
        base_url = _strip_endpoint(base_url, cls.endpoint)
    if model is not None:
        _check_text(model, "--model")
    return cls(base_url=base_url, model=model)


def _host(url: str) -> str | None:
    """The host part of ``url``, or None when there is none (``http://``, ``http://:80``)."""
    from urllib.parse import urlsplit

    try:
        return urlsplit(url).hostname or None
    except ValueError:
        return None


def _check_url(base_url: str) -> None:
    """Raise :class:`ConfigError` when the HTTP client cannot send to ``base_url`` (a
    malformed port, a control character)."""
    import httpx

    try:
        httpx.URL(base_url)
    except Exception as exc:
        raise ConfigError(f"--base-url {base_url!r} is not a URL ({exc})") from None


def _check_text(value: str, option: str) -> None:
    """Raise :class:`ConfigError` when ``value`` cannot be sent as UTF-8 (bytes from argv
    that were not UTF-8 arrive as lone surrogates)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(f"{option} {value!r} is not valid UTF-8 text; retype it") from None


def _strip_endpoint(base_url: str, endpoint: str) -> str:
    """``base_url`` without a trailing copy of ``endpoint``: a full endpoint URL given as
    ``--base-url`` (a common slip) still reaches the endpoint, not ``.../chat/completions/chat/completions``."""
    path, sep, query = base_url.partition("?")
    trimmed = path.rstrip("/")
    tail = endpoint.rstrip("/")
    if tail and trimmed.endswith(tail):
        return trimmed[: -len(tail)] + sep + query
    return base_url
