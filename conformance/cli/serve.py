"""``conformance serve``: run the embedded reference backend until Ctrl-C."""

from __future__ import annotations

import contextlib
import os

import click

from conformance.errors import ConfigError


def _check_fault(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from conformance.backend.faults import FAULTS

    if value is not None and value not in FAULTS:
        raise click.BadParameter(
            f"unknown fault {value!r} (GET /faults on a running server lists them; "
            f"e.g. {', '.join(sorted(FAULTS)[:4])}, ...)"
        )
    return value


@click.command(name="serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="Port to listen on (0 picks a free one).",
)
@click.option(
    "--ttft-ms",
    type=click.FloatRange(0, 600_000),
    default=0.0,
    show_default=True,
    help="Delay before the first content token.",
)
@click.option(
    "--itl-ms",
    type=click.FloatRange(0, 600_000),
    default=0.0,
    show_default=True,
    help="Delay between content tokens.",
)
@click.option(
    "--fault",
    callback=_check_fault,
    default=None,
    metavar="NAME",
    help="Fault mode for every request (per request: /fault/NAME/... or X-Conformance-Fault).",
)
@click.option(
    "--api-key",
    "api_keys",
    multiple=True,
    metavar="KEY",
    help="Accept only this key (repeatable). Without any, every key (and none) is accepted.",
)
@click.option(
    "--api-key-env",
    "api_key_envs",
    multiple=True,
    metavar="VAR",
    help="Accept the key held in this environment variable (repeatable; keeps it off argv).",
)
@click.option(
    "--model",
    "models",
    multiple=True,
    metavar="NAME",
    help="Also list and answer for this model name on every OpenAI path (repeatable).",
)
@click.option(
    "--only-document",
    type=click.Choice(["nebulablock", "weai"]),
    default=None,
    help="Serve one provider's document and nothing more, at /v1/chat/completions: its "
    'documented fields only, FastAPI\'s 422 {"detail": ...} for invalid requests, no '
    "model list, no n, stop, tools, JSON mode, logprobs or stream_options, no [DONE]. "
    "'check --provider P' passes it with OpenAI-compatibility findings.",
)
def command(
    host: str,
    port: int,
    ttft_ms: float,
    itl_ms: float,
    fault: str | None,
    api_keys: tuple[str, ...],
    api_key_envs: tuple[str, ...],
    models: tuple[str, ...],
    only_document: str | None,
) -> None:
    """Run the embedded reference backend (every profile's dialect, faults, timing)."""
    from conformance.backend.app import ROUTES
    from conformance.backend.config import BackendConfig
    from conformance.backend.faults import FAULTS
    from conformance.backend.server import run_server

    keys = list(api_keys)
    for var in api_key_envs:
        value = os.environ.get(var, "").strip()
        if not value:
            raise ConfigError(f"environment variable {var} is not set (it should hold an API key)")
        keys.append(value)
    try:
        host.encode("idna")
    except UnicodeError:
        raise ConfigError(f"--host {host!r} is not a host name or address") from None
    for key in keys:
        # a client sends the key in a header: anything else could never match (and the
        # message must not echo the key)
        if not key or not key.isascii() or not key.isprintable() or " " in key:
            raise ConfigError("--api-key: a key must be printable ASCII text with no spaces")
    config = BackendConfig(
        host=host,
        port=port,
        ttft_ms=ttft_ms,
        itl_ms=itl_ms,
        fault=fault,
        api_keys=tuple(keys),
        models=tuple(dict.fromkeys(m.strip() for m in models)),
        only_document=only_document,
    )

    def announce(url: str) -> None:
        click.echo(f"conformance reference backend listening on {url}")
        if only_document is not None:
            auth = "Bearer key required" if only_document == "weai" else "no authentication"
            click.echo(
                f"  POST {url}/v1/chat/completions  {only_document}'s document and nothing "
                f"more ({auth}; base URL {url}/v1)"
            )
            click.echo("Press Ctrl-C to stop.")
            return
        for method, path, what in ROUTES:
            click.echo(f"  {method:<5}{url}{path}  {what}")
        auth = f"{len(keys)} configured key(s) required" if keys else "any key (or none) accepted"
        click.echo(
            f"  ttft {ttft_ms:g} ms, itl {itl_ms:g} ms, fault {fault or 'none'}, auth: {auth}"
        )
        broken = sum(not f.correct for f in FAULTS.values())
        click.echo(
            f"  {broken} fault modes and {len(FAULTS) - broken} valid variants: "
            f"{url}/faults (use {url}/fault/<name>/... or X-Conformance-Fault)"
        )
        click.echo("Press Ctrl-C to stop.")

    with contextlib.suppress(KeyboardInterrupt):
        run_server(config, announce)
    click.echo("conformance reference backend stopped")
