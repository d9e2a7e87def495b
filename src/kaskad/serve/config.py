"""Server configuration, passed explicitly to ``create_app`` (no environment lookups)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kaskad.serve.auth import ApiKey
from kaskad.serve.inputs import DEFAULT_BODY_LIMIT


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
    """

    pipelines: dict[str, PipelineFile | ReleaseRef]
    api_keys: tuple[ApiKey, ...] = ()
    allow_anonymous: bool = False
    body_limit: int = DEFAULT_BODY_LIMIT
    batch_threshold: int = 8  # lists longer than this go through the batch executor
