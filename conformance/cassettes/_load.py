"""Reading cassette files safely: every file is untrusted input.

A cassette directory may come from anywhere (a pull request, a colleague, a recording of
a hostile server), so reading it is bounded before any YAML is parsed:

- a **file** holds at most :data:`MAX_FILE_BYTES` (32 MiB) of UTF-8 text;
- a **set of paths** holds at most :data:`MAX_FILES` (1,000) cassette files and
  :data:`MAX_TOTAL_BYTES` (256 MiB) in all, and walking a directory tree stops after
  :data:`MAX_WALK_ENTRIES` (100,000) entries (a ``--replay`` pointed at a home
  directory ends at once, with one line);
- YAML **nesting** (block or flow sequences and mappings) is at most :data:`MAX_DEPTH`
  (100) levels deep: a recording needs about 15;
- YAML **aliases** may name only finished nodes (no recursive structures), and all the
  aliases of a file together may stand for at most :data:`MAX_ALIAS_NODES` (10,000)
  nodes, so an alias bomb ("billion laughs") is refused while being read, in
  kilobytes of memory. The writer never emits anchors or aliases.

Anything beyond a limit, and anything that is not YAML, raises :class:`CassetteError`
with the file's path and what is wrong: the command line prints it as one line and
exits 2.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, SequenceNode

from conformance.cassettes._errors import CassetteError

__all__ = [
    "MAX_ALIAS_NODES",
    "MAX_DEPTH",
    "MAX_FILES",
    "MAX_FILE_BYTES",
    "MAX_TOTAL_BYTES",
    "MAX_WALK_ENTRIES",
    "cassette_files",
    "check_total",
    "load_yaml",
    "load_yaml_text",
]

#: the largest cassette file read, in bytes (a 16 MiB body written as base64 fits)
MAX_FILE_BYTES = 32 * 1024 * 1024
#: the most bytes read from all the cassette files of one run
MAX_TOTAL_BYTES = 256 * 1024 * 1024
#: the most cassette files read in one run (a recording writes a few dozen)
MAX_FILES = 1000
#: the most directory entries looked at while searching a tree for cassette files
MAX_WALK_ENTRIES = 100_000
#: the deepest YAML nesting accepted (sequences and mappings, block or flow style)
MAX_DEPTH = 100
#: how many nodes the aliases of one file may stand for, all together
MAX_ALIAS_NODES = 10_000

#: the file suffixes read as cassettes
SUFFIXES = (".yaml", ".yml")


class _Refused(Exception):
    """A limit of the loader was exceeded (the message says which, and where)."""


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader with a nesting limit and an alias budget.

    PyYAML composes the node graph recursively and resolves an alias to the very node
    object it names, so an alias costs nothing while loading but multiplies the work of
    anything that walks the data later. Each node's *expanded* size (the nodes it stands
    for once aliases are followed) is counted as it is composed; an alias adds its
    target's expanded size to the file's budget.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._alias_nodes = 0
        #: id(node) -> expanded size, for every finished node
        self._sizes: dict[int, int] = {}

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(AliasEvent):
            event = self.peek_event()
            target = self.anchors.get(event.anchor)  # an undefined one: PyYAML says so
            if target is not None:
                line = event.start_mark.line + 1
                size = self._sizes.get(id(target))
                if size is None:
                    raise _Refused(f"alias *{event.anchor} refers to itself (line {line})")
                self._alias_nodes += size
                if self._alias_nodes > MAX_ALIAS_NODES:
                    raise _Refused(
                        f"YAML aliases expand to more than {MAX_ALIAS_NODES} nodes "
                        f"(line {line}): an alias bomb?"
                    )
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                line = self.peek_event().start_mark.line + 1
                raise _Refused(f"YAML nested more than {MAX_DEPTH} levels deep (line {line})")
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if node is not None:
            self._sizes[id(node)] = 1 + sum(self._sizes.get(id(c), 1) for c in _children(node))
        return node


def _children(node: Node) -> Iterator[Node]:
    if isinstance(node, SequenceNode):
        yield from node.value
    elif isinstance(node, MappingNode):
        for key, value in node.value:
            yield key
            yield value


def load_yaml_text(text: str, *, where: str) -> Any:
    """The data of one YAML document, read within the limits (raises CassetteError)."""
    loader: _BoundedLoader | None = None
    try:
        loader = _BoundedLoader(text)  # the reader checks the characters already
        return loader.get_single_data()
    except _Refused as exc:
        raise CassetteError(f"{where}: refused: {exc}") from None
    except yaml.MarkedYAMLError as exc:
        problem = exc.problem or exc.context or "syntax error"
        mark = exc.problem_mark or exc.context_mark
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise CassetteError(f"{where}: not valid YAML: {problem}{at}") from None
    except yaml.YAMLError as exc:
        raise CassetteError(f"{where}: not valid YAML: {_first_line(exc)}") from None
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        # PyYAML's constructors build dates and numbers with Python's own checks
        # (a 31 February, an integer of 5,000 digits)
        raise CassetteError(f"{where}: not valid YAML: {_first_line(exc)}") from None
    finally:
        if loader is not None:
            loader.dispose()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def load_yaml(path: Path, *, max_bytes: int | None = None) -> Any:
    """The YAML data of the file ``path``, read within the limits.

    Raises :class:`CassetteError` when the file cannot be read, is larger than
    ``max_bytes`` (default :data:`MAX_FILE_BYTES`), is not UTF-8 text, or is not YAML
    within the nesting and alias limits.
    """
    if max_bytes is None:
        max_bytes = MAX_FILE_BYTES
    try:
        with path.open("rb") as f:
            raw = f.read(max_bytes + 1)
    except OSError as exc:
        raise CassetteError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if len(raw) > max_bytes:
        raise CassetteError(
            f"{path}: refused: larger than {max_bytes // (1024 * 1024)} MiB, the most a "
            "cassette file may hold"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CassetteError(
            f"{path}: not a cassette: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset "
            f"{exc.start})"
        ) from None
    return load_yaml_text(text, where=str(path))


def cassette_files(root: Path) -> list[Path]:
    """Every ``.yaml`` / ``.yml`` file at or below ``root``, in path order.

    Symbolic links to directories are not followed. Raises :class:`CassetteError` when
    ``root`` does not exist, when the tree has more than :data:`MAX_WALK_ENTRIES`
    entries or more than :data:`MAX_FILES` cassette files.
    """
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise CassetteError(f"{root}: no such cassette file or directory")
    found: list[Path] = []
    seen = 0
    for dirpath, dirnames, filenames in os.walk(root, onerror=_walk_error):
        dirnames.sort()
        seen += len(dirnames) + len(filenames)
        if seen > MAX_WALK_ENTRIES:
            raise CassetteError(
                f"{root}: refused: more than {MAX_WALK_ENTRIES} entries below it; point "
                "at the directory of one recording"
            )
        for name in filenames:
            path = Path(dirpath) / name
            if path.suffix in SUFFIXES and path.is_file():
                found.append(path)
        if len(found) > MAX_FILES:
            raise CassetteError(
                f"{root}: refused: more than {MAX_FILES} cassette files below it (a "
                "recording writes a few dozen); point at the directory of one recording"
            )
    return sorted(found)


def _walk_error(exc: OSError) -> None:
    raise CassetteError(f"{exc.filename}: cannot read ({exc.strerror or exc})")


def check_total(paths: list[Path], *, limit: int | None = None) -> None:
    """Refuse (CassetteError) when ``paths`` hold more than ``limit`` bytes together
    (default :data:`MAX_TOTAL_BYTES`)."""
    if limit is None:
        limit = MAX_TOTAL_BYTES
    total = 0
    for path in paths:
        try:
            total += path.stat().st_size
        except OSError:
            continue  # reading it will say what is wrong
        if total > limit:
            raise CassetteError(
                f"{path}: refused: the cassette files read so far hold more than "
                f"{limit // (1024 * 1024)} MiB together"
            )
