"""Input at the door: a request body (JSON or XML) read as a JSON-like record.

The record is then checked by the executor against the pipeline's schema, exactly as in
batch; this module only parses, limits the size, and maps XML onto the schema.

XML mapping (the root element's name is free, e.g. ``<application>``):

- a field is a child element with the field's name; an absent or empty element is a
  missing value; elements the schema does not name are ignored (as extra JSON keys are);
- an ``object`` field is an element whose children are its fields;
- a ``list`` field is an element whose children (any name, ``<item>`` by convention) are
  its items, so ``<transactions/>`` is an empty list and an absent element a missing one;
- scalar text is passed on as text, exactly as written; the executor reads it by the
  reading contract (:mod:`kaskad.execute.contract`), as it reads CSV cells and JSON
  strings, so the same text gives the same value or the same field problem everywhere.
- for a batch, the root's children are the records.

XML is parsed with ``defusedxml``: DTDs, entities and external references are refused.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from typing import Any, Literal

import defusedxml
import defusedxml.ElementTree as SafeET

from kaskad.errors import FieldProblem
from kaskad.execute.contract import loads
from kaskad.serve.errors import ServeError
from kaskad.spec.schema import Schema
from kaskad.spec.types import DType, Field

DEFAULT_BODY_LIMIT = 1024 * 1024  # 1 MiB
DEFAULT_MAX_DEPTH = 32  # objects and lists inside one another in a record, at most
_UNSTORABLE = re.compile("[\ud800-\udfff\x00]")  # lone surrogates, NUL: no store holds them
BodyFormat = Literal["json", "xml"]


def body_format(content_type: str | None) -> BodyFormat:
    """'json' or 'xml' from a Content-Type header; raise 415 otherwise."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    ):
        return "json"
    if media in ("application/xml", "text/xml") or (
        media.startswith("application/") and media.endswith("+xml")
    ):
        return "xml"
    raise ServeError(
        415,
        "S415",
        f"unsupported content type '{media or 'none'}': send application/json or application/xml",
    )


async def read_limited(
    chunks: AsyncIterator[bytes], declared_length: str | None, limit: int
) -> bytes:
    """The whole body, refusing (413) as soon as it is known to exceed ``limit`` bytes."""
    if declared_length is not None and declared_length.isdigit() and int(declared_length) > limit:
        raise _too_large(limit)
    body = bytearray()
    async for chunk in chunks:
        body.extend(chunk)
        if len(body) > limit:
            raise _too_large(limit)
    return bytes(body)


def _too_large(limit: int) -> ServeError:
    return ServeError(413, "S413", f"the request body is larger than {limit} bytes")


def parse_record(
    body: bytes, fmt: BodyFormat, schema: Schema, max_depth: int = DEFAULT_MAX_DEPTH
) -> Any:
    """One record from a body (its shape is checked later by the executor); every value,
    also of fields the schema does not name, is one the decision log can hold (422)."""
    if fmt == "json":
        record = _json(body, max_depth)
        _check_storable(record, max_depth, None, _may_hold_unstorable(body))
        return record
    return xml_record(_xml_root(body), schema)


def parse_records(
    body: bytes, fmt: BodyFormat, schema: Schema, max_depth: int = DEFAULT_MAX_DEPTH
) -> list[Any]:
    """A batch: a JSON list, or an XML root whose children are records."""
    if fmt == "json":
        value = _json(body, max_depth + 1)
        if not isinstance(value, list):
            raise _unparsable("a batch must be a JSON list of records")
        texts = _may_hold_unstorable(body)
        for i, record in enumerate(value):
            _check_storable(record, max_depth, f"[{i}]", texts)
        return value
    return [xml_record(child, schema) for child in _xml_root(body)]


def _may_hold_unstorable(body: bytes) -> bool:
    """Whether JSON text can hold a lone surrogate or a NUL character once parsed. In
    UTF-8 only a ``\\u`` escape writes one (raw, the parser refuses both); a body with a
    NUL byte may be UTF-16 or UTF-32, which the parser also reads: checked whole."""
    return b"\\u" in body or b"\x00" in body


def _check_storable(value: Any, max_depth: int, path: str | None, texts: bool = True) -> None:
    """Refuse (422 ``S422``, naming the field) a value nested deeper than ``max_depth``
    or text with a lone surrogate or a NUL character, in keys too (``texts=False``: the
    text cannot hold one, see :func:`_may_hold_unstorable`). Integers beyond 64 bits were
    already read as text by :func:`kaskad.execute.contract.loads`."""
    if _storable(value, max_depth, texts):
        return  # the usual case, told without naming any path
    stack: list[tuple[Any, str | None, int]] = [(value, path, 1)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, str):
            if _UNSTORABLE.search(item):
                raise _refused(where, "text with a lone surrogate or a NUL character")
            continue
        if not isinstance(item, dict | list):
            continue
        if depth > max_depth:
            raise _refused(where, f"nested deeper than {max_depth} levels")
        if isinstance(item, list):
            stack.extend((v, f"{where or ''}[{i}]", depth + 1) for i, v in enumerate(item))
            continue
        for key, v in item.items():
            name = key if where is None else f"{where}.{key}"
            if _UNSTORABLE.search(key):
                safe = name.encode("utf-8", "backslashreplace").decode("utf-8")
                raise _refused(safe, "a field name with a lone surrogate or a NUL character")
            stack.append((v, name, depth + 1))


def _storable(value: Any, max_depth: int, texts: bool) -> bool:
    """Whether :func:`_check_storable` has nothing to refuse (the same walk, no paths)."""
    search = _UNSTORABLE.search
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if texts and search(item):
                return False
            continue
        if not isinstance(item, dict | list):
            continue
        if depth > max_depth:
            return False
        if isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
            continue
        for key, v in item.items():
            if texts and search(key):
                return False
            stack.append((v, depth + 1))
    return True


def _refused(path: str | None, problem: str) -> ServeError:
    note = f"the value cannot be stored: {problem}"
    where = f"{path}: " if path else ""
    return ServeError(422, "S422", where + note, [FieldProblem(path, "unstorable", note=note)])


def _json(body: bytes, max_depth: int) -> Any:
    try:
        return loads(body)
    except RecursionError:
        raise _refused(None, f"nested deeper than {max_depth} levels") from None
    except UnicodeDecodeError as exc:
        raise _unparsable(f"the body is not UTF-8 text: {exc.reason}") from exc
    except json.JSONDecodeError as exc:
        raise _unparsable(
            f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc


def _xml_root(body: bytes) -> ET.Element:
    try:
        root: ET.Element = SafeET.fromstring(body, forbid_dtd=True)
    except defusedxml.DefusedXmlException as exc:
        raise _unparsable(
            f"refused XML: {type(exc).__name__} (DTDs and entities are not allowed)"
        ) from exc
    except ET.ParseError as exc:
        raise _unparsable(f"malformed XML: {exc}") from exc
    return root


def _unparsable(problem: str) -> ServeError:
    return ServeError(422, "S422", problem, [FieldProblem(None, "unparsable", note=problem)])


# ---- XML onto the schema ------------------------------------------------------------------


def xml_record(element: ET.Element, schema: Schema) -> dict[str, Any]:
    """The JSON-like record an XML element stands for (see the module docstring)."""
    return _object(element, schema.fields)


def _object(element: ET.Element, fields: tuple[Field, ...]) -> dict[str, Any]:
    children: dict[str, list[ET.Element]] = {}
    for child in element:
        if isinstance(child.tag, str):
            children.setdefault(_local(child.tag), []).append(child)
    out: dict[str, Any] = {}
    for f in fields:
        found = children.get(f.name)
        if not found:
            continue
        # A repeated scalar element keeps all its values: the executor rejects the list.
        values = [_value(e, f.dtype) for e in found]
        out[f.name] = values[0] if len(values) == 1 else values
    return out


def _value(element: ET.Element, dtype: DType) -> Any:
    if dtype.kind == "object":
        if len(element) == 0 and not (element.text or "").strip():
            return None
        return _object(element, dtype.fields)
    if dtype.kind == "list":
        assert dtype.item is not None
        item = dtype.item
        return [_value(child, item) for child in element if isinstance(child.tag, str)]
    if len(element) > 0:  # children where a value belongs: the executor names the field
        return {}
    return element.text or None  # empty text is no value, as everywhere


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
