"""Errors of the serving layer, each with a stable code sent to clients.

| code | HTTP | meaning |
|---|---|---|
| S401 | 401 | no API key, or an unknown one |
| S403 | 403 | the key lacks the role the endpoint needs |
| S404 | 404 | no pipeline is served under that name |
| S409 | 409 | the stage cannot be moved, or the release cannot be served (?release=N) |
| S413 | 413 | the request body is larger than the limit |
| S415 | 415 | the content type is neither JSON nor XML |
| S422 | 422 | the body cannot be parsed, or the record does not match the schema |
| S500 | 500 | the configuration cannot be served (raised at start, not per request) |
| S502 | 502 | the stage moved but its new release cannot be served; the old one keeps serving |
| S503 | 503 | overloaded (decision log queue full), the log or the registry unwritable; retry |
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kaskad.errors import KaskadError

_EXPECTED_GOT = re.compile(r"^expected (?P<expected>.+?), got (?P<got>.+)$")
_NOT_ALLOWED = re.compile(r"^(?P<got>'.*') is not an allowed value$")


@dataclass(frozen=True)
class FieldProblem:
    """One problem with the input: the field path (None for the whole body), what is
    wrong, and, where the check knows them, what was expected and what arrived."""

    field: str | None
    problem: str
    expected: str | None = None
    got: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {
            "field": self.field,
            "problem": self.problem,
            "expected": self.expected,
            "got": self.got,
        }

    @classmethod
    def from_message(cls, message: str) -> FieldProblem:
        """Split an executor message ``"field: problem"``; a message without a field
        path (e.g. about the whole record) keeps ``field`` as None. The executors' message
        shapes give ``expected`` and ``got``: "expected X, got Y", "required field is
        missing", "'V' is not an allowed value"."""
        head, sep, tail = message.partition(": ")
        if not (sep and head and " " not in head):
            return cls(None, message)
        if match := _EXPECTED_GOT.match(tail):
            return cls(head, tail, match["expected"], match["got"])
        if tail == "required field is missing":
            return cls(head, tail, "a value", "nothing")
        if match := _NOT_ALLOWED.match(tail):
            return cls(head, tail, "one of the schema's allowed values", match["got"])
        return cls(head, tail)


class ServeError(KaskadError):
    """A request cannot be served; carries an HTTP status and a stable code."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        problems: list[FieldProblem] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.problems = list(problems or [])
        self.headers = dict(headers or {})

    def to_dict(self) -> dict[str, object]:
        body: dict[str, object] = {"code": self.code, "message": self.message}
        if self.problems:
            body["errors"] = [p.to_dict() for p in self.problems]
        return body


class ServeConfigError(KaskadError):
    """The server configuration is unsafe or incomplete; the server refuses to start (S500)."""

    code = "S500"
