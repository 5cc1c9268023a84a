"""``conformance record``: send the suites' probes to a target and write them as cassettes."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import click

from conformance.cli._options import check_only, target_options
from conformance.errors import ConfigError


@contextlib.contextmanager
def _target(
    provider_name: str,
    base_url: str | None,
    model: str | None,
    var: str,
    key: str | None,
) -> Iterator[tuple[object, str | None, str]]:
    """(profile, key, description) for a live base URL, or for the embedded backend."""
    from conformance.engine.target import embedded_target
    from conformance.providers import get_provider

    if base_url is None:
        with embedded_target(provider_name, model=model) as target:
            yield target.provider, target.api_key, "the embedded reference backend"
        return
    from conformance.engine.discovery import discover

    found = discover(provider_name, base_url, model=model, api_key=key, api_key_env=var)
    if found.note:
        click.echo(f"conformance: {found.note}", err=True)
    provider = get_provider(provider_name, base_url=base_url, model=found.model)
    where = f"{provider.base_url} (key from ${var})" if key else f"{provider.base_url} (no key)"
    yield provider, key, where


@click.command(name="record")
@target_options
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory to write the cassettes into.",
)
@click.option("--force", is_flag=True, help="Overwrite cassettes already in --out.")
@click.option(
    "--timeout",
    type=click.FloatRange(0.1, 3600),
    default=30.0,
    show_default=True,
    help="Seconds one request may take.",
)
@click.option(
    "--max-requests",
    type=click.IntRange(1, 10_000),
    default=100,
    show_default=True,
    help="Requests the recording may send at most (the same budget as check).",
)
@click.option("--only", default=None, help="Record only the probes of these checks (globs).")
def command(
    provider_name: str,
    base_url: str | None,
    model: str | None,
    api_key_env: str | None,
    out: Path,
    force: bool,
    timeout: float,
    max_requests: int,
    only: str | None,
) -> None:
    """Record the exchanges the suites make with a target as cassettes (keys redacted).

    One YAML file per probe plus index.yaml is written into --out; replay them offline
    with 'conformance check --provider P --replay DIR'.
    """
    from conformance.cassettes import record
    from conformance.cassettes._io import existing_cassettes
    from conformance.providers import PROVIDERS

    if provider_name not in PROVIDERS:
        raise ConfigError(
            f"unknown provider {provider_name!r}; use one of {', '.join(sorted(PROVIDERS))}"
        )
    check_only(only, provider_name)
    from conformance.engine.target import key_variable, resolve_api_key

    # the key is read (and refused when unusable) before --out is created
    var = key_variable(provider_name, api_key_env)
    key = resolve_api_key(provider_name, api_key_env)[1] if base_url is not None else None
    existing = existing_cassettes(out)
    if existing and not force:
        raise ConfigError(
            f"{out} already holds {len(existing)} cassette file(s); pass --force to overwrite them"
        )
    created = not out.exists()
    try:  # before any request is sent, not after the recording
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out {str(out)!r}: cannot create it ({exc.strerror or exc})") from None
    try:
        with _target(provider_name, base_url, model, var, key) as (provider, key, where):
            from conformance.cli import url_secrets
            from conformance.results import scrub

            line = f"recording {provider_name} at {where} into {out}"
            click.echo(scrub(line, url_secrets(base_url)), err=True)
            recording = record(
                provider,  # type: ignore[arg-type]
                out=out,
                api_key=key,
                secrets=url_secrets(base_url),
                force=force,
                timeout=timeout,
                max_requests=max_requests,
                only=only,
            )
    except BaseException:
        if created and not any(out.iterdir()):
            out.rmdir()  # stopped before anything was recorded: no empty --out is left
        raise
    for path in recording.files:
        click.echo(f"wrote {path}")
    if recording.index is not None:
        click.echo(f"wrote {recording.index}")
    if not recording.files:
        click.echo("no probe was recorded (no check applies to this provider)", err=True)
