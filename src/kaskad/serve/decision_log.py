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

import json
from pathlib import Path
from typing import Any

import defusedxml.ElementTree as SafeET

from kaskad.execute.masking import mask as mask
from kaskad.serve.config import ServeConfig
from kaskad.serve.errors import ServeConfigError
from kaskad.spec.common import sha256_text
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
        return open_store_log(
            config.decision_log, config.queue_size, journal, config.write_timeout_s
        )
    except JournalError as exc:
        raise ServeConfigError(str(exc)) from exc


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
    text = kind + "\n" + "\n".join(sorted(paths))
    # a refused body may name a key with a lone surrogate: hashed as its escape
    return sha256_text(text.encode("utf-8", "backslashreplace").decode("utf-8"))


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
