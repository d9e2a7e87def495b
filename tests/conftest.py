"""Shared fixtures. Tests needing PostgreSQL, Redis, RabbitMQ or NATS skip when the service
is absent, unless KASKAD_REQUIRE_SERVICES=1 (as in CI), where they fail instead."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest

from kaskad.batch.files import frame_from_records
from kaskad.spec.schema import Schema

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "credit"


def frame_of(records: list[dict[str, Any]], schema: Schema) -> pl.DataFrame:
    """Records as the batch path reads them: JSON Lines parsed with the schema's types."""
    return frame_from_records(records, schema)


@pytest.fixture
def project(example_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the credit example (its files may be edited by the test)."""
    import shutil

    target = tmp_path / "credit"
    shutil.copytree(example_dir, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


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
