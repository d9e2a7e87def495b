"""``kaskad serve``: the HTTP server (uvicorn with uvloop and httptools) over ``create_app``.

Run it directly too: ``python -m kaskad.cli.serve PIPELINE...``.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
import yaml

from kaskad.cli.common import StoreOpt, cache_root, fail, store_location
from kaskad.cli.exitcodes import exit_code_for
from kaskad.errors import KaskadError
from kaskad.store.defaults import (
    DEFAULT_JOURNAL_LIMIT_BYTES,
    DEFAULT_QUEUE_BYTES,
    DEFAULT_QUEUE_SIZE,
)
from kaskad.store.refs import ReleaseSelector

if TYPE_CHECKING:
    from fastapi import FastAPI

    from kaskad.serve import ApiKey, PipelineFile, ReleaseRef


def serve(
    pipelines: Annotated[
        list[str],
        typer.Argument(
            help="What to serve: pipeline files (served under the name they declare, or"
            " URLNAME=path) or releases from the store: NAME (its production stage),"
            " NAME@stage or NAME@number.",
            show_default=False,
        ),
    ],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    store: StoreOpt = None,
    workers: Annotated[
        int,
        typer.Option(
            help="Worker processes sharing the port (one per core); each has its own"
            " decision-log writer on the same store. Needs --decision-log-mode sync.",
            min=1,
        ),
    ] = 1,
    api_keys_file: Annotated[
        Path | None,
        typer.Option(help="YAML or JSON file of API key hashes and roles.", show_default=False),
    ] = None,
    allow_anonymous: Annotated[
        bool,
        typer.Option(
            help="Callers without a key may decide, nothing else (promote, approve and"
            " roll back always need a key)."
        ),
    ] = False,
    queue_size: Annotated[
        int, typer.Option(help="Decision-log records waiting at most; then 503.", min=1)
    ] = DEFAULT_QUEUE_SIZE,
    queue_bytes: Annotated[
        int,
        typer.Option(
            help="Bytes of requests waiting for the decision log at most (also while clients"
            " that gave up leave records queued); then 503 with Retry-After.",
            min=1,
        ),
    ] = DEFAULT_QUEUE_BYTES,
    no_decision_log: Annotated[
        bool, typer.Option("--no-decision-log", help="Do not log decisions (development).")
    ] = False,
    decision_log_mode: Annotated[
        Literal["sync", "journal"],
        typer.Option(
            help="sync: a reply waits for the store's commit; journal: for an fsync to a local"
            " journal, shipped to the store in the background."
        ),
    ] = "sync",
    journal: Annotated[
        Path | None,
        typer.Option(
            help="Journal folder of --decision-log-mode journal (default: STORE/journal;"
            " required with a database URL).",
            show_default=False,
        ),
    ] = None,
    journal_limit_mb: Annotated[
        int,
        typer.Option(
            help="Disk the journal may use while the store is behind or down; beyond it, 503.",
            min=1,
        ),
    ] = DEFAULT_JOURNAL_LIMIT_BYTES >> 20,
    write_timeout: Annotated[
        float,
        typer.Option(
            help="Seconds a decision-log commit waits for a locked store before the request"
            " gets 503 (and /ready 503 until the store takes writes again).",
            min=0.01,
        ),
    ] = 5.0,
    max_depth: Annotated[
        int,
        typer.Option(
            help="Objects and lists nested inside one another in a record, at most; deeper"
            " records are refused with 422.",
            min=1,
        ),
    ] = 32,
    masking_key_file: Annotated[
        Path | None,
        typer.Option(
            help="File holding the secret of keyed masking (HMAC-SHA-256) of sensitive fields.",
            show_default=False,
        ),
    ] = None,
    masking_key_env: Annotated[
        str | None,
        typer.Option(
            help="Environment variable holding the masking secret (instead of a file).",
            show_default=False,
        ),
    ] = None,
    masking_key_id: Annotated[
        str, typer.Option(help="Id of the masking key, stored with every masked value.")
    ] = "k1",
    unkeyed_masking: Annotated[
        bool,
        typer.Option(
            help="Log sensitive fields as plain sha256 without a key (reversible by"
            " enumeration; warned at every start)."
        ),
    ] = False,
    # ---- micro-batching (kaskad.serve.coalesce) ----
    batch_wait_ms: Annotated[
        float,
        typer.Option(
            help="Concurrent /decide requests to one pipeline wait at most this many"
            " milliseconds to be decided together; 0 disables micro-batching.",
            min=0,
            max=1000,
        ),
    ] = 1.0,
    max_batch: Annotated[
        int, typer.Option(help="Requests decided together at most (micro-batching).", min=1)
    ] = 32,
    # ---- end micro-batching ----
    keep_alive: Annotated[
        int,
        typer.Option(
            help="Seconds an idle HTTP connection is kept open; above the idle timeout of"
            " any proxy in front (a connection the server closes while a proxy reuses it"
            " is a failed request).",
            min=1,
        ),
    ] = 75,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    access_log: Annotated[
        bool,
        typer.Option(
            help="Log every HTTP request line (off by default: every decision and rejection"
            " is already in the decision log)."
        ),
    ] = False,
) -> None:
    """Serve pipelines over HTTP; every decision is written to the store's decision log
    before its reply is sent.

    The API keys file (YAML or JSON) lists sha256 hex digests of keys, never the keys:

    \b
        keys:
          - sha256: 3f5a...e1   # sha256 of the key text (kaskad.serve.hash_key)
            role: decide        # decide | approve | admin
            label: scoring-gateway   # a system or role name, never a person
    """
    import uvicorn

    from kaskad.serve import ServeConfig, create_app
    from kaskad.serve.workers import CONFIG_ENV, METRICS_ENV, check_workers, config_to_json

    try:
        keys = load_api_keys(api_keys_file) if api_keys_file is not None else ()
        masking_key = None
        if masking_key_file is not None or masking_key_env is not None:
            from kaskad.execute.masking import load_masking_key

            masking_key = load_masking_key(
                masking_key_id, file=masking_key_file, env=masking_key_env
            )
        sources = {name: src for name, src in (_source(p, store) for p in pipelines)}
        location = store_location(store)
        config = ServeConfig(
            pipelines=sources,
            api_keys=keys,
            allow_anonymous=allow_anonymous,
            decision_log=None if no_decision_log else location,
            queue_size=queue_size,
            queue_bytes=queue_bytes,
            decision_log_mode=decision_log_mode,
            journal=str(journal) if journal is not None else None,
            journal_limit_bytes=journal_limit_mb << 20,
            max_depth=max_depth,
            write_timeout_s=write_timeout,
            masking_key=masking_key,
            unkeyed_masking=unkeyed_masking,
            batch_wait_ms=batch_wait_ms,  # micro-batching
            max_batch=max_batch,
        )
        check_workers(config, workers)
        app = create_app(config)  # loads and verifies everything once, before any worker
    except KaskadError as exc:
        raise fail(str(exc), exit_code_for(exc)) from None
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "loop": "uvloop",
        "http": "httptools",
        "ws": "none",
        "log_level": log_level,
        "access_log": access_log,
        "timeout_keep_alive": keep_alive,
    }
    if workers == 1:
        uvicorn.run(app, **options)
        return
    _close(app)  # each worker builds its own app from the same configuration
    with tempfile.TemporaryDirectory(prefix="kaskad-metrics-") as metrics_dir:
        os.environ[CONFIG_ENV] = config_to_json(config)
        os.environ[METRICS_ENV] = metrics_dir
        uvicorn.run("kaskad.serve.workers:app", factory=True, workers=workers, **options)


def _close(app: FastAPI) -> None:
    """Stop the background threads of an app that will not serve."""
    for part in ("promotion", "shadows", "decision_log"):
        closer = getattr(app.state, part, None)
        if closer is not None:
            (closer.stop if part == "promotion" else closer.close)()


def load_api_keys(path: Path) -> tuple[ApiKey, ...]:
    """The keys of an API keys file (see :func:`serve`)."""
    from kaskad.serve import ApiKey

    try:
        text = path.read_text(encoding="utf-8")
        data: Any = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise KaskadError(f"cannot read the API keys file {path}: {exc}") from exc
    entries = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise KaskadError(f"{path}: expected a 'keys' list of {{sha256, role, label}}")
    keys = []
    for i, entry in enumerate(entries):
        digest = entry.get("sha256") if isinstance(entry, dict) else None
        if (
            not isinstance(digest, str)
            or len(digest) != 64
            or any(ch not in "0123456789abcdefABCDEF" for ch in digest)
        ):
            raise KaskadError(f"{path}: keys[{i}].sha256 must be a 64-character hex digest")
        keys.append(ApiKey(digest.lower(), str(entry.get("role")), str(entry.get("label", ""))))
    return tuple(keys)


def _source(spec: str, store: str | None) -> tuple[str, PipelineFile | ReleaseRef]:
    from kaskad.serve import PipelineFile, ReleaseRef

    name, sep, rest = spec.partition("=")
    if sep and name and "@" not in name:
        return name, PipelineFile(Path(rest))
    path = Path(spec)
    if not path.exists() and _is_name(spec.split("@", 1)[0]):
        ref = ReleaseSelector.parse(spec, default="production")  # a bare name: its production
        return ref.name, ReleaseRef(str(ref), store_location(store), cache_root(store))
    return _declared_name(path), PipelineFile(path)


def _is_name(text: str) -> bool:
    """A pipeline name (not a path to a file that is missing)."""
    return bool(text) and "/" not in text and "\\" not in text and "." not in text


def _declared_name(path: Path) -> str:
    """The name the pipeline file declares (``pipeline: loan_decision``), else its stem."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return path.stem  # the app reports the real problem when it loads the file
    name = data.get("pipeline") if isinstance(data, dict) else None
    return name if isinstance(name, str) and name else path.stem


if __name__ == "__main__":
    typer.run(serve)
