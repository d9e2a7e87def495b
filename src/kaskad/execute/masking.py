"""Masking sensitive inputs before they are kept: the schema's ``sensitive: true`` fields
(nested ones too) replaced by ``sha256:<hex>`` of their value. The decision log keeps
records masked (:mod:`kaskad.serve.decision_log`), and monitoring references are made of
masked records too, so the two compare field by field (:mod:`kaskad.monitor`).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from kaskad.spec.schema import Schema
from kaskad.spec.types import DType, Field

__all__ = ["mask"]


def _digest(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def mask(record: Any, schema: Schema) -> Any:
    """``record`` with every sensitive field's value (at any depth) replaced by
    ``sha256:<hex>``; missing values stay missing, unknown keys are kept as they are.

    Parts of the record without a sensitive field beneath them are shared with
    ``record``, not copied (the caller must not modify either afterwards)."""
    masker = _masker(schema.fields)
    return record if masker is None else masker(record)


Masker = Callable[[Any], Any]


@functools.lru_cache(maxsize=256)
def _masker(fields: tuple[Field, ...]) -> Masker | None:
    """A function masking values of an object with these fields, compiled once per
    schema: it visits only the paths that lead to a sensitive field (None: no such path)."""
    plan: dict[str, Masker | None] = {}  # field name -> masker of its value; None: digest
    for f in fields:
        if f.sensitive:
            plan[f.name] = None
        elif (inner := _value_masker(f.dtype)) is not None:
            plan[f.name] = inner
    if not plan:
        return None
    steps = tuple(plan.items())

    def apply(value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value
        out = dict(value)
        for name, inner in steps:
            if name in out and (item := out[name]) is not None:
                out[name] = _digest(item) if inner is None else inner(item)
        return out

    return apply


def _value_masker(dtype: DType) -> Masker | None:
    if dtype.kind == "object":
        return _masker(dtype.fields)
    if dtype.kind == "list" and dtype.item is not None:
        item = _value_masker(dtype.item)
        if item is None:
            return None
        return lambda value: [item(v) for v in value] if isinstance(value, list) else value
    return None
