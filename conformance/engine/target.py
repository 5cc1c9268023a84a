"""Where a run's requests go: the embedded reference backend, recorded cassettes, or a
live base URL; and the one place the front ends resolve a target (:func:`resolve_target`).

``conformance check``, ``record``, ``bench`` and the pytest plugin all resolve their
target here, in two steps: :func:`resolve_target` validates everything before anything is
sent (the provider, the base URL, the key and the secrets to keep out of every output,
the replay directory); :meth:`TargetPlan.open` then starts the embedded backend, opens
the cassettes (and checks they were recorded for this provider) or makes first contact
with the live base URL (model discovery), and yields the :class:`Target`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conformance.errors import ConfigError
from conformance.providers import get_provider
from conformance.providers.base import Provider
from conformance.secrets import url_secrets

if TYPE_CHECKING:
    from conformance.engine import RunConfig
    from conformance.engine.discovery import Discovered

#: seconds one request may take, unless the run says otherwise (the engine's default)
_TIMEOUT = 30.0

__all__ = [
    "Target",
    "TargetPlan",
    "check_api_key",
    "embedded_target",
    "key_variable",
    "resolve_api_key",
    "resolve_target",
]


@dataclass(frozen=True, slots=True)
class Target:
    """A provider profile aimed at a base URL, with the key to use there."""

    provider: Provider
    api_key: str | None = field(default=None, repr=False)
    #: ``live``, ``embedded`` or ``replay``
    mode: str = "live"
    #: the replay router's sender (``None``: requests go over the network)
    sender: Any = None
    #: facts for the result file's ``target`` object
    facts: dict[str, Any] = field(default_factory=dict)
    #: every secret to keep out of outputs (keys, credentials written into the URL)
    secrets: tuple[str, ...] = field(default=(), repr=False)
    #: lines for the user about what resolution found (a discovered model, replay)
    notes: tuple[str, ...] = ()

    def run_config(self, **options: Any) -> RunConfig:
        """The engine's configuration for this target; ``options`` are the run's own
        (timeout, request budget, ``--only``, coverage floor)."""
        from conformance.engine import RunConfig

        return RunConfig(
            provider=self.provider,
            api_key=self.api_key,
            mode=self.mode,
            sender=self.sender,
            facts=dict(self.facts),
            **options,
        )


def _variable(provider: Provider, api_key_env: str | None) -> str:
    var = api_key_env or type(provider).api_key_env
    if not var or not var.replace("_", "").isalnum():
        raise ConfigError(f"--api-key-env {var!r} is not an environment variable name")
    return var


def key_variable(provider_name: str, api_key_env: str | None) -> str:
    """The environment variable the key is read from: ``--api-key-env`` or the profile's."""
    return _variable(get_provider(provider_name), api_key_env)


def resolve_api_key(provider_name: str, api_key_env: str | None) -> tuple[str, str | None]:
    """(variable name, key) from the environment; the default variable is the profile's.

    Raises :class:`ConfigError` (one line, exit 2, before anything is sent) when the
    variable was named with ``--api-key-env`` but is unset or empty (the run would
    otherwise go on without the key the user meant to send), and when the key holds a
    character no HTTP header can carry (see :func:`check_api_key`). The profile's default
    variable may be unset: the run then goes on without credentials and says so.
    """
    return _read_key(get_provider(provider_name), api_key_env)


def _read_key(provider: Provider, api_key_env: str | None) -> tuple[str, str | None]:
    var = _variable(provider, api_key_env)
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


@dataclass(frozen=True, slots=True)
class TargetPlan:
    """A target validated before anything is sent (see :func:`resolve_target`)."""

    #: the registered profile, aimed at the base URL (if any) and the model as given
    profile: Provider
    base_url: str | None
    model: str | None
    replay: Path | None
    #: the environment variable the key is read from
    key_variable: str
    api_key: str | None = field(repr=False)
    #: the key, whatever the key variable holds and the credentials in the base URL
    secrets: tuple[str, ...] = field(repr=False)

    def discover(self, timeout: float = _TIMEOUT) -> Discovered:
        """First contact with the live base URL: the model to ask for (listed by the
        target when none was given) and a line saying so; raises :class:`ConfigError`
        for a base URL missing its version prefix or an unreachable target."""
        from conformance.engine.discovery import discover

        assert self.base_url is not None, "discovery needs a live base URL"
        return discover(
            self.profile.name,
            self.base_url,
            model=self.model,
            api_key=self.api_key,
            api_key_env=self.key_variable,
            timeout=timeout,
        )

    @contextlib.contextmanager
    def open(self, *, timeout: float = _TIMEOUT) -> Iterator[Target]:
        """The target, ready to send to: the embedded backend running (stopped on exit),
        the cassettes opened, or the live base URL contacted (model discovery)."""
        name = self.profile.name
        if self.replay is not None:
            yield self._replay(timeout)
        elif self.base_url is None:
            with embedded_target(name, model=self.model) as target:
                keys = (target.api_key,) if target.api_key else ()
                yield Target(
                    target.provider, target.api_key, "embedded", secrets=self.secrets + keys
                )
        else:
            found = self.discover(timeout)
            yield Target(
                get_provider(name, base_url=self.base_url, model=found.model),
                self.api_key,
                "live",
                facts={"api_key_env": self.key_variable, "api_key_set": self.api_key is not None},
                secrets=self.secrets,
                notes=(found.note,) if found.note else (),
            )

    def _replay(self, timeout: float) -> Target:
        """The cassettes under ``--replay``, refused when recorded for another provider."""
        from conformance.cassettes import open_replay

        assert self.replay is not None
        name = self.profile.name
        sender = open_replay(self.replay, base_url=self.base_url, timeout=timeout)
        recorded_for = {
            str(c.provider) for c in sender.cassettes.cassettes if getattr(c, "provider", None)
        }
        if recorded_for and name not in recorded_for:
            raise ConfigError(
                f"--replay {str(self.replay)!r} holds cassettes recorded for "
                f"{', '.join(sorted(recorded_for))}, not {name}: use "
                f"--provider {sorted(recorded_for)[0]} or record {name}"
            )
        provider = get_provider(
            name,
            base_url=self.base_url or sender.cassettes.meta("base_url"),
            model=self.model or sender.cassettes.meta("model"),
        )
        return Target(
            provider,
            sender.api_key,
            "replay",
            sender=sender,
            facts={"replay_dir": str(self.replay)},
            secrets=self.secrets,
            notes=(f"replaying cassettes from {self.replay} (no network)",),
        )


def resolve_target(
    provider_name: str,
    *,
    base_url: str | None = None,
    model: str | None = None,
    api_key_env: str | None = None,
    replay: Path | None = None,
    key_in_every_mode: bool = False,
) -> TargetPlan:
    """Validate a target before anything is sent; raises :class:`ConfigError` (one line,
    exit 2) for an unknown provider, a base URL that is not an http(s) URL, a key
    variable that is named but unset or holds an unusable key, a replay path that is not
    a directory.

    The key is read only for a live target (the embedded backend makes its own, replay
    uses the cassettes' placeholder), or in every mode with ``key_in_every_mode`` (bench,
    whose load generator reads the variable itself). A password or ``?api-key=`` written
    into the URL is kept out of outputs like a key; so is whatever the key variable
    holds, even where it is not sent.
    """
    # the name, the base URL and the model are validated here, once
    profile = get_provider(provider_name, base_url=base_url, model=model)
    live = base_url is not None and replay is None
    if live or key_in_every_mode:
        var, key = _read_key(profile, api_key_env)
    else:
        var, key = _variable(profile, api_key_env), None
    env_key = (os.environ.get(var) or "").strip()
    hidden = (*([key] if key else []), *([env_key] if env_key else []), *url_secrets(base_url))
    if replay is not None and not replay.is_dir():
        raise ConfigError(
            f"--replay {str(replay)!r} is not a directory; record one with "
            f"'conformance record --provider {profile.name} --out DIR'"
        )
    return TargetPlan(profile, base_url, model, replay, var, key, hidden)
