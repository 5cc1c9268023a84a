"""Options and early validation shared by the subcommands (``check``, ``record``,
``bench``, ``run``): everything here fails before any request is sent."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from conformance.errors import ConfigError

__all__ = ["check_only", "check_output_path", "number_list", "target_options"]

F = TypeVar("F", bound=Callable[..., object])


def target_options(func: F | None = None, *, provider_required: bool = True) -> Any:
    """``--provider`` (as ``provider_name``), ``--base-url``, ``--model``,
    ``--api-key-env``: the target and where its key comes from.

    Use as ``@target_options``, or ``@target_options(provider_required=False)`` for a
    command that checks for ``--provider`` itself (``check --list`` works without it).
    """

    def decorate(f: F) -> F:
        options = [
            click.option(
                "--provider",
                "provider_name",
                required=provider_required,
                default=None,
                help="Profile name, e.g. openai.",
            ),
            click.option(
                "--base-url",
                default=None,
                help="The target's base URL. Without it: the embedded reference backend.",
            ),
            click.option(
                "--model",
                default=None,
                help="Model to ask for (default: with --base-url, one the target lists at "
                "/models; else the profile's).",
            ),
            click.option(
                "--api-key-env",
                default=None,
                metavar="VAR",
                help="Environment variable holding the key (default: the profile's, e.g. "
                "OPENAI_API_KEY); naming one that is unset or empty is an error.",
            ),
        ]
        for option in reversed(options):
            f = option(f)
        return f

    return decorate(func) if func is not None else decorate


def check_only(only: str | None, provider_name: str) -> None:
    """Refuse ``--only`` when any of its patterns selects no check for the provider,
    naming the patterns (a typo next to a valid pattern would silently check less)."""
    if only is None:
        return
    from conformance.checks import load_families, select_checks
    from conformance.providers import get_provider

    load_families()
    dialect = get_provider(provider_name).dialect
    patterns = [p.strip() for p in only.split(",") if p.strip()]
    hint = f"see 'conformance check --provider {provider_name} --list'"
    if not patterns:
        raise ConfigError(f"--only {only!r} names no check; {hint}")
    unmatched = [p for p in patterns if not select_checks(dialect=dialect, only=[p])]
    if unmatched:
        names = ", ".join(repr(p) for p in unmatched)
        verb = "selects" if len(unmatched) == 1 else "select"
        raise ConfigError(f"--only {names} {verb} no check of {provider_name}; {hint}")


def check_output_path(option: str, path: Path | None) -> None:
    """Fail before the run, not after it, when ``path`` cannot be written: a directory,
    a name the file system refuses, a directory that cannot be created or written, a
    file that exists read-only."""
    if path is None:
        return
    text = str(path)
    if "\x00" in text:
        raise ConfigError(f"{option} {text!r}: a file name cannot contain a NUL character")
    if len(os.fsencode(path.name)) > 255:
        raise ConfigError(f"{option} {text!r}: the file name is too long")
    if path.is_dir():
        raise ConfigError(f"{option} {text!r} is a directory: give a file path")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"{option} {text!r}: cannot create its directory ({exc.strerror or exc})"
        ) from None
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise ConfigError(f"{option} {text!r}: its directory is not writable")
    if path.exists() and not os.access(path, os.W_OK):
        raise ConfigError(f"{option} {text!r}: the file exists and is not writable")


def number_list(text: str | None, option: str, kind: type) -> list[Any]:
    """Parse ``8`` or ``1,8,32`` (a sweep, as ``--users`` and ``--rate`` of ``bench`` and
    ``run`` take it) into finite numbers of ``kind``; anything else is a ConfigError."""
    if text is None:
        return []
    out = []
    for part in text.split(","):
        part = part.strip()
        try:
            value = kind(part)
        except ValueError:
            raise ConfigError(
                f"{option} {text!r}: expected a number or a comma-separated list, e.g. 1,8,32"
            ) from None
        if not math.isfinite(value):
            raise ConfigError(f"{option} {text!r}: expected finite numbers, e.g. 1,8,32")
        out.append(value)
    return out
