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

from kaskad.errors import FieldProblem, KaskadError


def problem_json(problem: FieldProblem) -> dict[str, str | None]:
    """A problem as clients and the decision log see it: ``field``, ``problem`` (the text,
    without the path), ``expected``, ``got``."""
    return {
        "field": problem.path,
        "problem": problem.detail,
        "expected": problem.expected,
        "got": problem.got,
    }


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
            body["errors"] = [problem_json(p) for p in self.problems]
        return body


class ServeConfigError(KaskadError):
    """The server configuration is unsafe or incomplete; the server refuses to start (S500)."""

    code = "S500"
