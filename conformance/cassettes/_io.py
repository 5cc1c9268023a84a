"""Reading and writing cassette files and directories.

Reading is bounded (file size, number of files, YAML nesting and aliases): see
:mod:`conformance.cassettes._load`.

A recording directory holds one YAML file per probe (named after the probe) and an
``index.yaml`` that lists them with the provider, base URL and model they were recorded
with. Readers accept any directory tree of cassettes: every ``*.yaml`` / ``*.yml`` file
below it that is not an index is a cassette, read in path order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from conformance.cassettes._errors import CassetteError
from conformance.cassettes._format import (
    FORMAT_VERSION,
    Cassette,
    cassette_from_data,
    cassette_to_data,
    check_url,
)
from conformance.cassettes._load import MAX_FILES, cassette_files, check_total, load_yaml
from conformance.cassettes.redact import Redactor

INDEX_NAME = "index.yaml"
INDEX_KIND = "cassette-index"


class _Dumper(yaml.SafeDumper):
    """Writes multi-line text as literal blocks wherever YAML can hold it exactly.

    It never writes anchors or aliases (a value used twice is written twice), so what
    it writes is always within the reader's alias budget.
    """

    def ignore_aliases(self, data: Any) -> bool:
        return True


#: YAML line breaks other than LF: folded by plain and block styles, escaped when quoted
_OTHER_BREAKS = ("\r", "\x85", "\u2028", "\u2029")


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style: str | None = None
    if any(c in value for c in _OTHER_BREAKS):
        style = '"'
    elif "\n" in value:
        style = "|"
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def dump_yaml(data: Any) -> str:
    """``data`` as readable YAML (keys in insertion order, literal blocks, UTF-8 text)."""
    return yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=10**9,
        default_flow_style=False,
    )


def probe_filename(probe: str, taken: set[str]) -> str:
    """A file name for ``probe``'s cassette that is safe on every file system."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", probe).strip("._") or "probe"
    name = f"{stem}.yaml"
    n = 2
    while name.lower() in taken or name == INDEX_NAME:
        name = f"{stem}-{n}.yaml"
        n += 1
    taken.add(name.lower())
    return name


def _write_text(path: Path, text: str, redactor: Redactor) -> None:
    leaked = redactor.leaks(text.encode("utf-8"))
    if leaked:  # the structured redaction missed a spelling: refuse rather than leak
        raise CassetteError(f"{path}: refusing to write, a secret survived redaction")
    path.write_text(text, encoding="utf-8")


def write_cassette(path: Path, cassette: Cassette, redactor: Redactor | None = None) -> Path:
    """Write one cassette (redacting every exchange first) and return its path."""
    redactor = redactor or Redactor()
    redacted = Cassette(
        probe=cassette.probe,
        exchanges=[redactor.exchange(e) for e in cassette.exchanges],
        provider=cassette.provider,
        base_url=redactor.url(cassette.base_url) if cassette.base_url else None,
        model=cassette.model,
        source=cassette.source,
        note=redactor.text(cassette.note) if cassette.note else None,
        stands_for=cassette.stands_for,
    )
    _write_text(path, dump_yaml(cassette_to_data(redacted)), redactor)
    return path


@dataclass(slots=True)
class Recording:
    """What a ``record`` run wrote: where, and the cassettes' files."""

    directory: Path
    files: list[Path] = field(default_factory=list)
    index: Path | None = None


def existing_cassettes(directory: Path) -> list[Path]:
    """Cassette and index files already in ``directory`` (not below it)."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def write_recording(
    directory: Path,
    cassettes: Iterable[Cassette],
    *,
    provider: str,
    base_url: str,
    model: str | None,
    redactor: Redactor,
    force: bool = False,
    extra: dict[str, Any] | None = None,
) -> Recording:
    """Write ``cassettes`` and an index into ``directory``.

    Refuses (:class:`CassetteError`, exit 2) when the directory already holds YAML
    files, unless ``force``: then those files are replaced.
    """
    existing = existing_cassettes(directory)
    if existing and not force:
        raise CassetteError(
            f"{directory} already holds {len(existing)} cassette file(s); "
            "pass --force to overwrite them"
        )
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for old in existing:
            old.unlink()
    except OSError as exc:
        raise CassetteError(f"{directory}: cannot write ({exc})") from exc
    recording = Recording(directory=directory)
    taken: set[str] = set()
    entries = []
    for cassette in cassettes:
        name = probe_filename(cassette.probe, taken)
        recording.files.append(write_cassette(directory / name, cassette, redactor))
        entries.append(
            {"file": name, "probe": cassette.probe, "exchanges": len(cassette.exchanges)}
        )
    index: dict[str, Any] = {
        "version": FORMAT_VERSION,
        "kind": INDEX_KIND,
        "provider": provider,
        "base_url": redactor.url(base_url),
        "model": model,
    }
    index.update(redactor.value(extra or {}))
    index["cassettes"] = entries
    recording.index = directory / INDEX_NAME
    _write_text(recording.index, dump_yaml(index), redactor)
    return recording


def read_cassette(path: Path) -> Cassette:
    """Read one cassette file (raises :class:`CassetteError`)."""
    return cassette_from_data(load_yaml(path), where=str(path), path=path)


@dataclass(slots=True)
class CassetteSet:
    """Every cassette found under one or more paths, with their indexes."""

    cassettes: list[Cassette]
    indexes: list[dict[str, Any]]

    @property
    def exchanges(self) -> int:
        return sum(len(c.exchanges) for c in self.cassettes)

    def meta(self, key: str) -> Any:
        """The first value of ``key`` among the indexes and then the cassettes."""
        for index in self.indexes:
            if index.get(key) is not None:
                return index[key]
        for cassette in self.cassettes:
            value = getattr(cassette, key, None)
            if value is not None:
                return value
        return None


def is_index(data: Any) -> bool:
    """Whether loaded YAML data is a recording index rather than a cassette."""
    return isinstance(data, dict) and data.get("kind") == INDEX_KIND


def read_cassettes(paths: Iterable[Path]) -> CassetteSet:
    """Read every cassette and index under ``paths`` (raises :class:`CassetteError`)."""
    cassettes: list[Cassette] = []
    indexes: list[dict[str, Any]] = []
    files = [path for root in paths for path in cassette_files(root)]
    if len(files) > MAX_FILES:
        raise CassetteError(
            f"refused: more than {MAX_FILES} cassette files under "
            f"{', '.join(str(p) for p in paths)}; point at the directory of one recording"
        )
    check_total(files)
    for path in files:
        data = load_yaml(path)
        if is_index(data):
            if data.get("version") != FORMAT_VERSION:
                raise CassetteError(
                    f"{path}: index format version {data.get('version')!r} is not "
                    f"supported (this harness reads version {FORMAT_VERSION})"
                )
            for key in ("provider", "base_url", "model"):
                if data.get(key) is not None and not isinstance(data[key], str):
                    raise CassetteError(f"{path}: {key}: expected text")
            if data.get("base_url") is not None:
                check_url(data["base_url"], where=f"{path}: base_url")
            indexes.append(data)
            continue
        cassettes.append(cassette_from_data(data, where=str(path), path=path))
    return CassetteSet(cassettes=cassettes, indexes=indexes)
