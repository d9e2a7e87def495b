"""YAML files read with the position of every value, so problems can name line and column."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kaskad.errors import Location, Problem

PathKey = tuple[str | int, ...]


@dataclass
class YamlDoc:
    """A parsed YAML document with the 1-based (line, column) of each value by its path."""

    file: str
    data: Any
    positions: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)

    def loc(self, path: PathKey, component: str | None = None) -> Location:
        """Location of the value at ``path`` (or of its nearest parent)."""
        probe = path
        while probe not in self.positions and probe:
            probe = probe[:-1]
        line, col = self.positions.get(probe, (1, 1))
        return Location(self.file, line, col, component)

    def text_loc(
        self, path: PathKey, offset_line: int, offset_col: int, length: int, component: str | None
    ) -> Location:
        """Location inside a scalar string at ``path`` (expression text)."""
        line, col = self.positions.get(path, (1, 1))
        if offset_line > 1:
            # block scalars: continue on later lines; the column is relative to the text's indent
            abs_line = line + offset_line - 1
            src = self.lines[abs_line - 1] if abs_line - 1 < len(self.lines) else ""
            indent = len(src) - len(src.lstrip())
            return Location(
                self.file, abs_line, indent + offset_col, component, src.rstrip("\n"), length
            )
        src = self.lines[line - 1] if line - 1 < len(self.lines) else ""
        start = col
        if col - 1 < len(src) and src[col - 1] in "'\"":
            start += 1
        elif col - 1 < len(src) and src[col - 1] in "|>":
            # block scalar: text starts on the next line
            nxt = self.lines[line] if line < len(self.lines) else ""
            indent = len(nxt) - len(nxt.lstrip())
            return Location(self.file, line + 1, indent + offset_col, component, nxt, length)
        return Location(
            self.file, line, start + offset_col - 1, component, src.rstrip("\n"), length
        )


class _Loader(yaml.SafeLoader):
    pass


def _convert(
    node: yaml.Node, path: PathKey, out: dict[PathKey, tuple[int, int]], loader: _Loader
) -> Any:
    out[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = str(loader.construct_object(key_node, deep=True))
            result[key] = _convert(value_node, (*path, key), out, loader)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*path, i), out, loader) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def load_yaml(path: Path, display: str | None = None) -> tuple[YamlDoc | None, list[Problem]]:
    """Read a YAML file; on failure return the problem instead of raising."""
    name = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, [Problem("K101", f"file not found: {path}", Location(name))]
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem("K102", f"cannot read file: {exc}", Location(name))]
    lines = text.splitlines()
    positions: dict[PathKey, tuple[int, int]] = {}
    try:
        node = yaml.compose(text, Loader=_Loader)
        data = None if node is None else _convert(node, (), positions, _Loader(""))
    except yaml.YAMLError as exc:
        return None, [_syntax_problem(exc, name, lines)]
    return YamlDoc(name, data, positions, lines), []


def _syntax_problem(exc: yaml.YAMLError, file: str, lines: list[str]) -> Problem:
    """K103 at the line and column where the YAML parser stopped, with the line and a caret,
    and where the construct it was reading began (as a hint)."""
    if not isinstance(exc, yaml.MarkedYAMLError) or exc.problem_mark is None:
        return Problem("K103", f"invalid YAML: {exc}", Location(file))
    mark = exc.problem_mark
    line = min(mark.line, len(lines) - 1) if lines else 0
    column = mark.column if line == mark.line else len(lines[line])  # past the end: last line
    source = lines[line] if lines else ""
    loc = Location(file, line + 1, column + 1, None, source)
    hint = None
    context = exc.context_mark
    if exc.context and context is not None and context.line != mark.line:
        hint = f"{exc.context} that starts at line {context.line + 1}, column {context.column + 1}"
    return Problem("K103", f"invalid YAML: {exc.problem}", loc, hint)
