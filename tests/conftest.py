"""Shared fixtures. Tests needing PostgreSQL, Redis, RabbitMQ or NATS skip when the service
is absent, unless KASKAD_REQUIRE_SERVICES=1 (as in CI), where they fail instead."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from kaskad.compile.expr.polars_dtypes import to_polars_dtype
from kaskad.spec.schema import Schema

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "credit"


def frame_of(records: list[dict[str, Any]], schema: Schema) -> pl.DataFrame:
    """Records as the batch path reads them: JSON Lines parsed with the schema's types."""
    types = {f.name: to_polars_dtype(f.dtype) for f in schema.fields}
    text = "\n".join(json.dumps(r) for r in records).encode()
    return pl.read_ndjson(io.BytesIO(text), schema=types)


@pytest.fixture(scope="session")
def example_dir() -> Path:
    """The credit example with its data and models built (once per test session)."""
    import subprocess
    import sys

    models = EXAMPLE / "models"
    data = EXAMPLE / "data" / "applications.jsonl"
    needed = [models / "fraud.txt", models / "credit_pd.joblib", models / "credit_pd_v2.onnx", data]
    if not all(p.exists() for p in needed):
        subprocess.run([sys.executable, str(EXAMPLE / "build.py")], check=True, capture_output=True)
    return EXAMPLE
