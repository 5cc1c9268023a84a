"""``conformance verify``: validate recorded cassettes against the current schemas."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from conformance.errors import ConfigError


@click.command(name="verify")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--provider",
    "provider_name",
    default=None,
    help="Judge against this profile's schemas (default: the one named in each cassette).",
)
@click.option(
    "--coverage",
    is_flag=True,
    help="Also fail when a directory lacks a request that 'check --replay' sends now.",
)
def command(paths: tuple[Path, ...], provider_name: str | None, coverage: bool) -> None:
    """Check that every cassette under PATHS still fits the format and the schemas.

    Drift (a field the schema now requires, a changed type, an old format version, and
    with --coverage a request the checks now send that no cassette holds) is printed as
    a diff and exits 1; an unreadable file exits 2.
    """
    from conformance.cassettes.verify import verify_paths

    if provider_name is not None:
        from conformance.providers import get_provider

        get_provider(provider_name)  # an unknown name: one line, not one per cassette
    missing = list(dict.fromkeys(str(p) for p in paths if not p.exists()))
    if missing:  # a mistyped path: one line for all of them, before anything is read
        names = ", ".join(missing[:5]) + (
            f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        )
        raise ConfigError(f"no such cassette file or directory: {names}")
    report = verify_paths(list(paths), provider=provider_name, coverage=coverage)
    text = report.render()
    code = report.exit_code
    click.echo(text, err=code == 2)
    sys.exit(code)
