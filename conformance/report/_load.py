"""Reading and validating result files (``check --json`` and ``bench --json``).

A report only consumes result files. This module turns a path into a dictionary that
the rest of the report can trust, or raises :class:`~conformance.errors.ConfigError`
with one line that names the file and says what is wrong. Extra fields are kept and
ignored; optional fields may be missing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from conformance.errors import ConfigError
from conformance.report._metrics import distributions

#: The newest result-file format version this report can read (a check result of
#: version 2 adds each check's basis and the two verdicts; version 1 is still read).
SUPPORTED_VERSION = 2

#: The bases of a check's verdict (``document``: the provider's document states the rule;
#: ``openai``: beyond it, OpenAI-client compatibility; ``http``: HTTP and SSE).
BASES = ("document", "openai", "http")
#: Check statuses, in the order the report lists them.
STATUSES = ("failed", "error", "warned", "skipped", "passed")

#: Check severities, most serious first: what a failure breaks.
SEVERITIES = ("sdk", "client", "cosmetic")


def load_result(path: str | Path) -> dict[str, Any]:
    """Read one result file and return its dictionary, validated.

    Raises ``ConfigError`` (shown as one line, exit code 2) when the file is missing,
    unreadable, not JSON, or not a version-1 check or bench result.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{p}: is a directory, expected a result JSON file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not UTF-8 text, expected a result JSON file") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read ({exc.strerror or exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{p}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except RecursionError:
        raise ConfigError(f"{p}: not valid JSON (nested too deeply)") from None
    return validate_result(data, source=str(p))


def validate_result(data: Any, *, source: str = "result") -> dict[str, Any]:
    """Check that ``data`` is a check or bench result this report can render.

    Returns the same dictionary, with ``kind`` filled in when an older writer left it
    out (a result with ``checks`` is a check result, one with ``metrics`` a bench
    result). ``source`` names the file in the error message.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a JSON object, found {_json_type(data)}")
    version = data.get("version")
    if version is None:
        raise ConfigError(f"{source}: no 'version' field; not a conformance result file")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ConfigError(f"{source}: 'version' must be an integer, found {version!r}")
    if version > SUPPORTED_VERSION:
        raise ConfigError(
            f"{source}: result format version {version} is newer than this harness reads "
            f"({SUPPORTED_VERSION}); upgrade conformance"
        )
    if version < 1:
        raise ConfigError(f"{source}: unknown result format version {version}")
    kind = data.get("kind")
    if kind is None:
        if "checks" in data:
            kind = "check"
        elif "metrics" in data:
            kind = "bench"
        else:
            raise ConfigError(
                f"{source}: neither a check result ('checks') nor a bench result ('metrics')"
            )
        data["kind"] = kind
    if kind == "run":
        raise ConfigError(
            f"{source}: a 'conformance run' manifest, not a result; give the files it lists "
            "(check-*.json, bench-*.json)"
        )
    _require_str(data, "provider", source)
    for key in ("base_url", "model", "harness_version", "started_at"):
        _optional_str(data, key, source)
    _optional_number(data, "duration_s", source)
    if kind == "check":
        _validate_check(data, source)
    elif kind == "bench":
        _validate_bench(data, source, where="")
    else:
        raise ConfigError(f"{source}: unknown 'kind' {kind!r}; expected 'check' or 'bench'")
    return data


def _validate_check(data: dict[str, Any], source: str) -> None:
    checks = data.get("checks")
    if not isinstance(checks, list):
        raise ConfigError(f"{source}: 'checks' must be a list, found {_json_type(checks)}")
    for i, check in enumerate(checks):
        where = f"{source}: checks[{i}]"
        if not isinstance(check, dict):
            raise ConfigError(f"{where} must be an object, found {_json_type(check)}")
        cid = check.get("id")
        if not isinstance(cid, str) or not cid:
            raise ConfigError(f"{where} has no 'id'")
        status = check.get("status")
        if status not in STATUSES:
            raise ConfigError(
                f"{where} ({cid}): status {status!r} is not one of {', '.join(STATUSES)}"
            )
        severity = check.get("severity")
        if severity not in SEVERITIES:
            raise ConfigError(
                f"{where} ({cid}): severity {severity!r} is not one of {', '.join(SEVERITIES)}"
            )
        basis = check.get("basis")
        if basis is not None and basis not in BASES:
            raise ConfigError(f"{where} ({cid}): basis {basis!r} is not one of {', '.join(BASES)}")
        for key in ("title", "detail", "description", "source", "category", "basis_ref"):
            value = check.get(key)
            if value is not None and not isinstance(value, str):
                raise ConfigError(f"{where} ({cid}): '{key}' must be a string")
        evidence = check.get("evidence")
        if evidence is not None and not isinstance(evidence, dict):
            raise ConfigError(f"{where} ({cid}): 'evidence' must be an object")
    summary = data.get("summary")
    if summary is not None and not isinstance(summary, dict):
        raise ConfigError(f"{source}: 'summary' must be an object")


def _validate_bench(data: dict[str, Any], source: str, *, where: str) -> None:
    load = data.get("load")
    if not isinstance(load, dict):
        raise ConfigError(f"{source}: {where}'load' must be an object, found {_json_type(load)}")
    metrics = data.get("metrics")
    if not isinstance(metrics, dict):
        if where or not data.get("steps"):
            raise ConfigError(
                f"{source}: {where}'metrics' must be an object, found {_json_type(metrics)}"
            )
    else:
        for key in ("requests", "failures"):
            value = metrics.get(key)
            if value is not None and not _is_number(value):
                raise ConfigError(f"{source}: {where}metrics.{key} must be a number")
        for key in ("requests_per_s", "output_tokens_per_s"):
            _optional_number(metrics, key, source, prefix=f"{where}metrics.")
        # the harness's own distributions are always checked (some are read by name)
        names = [m.name for m in (*distributions({}), *distributions(data))]
        for key in dict.fromkeys(names):
            block = metrics.get(key)
            if block is None:
                continue
            if not isinstance(block, dict):
                raise ConfigError(f"{source}: {where}metrics.{key} must be an object")
            for stat, value in block.items():
                if value is not None and not _is_number(value):
                    raise ConfigError(
                        f"{source}: {where}metrics.{key}.{stat} must be a number, found {value!r}"
                    )
    if data.get("metric_definitions") is not None and not isinstance(
        data.get("metric_definitions"), list
    ):
        raise ConfigError(f"{source}: {where}'metric_definitions' must be a list")
    samples = data.get("samples")
    if samples is not None:
        if not isinstance(samples, dict):
            raise ConfigError(f"{source}: {where}'samples' must be an object")
        for key, values in samples.items():
            if not isinstance(values, list) or not all(_is_number(v) for v in values):
                raise ConfigError(f"{source}: {where}samples.{key} must be a list of numbers")
    series = data.get("timeseries")
    if series is not None and (
        not isinstance(series, list) or not all(isinstance(b, dict) for b in series)
    ):
        raise ConfigError(f"{source}: {where}'timeseries' must be a list of objects")
    for key in ("calibration", "errors"):
        value = data.get(key)
        if value is not None and not isinstance(value, dict):
            raise ConfigError(f"{source}: {where}'{key}' must be an object or null")
    steps = data.get("steps")
    if steps is not None:
        if where:
            raise ConfigError(f"{source}: {where}a sweep step cannot hold steps of its own")
        if not isinstance(steps, list):
            raise ConfigError(f"{source}: 'steps' must be a list of bench results")
        for i, step in enumerate(steps):
            if not isinstance(step, dict):
                raise ConfigError(f"{source}: steps[{i}] must be an object")
            _validate_bench(step, source, where=f"steps[{i}].")


def _require_str(data: Mapping[str, Any], key: str, source: str) -> None:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{source}: '{key}' must be a non-empty string, found {value!r}")


def _optional_str(data: Mapping[str, Any], key: str, source: str) -> None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"{source}: '{key}' must be a string, found {_json_type(value)}")


def _optional_number(data: Mapping[str, Any], key: str, source: str, *, prefix: str = "") -> None:
    value = data.get(key)
    if value is not None and not _is_number(value):
        raise ConfigError(f"{source}: {prefix}{key} must be a number, found {value!r}")


def _is_number(value: Any) -> bool:
    # NaN and infinities are accepted (Python's json writes them); the report shows them as "n/a".
    return isinstance(value, int | float) and not isinstance(value, bool)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
