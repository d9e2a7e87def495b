"""Error hierarchy shared by every layer of kaskad.

Every error kaskad raises derives from `KaskadError`. Problems found while
loading or compiling a pipeline are collected as `Problem` entries (each with
a stable code, a location and an optional hint) and raised together once.
Error codes are documented in ``docs/errors.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Location:
    """Where a problem is: file, 1-based line and column, component and its text."""

    file: str | None = None
    line: int | None = None
    column: int | None = None
    component: str | None = None
    source_line: str | None = None
    length: int = 1

    def prefix(self) -> str:
        parts = [self.file or "<input>"]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)


@dataclass(frozen=True)
class Problem:
    """One problem found in a specification, with a stable code."""

    code: str
    message: str
    location: Location = field(default_factory=Location)
    hint: str | None = None

    def render(self) -> str:
        loc = self.location
        head = f"{loc.prefix()}: {self.code} {self.message}"
        if loc.component:
            head += f" [{loc.component}]"
        lines = [head]
        if loc.source_line is not None and loc.column is not None:
            lines.append("    " + loc.source_line)
            lines.append("    " + " " * (loc.column - 1) + "^" * max(1, loc.length))
        if self.hint:
            lines.append(f"    hint: {self.hint}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, object]:
        loc = self.location
        return {
            "code": self.code,
            "message": self.message,
            "file": loc.file,
            "line": loc.line,
            "column": loc.column,
            "component": loc.component,
            "hint": self.hint,
        }


class KaskadError(Exception):
    """Root of every error kaskad raises."""


class SpecError(KaskadError):
    """A pipeline specification is invalid; carries every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        summary = f"{count} problem{'s' if count != 1 else ''} found"
        super().__init__(summary + "\n" + "\n".join(p.render() for p in self.problems))


class ModelLoadError(KaskadError):
    """A model artifact cannot be loaded or does not match its declaration."""

    def __init__(self, path: Path | str, message: str) -> None:
        self.path = str(path)
        super().__init__(f"model artifact {self.path}: {message}")


class ModelPredictionError(KaskadError):
    """A loaded model failed to score its inputs (wrong width, a value it cannot take, an
    error inside the model's library): a run-time failure, not a loading one."""

    def __init__(self, path: Path | str, message: str) -> None:
        self.path = str(path)
        super().__init__(f"model {Path(self.path).name}: prediction failed: {message}")


class ExecutionError(KaskadError):
    """A step failed while a plan was executing."""

    def __init__(self, step: str, message: str) -> None:
        self.step = step
        super().__init__(f"step {step!r} failed: {message}")


class TableHitError(KaskadError):
    """A decision table's hit policy refuses a record: several rules match a UNIQUE table
    (K227), or matching rules of an ANY table disagree (K228). The record fails; the run
    goes on."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(f"{code} {message}")


class InputError(KaskadError):
    """Input data (a file or a record) cannot be read as the pipeline's schema expects."""


# The problems a field can have, each a stable short code, and how each is written:
# ``{expected}`` and ``{got}`` are the problem's values. A code without a template (or a
# problem given its own ``note``) is written as its note.
FIELD_PROBLEM_TEXTS: dict[str, str] = {
    "missing": "required field is missing",
    "not_allowed": "{got} is not an allowed value",
    "wrong_type": "expected {expected}, got {got}",
    "out_of_range": "{got} is out of the {expected} range",
    "not_an_object": "the input must be an object with fields, got {got}",
    "unknown_field": "unknown field",
    # the schema's constraints (kaskad.execute.constraints)
    "not_finite": "must be a finite number (NaN and infinity are refused)",
    "below_min": "must be at least {expected}",
    "above_max": "must be at most {expected}",
    "too_long": "must be at most {expected} characters long",
    "no_match": "does not match the pattern {expected}",
}


@dataclass(frozen=True)
class FieldProblem:
    """One problem with an input value, as data: the field's path (``applicant.age``,
    ``loans[].status``; None for the whole input), a stable short code (see
    :data:`FIELD_PROBLEM_TEXTS`), and, where the check knows them, what was expected and
    what arrived (``got`` as written in messages, e.g. ``text 'x'``, ``'wire'``).

    Validation produces these values; they become text only at the edges (`message`
    in a batch output's ``errors`` column and a decision's trace, a JSON object in HTTP
    replies)."""

    path: str | None
    problem: str
    expected: str | None = None
    got: str | None = None
    note: str | None = None  # the text of a problem no template describes

    @property
    def detail(self) -> str:
        """What is wrong, without the path: ``expected float, got text 'a lot'``."""
        if self.note is not None:
            return self.note
        template = FIELD_PROBLEM_TEXTS.get(self.problem)
        if template is None:
            return self.problem
        return template.format(expected=self.expected, got=self.got)

    @property
    def message(self) -> str:
        """The problem as one line of text: ``amount: expected float, got text 'a lot'``."""
        return self.detail if self.path is None else f"{self.path}: {self.detail}"


class StoreError(KaskadError):
    """The registry or the artifact store cannot do what was asked.

    ``code`` is stable (documented in ``docs/errors.md``); subclasses narrow it down.
    """

    code = "K600"


class NotFoundError(StoreError):
    """A model, release, stage or pipeline named by the caller is not in the registry."""

    code = "K601"


class StoreUnavailableError(StoreError):
    """The store's database cannot be reached (refused connection, unknown host, a file
    that cannot be opened); the command may work when it is back."""


class ApprovalError(StoreError):
    """Four eyes: a stage that requires approval was asked to point at a release that no
    identity other than its creator approved, or a creator tried to approve their own."""

    code = "K607"


class ArtifactMissingError(StoreError):
    """An artifact the registry refers to is not in the artifact store."""

    code = "K602"

    def __init__(self, name: str, sha256: str, location: str) -> None:
        self.name = name
        self.sha256 = sha256
        self.location = location
        super().__init__(
            f"{name}: artifact sha256 {sha256} is missing from the artifact store"
            f" (looked for {location}); restore the artifact store from a backup,"
            " or register the artifact again"
        )


class ArtifactIntegrityError(StoreError):
    """An artifact's content no longer matches the sha256 it was stored under."""

    code = "K603"

    def __init__(self, name: str, expected: str, actual: str, location: str) -> None:
        self.name = name
        self.expected = expected
        self.actual = actual
        self.location = location
        super().__init__(
            f"{name}: artifact {location} is damaged or was modified: expected sha256"
            f" {expected}, found {actual}; it will not be used. Restore the file from a"
            " backup, or register the artifact again"
        )
