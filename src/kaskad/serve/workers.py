"""Several server processes on one port: ``kaskad serve --workers N``.

uvicorn starts N worker processes; each builds its own app from the configuration the
parent passes in the environment (:data:`CONFIG_ENV`, the configuration model's JSON:
see :func:`config_to_json`), with its own decision-log writer, shadow worker and
promotion watcher, all on the same store. Prometheus metrics are kept in multiprocess
mode (:data:`METRICS_ENV` names a fresh folder the parent creates and removes), so
``/metrics`` from any worker reports every worker's requests.

A journal belongs to one process, so several workers need the synchronous decision log.
"""

from __future__ import annotations

import os

from fastapi import FastAPI
from pydantic import ValidationError

from kaskad.serve.config import ServeConfig
from kaskad.serve.errors import ServeConfigError

CONFIG_ENV = "KASKAD_SERVE_CONFIG"
METRICS_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's multiprocess folder


def config_to_json(config: ServeConfig) -> str:
    """``config`` as JSON text (:func:`config_from_json` reads it back)."""
    return config.model_dump_json()


def config_from_json(text: str) -> ServeConfig:
    try:
        return ServeConfig.model_validate_json(text)
    except ValidationError as exc:
        raise ServeConfigError(f"{CONFIG_ENV} is not a server configuration: {exc}") from None


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
