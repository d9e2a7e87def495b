"""Build the credit example: synthetic applications, training table and models.

    python examples/credit/build.py [--rows N] [--seed S] [--out DIR]

Writes ``data/applications.jsonl`` (and the same applications as ``data/applications.parquet``,
in the input schema's types), ``data/history.parquet`` (those applications with the simulated
``defaulted`` outcome, a labelled history for backtests), ``data/training.parquet`` and
``models/*`` under DIR (default: this directory). The same seed gives byte-identical data files
and models that predict identically.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import polars as pl
from generate import generate_applications, training_table, write_applications
from train import add_fraud_score, train_models

HERE = Path(__file__).resolve().parent


def _describe(path: Path, what: str) -> str:
    return f"wrote {path} ({what}, {path.stat().st_size / 1e6:.1f} MB)"


def _typed_parquet(
    applications: list[dict[str, Any]], table: pl.DataFrame, data_dir: Path
) -> list[tuple[Path, str]]:
    """The applications as Parquet in the input schema's types, and with their outcome."""
    from kaskad.errors import Problem
    from kaskad.io.files import frame_from_records
    from kaskad.spec.schema import load_schema

    problems: list[Problem] = []
    schema_file = HERE / "schemas" / "application.yaml"
    schema, _ = load_schema(schema_file, str(schema_file), problems)
    if schema is None:
        raise SystemExit(f"{schema_file}: {problems}")
    frame = frame_from_records(applications, schema)
    typed = data_dir / "applications.parquet"
    frame.write_parquet(typed)
    history = data_dir / "history.parquet"
    frame.with_columns(table["defaulted"]).write_parquet(history)
    return [
        (typed, f"{frame.height} applications in the schema's types"),
        (history, f"{frame.height} applications with the 'defaulted' outcome"),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the credit example's data and models.")
    parser.add_argument("--rows", type=int, default=20_000, help="applications (default 20000)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--out", type=Path, default=HERE, help="output directory")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    data_dir: Path = args.out / "data"
    models_dir: Path = args.out / "models"

    applications = generate_applications(args.rows, args.seed)
    jsonl = data_dir / "applications.jsonl"
    write_applications(applications, jsonl)
    print(_describe(jsonl, f"{len(applications)} applications"))

    table = training_table(applications, args.seed)
    models = train_models(models_dir, args.seed, table=table)
    table = add_fraud_score(table, models["fraud"])
    parquet = data_dir / "training.parquet"
    table.write_parquet(parquet)
    print(_describe(parquet, f"{table.height} rows: {', '.join(table.columns)}"))
    rates = ", ".join(f"{c} {table[c].to_numpy().mean():.1%}" for c in ("is_fraud", "defaulted"))
    print(f"label rates: {rates}")
    for path, what in _typed_parquet(applications, table, data_dir):
        print(_describe(path, what))
    for name, path in models.items():
        print(_describe(path, name))
    print(f"done in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
