"""Masking sensitive inputs before they are kept: the schema's ``sensitive: true`` fields
(nested ones too) replaced by a digest of their value. The decision log keeps records
masked (:mod:`kaskad.serve.decision_log`), and monitoring references are made of masked
records too, so the two compare field by field (:mod:`kaskad.monitor`).

With a :class:`MaskingKey` the digest is ``hmac-sha256:KEY_ID:<hex>``, keyed HMAC-SHA-256
whose secret never leaves the operator (enumerating passport numbers needs the secret);
the key id is kept with each value so keys can rotate. Without a key it is the unkeyed
``sha256:<hex>``, which anyone can recompute for short values: serving refuses it unless
told explicitly (docs/security.md).

A value of the wrong shape where a sensitive field lies beneath (a list for an object, a
list of records for one) is masked whole: nothing sensitive is kept in clear.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kaskad.errors import FieldProblem, KaskadError
from kaskad.spec.schema import Schema
from kaskad.spec.types import DType, Field

__all__ = [
    "MaskingKey",
    "MaskingKeyError",
    "digest_of",
    "has_sensitive",
    "load_masking_key",
    "mask",
    "redact",
    "redact_at",
    "sensitive_at",
]

_KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
MIN_SECRET_BYTES = 16


class MaskingKeyError(KaskadError):
    """A masking key cannot be read, or is too short (K611)."""

    code = "K611"


@dataclass(frozen=True)
class MaskingKey:
    """A secret for keyed masking and its id (stored with every masked value)."""

    key_id: str
    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not _KEY_ID.fullmatch(self.key_id):
            raise MaskingKeyError(
                f"masking key id {self.key_id!r}: use letters, digits, '_', '-', '.' (at most 64)"
            )
        if len(self.secret) < MIN_SECRET_BYTES:
            raise MaskingKeyError(
                f"masking key {self.key_id!r} is too short: at least {MIN_SECRET_BYTES} bytes"
                " (e.g. `openssl rand -hex 32`)"
            )


def load_masking_key(
    key_id: str, *, file: Path | None = None, env: str | None = None
) -> MaskingKey:
    """The masking key ``key_id`` whose secret is the content of ``file`` or of the
    environment variable ``env`` (surrounding whitespace removed)."""
    if (file is None) == (env is None):
        raise MaskingKeyError("give the masking secret as a file or an environment variable")
    if file is not None:
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise MaskingKeyError(f"cannot read the masking key file {file}: {exc}") from exc
    else:
        assert env is not None
        value = os.environ.get(env)
        if value is None:
            raise MaskingKeyError(f"the environment variable {env} (masking key) is not set")
        text = value
    return MaskingKey(key_id, text.strip().encode("utf-8"))


Digest = Callable[[Any], str]


def _text(value: Any) -> bytes:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text.encode("utf-8")


def _unkeyed(value: Any) -> str:
    return "sha256:" + hashlib.sha256(_text(value)).hexdigest()


@functools.lru_cache(maxsize=16)
def _keyed(key: MaskingKey) -> Digest:
    prefix = f"hmac-sha256:{key.key_id}:"

    def digest(value: Any) -> str:
        return prefix + hmac.new(key.secret, _text(value), hashlib.sha256).hexdigest()

    return digest


def digest_of(key: MaskingKey | None) -> Digest:
    """The digest of a value: keyed HMAC (``hmac-sha256:KEY_ID:<hex>``) with ``key``,
    else unkeyed ``sha256:<hex>``."""
    return _unkeyed if key is None else _keyed(key)


def has_sensitive(schema: Schema) -> bool:
    """Whether ``schema`` has a sensitive field at any depth."""
    return _schema_masker(schema) is not None


def mask(record: Any, schema: Schema, key: MaskingKey | None = None) -> Any:
    """``record`` with every sensitive field's value (at any depth) replaced by its
    digest (keyed with ``key``, else unkeyed sha256); missing values stay missing, unknown
    keys are kept as they are. A record that is not an object (a JSON list sent where one
    record was expected) has each element masked as a record, any other value masked whole.

    Parts of the record without a sensitive field beneath them are shared with
    ``record``, not copied (the caller must not modify either afterwards)."""
    masker = _schema_masker(schema)
    if masker is None:
        return record
    digest = _unkeyed if key is None else _keyed(key)
    return _top(record, masker, digest)


def _top(record: Any, masker: Masker, digest: Digest) -> Any:
    if record is None or isinstance(record, Mapping):
        return None if record is None else masker(record, digest)
    if isinstance(record, list):
        return [_top(item, masker, digest) for item in record]
    return digest(record)


Masker = Callable[[Any, Digest], Any]
# a schema's masker by the identity of its field tuple (the tuple kept alive beside it):
# the lru_cache below hashes the whole tuple of fields, nested types included, at every
# call, which costs more than masking a record
_BY_IDENTITY: dict[int, tuple[tuple[Field, ...], Masker | None]] = {}


def _schema_masker(schema: Schema) -> Masker | None:
    fields = schema.fields
    known = _BY_IDENTITY.get(id(fields))
    if known is not None and known[0] is fields:
        return known[1]
    masker = _masker(fields)
    if len(_BY_IDENTITY) >= 256:
        _BY_IDENTITY.clear()
    _BY_IDENTITY[id(fields)] = (fields, masker)
    return masker


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

    def apply(value: Any, digest: Digest) -> Any:
        if not isinstance(value, Mapping):
            return digest(value)  # the wrong shape: mask it whole
        out = dict(value)
        for name, inner in steps:
            if name in out and (item := out[name]) is not None:
                out[name] = digest(item) if inner is None else inner(item, digest)
        return out

    return apply


def _value_masker(dtype: DType) -> Masker | None:
    if dtype.kind == "object":
        return _masker(dtype.fields)
    if dtype.kind == "list" and dtype.item is not None:
        item = _value_masker(dtype.item)
        if item is None:
            return None

        def each(value: Any, digest: Digest) -> Any:
            if not isinstance(value, list):
                return digest(value)
            return [None if v is None else item(v, digest) for v in value]

        return each
    return None


# ---- problems that must not echo a sensitive value ------------------------------------------


def sensitive_at(schema: Schema, path: str | None) -> bool:
    """Whether the field at ``path`` (``a.b``, ``items[].x``, a leading ``.`` allowed) is
    sensitive or lies inside a sensitive field."""
    if not path:
        return False
    fields: tuple[Field, ...] = schema.fields
    for part in path.lstrip(".").replace("[]", "").split("."):
        found = next((f for f in fields if f.name == part), None)
        if found is None:
            return False
        if found.sensitive:
            return True
        dtype = found.dtype
        while dtype.kind == "list" and dtype.item is not None:
            dtype = dtype.item
        fields = dtype.fields if dtype.kind == "object" else ()
    return False


def redact(problem: FieldProblem) -> FieldProblem:
    """``problem`` without the value: ``got number 6223423370`` → ``got number (sensitive,
    not shown)``."""
    if problem.got is None and problem.note is None:
        return problem
    kind = (problem.got or "").split(" ", 1)[0]
    shown = kind if kind.isalpha() else "a value"
    note = None if problem.note is None else "the value is not shown (sensitive field)"
    return replace(problem, got=f"{shown} (sensitive, not shown)", note=note)


def redact_at(schema: Schema, problem: FieldProblem) -> FieldProblem:
    """``problem`` redacted when its field is sensitive (:func:`sensitive_at`)."""
    return redact(problem) if sensitive_at(schema, problem.path) else problem
