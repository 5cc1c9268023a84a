"""Options shared by the commands that talk to one target (``check``, ``record``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click

__all__ = ["target_options"]

F = TypeVar("F", bound=Callable[..., object])


def target_options(func: F) -> F:
    """``--provider`` (required, as ``provider_name``), ``--base-url``, ``--model``,
    ``--api-key-env``: the target and where its key comes from."""
    options = [
        click.option(
            "--provider", "provider_name", required=True, help="Profile name, e.g. openai."
        ),
        click.option(
            "--base-url",
            default=None,
            help="The target's base URL. Without it: the embedded reference backend.",
        ),
        click.option(
            "--model",
            default=None,
            help="Model to ask for (default: with --base-url, one the target lists at /models; "
            "else the profile's).",
        ),
        click.option(
            "--api-key-env",
            default=None,
            metavar="VAR",
            help="Environment variable holding the key (default: the profile's, e.g. "
            "OPENAI_API_KEY).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func
