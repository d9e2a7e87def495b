"""The server's decision log: opened from :class:`ServeConfig`, and what of a request goes
into it.

The log itself (writer, journal, readers) belongs to the store (:mod:`kaskad.store`); this
module builds it from the server's configuration, turning the store's
:class:`~kaskad.store.journal.JournalError` into :class:`ServeConfigError` (same message),
and prepares records: inputs are stored with the schema's ``sensitive: true`` fields
(nested ones too) replaced by ``sha256:<hex>`` of their value (:func:`mask`); every
record keeps the request's content type and a fingerprint of its shape: of the body for
refusals (:func:`shape_fingerprint`), of the parsed record otherwise
(:func:`item_fingerprint`, no second parse).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import defusedxml.ElementTree as SafeET

from kaskad.serve.config import ServeConfig
from kaskad.serve.errors import ServeConfigError
from kaskad.spec.common import sha256_text
from kaskad.spec.schema import Schema
from kaskad.spec.types import DType, Field
from kaskad.store.decisions import DecisionSink
from kaskad.store.journal import JournalSettings, default_journal_folder
from kaskad.store.journal import open_decision_log as open_store_log
from kaskad.store.journal_files import JournalError


def open_decision_log(config: ServeConfig) -> DecisionSink | None:
    """The decision log ``config`` asks for: none, the store's synchronous log, or its
    journaled log (``decision_log_mode="journal"``); a journal that cannot be opened is a
    :class:`ServeConfigError`."""
    if config.decision_log is None:
        return None
    try:
        journal = None
        if config.decision_log_mode == "journal":
            folder = (
                Path(config.journal)
                if config.journal
                else default_journal_folder(config.decision_log)
            )
            journal = JournalSettings(folder, limit_bytes=config.journal_limit_bytes)
        return open_store_log(config.decision_log, config.queue_size, journal)
    except JournalError as exc:
        raise ServeConfigError(str(exc)) from exc


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


def shape_fingerprint(body: bytes, fmt: str | None) -> str:
    """sha256 of the body's format and the sorted set of its key paths with value types.

    Values do not count, the layout does: the same record with other values has the same
    fingerprint; XML instead of JSON, a renamed or moved field, or a new type differ.
    """
    for kind in (fmt,) if fmt else ("json", "xml"):  # an unknown content type: guess
        paths: set[str] = set()
        try:
            if kind == "json":
                json_paths(json.loads(body), "$", paths)
            else:
                _xml_paths(SafeET.fromstring(body), "$", paths)
            break
        except Exception:  # an unparsable body: its format and that it did not parse
            paths = {"$:unparsable"}
    kind = fmt or ("unknown" if paths == {"$:unparsable"} else kind)
    return _shape_digest(kind, paths)


def item_fingerprint(record: Any, fmt: str) -> str:
    """The shape fingerprint of one parsed item of a batch."""
    paths: set[str] = set()
    json_paths(record, "$", paths)
    return _shape_digest(fmt, paths)


def _shape_digest(kind: str, paths: set[str]) -> str:
    return sha256_text(kind + "\n" + "\n".join(sorted(paths)))


def json_paths(value: Any, path: str, paths: set[str]) -> None:
    if isinstance(value, dict):
        paths.add(f"{path}:object")
        for key, item in value.items():
            json_paths(item, f"{path}.{key}", paths)
    elif isinstance(value, list):
        paths.add(f"{path}:list")
        for item in value:
            json_paths(item, f"{path}[]", paths)
    else:
        paths.add(f"{path}:{type(value).__name__}")


def _xml_paths(element: Any, path: str, paths: set[str]) -> None:
    here = f"{path}.{element.tag}"
    children = list(element)
    paths.add(f"{here}:{'element' if children else 'text'}")
    for child in children:
        _xml_paths(child, here, paths)
