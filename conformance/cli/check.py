"""``conformance check``: run every check against a target and say what passed.

Exit codes: 0 every check passed (warnings allowed) and at least ``--min-coverage`` of
the applicable checks was judged; 1 a check failed or errored; 2 bad usage, bad
configuration (including a plain request answered 401/403/404/405) or an unreachable
target, with one line that says what to fix, before anything else is sent; 3 no check
failed but too little was judged (thin evidence: missing exchanges or cassettes).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from conformance.cli._options import check_only, check_output_path, target_options
from conformance.errors import ConfigError
from conformance.results import DEFAULT_MIN_COVERAGE, EXIT_THIN, coverage_line

__all__ = ["command", "write_junit"]


@contextlib.contextmanager
def _run_config(
    *,
    provider_name: str,
    base_url: str | None,
    model: str | None,
    api_key_env: str | None,
    timeout: float,
    max_requests: int,
    replay: Path | None,
    only: str | None,
    min_coverage: float,
    notes: list[str],
) -> Iterator[tuple[Any, list[str]]]:
    """The engine configuration for the target, and the secrets to keep out of outputs."""
    from conformance.engine.target import resolve_target

    plan = resolve_target(
        provider_name, base_url=base_url, model=model, api_key_env=api_key_env, replay=replay
    )
    with plan.open(timeout=timeout) as target:
        notes.extend(target.notes)
        if target.mode == "embedded":
            notes.append(f"checking the embedded reference backend at {target.provider.base_url}")
        elif target.mode == "live" and target.api_key is None:
            notes.append(f"no key in ${plan.key_variable}: requests are sent without credentials")
        config = target.run_config(
            timeout=timeout, max_requests=max_requests, only=only, min_coverage=min_coverage
        )
        yield config, list(target.secrets)


@click.command(name="check")
@target_options(provider_required=False)
@click.option(
    "--timeout",
    type=click.FloatRange(0.1, 3600),
    default=30.0,
    show_default=True,
    help="Seconds one request may take; a target that hangs is given up after one timeout.",
)
@click.option(
    "--max-requests",
    type=click.IntRange(1, 100_000),
    default=100,
    show_default=True,
    help="Requests the run may send at most; probes beyond it are skipped.",
)
@click.option(
    "--follow-redirects",
    is_flag=True,
    help="Follow 3xx redirects like the official SDK (each hop counts against "
    "--max-requests); by default a redirect is itself a failed check (robustness.no_redirect).",
)
@click.option(
    "--replay",
    type=click.Path(path_type=Path),
    default=None,
    help="Run offline against cassettes recorded with 'conformance record'.",
)
@click.option(
    "--only", default=None, help="Comma-separated globs of check ids, e.g. 'stream,sse.*'."
)
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Write the result JSON.")
@click.option("--junit", "junit_path", type=click.Path(path_type=Path), help="Write JUnit XML.")
@click.option(
    "--markdown", "md_path", type=click.Path(path_type=Path), help="Write a Markdown report."
)
@click.option("--html", "html_path", type=click.Path(path_type=Path), help="Write an HTML report.")
@click.option(
    "--fail-on",
    type=click.Choice(["sdk", "client", "cosmetic"]),
    default="cosmetic",
    show_default=True,
    help="Exit 1 only for failures of this severity or worse (sdk > client > cosmetic).",
)
@click.option(
    "--strict-openai",
    is_flag=True,
    help="Fail on every OpenAI-compatibility finding, not only on those that break the "
    "official SDK. By default a profile is failed for violations of its provider's "
    "document (and of HTTP) and for anything that breaks the official SDK in a feature "
    "the document offers; other findings beyond the document are reported. No effect with --provider openai, whose "
    "document is the OpenAI specification.",
)
@click.option(
    "--min-coverage",
    type=click.FloatRange(0.0, 1.0),
    default=DEFAULT_MIN_COVERAGE,
    show_default=True,
    help="Share of the applicable checks that must be judged (passed, failed or warned) "
    "for the run to pass; below it the run exits 3. Skips by design (a feature the "
    "provider does not document, or that the target refused cleanly) are not applicable; "
    "skips for missing exchanges are. 0 turns the floor off.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress display and no skip reasons.")
@click.option(
    "--list",
    "list_only",
    is_flag=True,
    help="List the checks that apply (with --only; without --provider: every provider's) and exit.",
)
@click.pass_context
def command(
    ctx: click.Context,
    provider_name: str,
    base_url: str | None,
    model: str | None,
    api_key_env: str | None,
    timeout: float,
    max_requests: int,
    follow_redirects: bool,
    replay: Path | None,
    only: str | None,
    json_path: Path | None,
    junit_path: Path | None,
    md_path: Path | None,
    html_path: Path | None,
    fail_on: str,
    strict_openai: bool,
    min_coverage: float,
    quiet: bool,
    list_only: bool,
) -> None:
    """Check that a target speaks its provider's protocol: schemas, streams, errors,
    auth, parameters, robustness and the official SDK, each check with evidence."""
    from rich.console import Console

    from conformance.checks import load_families
    from conformance.cli._check_output import RichProgress, print_summary
    from conformance.engine import arun_checks

    load_families()
    console = Console(stderr=False, highlight=False, soft_wrap=False)
    if list_only:
        _list_checks(console, provider_name, only)
        ctx.exit(0)
    if provider_name is None:
        raise click.UsageError("Missing option '--provider'.", ctx=ctx)
    check_only(only, provider_name)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    for option, path in (
        ("--json", json_path),
        ("--junit", junit_path),
        ("--markdown", md_path),
        ("--html", html_path),
    ):
        check_output_path(option, path)
    notes: list[str] = []
    started = time.perf_counter()
    with _run_config(
        provider_name=provider_name,
        base_url=base_url,
        model=model,
        api_key_env=api_key_env,
        timeout=timeout,
        max_requests=max_requests,
        replay=replay,
        only=only,
        min_coverage=min_coverage,
        notes=notes,
    ) as (config, secrets):
        config.follow_redirects = follow_redirects
        config.strict_openai = strict_openai
        for note in notes:
            err.print(f"conformance: {note}", markup=False)
        import asyncio

        with RichProgress(err, enabled=not quiet, secrets=secrets) as progress:
            run = asyncio.run(arun_checks(config, progress=progress))
    elapsed = time.perf_counter() - started

    document = run.to_dict(secrets)
    print_summary(console, document, elapsed=elapsed, verbose=not quiet)
    if json_path is not None:
        _write(json_path, json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    if junit_path is not None:
        _write(junit_path, write_junit(document))
    if md_path is not None or html_path is not None:
        from conformance import report

        if md_path is not None:
            _write(md_path, report.render_markdown([document]))
        if html_path is not None:
            _write(html_path, report.render_html([document]))
    for path in (json_path, junit_path, md_path, html_path):
        if path is not None:
            err.print(f"conformance: wrote {path}", markup=False)
    code = run.exit_code_for(fail_on)
    if code == EXIT_THIN and not document["coverage"]["applicable"]:
        err.print(
            "conformance: no selected check applies to this target (each was skipped by "
            "design: see the reasons above), so nothing was judged",
            markup=False,
        )
    elif code == EXIT_THIN:
        cov = document["coverage"]
        err.print(
            f"conformance: only {cov['judged']} of {cov['applicable']} applicable checks "
            f"were judged, below --min-coverage {min_coverage:g}: the evidence is too thin "
            "to pass (see the skip reasons; record the missing exchanges, or lower "
            "--min-coverage on purpose)",
            markup=False,
        )
    ctx.exit(code)


def _list_checks(console: Any, provider_name: str | None, only: str | None) -> None:
    """``--list``: the checks of one provider (with the basis of each for its profile), or
    of every provider with their dialects."""
    from conformance.checks import select_checks
    from conformance.providers import get_provider

    if provider_name is not None:
        from conformance.checks.basis import resolve_basis

        check_only(only, provider_name)
        profile = get_provider(provider_name)
        specs = select_checks(dialect=profile.dialect, only=only)
        for spec in specs:
            basis = resolve_basis(spec, profile).basis.value
            console.print(
                f"{spec.id:38} {spec.severity.value:8} {basis:8} {spec.title}",
                markup=False,
                soft_wrap=True,
            )
        return
    specs = select_checks(only=only)
    if not specs:
        raise ConfigError(f"--only {only!r} selects no check of any provider")
    for spec in specs:
        dialects = ",".join(sorted(d.value for d in spec.dialects))
        console.print(
            f"{spec.id:38} {spec.severity.value:8} {dialects:17} {spec.title}",
            markup=False,
            soft_wrap=True,
        )


def _write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None


def write_junit(document: dict[str, Any]) -> str:
    """A JUnit XML document of a check result: one testcase per check, classname = family.

    ``failed`` and ``error`` become ``<failure>`` / ``<error>``, ``skipped`` a
    ``<skipped>``, ``warned`` a passing case with the warning in ``<system-out>``; the
    severity, source, basis and cited basis are properties of each case. A failed
    OpenAI-compatibility check that does not fail the run (basis ``openai``, not breaking
    the SDK, without ``--strict-openai``) is a passing case whose ``<system-out>`` states
    the finding; the suite's properties carry both verdicts (``verdict.document``,
    ``verdict.openai``).
    """
    import xml.etree.ElementTree as ET

    from conformance.results import reported_only

    checks = document.get("checks", [])
    summary = document.get("summary", {})
    verdicts = dict(document.get("verdicts") or {})
    strict = bool(dict(verdicts.get("openai") or {}).get("strict"))
    findings = sum(1 for item in checks if reported_only(item, strict_openai=strict))
    suites = ET.Element("testsuites", name="conformance")
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=f"conformance.{document.get('provider', '')}",
        tests=str(len(checks)),
        failures=str(int(summary.get("failed", 0)) - findings),
        errors=str(summary.get("error", 0)),
        skipped=str(summary.get("skipped", 0)),
        time=f"{float(document.get('duration_s', 0.0)):.3f}",
        timestamp=str(document.get("started_at", "")),
    )
    props = ET.SubElement(suite, "properties")
    for name in ("provider", "base_url", "model", "harness_version"):
        ET.SubElement(props, "property", name=name, value=str(document.get(name, "")))
    coverage = document.get("coverage") or {}
    for name in ("judged", "applicable", "ratio", "min", "enough"):
        if name in coverage:
            value = str(coverage[name]).lower() if name == "enough" else str(coverage[name])
            ET.SubElement(props, "property", name=f"coverage.{name}", value=value)
    for which in ("document", "openai"):
        if which in verdicts:
            status = str(dict(verdicts[which]).get("status", ""))
            ET.SubElement(props, "property", name=f"verdict.{which}", value=status)
    for item in checks:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"conformance.{item.get('category') or item['id'].split('.')[0]}",
            name=item["id"],
            time=f"{float(item.get('duration_ms', 0.0)) / 1000:.6f}",
        )
        case_props = ET.SubElement(case, "properties")
        for name in ("severity", "title", "source", "basis", "basis_ref"):
            ET.SubElement(case_props, "property", name=name, value=str(item.get(name, "")))
        status = item.get("status")
        detail = str(item.get("detail", ""))
        evidence = json.dumps(item.get("evidence") or {}, indent=2, ensure_ascii=False)
        if reported_only(item, strict_openai=strict):
            out = ET.SubElement(case, "system-out")
            out.text = (
                f"OpenAI-compatibility finding [{item.get('severity')}] (beyond the "
                f"provider's document; fails the run only with --strict-openai): {detail}\n"
                f"{evidence}"
            )
        elif status == "failed":
            node = ET.SubElement(
                case, "failure", message=detail, type=f"severity:{item.get('severity')}"
            )
            node.text = evidence
        elif status == "error":
            node = ET.SubElement(case, "error", message=detail, type="harness error")
            node.text = evidence
        elif status == "skipped":
            ET.SubElement(case, "skipped", message=detail)
        elif status == "warned":
            out = ET.SubElement(case, "system-out")
            out.text = f"warning: {detail}\n{evidence}"
    if coverage and not coverage.get("enough", True):
        # thin evidence is a red case of its own: a CI view of skipped cases looks green
        suite.set("tests", str(len(checks) + 1))
        suite.set("failures", str(int(summary.get("failed", 0)) + 1))
        case = ET.SubElement(suite, "testcase", classname="conformance.run", name="coverage")
        node = ET.SubElement(
            case, "failure", message=coverage_line(coverage), type="coverage below the floor"
        )
        node.text = json.dumps(coverage, indent=2)
    ET.indent(suites)
    body: str = ET.tostring(suites, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"
