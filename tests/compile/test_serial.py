"""A compiled plan is plain data: it round-trips through JSON, and its hash is the hash of
that form, the same wherever the pipeline's files were."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from kaskad import BatchExecutor, RecordExecutor, compile_pipeline
from kaskad.compile.serial import PlanFormatError, plan_from_json, plan_hash, plan_to_json
from kaskad.io.files import read_input


@pytest.mark.parametrize("name", ["pipeline.yaml", "aml_screening.yaml"])
def test_plan_round_trips_through_json(example_dir: Path, name: str) -> None:
    plan = compile_pipeline(example_dir / name)
    text = plan_to_json(plan)
    again = plan_from_json(text)
    assert again == plan
    assert plan_to_json(again) == text
    assert plan.hash == plan_hash(plan) == plan_hash(again)


def test_read_back_plan_decides_like_the_compiled_one(example_dir: Path) -> None:
    plan = compile_pipeline(example_dir / "pipeline.yaml")
    again = plan_from_json(plan_to_json(plan))
    frame = read_input(example_dir / "data" / "applications.jsonl", plan.schema).head(300)
    assert BatchExecutor(again).run(frame).equals(BatchExecutor(plan).run(frame))
    record = frame.row(0, named=True)
    assert RecordExecutor(again).decide(record).output == RecordExecutor(plan).decide(record).output


def test_hash_does_not_depend_on_where_the_files_are(example_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "elsewhere" / "credit"
    shutil.copytree(example_dir, copy, ignore=shutil.ignore_patterns("data"))
    here = compile_pipeline(example_dir / "pipeline.yaml")
    there = compile_pipeline(copy / "pipeline.yaml")
    assert here.components[0].path != there.components[0].path
    assert here.hash == there.hash


def test_hash_changes_with_a_rule(example_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "credit"
    shutil.copytree(example_dir, copy, ignore=shutil.ignore_patterns("data"))
    before = compile_pipeline(copy / "pipeline.yaml").hash
    rules = next((copy / "rules").glob("*.yaml"))
    rules.write_text(rules.read_text().replace("1000000", "999999", 1))
    assert compile_pipeline(copy / "pipeline.yaml").hash != before


def test_tampered_or_foreign_plans_are_refused(example_dir: Path) -> None:
    text = plan_to_json(compile_pipeline(example_dir / "aml_screening.yaml"))
    data = json.loads(text)
    data["plan"]["decision"][0]["outcome"] = "approve_everything"
    with pytest.raises(PlanFormatError, match="does not match its hash"):
        plan_from_json(json.dumps(data))
    data["format"] = "kaskad.plan/999"
    with pytest.raises(PlanFormatError, match=r"kaskad\.plan/999"):
        plan_from_json(json.dumps(data))
    with pytest.raises(PlanFormatError, match="not JSON"):
        plan_from_json("{")


@pytest.mark.slow
def test_a_plan_runs_in_another_process_without_the_pipeline_files(
    example_dir: Path, tmp_path: Path
) -> None:
    """Another process reads the plan and decides with it after the pipeline's folder is
    gone: the feature module comes from the plan's own source, the models from bytes."""
    copy = tmp_path / "credit"
    shutil.copytree(example_dir, copy, ignore=shutil.ignore_patterns("data"))
    plan = compile_pipeline(copy / "pipeline.yaml")
    assert plan.modules and all(m.source for m in plan.modules)
    frame = read_input(example_dir / "data" / "applications.jsonl", plan.schema).head(200)
    expected = BatchExecutor(plan).run(frame)
    (tmp_path / "plan.json").write_text(plan_to_json(plan))
    frame.write_parquet(tmp_path / "input.parquet")
    models = tmp_path / "models"
    models.mkdir()
    for node in plan.model_nodes():
        shutil.copy(node.component.path, models / node.artifact_sha256)
    shutil.rmtree(copy)
    script = """
import sys
from pathlib import Path
import polars as pl
from kaskad import BatchExecutor
from kaskad.compile.serial import plan_from_json
from kaskad.models import default_cache
plan = plan_from_json(Path("plan.json").read_text())
for node in plan.model_nodes():
    default_cache().add(node.framework, Path("models", node.artifact_sha256).read_bytes(), "x")
BatchExecutor(plan).run(pl.read_parquet("input.parquet")).write_parquet("out.parquet")
"""
    subprocess.run([sys.executable, "-c", script], cwd=tmp_path, check=True)
    assert pl.read_parquet(tmp_path / "out.parquet").equals(expected)


def test_every_expression_construct_round_trips() -> None:
    """The parity pipeline uses every construct (intervals, count_distinct, IN a list field)."""
    parity = Path(__file__).resolve().parents[1] / "execute" / "parity" / "pipeline.yaml"
    plan = compile_pipeline(parity)
    again = plan_from_json(plan_to_json(plan))
    assert again == plan and plan_hash(again) == plan.hash
