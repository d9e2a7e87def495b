"""JSON replies rendered with orjson (see :mod:`kaskad.jsonio`)."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from kaskad.jsonio import dumps


class FastJSONResponse(JSONResponse):
    """A JSON reply rendered with :func:`kaskad.jsonio.dumps`."""

    def render(self, content: Any) -> bytes:
        return dumps(content)
