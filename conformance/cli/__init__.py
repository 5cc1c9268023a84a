"""The ``conformance`` command line.

Each subcommand lives in a module of its own (``conformance.cli.<name>``) exposing a
``click`` command called ``command``; modules are imported only when their subcommand
runs, so ``check`` never imports Locust (which patches the standard library with gevent).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from conformance._version import __version__
from conformance.errors import ConfigError
from conformance.secrets import Scrubber, url_secrets

#: subcommand name -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("conformance.cli.serve", "Run the embedded reference backend on 127.0.0.1."),
    "check": ("conformance.cli.check", "Check that a target speaks its provider's protocol."),
    "record": (
        "conformance.cli.record",
        "Record a target's exchanges as cassettes (keys redacted).",
    ),
    "verify": (
        "conformance.cli.verify",
        "Validate recorded cassettes against the current schemas.",
    ),
    "bench": ("conformance.cli.bench", "Put a target under load with Locust and measure it."),
    "report": ("conformance.cli.report", "Render result files as HTML and Markdown reports."),
    "run": ("conformance.cli.run", "The main job: check, bench and report in one go."),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = SUBCOMMANDS.get(cmd_name)
        if entry is None:
            return None
        try:
            module = importlib.import_module(entry[0])
        except ModuleNotFoundError as exc:
            if exc.name == entry[0]:
                return None
            raise
        command: click.Command = module.command
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_) for name, (_, help_) in SUBCOMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="conformance")
def cli() -> None:
    """Conformance tests and benchmarks for text-generation HTTP APIs.

    With no --base-url, every command runs against the embedded reference backend.
    """


def main(argv: list[str] | None = None) -> Any:
    """Console entry point: usage and configuration errors exit 2 with one line."""
    args = sys.argv[1:] if argv is None else list(argv)
    empty = _empty_argument(args)
    if empty is not None:
        click.echo(f"conformance: {empty}", err=True)
        sys.exit(2)
    # credentials written into a URL argument (--base-url URL or --base-url=URL) never
    # reach an error line
    urls = [a.partition("=")[2] if a.startswith("--") else a for a in args if "://" in a]
    hidden = Scrubber(secret for url in urls for secret in url_secrets(url))

    def say(line: str) -> None:
        click.echo(hidden.text(line), err=True)

    try:
        return cli.main(args=args, prog_name="conformance", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        say("conformance: aborted")
        sys.exit(130)
    except click.exceptions.NoArgsIsHelpError as exc:
        # bare 'conformance': the help text, as it is (not prefixed like an error line)
        click.echo(exc.format_message(), err=True)
        sys.exit(2)
    except click.UsageError as exc:
        hint = ""
        if exc.ctx is not None:
            hint = f" (see '{exc.ctx.command_path} --help')"
        say(f"conformance: {exc.format_message()}{hint}")
        sys.exit(2)
    except click.ClickException as exc:
        say(f"conformance: {exc.format_message()}")
        sys.exit(2)
    except ConfigError as exc:
        say(f"conformance: {exc}")
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("conformance: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(1)  # the reader went away (``| head``): nothing to say
    except OSError as exc:
        # a path the system refuses (too long, not a directory, no permission) that no
        # command anticipated: still one line that names it, not a traceback
        where = f"{exc.filename}: " if exc.filename else ""
        say(f"conformance: {where}{exc.strerror or exc}")
        sys.exit(2)


def _empty_argument(args: list[str]) -> str | None:
    """Say what is wrong when an argument is empty (often an unset shell variable).

    An empty path would mean the current directory: ``record --out ""`` would write
    (with ``--force``, replace) cassettes there and ``verify ""`` would read everything
    under it, so no command takes an empty value.
    """
    for i, arg in enumerate(args):
        if "\x00" in arg:
            return f"argument {i + 1} holds a NUL byte; no option or path can"
        if arg.startswith("--") and arg.endswith("=") and len(arg) > 3:
            return f"{arg[:-1]} was given an empty value; give one (is a shell variable unset?)"
        if not arg.strip():
            after = f" after {args[i - 1]}" if i > 0 else ""
            return f"an empty argument{after}; give a value (is a shell variable unset?)"
    return None
