"""Server configuration, passed explicitly to ``create_app`` (no environment lookups)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kaskad.serve.auth import ApiKey
from kaskad.serve.inputs import DEFAULT_BODY_LIMIT
from kaskad.serve.log import DEFAULT_QUEUE_SIZE


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


@dataclass(frozen=True)
class ServeConfig:
    """What to serve and who may call it.

    ``pipelines`` maps the name used in URLs to its source. Without ``api_keys`` the server
    refuses to start unless ``allow_anonymous`` is set explicitly.

    ``decision_log`` is the store (folder or database URL) that receives one record per
    decision and rejection; a reply is sent only once its record is committed. At most
    ``queue_size`` records wait for the writer; beyond that requests get 503 with
    ``Retry-After: retry_after_s``. Without ``decision_log`` nothing is logged.

    With ``decision_log`` set, shadow challengers of ``decide`` run after the reply on a
    background worker; at most ``shadow_queue_size`` runs wait, later ones are skipped.

    Pipelines given as a :class:`ReleaseRef` to a stage are re-resolved every
    ``promotion_poll_s`` seconds and the newly promoted release is served once verified.
    """

    pipelines: dict[str, PipelineFile | ReleaseRef]
    api_keys: tuple[ApiKey, ...] = ()
    allow_anonymous: bool = False
    body_limit: int = DEFAULT_BODY_LIMIT
    batch_threshold: int = 8  # lists longer than this go through the batch executor
    decision_log: str | None = None
    queue_size: int = DEFAULT_QUEUE_SIZE
    retry_after_s: int = 1
    shadow_queue_size: int = 1024  # shadow runs waiting; beyond that they are skipped
    promotion_poll_s: float = 2.0  # how often stage references are re-resolved; 0 disables
