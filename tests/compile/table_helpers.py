"""Build small pipelines around one decision table in a temporary folder."""

from __future__ import annotations

from pathlib import Path

SCHEMA = Path(__file__).parents[1] / "golden" / "tables" / "schema.yaml"


def write_pipeline(where: Path, table: str, csv: str | None = None) -> Path:
    """``where/pipeline.yaml`` with one step ``- table: tables/t.yaml`` holding ``table``."""
    (where / "tables").mkdir(parents=True, exist_ok=True)
    (where / "tables" / "t.yaml").write_text(table, encoding="utf-8")
    if csv is not None:
        (where / "tables" / "t.csv").write_text(csv, encoding="utf-8")
    path = where / "pipeline.yaml"
    path.write_text(
        f"pipeline: p\ninput: {SCHEMA}\nsteps:\n  - table: tables/t.yaml\n"
        "decision:\n  - otherwise: done\n",
        encoding="utf-8",
    )
    return path
