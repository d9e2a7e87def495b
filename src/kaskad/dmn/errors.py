"""The error ``kaskad import-dmn`` raises: every problem of a DMN file at once."""

from __future__ import annotations

from kaskad.errors import Location, Problem, SpecError


class DmnImportError(SpecError):
    """A DMN file cannot be imported; carries every problem found (codes K240-K249)."""


def problem(
    code: str,
    message: str,
    file: str,
    line: int | None,
    hint: str | None = None,
    column: int | None = None,
) -> Problem:
    """A problem at ``file:line`` (and column, when known)."""
    return Problem(code, message, Location(file=file, line=line, column=column), hint)
