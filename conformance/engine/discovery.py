"""First contact with a base URL: a model to ask for, and the API's version prefix.

``conformance check|bench|record --base-url URL`` without ``--model`` lists the target's
models (``GET {base}/models``) and uses one of them, saying which in one line. A base URL
given without its version prefix (``http://host:8000`` where the API lives at
``http://host:8000/v1``) is found out here, by trying the profile's documented prefix
once, and the fix is one line, instead of a run in which every check fails on a 404.

Only the OpenAI-shaped profiles have a model list; for the others (Wetrocloud documents
none) :func:`discover` returns the model it was given. One or two requests, each bounded
by the wire client's timeouts and size cap.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from conformance.errors import ConfigError
from conformance.providers import get_provider
from conformance.providers.base import Provider
from conformance.wire.exchange import ErrorKind, Exchange
from conformance.wire.json_bounded import parse_json_bounded

__all__ = ["Discovered", "discover", "pick_model"]

#: ids of models that do not chat (embeddings, speech, images, moderation, reranking)
_NOT_CHAT = re.compile(
    r"embed|whisper|tts|dall-e|moderation|rerank|transcribe|audio|image|bge-|e5-", re.IGNORECASE
)
#: model names shown in one line at most
_SHOWN = 5
#: the discovery requests may take this long at most (or the run's timeout, if shorter)
DISCOVERY_TIMEOUT_S = 15.0


@dataclass(frozen=True, slots=True)
class Discovered:
    """What first contact found: the model to use and a line for the user."""

    #: the model to ask for (``None``: the profile's documented default)
    model: str | None
    #: the ids the target lists (empty when there is no readable list)
    listed: tuple[str, ...] = ()
    #: one line saying what was chosen and how to choose otherwise (``None``: nothing to say)
    note: str | None = None


def _shown_url(url: str) -> str:
    """``url`` without credentials or query (what may be printed)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _name(value: str) -> str:
    """A model name from the target, safe to print (quoted, escaped, bounded)."""
    text = value if len(value) <= 80 else value[:77] + "..."
    return repr(text)


def _ids(ex: Exchange) -> list[str] | None:
    """The model ids of a 2xx JSON list, read leniently; ``None`` when it is not one."""
    from conformance.checks.models import listed_ids

    if ex.error is not None or ex.status is None or not 200 <= ex.status < 300:
        return None
    try:
        document: Any = parse_json_bounded(ex.body)
    except (ValueError, UnicodeDecodeError):
        return None
    names = listed_ids(document)
    if names is None:
        return None
    return list(dict.fromkeys(n.strip() for n in names if n.strip()))


def pick_model(listed: list[str], documented: tuple[str, ...]) -> str:
    """The model to use from a non-empty list: the profile's documented model when it is
    listed, else the first listed model that chats (not an embedding, speech, image or
    moderation model), else the first."""
    for name in documented:
        if name in listed:
            return name
    for name in listed:
        if not _NOT_CHAT.search(name):
            return name
    return listed[0]


def _get(
    url: str, provider: Provider, api_key: str | None, timeout: float, transport: Any
) -> Exchange:
    from conformance.wire.client import WireClient

    headers = {"Accept": "application/json", **provider.auth_headers(api_key)}
    with WireClient(timeout=timeout, transport=transport, max_body_bytes=4 * 1024 * 1024) as w:
        return w.send(
            httpx.Request("GET", url, headers=headers), probe="discovery", api_key=api_key
        )


def _answers(ex: Exchange) -> bool:
    """The prefixed URL is where the API lives: a model list, or a JSON refusal of the key."""
    if _ids(ex) is not None:
        return True
    if ex.error is None and ex.status in (401, 403):
        try:
            return isinstance(parse_json_bounded(ex.body), dict)
        except (ValueError, UnicodeDecodeError):
            return False
    return False


def _missing_prefix(
    provider: Provider, api_key: str | None, timeout: float, transport: Any
) -> str | None:
    """The base URL with the documented prefix when only that one answers, else ``None``."""
    prefix = type(provider).documented_prefix()
    path, sep, query = provider.base_url.partition("?")
    if not prefix or urlsplit(path).path.rstrip("/").endswith(prefix):
        return None
    fixed = path.rstrip("/") + prefix + sep + query
    candidate = get_provider(provider.name, base_url=fixed, model=provider.model)
    url = candidate.models_url()
    if url is None:
        return None
    return fixed if _answers(_get(url, candidate, api_key, timeout, transport)) else None


def discover(
    provider_name: str,
    base_url: str,
    *,
    model: str | None,
    api_key: str | None,
    api_key_env: str | None = None,
    timeout: float = DISCOVERY_TIMEOUT_S,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Discovered:
    """List the models at ``base_url`` and choose one when ``model`` is ``None``.

    Raises :class:`ConfigError` (one line, exit 2) when the base URL lacks the documented
    version prefix (with the fix), when the target cannot be reached, and, with no
    ``model``, when the target lists no model (asking for ``--model``). With the profile's
    documented base URL and no list, the profile's documented model is used. With a
    ``model``, nothing else stops the run: the ``models.*`` checks judge the list.
    """
    provider = get_provider(provider_name, base_url=base_url, model=model)
    url = provider.models_url()
    if url is None:
        return Discovered(model=model)
    timeout = min(timeout, DISCOVERY_TIMEOUT_S)
    ex = _get(url, provider, api_key, timeout, transport)
    if ex.error is not None and ex.error.kind is ErrorKind.CONNECT:
        raise ConfigError(f"cannot reach {_shown_url(provider.base_url)}: {ex.error.message}")
    names = _ids(ex)
    if names is not None:
        if model is not None:
            return Discovered(model=model, listed=tuple(names))
        return _chosen(provider, url, names)
    fixed = _missing_prefix(provider, api_key, timeout, transport) if ex.error is None else None
    if fixed is not None:
        raise ConfigError(
            f"--base-url {_shown_url(base_url)} lacks the API's version prefix: GET "
            f"{_shown_url(url)} is HTTP {ex.status}, the API answers below "
            f"{type(provider).documented_prefix()}; use --base-url {_shown_url(fixed)}"
        )
    if model is not None:
        return Discovered(model=model)
    said = f"HTTP {ex.status}" if ex.error is None else f"{ex.error.kind.value}"
    if ex.error is None and ex.status is not None and 200 <= ex.status < 300:
        said = f"HTTP {ex.status}, not a model list"
    documented = type(provider).models
    if _same_base(provider.base_url, type(provider).default_base_url):
        return Discovered(
            model=None,
            note=f"no model list at {_shown_url(url)} ({said}); using {provider.name}'s "
            f"documented model {documented[0]!r} (choose another with --model NAME)",
        )
    if ex.error is None and ex.status in (401, 403):
        # the key, not the model, is what to fix first (worded as the engine's diagnosis)
        var = api_key_env or type(provider).api_key_env
        if api_key is None:
            what = (
                f"HTTP {ex.status} and no key was sent: export the key as ${var}, or name "
                "its variable with --api-key-env"
            )
        else:
            what = (
                f"HTTP {ex.status}: the key in ${var} was refused; check that it is valid "
                "for this base URL"
            )
        raise ConfigError(f"GET {_shown_url(url)} was answered {what}")
    raise ConfigError(
        f"cannot list the models at {_shown_url(url)} ({said}): pass --model NAME, "
        "the model to ask for"
    )


def _chosen(provider: Provider, url: str, names: list[str]) -> Discovered:
    if not names:
        raise ConfigError(f"{_shown_url(url)} lists no model: pass --model NAME")
    chosen = pick_model(names, type(provider).models)
    if len(names) == 1:
        note = f"using model {_name(chosen)}, the one model listed at {_shown_url(url)}"
    else:
        shown = ", ".join(_name(n) for n in names[:_SHOWN])
        more = f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else ""
        note = (
            f"using model {_name(chosen)} of the {len(names)} listed at {_shown_url(url)} "
            f"({shown}{more}); choose another with --model NAME"
        )
    return Discovered(model=chosen, listed=tuple(names), note=note)


def _same_base(a: str, b: str) -> bool:
    def norm(url: str) -> str:
        parts = urlsplit(url)
        return f"{parts.scheme}://{(parts.hostname or '').lower()}{parts.path.rstrip('/')}"

    return norm(a) == norm(b)
