"""Verifying cassettes: does every recorded body still fit the current schemas?

Recorded fixtures go stale when a schema changes (a field becomes required, a type is
tightened) or when the format version moves on. :func:`verify_paths` reads every
cassette under the given paths and validates each recorded body against its profile's
schemas in :mod:`conformance.schemas`:

- a 2xx non-streamed body against the response model;
- every event of a 2xx stream (but ``[DONE]``) against the chunk model, or the error
  model when the event is an error;
- a 4xx/5xx body against the error model.

Each disagreement is a :class:`Drift`, rendered as a diff line: ``-`` a field the schema
requires that the cassette lacks, ``~`` a value whose type or value the schema no longer
accepts, ``!`` anything else. Exchanges that ended in a transport error hold no body to
judge and are counted, not judged.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.cassettes._errors import CassetteError
from conformance.cassettes._format import FORMAT_VERSION, Cassette, cassette_from_data
from conformance.cassettes._io import is_index
from conformance.cassettes._load import cassette_files, check_total, load_yaml
from conformance.cassettes.coverage import DocumentedCoverage, Uncovered
from conformance.errors import ConfigError
from conformance.wire.exchange import Exchange
from conformance.wire.json_bounded import parse_json_bounded


@dataclass(frozen=True, slots=True)
class Drift:
    """One place where a recorded body no longer fits the current schema."""

    #: which exchange and which body, e.g. ``exchanges[0] response (POST /v1/... -> 200)``
    where: str
    #: dotted location in the body (``usage.total_tokens``); ``""`` for the body itself
    loc: str
    #: ``missing``, ``type`` or ``other``
    kind: str
    message: str

    def where_line(self) -> str:
        """The hunk header naming the exchange and body (one line)."""
        return f"@@ {' '.join(self.where.split())} @@"

    def line(self) -> str:
        """The drift as one diff line."""
        mark = {"missing": "-", "type": "~"}.get(self.kind, "!")
        return " ".join(f"{mark} {self.loc or '(body)'}: {self.message}".split())


@dataclass(slots=True)
class FileReport:
    """What verifying one file found."""

    path: Path
    provider: str | None = None
    exchanges: int = 0
    bodies: int = 0
    #: exchanges not judged (transport errors), with why
    not_judged: list[str] = field(default_factory=list)
    drift: list[Drift] = field(default_factory=list)
    #: why the file could not be read at all
    unreadable: str | None = None


@dataclass(slots=True)
class VerifyReport:
    """What verifying a set of paths found; :attr:`exit_code` is the command's."""

    files: list[FileReport] = field(default_factory=list)
    #: paths given that are not cassette files (e.g. a README matched by a shell glob)
    ignored: list[Path] = field(default_factory=list)
    #: with ``coverage``: per directory, the requests check sends that no cassette holds
    uncovered: dict[Path, list[Uncovered]] = field(default_factory=dict)
    #: with ``coverage``: per directory holding documented examples, the verdicts they
    #: carry on their own (said, never a failure)
    documented: dict[Path, DocumentedCoverage] = field(default_factory=dict)

    @property
    def drifted(self) -> list[FileReport]:
        return [f for f in self.files if f.drift]

    @property
    def unreadable(self) -> list[FileReport]:
        return [f for f in self.files if f.unreadable]

    @property
    def exit_code(self) -> int:
        """2 when any input is unreadable, else 1 on drift, else 0."""
        if self.unreadable or not self.files:
            return 2
        return 1 if self.drifted or any(self.uncovered.values()) else 0

    def render(self) -> str:
        """A readable report: one block per file with drift, then a summary line.

        An unreadable file is one line that names it and says what is wrong; when there
        is one, the summary is left out (the exit code is 2: fix the file first).
        """
        lines: list[str] = [f"{path}: ignored, not a .yaml cassette file" for path in self.ignored]
        for report in self.files:
            if report.unreadable or not report.drift:
                continue
            lines.append(f"--- {report.path} (as recorded)")
            lines.append(f"+++ schemas of provider {report.provider!r} (now)")
            where = None
            for drift in report.drift:
                if drift.where != where:
                    where = drift.where
                    lines.append(drift.where_line())
                lines.append(drift.line())
        for root, missing in self.uncovered.items():
            if missing:
                lines.append(f"--- {root} (the cassettes)")
                lines.append("+++ the requests 'check --replay' sends now")
                lines.extend(u.line() for u in missing)
        if self.unreadable:
            lines.extend(_one_line(f.path, f.unreadable or "") for f in self.unreadable)
            return "\n".join(lines)
        if not self.files:
            lines.append("no cassette files found (files named *.yaml or *.yml)")
            return "\n".join(lines)
        lines.extend(cov.line(root) for root, cov in self.documented.items())
        n_files = len(self.files)
        bodies = sum(f.bodies for f in self.files)
        n_drift = sum(len(f.drift) for f in self.files)
        summary = (
            f"verified {n_files} file(s), {bodies} recorded bod{'y' if bodies == 1 else 'ies'}: "
            f"{n_drift} drift(s) in {len(self.drifted)} file(s)"
        )
        if self.uncovered:
            n_missing = sum(len(m) for m in self.uncovered.values())
            summary += f", {n_missing} request(s) of the current probes not recorded"
            if n_missing:
                summary += " (record the cassettes again)"
        lines.append(summary)
        return "\n".join(lines)


def _one_line(path: Path, message: str) -> str:
    """``message`` about ``path`` as one line that starts with the path."""
    text = " ".join(message.split())
    return text if text.startswith(str(path)) else f"{path}: {text}"


def _drift_from_violations(where: str, violations: Iterable[Any]) -> list[Drift]:
    out = []
    for v in violations:
        if v.type == "missing":
            out.append(Drift(where, v.loc, "missing", "required by the schema, absent here"))
        elif v.type.endswith("_type") or v.type in ("literal_error", "enum", "model_type"):
            shown = json.dumps(v.input, ensure_ascii=False) if v.input is not None else "null"
            out.append(
                Drift(
                    where,
                    v.loc,
                    "type",
                    f"the schema says {v.message[0].lower() + v.message[1:]}; "
                    f"the cassette has {shown} ({type(v.input).__name__})",
                )
            )
        else:
            out.append(Drift(where, v.loc, "other", v.message))
    return out


def _judge(model: Any, raw: str | bytes, where: str) -> list[Drift]:
    from conformance.schemas import violations

    try:
        data = parse_json_bounded(raw)
    except ValueError as exc:
        return [Drift(where, "", "other", f"not JSON ({exc})")]
    return _drift_from_violations(where, violations(model, data))


def _is_error_event(ev: Any) -> bool:
    if ev.event == "error":
        return True
    try:
        data = parse_json_bounded(ev.data or "")
    except ValueError:
        return False
    return isinstance(data, dict) and "error" in data and "choices" not in data


def _body_model(shapes: Any, req: Any) -> Any:
    """The schema of a 2xx body: the model list or one model for ``GET .../models[/id]``,
    else the completion."""
    path = req.url.partition("?")[0].rstrip("/")
    if req.method == "GET" and shapes.model_list is not None:
        if path.endswith("/models"):
            return shapes.model_list
        if "/models/" in path:
            return shapes.model
    return shapes.response


def verify_exchange(exchange: Exchange, provider: str, label: str, report: FileReport) -> None:
    """Judge one recorded exchange's bodies, adding to ``report``."""
    from conformance.schemas import schemas_for

    shapes = schemas_for(provider)
    req = exchange.request
    head = f"{label} ({req.method} {req.url} -> {exchange.status})"
    if exchange.error is not None:
        report.not_judged.append(f"{head}: {exchange.error.kind.value}")
        return
    status = exchange.status or 0
    if status >= 400:
        report.bodies += 1
        report.drift += _judge(shapes.error, exchange.body, f"{head} error body")
        return
    if not 200 <= status < 300:
        report.not_judged.append(f"{head}: HTTP {status} holds no schema body")
        return
    if exchange.events is None:
        report.bodies += 1
        report.drift += _judge(_body_model(shapes, req), exchange.body, f"{head} response body")
        return
    for i, ev in enumerate(exchange.events):
        if ev.data is None or ev.data.strip() == "[DONE]":
            continue
        report.bodies += 1
        model = shapes.error if _is_error_event(ev) else shapes.chunk
        if model is None:
            report.drift.append(
                Drift(f"{head} event {i}", "", "other", f"{provider} does not stream")
            )
            continue
        report.drift += _judge(model, ev.data, f"{head} event {i}")


def _verify_file(
    path: Path, data: Any, provider: str | None, index_provider: str | None
) -> FileReport:
    report = FileReport(path=path)
    version = data.get("version") if isinstance(data, dict) else None
    if isinstance(version, int) and version != FORMAT_VERSION:
        message = (
            f"format version {version}; this harness reads version {FORMAT_VERSION}: "
            "record the cassette again"
        )
        report.drift.append(Drift("file", "version", "type", message))
        return report
    try:
        cassette: Cassette = cassette_from_data(data, where=str(path), path=path)
    except CassetteError as exc:
        report.unreadable = str(exc)
        return report
    name = provider or cassette.provider or index_provider
    if name is None:
        report.unreadable = "no provider named in the cassette or its index; pass --provider"
        return report
    from conformance.schemas import schemas_for

    try:
        schemas_for(name)
    except ConfigError as exc:
        report.unreadable = str(exc)
        return report
    report.provider = name
    report.exchanges = len(cassette.exchanges)
    for i, exchange in enumerate(cassette.exchanges):
        verify_exchange(exchange, name, f"exchanges[{i}]", report)
    return report


def verify_paths(
    paths: Sequence[Path], *, provider: str | None = None, coverage: bool = False
) -> VerifyReport:
    """Verify every cassette under ``paths`` (files or directory trees).

    ``provider`` overrides the profile named in the cassettes. Index files are checked
    for their format version only. With ``coverage``, each directory is also checked
    for holding every request ``check --replay`` would send now (see
    :mod:`conformance.cassettes.coverage`); a request it lacks counts as drift.
    """
    report = VerifyReport()
    for root in paths:
        if root.is_file() and root.suffix not in (".yaml", ".yml"):
            report.ignored.append(root)
            continue
        try:
            files = cassette_files(root)
            check_total(files)
        except CassetteError as exc:
            report.files.append(FileReport(path=root, unreadable=str(exc)))
            continue
        index_provider = None
        plain: list[tuple[Path, Any]] = []
        reports: list[FileReport] = []
        for path in files:
            try:
                data = load_yaml(path)
            except CassetteError as exc:
                reports.append(FileReport(path=path, unreadable=str(exc)))
                continue
            if is_index(data):
                if isinstance(data.get("provider"), str):
                    index_provider = data["provider"]
                if data.get("version") != FORMAT_VERSION:
                    fr = FileReport(path=path)
                    fr.drift.append(
                        Drift(
                            "index",
                            "version",
                            "type",
                            f"index format version {data.get('version')!r}; this harness "
                            f"reads version {FORMAT_VERSION}",
                        )
                    )
                    report.files.append(fr)
                continue
            plain.append((path, data))
        reports += [_verify_file(path, data, provider, index_provider) for path, data in plain]
        reports.sort(key=lambda r: r.path)
        report.files.extend(reports)
        if coverage and root.is_dir() and reports and not any(r.unreadable for r in reports):
            name = provider or reports[0].provider
            report.uncovered[root] = _uncovered(root, name)
            documented = _documented(root, name)
            if documented is not None:
                report.documented[root] = documented
    return report


def _documented(root: Path, provider: str | None) -> DocumentedCoverage | None:
    from conformance.cassettes._io import read_cassettes
    from conformance.cassettes.coverage import documented_coverage

    if provider is None:
        return None
    return documented_coverage(read_cassettes([root]), provider)


def _uncovered(root: Path, provider: str | None) -> list[Uncovered]:
    from conformance.cassettes._io import read_cassettes
    from conformance.cassettes.coverage import uncovered_requests

    if provider is None:
        return []
    return uncovered_requests(read_cassettes([root]), provider)


__all__ = ["Drift", "FileReport", "VerifyReport", "verify_exchange", "verify_paths"]
