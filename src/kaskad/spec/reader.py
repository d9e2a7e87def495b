"""Structural checks on YAML documents, collecting problems instead of raising."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from kaskad.errors import Location, Problem
from kaskad.spec.yamlfile import PathKey, YamlDoc


@dataclass(frozen=True)
class Text:
    """A piece of user text (an expression) with where it came from."""

    text: str
    doc: YamlDoc
    path: PathKey
    component: str

    def location(self, line: int = 1, column: int = 1, length: int = 1) -> Location:
        return self.doc.text_loc(self.path, line, column, length, self.component)


class Reader:
    """Reads values out of a YAML document, recording a problem for each mistake."""

    def __init__(self, doc: YamlDoc, component: str, problems: list[Problem]) -> None:
        self.doc = doc
        self.component = component
        self.problems = problems

    def loc(self, path: PathKey) -> Location:
        return self.doc.loc(path, self.component)

    def problem(self, code: str, message: str, path: PathKey, hint: str | None = None) -> None:
        self.problems.append(Problem(code, message, self.loc(path), hint))

    def get(self, path: PathKey) -> Any:
        value: Any = self.doc.data
        for part in path:
            if isinstance(part, int):
                value = value[part] if isinstance(value, list) and part < len(value) else None
            else:
                value = value.get(part) if isinstance(value, dict) else None
        return value

    def mapping(
        self,
        path: PathKey,
        allowed: tuple[str, ...],
        required: tuple[str, ...] = (),
        what: str = "this entry",
    ) -> dict[str, Any] | None:
        value = self.get(path)
        if not isinstance(value, dict):
            self.problem("K104", f"{what} must be a mapping of keys to values", path)
            return None
        for key in value:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = (
                    f"did you mean '{close[0]}'?" if close else f"known keys: {', '.join(allowed)}"
                )
                self.problem("K105", f"unknown key '{key}' in {what}", (*path, key), hint)
        for key in required:
            if key not in value:
                self.problem("K104", f"{what} needs '{key}'", path)
        return value

    def string(self, path: PathKey, what: str, required: bool = True) -> str | None:
        value = self.get(path)
        if value is None:
            if required:
                self.problem("K104", f"{what} is required", path)
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            self.problem("K104", f"{what} must be text", path)
            return None
        return str(value)

    def text(self, path: PathKey, what: str) -> Text | None:
        value = self.get(path)
        if isinstance(value, bool):
            value = "TRUE" if value else "FALSE"
        if isinstance(value, (int, float)):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            self.problem("K104", f"{what} must be an expression", path)
            return None
        return Text(value, self.doc, path, self.component)

    def sequence(self, path: PathKey, what: str, required: bool = True) -> list[Any]:
        value = self.get(path)
        if value is None and not required:
            return []
        if not isinstance(value, list):
            self.problem("K104", f"{what} must be a list", path)
            return []
        return value
