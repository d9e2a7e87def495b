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
| S530 | 503 | overloaded: the request bytes waiting for the decision log reached queue_bytes |
"""

from __future__ import annotations

import logging
import re
import secrets

from kaskad.errors import FieldProblem, KaskadError

LOG = logging.getLogger("kaskad.serve")


def new_error_id() -> str:
    """An id for one server-side failure: in the 5xx body and in the server log line
    that holds its details, so the two can be matched without leaking the details."""
    return secrets.token_hex(8)


_ABSOLUTE_PATH = re.compile(r"""(?<![\w.:/])/(?!v1/)(?:[^/\s'"]+/)+(?=[^/\s'"]+)""")


def without_paths(text: str) -> str:
    """``text`` with every absolute file path cut to its last part (``…/name``): what a
    client may see of a store's or a cache's files (the full text goes to the log)."""
    return _ABSOLUTE_PATH.sub("…/", text)


def internal(
    status: int,
    code: str,
    message: str,
    exc: BaseException,
    headers: dict[str, str] | None = None,
    trace: bool = False,
) -> ServeError:
    """A 5xx problem whose details (``exc``: SQL text, parameters, paths; its traceback
    with ``trace``) go to the server log under a fresh error id; the client sees only
    ``code``, ``message`` and the id."""
    error_id = new_error_id()
    LOG.error(
        "error %s (%s): %s: %s",
        error_id,
        code,
        type(exc).__name__,
        exc,
        exc_info=exc if trace else None,
    )
    return ServeError(status, code, message, headers=headers, error_id=error_id)


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
        error_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.problems = list(problems or [])
        self.headers = dict(headers or {})
        self.error_id = error_id

    def to_dict(self) -> dict[str, object]:
        body: dict[str, object] = {"code": self.code, "message": self.message}
        if self.problems:
            body["errors"] = [problem_json(p) for p in self.problems]
        if self.error_id is not None:
            body["error_id"] = self.error_id
        return body


class ServeConfigError(KaskadError):
    """The server configuration is unsafe or incomplete; the server refuses to start (S500)."""

    code = "S500"
