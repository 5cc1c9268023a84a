"""``conformance record``: send the suites' probes to a target and write them as cassettes."""

from __future__ import annotations

from pathlib import Path

import click

from conformance.cli._options import check_only, target_options
from conformance.errors import ConfigError


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
    from conformance.engine.target import resolve_target

    # the provider, the base URL and the key are checked before --out is created
    plan = resolve_target(provider_name, base_url=base_url, model=model, api_key_env=api_key_env)
    check_only(only, provider_name)
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
        with plan.open(timeout=timeout) as target:
            from conformance.results import scrub

            for note in target.notes:
                click.echo(f"conformance: {note}", err=True)
            where = "the embedded reference backend"
            if target.mode == "live":
                how = f"key from ${plan.key_variable}" if target.api_key else "no key"
                where = f"{target.provider.base_url} ({how})"
            line = f"recording {provider_name} at {where} into {out}"
            click.echo(scrub(line, list(target.secrets)), err=True)
            recording = record(
                target.provider,
                out=out,
                api_key=target.api_key,
                secrets=list(target.secrets),
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
