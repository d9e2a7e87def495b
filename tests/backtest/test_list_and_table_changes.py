"""The backtest names changed reference lists and decision tables next to the flips they
explain: the AML example with a country taken off its high-risk list, and the tables
example with one cell of its triage table changed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from kaskad import compile_pipeline
from kaskad.backtest.run import backtest
from kaskad.io.sources import file_source

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _run(baseline_dir: Path, candidate_dir: Path, data: Path):  # type: ignore[no-untyped-def]
    base = compile_pipeline(baseline_dir / "pipeline.yaml")
    cand = compile_pipeline(candidate_dir / "pipeline.yaml")
    chunks = file_source(data, base.schema, 1000).chunks()
    return backtest(base, cand, chunks)


def test_a_list_change_explains_the_flips_of_the_rule_that_reads_it(tmp_path: Path) -> None:
    before, after = tmp_path / "before", tmp_path / "after"
    shutil.copytree(EXAMPLES / "aml", before, ignore=shutil.ignore_patterns("data"))
    shutil.copytree(before, after)
    data = tmp_path / "operations.jsonl"
    subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / "aml" / "generate.py"),
            "--rows",
            "2000",
            "--out",
            str(data),
        ],
        check=True,
    )
    lst = after / "lists" / "high_risk_countries.csv"
    lines = lst.read_text().splitlines()
    lst.write_text("\n".join(line for line in lines if not line.startswith("IR,")) + "\n")

    result = _run(before, after, data)

    keys = {f"{c.kind} {c.name}": c for c in result.changes}
    assert "list high_risk_countries" in keys
    rule = keys["rule mandatory_control.high_risk_jurisdiction"]
    assert result.flipped > 0
    assert rule.flips + result.flips_unexplained == result.flipped
    assert rule.flips > 0


def test_a_table_cell_change_is_named_with_its_flips(tmp_path: Path) -> None:
    before, after = tmp_path / "before", tmp_path / "after"
    shutil.copytree(EXAMPLES / "tables", before)
    shutil.copytree(before, after)
    base = compile_pipeline(before / "pipeline.yaml")
    table = next(n for n in base.nodes if type(n).__name__ == "TableNode")
    path = after / "tables" / f"{table.name}.yaml"
    text = path.read_text()
    # the first rule gives another of the first output's values
    spec = yaml.safe_load(text)
    first = spec["rules"][0]["then"]
    values = [v for v in spec["outputs"][0].get("values", [])]
    assert values, "the example's first output declares its values"
    current = str(first[0]).strip("'")
    other = next(v for v in values if v != current)
    spec["rules"][0]["then"][0] = f"'{other}'"
    path.write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True))

    result = _run(before, after, before / "claims.jsonl")

    keys = {f"{c.kind} {c.name}": c for c in result.changes}
    assert f"table {table.name}" in keys
    assert result.flipped > 0
    assert keys[f"table {table.name}"].flips == result.flipped
