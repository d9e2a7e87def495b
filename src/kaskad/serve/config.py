"""Server configuration, passed explicitly to ``create_app`` (no environment lookups).

:class:`ServeConfig` is a pydantic model: it is validated on construction and travels to
worker processes as JSON (``model_dump_json`` / ``model_validate_json``). Every problem
reaches the caller as :class:`~kaskad.serve.errors.ServeConfigError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from kaskad.execute.masking import MaskingKey
from kaskad.serve.auth import ApiKey
from kaskad.serve.budget import DEFAULT_QUEUE_BYTES
from kaskad.serve.errors import ServeConfigError
from kaskad.serve.inputs import DEFAULT_BODY_LIMIT, DEFAULT_MAX_DEPTH
from kaskad.serve.shadows import DEFAULT_SHADOW_QUEUE_SIZE
from kaskad.store.decisions import DEFAULT_QUEUE_SIZE, DEFAULT_WRITE_TIMEOUT_S
from kaskad.store.journal import DEFAULT_LIMIT_BYTES

DecisionLogMode = Literal["sync", "journal"]
DECISION_LOG_MODES: tuple[DecisionLogMode, ...] = ("sync", "journal")


@dataclass(frozen=True)
class PipelineFile:
    """Serve a pipeline compiled from its file (development, tests)."""

    path: Path


@dataclass(frozen=True)
class ReleaseRef:
    """Serve a verified release from a store, e.g. ``credit@production``."""

    ref: str
    store: str
    cache_root: Path
    actor: str = "kaskad-serve"


PipelineSource = PipelineFile | ReleaseRef


class ServeConfig(BaseModel):
    """What to serve and who may call it.

    ``pipelines`` maps the name used in URLs to its source. Without ``api_keys`` the server
    refuses to start unless ``allow_anonymous`` is set explicitly.

    ``decision_log`` is the store (folder or database URL) that receives one record per
    decision and rejection; a reply is sent only once its record is committed. At most
    ``queue_size`` records wait for the writer; beyond that requests get 503 with
    ``Retry-After: retry_after_s``. The request bodies held meanwhile (read, and not
    yet committed to the log, even when the client gave up) are bounded by
    ``queue_bytes`` too: beyond it, 503 (S530) with ``Retry-After``. Without
    ``decision_log`` nothing is logged.

    ``decision_log_mode="journal"`` answers once the record is fsynced to a local journal
    (folder ``journal``, default ``<store folder>/journal``; required for a database URL)
    and ships it to the store in the background; past ``journal_limit_bytes`` of journal
    on disk, requests get 503 too (see :mod:`kaskad.store.journal`).

    With ``decision_log`` set, shadow challengers of ``decide`` run after the reply on a
    background worker; at most ``shadow_queue_size`` runs wait, later ones are skipped.

    Pipelines given as a :class:`ReleaseRef` to a stage are re-resolved every
    ``promotion_poll_s`` seconds and the newly promoted release is served once verified.

    Requests are parsed, decided and turned into log records on a pool of
    ``decide_threads`` threads (default: Python's, ``min(32, cores + 4)``), off the event
    loop.

    Concurrent ``decide`` requests to one pipeline are micro-batched: a request waits at
    most ``batch_wait_ms`` milliseconds (0 disables) for others, and up to ``max_batch``
    are decided in one call (by the batch executor past ``batch_threshold`` records), each
    still answered, logged and failed on its own (:mod:`kaskad.serve.coalesce`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    pipelines: dict[str, PipelineSource]
    api_keys: tuple[ApiKey, ...] = ()
    allow_anonymous: bool = False
    body_limit: int = DEFAULT_BODY_LIMIT
    max_depth: int = DEFAULT_MAX_DEPTH  # objects/lists nested in a record at most; then 422
    # lists longer than this go through the batch executor: below it, building a frame
    # from the records costs more than deciding them one by one (bench/README.md)
    batch_threshold: int = 256
    decision_log: str | None = None
    queue_size: int = DEFAULT_QUEUE_SIZE
    queue_bytes: int = DEFAULT_QUEUE_BYTES  # request bytes waiting for the log; then 503
    write_timeout_s: float = DEFAULT_WRITE_TIMEOUT_S  # a commit waits for a locked store
    retry_after_s: int = 1
    shadow_queue_size: int = DEFAULT_SHADOW_QUEUE_SIZE  # shadow runs waiting; then skipped
    promotion_poll_s: float = 2.0  # how often stage references are re-resolved; 0 disables
    decision_log_mode: DecisionLogMode = "sync"
    journal: str | None = None  # the journal folder (journal mode)
    journal_limit_bytes: int = DEFAULT_LIMIT_BYTES  # journal disk use at most; then 503
    decide_threads: int | None = None  # threads deciding requests; None: Python's default
    # micro-batching: concurrent /decide requests to one pipeline wait at most this long
    # (milliseconds; 0 disables) to be decided together, at most max_batch at a time
    batch_wait_ms: float = 1.0
    max_batch: int = 32
    tune_gc: bool = True  # garbage-collector settings for serving (see kaskad.serve.gctune)
    # Keyed masking of sensitive fields in the decision log (docs/security.md); without a
    # key a server that logs sensitive fields refuses to start unless unkeyed_masking.
    masking_key: MaskingKey | None = None
    unkeyed_masking: bool = False

    def __init__(self, pipelines: dict[str, PipelineSource] | None = None, /, **data: Any):
        if pipelines is not None:
            data["pipelines"] = pipelines
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise ServeConfigError(_describe(exc)) from None

    @field_validator("decision_log_mode", mode="before")
    @classmethod
    def _known_mode(cls, mode: Any) -> Any:
        if mode not in DECISION_LOG_MODES:
            raise ServeConfigError(
                f"unknown decision log mode {mode!r}: use 'sync' (a reply"
                " after the store's commit) or 'journal' (after a local journal's fsync)"
            )
        return mode

    @model_validator(mode="after")
    def _consistent(self) -> ServeConfig:
        if self.decision_log_mode == "journal" and self.decision_log is None:
            raise ServeConfigError("decision log mode 'journal' needs a decision log store")
        if self.journal is not None and self.decision_log_mode != "journal":
            raise ServeConfigError("a journal folder is given: set decision log mode 'journal'")
        if self.queue_bytes < self.body_limit:
            raise ServeConfigError(
                f"queue_bytes ({self.queue_bytes}) is below the body limit ({self.body_limit}):"
                " a request of the largest allowed size could never be accepted"
            )
        if self.journal_limit_bytes < 1:
            raise ServeConfigError("journal_limit_bytes must be at least 1")
        if not 0 <= self.batch_wait_ms <= 1000:
            raise ServeConfigError(
                f"batch_wait_ms is {self.batch_wait_ms}: give 0 (no micro-batching) to 1000"
            )
        if self.max_batch < 1:
            raise ServeConfigError(f"max_batch is {self.max_batch}: give at least 1")
        return self


def _describe(exc: ValidationError) -> str:
    """One line per invalid setting: ``name: problem``."""
    lines = [
        f"{'.'.join(str(part) for part in error['loc']) or 'configuration'}: {error['msg']}"
        for error in exc.errors()
    ]
    return "invalid server configuration: " + "; ".join(lines)
