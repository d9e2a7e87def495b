"""Several server processes on one port: ``kaskad serve --workers N``.

uvicorn starts N worker processes; each builds its own app from the configuration the
parent passes in the environment (:data:`CONFIG_ENV`, JSON: see :func:`config_to_json`),
with its own decision-log writer, shadow worker and promotion watcher, all on the same
store. Prometheus metrics are kept in multiprocess mode (:data:`METRICS_ENV` names a
fresh folder the parent creates and removes), so ``/metrics`` from any worker reports
every worker's requests.

A journal belongs to one process, so several workers need the synchronous decision log.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from kaskad.serve.auth import ApiKey
from kaskad.serve.config import PipelineFile, ReleaseRef, ServeConfig
from kaskad.serve.errors import ServeConfigError

CONFIG_ENV = "KASKAD_SERVE_CONFIG"
METRICS_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's multiprocess folder


def config_to_json(config: ServeConfig) -> str:
    """``config`` as JSON text (:func:`config_from_json` reads it back)."""
    data: dict[str, Any] = {}
    for f in fields(config):
        value = getattr(config, f.name)
        if f.name == "pipelines":
            value = {name: _source(src) for name, src in value.items()}
        elif f.name == "api_keys":
            value = [asdict(k) for k in value]
        data[f.name] = value
    return json.dumps(data)


def config_from_json(text: str) -> ServeConfig:
    data = json.loads(text)
    data["pipelines"] = {name: _read_source(src) for name, src in data["pipelines"].items()}
    data["api_keys"] = tuple(ApiKey(**k) for k in data["api_keys"])
    return ServeConfig(**data)


def check_workers(config: ServeConfig, workers: int) -> None:
    """Refuse what several workers cannot do, with the reason."""
    if workers > 1 and config.decision_log_mode == "journal":
        raise ServeConfigError(
            "--workers above 1 needs --decision-log-mode sync: a journal belongs to one"
            " process (or run one server per journal folder)"
        )


def app() -> FastAPI:
    """The app of one worker process (uvicorn's factory), from :data:`CONFIG_ENV`."""
    from kaskad.serve.app import create_app

    text = os.environ.get(CONFIG_ENV)
    if not text:
        raise ServeConfigError(f"{CONFIG_ENV} is not set: start workers with kaskad serve")
    return create_app(config_from_json(text))


def _source(source: PipelineFile | ReleaseRef) -> dict[str, Any]:
    if isinstance(source, PipelineFile):
        return {"file": str(source.path)}
    return {
        "ref": source.ref,
        "store": source.store,
        "cache_root": str(source.cache_root),
        "actor": source.actor,
    }


def _read_source(data: dict[str, Any]) -> PipelineFile | ReleaseRef:
    if "file" in data:
        return PipelineFile(Path(data["file"]))
    return ReleaseRef(data["ref"], data["store"], Path(data["cache_root"]), data["actor"])
