"""JSON replies rendered with orjson (see :mod:`kaskad.jsonio`)."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from kaskad.jsonio import dumps
from kaskad.serve.errors import ServeError


class FastJSONResponse(JSONResponse):
    """A JSON reply rendered with :func:`kaskad.jsonio.dumps`."""

    def render(self, content: Any) -> bytes:
        return dumps(content)


def problem_response(exc: ServeError) -> JSONResponse:
    """The reply for a refused request: the problem body, its status and headers (the
    app's handler and the decide routes' short way, :mod:`kaskad.serve.front`)."""
    return JSONResponse(exc.to_dict(), status_code=exc.status, headers=exc.headers or None)
