"""Reading a providers file as untrusted YAML: bounded size, depth and alias expansion, duplicate
keys refused, and every problem one `ConfigError` naming the file, the line and the path.

What lives here: `ConfigError`, `read_yaml` and the YAML limits, `line_map` (paths like
`providers[3].models.chat` to source lines). What does not: what the file means (providers.py).
"""

from __future__ import annotations

import os
from collections.abc import Hashable
from typing import Any

import yaml


class ConfigError(Exception):
    """A providers file that cannot be used: one clear message with file, line, path and fix."""

    def __init__(self, file: str, path: str, message: str, line: int | None = None) -> None:
        self.file, self.path, self.message, self.line = file, path, message, line
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {path or '<top level>'}: {message}")


MAX_FILE_BYTES = 1 << 20  # 1 MiB: a providers file with 200 providers is about 40 KB
MAX_DEPTH = 32  # levels of nesting; a providers file needs about 6
MAX_NODES = 20_000  # values once aliases are expanded; the shipped 14 providers are 283


class _ShapeError(Exception):
    """A file past one of the limits above: refused while it is read, before anything costly."""

    def __init__(self, message: str, mark: yaml.Mark) -> None:
        super().__init__(message)
        self.message, self.mark = message, mark


def _read_bounded(path: str | os.PathLike[str], file: str) -> bytes:
    """The file's bytes, refused past MAX_FILE_BYTES without reading the rest (a 78 MB file took
    minutes to parse)."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
            size = os.fstat(fh.fileno()).st_size
    except OSError as exc:
        raise ConfigError(file, "", f"cannot read the file ({exc.strerror or exc})") from exc
    if len(raw) > MAX_FILE_BYTES:
        shown = f"{size / (1 << 20):.1f} MiB" if size > MAX_FILE_BYTES else "more"
        limit = f"at most 1 MiB ({MAX_FILE_BYTES:,} bytes)"
        raise ConfigError(file, "", f"the file is {shown}; a providers file may be {limit}")
    return raw


def _parse(text: str) -> tuple[yaml.Node | None, Any]:
    """The YAML node tree (for line numbers) and the data, composed once, within the limits."""
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        return node, (loader.construct_document(node) if node is not None else None)
    finally:
        loader.dispose()


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (PyYAML keeps the last silently),
    nesting deeper than MAX_DEPTH and more than MAX_NODES values with aliases expanded.

    Anchors and aliases stay allowed (they keep real files DRY); what is bounded is what they
    expand to, counted while composing: an alias adds the size of the node it names, so a
    "billion laughs" file is refused after a few hundred events instead of filling memory later
    (in the line map, interpolation and schema validation, which all walk the expanded tree).
    An alias to a node still being composed (a recursive structure) is refused too.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._expanded = 0
        self._aliased = False  # whether an alias was expanded: the likely cause when the count runs over
        self._sizes: dict[int, int] = {}  # id(node) -> values under it, aliases expanded

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        mark = self.peek_event().start_mark
        if self.check_event(yaml.AliasEvent):
            node = super().compose_node(parent, index)
            if id(node) not in self._sizes:
                raise _ShapeError("an alias refers to a node that contains it (a recursive structure)", mark)
            self._aliased = True
            self._count(self._sizes[id(node)], mark)
            return node
        if self._depth >= MAX_DEPTH:
            raise _ShapeError(f"nested deeper than {MAX_DEPTH} levels (a providers file needs about 6)", mark)
        self._depth += 1
        start = self._expanded
        self._count(1, mark)
        node = super().compose_node(parent, index)
        self._sizes[id(node)] = self._expanded - start
        self._depth -= 1
        return node

    def _count(self, n: int, mark: yaml.Mark) -> None:
        self._expanded += n
        if self._expanded > MAX_NODES:
            how = " once aliases are expanded (an alias bomb?)" if self._aliased else ""
            raise _ShapeError(
                f"more than {MAX_NODES:,} values{how}; a file with 200 providers has about 4,000", mark
            )

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *defaults`: merged keys may be overridden here, that is its point
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):
                raise yaml.constructor.ConstructorError(
                    None, None, f"a {type(key).__name__} cannot be a key", key_node.start_mark
                )
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None,
                    f"duplicate key {key!r} (first given at line {seen[key]}; the later one would silently win)",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: str | os.PathLike[str], file: str) -> tuple[bytes, yaml.Node | None, Any]:
    """The file's bytes, its YAML node tree (for line numbers) and its data, within the limits."""
    raw = _read_bounded(path, file)
    try:
        node, data = _parse(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(file, "", f"not UTF-8 text (byte {exc.start})") from exc
    except _ShapeError as exc:
        raise ConfigError(file, "", exc.message, exc.mark.line + 1) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context_mark", None)
        if context is not None and (mark is None or context.line != mark.line):
            problem += f" ({getattr(exc, 'context', None) or 'the construct'} started at line {context.line + 1})"
        raise ConfigError(file, "", f"YAML syntax error: {problem}", line=mark.line + 1 if mark else None) from exc
    return raw, node, data


def join_path(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def line_map(node: yaml.Node | None, path: str = "") -> dict[str, int]:
    """Map `providers[3].models.chat`-style paths to 1-based line numbers of the YAML source."""
    out: dict[str, int] = {}
    if node is None:
        return out
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            child = join_path(path, key_node.value)
            out.update(line_map(value_node, child))
            out[child] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out.update(line_map(item, f"{path}[{i}]"))
    return out
