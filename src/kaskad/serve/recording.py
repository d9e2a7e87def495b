"""What the server writes to the decision log for a decision or a rejection."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from kaskad.execute.masking import MaskingKey, has_sensitive
from kaskad.serve.config import ServeConfig
from kaskad.serve.decision_log import mask, shape_fingerprint
from kaskad.serve.errors import ServeConfigError, ServeError, problem_json
from kaskad.serve.ids import decision_id
from kaskad.serve.pipelines import Result, ServedPipeline
from kaskad.store.decisions import DecisionRecord

_LOG = logging.getLogger("kaskad.serve")


def for_result(
    pipeline: ServedPipeline,
    result: Result,
    record: Any,
    content_type: str | None,
    fingerprint: str | None,
    key: MaskingKey | None = None,
) -> DecisionRecord:
    """The record of one executor result (decided, or rejected by the schema), with the
    request's content type and shape fingerprint either way (the format sentinel reads
    accepted traffic too)."""
    rejected = result.rejected
    logged = mask(record, pipeline.plan.schema, key)
    errors = [problem_json(p) for p in result.problems]
    if result.failed:  # the step and its error; the body holds the outputs before it
        errors = [{"field": None, "problem": "step_failed", "step": result.failed_step,
                   "message": str(e)} for e in result.body.get("errors") or []]  # fmt: skip
    return DecisionRecord(
        decision_id=str(result.body["decision_id"]),
        pipeline=pipeline.name,
        release=pipeline.release,
        plan_hash=pipeline.plan.hash,
        status="rejected" if rejected else "failed" if result.failed else "decided",
        input=logged,
        output=_masked_output(result.body, pipeline, key),
        timings=result.timings,
        errors=errors,
        content_type=content_type,
        fingerprint=fingerprint,
        business_key=business_key(logged, pipeline.plan.schema.keys),
    )


def _masked_output(
    body: dict[str, Any], pipeline: ServedPipeline, key: MaskingKey | None
) -> dict[str, Any]:
    """The reply as logged: a schema key field that is sensitive (echoed in every reply)
    is masked like the input."""
    schema = pipeline.plan.schema
    echoed = {k: body[k] for k in schema.keys if k in body}
    masked = mask(echoed, schema, key) if echoed else echoed
    return body if masked == echoed else {**body, **masked}


def business_key(record: Any, keys: Sequence[str]) -> str | None:
    """The schema's key fields of a logged record as text (``/`` between them), for lookup
    and erasure by business key; None when the record has no key or misses a part."""
    if not keys or not isinstance(record, Mapping):
        return None
    parts = [record.get(k) for k in keys]
    if any(p is None or isinstance(p, dict | list) for p in parts):
        return None
    return "/".join(str(p) for p in parts)[:400]


def for_refused_body(
    pipeline: ServedPipeline,
    error: ServeError,
    body: bytes | None,
    fmt: str | None,
    content_type: str | None,
) -> DecisionRecord:
    """The record of a body refused before the executor saw it (413, 415, 422)."""
    problems = [problem_json(p) for p in error.problems] or [
        {"field": None, "problem": error.message}
    ]
    return DecisionRecord(
        decision_id=decision_id(),
        pipeline=pipeline.name,
        release=pipeline.release,
        plan_hash=pipeline.plan.hash,
        status="rejected",
        input=None,
        output=error.to_dict(),
        errors=problems,
        content_type=content_type,
        fingerprint=shape_fingerprint(body, fmt) if body is not None else None,
    )


def check_masking(config: ServeConfig, pipelines: Mapping[str, ServedPipeline]) -> None:
    """Refuse to log sensitive fields with unkeyed hashing unless told explicitly (then
    warn, at every start): unkeyed sha256 of a passport number is found by enumeration."""
    if config.decision_log is None or config.masking_key is not None:
        return
    sensitive = sorted(n for n, p in pipelines.items() if has_sensitive(p.plan.schema))
    if not sensitive:
        return
    if not config.unkeyed_masking:
        raise ServeConfigError(
            f"pipeline(s) {', '.join(sensitive)} have sensitive fields and no masking key is"
            " configured: give --masking-key-file or --masking-key-env (keyed HMAC-SHA-256),"
            " or --unkeyed-masking to accept plain sha256 that can be reversed by enumeration"
        )
    _LOG.warning(
        "unkeyed masking: sensitive fields of %s are logged as plain sha256, which can be"
        " reversed by enumeration; configure a masking key",
        ", ".join(sensitive),
    )
