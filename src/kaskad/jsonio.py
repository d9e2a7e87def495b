"""Fast JSON encoding (orjson) for the request path: replies and decision-log columns.

The standard library's encoder was a large share of the server's CPU per request (the
reply body and four JSON columns per logged decision); orjson produces the same JSON
several times faster. NaN and infinities become ``null`` (the standard encoder would write
``NaN``, which is not JSON). No web imports: the store uses these too.
"""

from __future__ import annotations

from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def dumps(value: Any) -> bytes:
    """``value`` as UTF-8 JSON; values JSON has no type for are written as their text."""
    return orjson.dumps(value, default=str, option=_OPTIONS)


def dumps_text(value: Any) -> str:
    """:func:`dumps` as text (what SQLAlchemy's ``json_serializer`` returns)."""
    return dumps(value).decode("utf-8")
