"""Imported DMN tables compile and decide: each golden DMN file is imported (the
importer's Python API) into a pipeline folder with a hand-written schema
(tests/golden/dmn/schemas/CASE.yaml) and its tables as steps, in the order the importer
gives; ``kaskad validate`` passes, and hand-written records
(tests/golden/dmn/cases/CASE.jsonl) decide the same through both executors, as the DMN
file and the DMN 1.3 hit policies say (the expectations are derived by hand, with FEEL's
treatment of a missing value: ``< 5`` does not match it, ``not("a")`` and ``!= "a"`` do).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from kaskad import BatchExecutor, RecordExecutor, compile_pipeline
from kaskad.cli.main import app
from kaskad.dmn import read_dmn, write_tables
from kaskad.execute.convert import json_value
from kaskad.io.files import read_input

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "dmn"
FILES = sorted(GOLDEN.glob("*.dmn"))


def build_pipeline(dmn: Path, where: Path) -> Path:
    """Import ``dmn`` into ``where``: tables/, schema.yaml, pipeline.yaml."""
    model = read_dmn(dmn, dmn.name)
    write_tables(model, where)
    shutil.copy(GOLDEN / "schemas" / f"{dmn.stem}.yaml", where / "schema.yaml")
    steps = "".join(f"  - table: tables/{t.name}.yaml\n" for t in model.tables)
    (where / "pipeline.yaml").write_text(
        f"pipeline: {dmn.stem}\ninput: schema.yaml\nsteps:\n{steps}"
        "decision:\n  - otherwise: done\n",
        encoding="utf-8",
    )
    return where / "pipeline.yaml"


def load_cases(dmn: Path) -> list[dict[str, Any]]:
    lines = (GOLDEN / "cases" / f"{dmn.stem}.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_every_golden_file_has_a_schema_and_cases() -> None:
    for dmn in FILES:
        assert (GOLDEN / "schemas" / f"{dmn.stem}.yaml").exists(), dmn.name
        cases = load_cases(dmn)
        assert len(cases) >= 4, dmn.name
        # missing values in every case file: a null, or fields left out
        leaves = [_leaves(c["input"]) for c in cases]
        most = max(len(found) for found in leaves)
        assert any(None in found or len(found) < most for found in leaves), dmn.name


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    return [value]


@pytest.mark.parametrize("dmn", FILES, ids=[f.stem for f in FILES])
def test_imported_pipeline_validates(dmn: Path, tmp_path: Path) -> None:
    pipeline = build_pipeline(dmn, tmp_path)
    result = CliRunner().invoke(
        app, ["validate", str(pipeline)], env={"COLUMNS": "200", "NO_COLOR": "1"}
    )
    print(result.stdout, result.stderr)  # the warnings (K230-K233), shown with -s
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "error" not in result.stderr.lower()
    assert f"ok pipeline {dmn.stem}" in result.stdout


@pytest.mark.parametrize("dmn", FILES, ids=[f.stem for f in FILES])
def test_imported_tables_decide_as_dmn_says(dmn: Path, tmp_path: Path) -> None:
    plan = compile_pipeline(build_pipeline(dmn, tmp_path))
    cases = load_cases(dmn)
    records = tmp_path / "records.jsonl"
    records.write_text("\n".join(json.dumps(c["input"]) for c in cases) + "\n", "utf-8")
    batch = BatchExecutor(plan).run(read_input(records, plan.schema))
    batch_rows = [json_value(row) for row in batch.to_dicts()]
    executor = RecordExecutor(plan)
    record_rows = [json_value(executor.decide(c["input"]).output) for c in cases]
    assert batch_rows == record_rows
    for row, case in zip(record_rows, cases, strict=True):
        assert row["status"] == "decided", row
        got = {key: row[key] for key in case["expected"]}
        assert got == case["expected"], case["input"]["id"]


def test_rule_ids_and_outputs_that_kaskad_reserves_are_renamed(tmp_path: Path) -> None:
    """A DMN rule id equal to an output's name or to ``matched``/``unknown``, and an
    output named ``matched``, become names a kaskad table may have; the table compiles."""
    from tests.dmn.test_errors import HEAD, TAIL, rule, table

    outputs = (
        '<output id="o1" name="out" typeRef="string" />'
        '<output id="o2" name="matched" typeRef="integer" />'
    )
    body = (
        rule("out", "&lt; 5", outputs=('"low"', "1"))
        + rule("matched", "[5..10]", outputs=('"mid"', "2"))
        + rule("unknown", "&gt; 10", outputs=('"high"', "3"))
    )
    dmn = tmp_path / "names.dmn"
    dmn.write_text(HEAD + table(body, outputs=outputs, attrs=' hitPolicy="FIRST"') + TAIL)
    model = read_dmn(dmn)
    (only,) = model.tables
    assert [o.id for o in only.outputs] == ["out", "matched_2"]
    assert [r.id for r in only.rules] == ["rule_out", "rule_matched", "rule_unknown"]
    write_tables(model, tmp_path)
    (tmp_path / "schema.yaml").write_text("schema: s\nfields:\n  x: float\n", "utf-8")
    (tmp_path / "pipeline.yaml").write_text(
        "pipeline: names\ninput: schema.yaml\nsteps:\n  - table: tables/d1.yaml\n"
        "decision:\n  - otherwise: done\n",
        "utf-8",
    )
    executor = RecordExecutor(compile_pipeline(tmp_path / "pipeline.yaml"))
    row = json_value(executor.decide({"x": 7}).output)
    assert (row["d1.out"], row["d1.matched_2"], row["d1.matched"]) == ("mid", 2, ["rule_matched"])


def test_a_feel_name_that_is_a_kaskad_keyword_becomes_a_field_name(tmp_path: Path) -> None:
    from tests.dmn.test_errors import HEAD, TAIL, rule, table

    inputs = (
        '<input id="i1"><inputExpression id="e1" typeRef="date"><text>Date</text>'
        "</inputExpression></input>"
    )
    body = rule("early", '&lt; date("2024-01-01")') + rule("late", '&gt;= date("2024-01-01")')
    dmn = tmp_path / "keyword.dmn"
    dmn.write_text(HEAD + table(body, inputs=inputs) + TAIL)
    model = read_dmn(dmn)
    (only,) = model.tables
    assert only.inputs[0].expr == "date_"
    assert only.renamed == (("Date", "date_"),)
    write_tables(model, tmp_path)
    (tmp_path / "schema.yaml").write_text("schema: s\nfields:\n  date_: date\n", "utf-8")
    (tmp_path / "pipeline.yaml").write_text(
        "pipeline: keyword\ninput: schema.yaml\nsteps:\n  - table: tables/d1.yaml\n"
        "decision:\n  - otherwise: done\n",
        "utf-8",
    )
    executor = RecordExecutor(compile_pipeline(tmp_path / "pipeline.yaml"))
    assert json_value(executor.decide({"date_": "2023-05-01"}).output)["d1.matched"] == ["early"]


_money = st.none() | st.sampled_from([0, 500.0, 1000, 2999.5, 3000, 50000, 50000.5, 250000])
applications = st.lists(
    st.fixed_dictionaries(
        {
            "applicant": st.none()
            | st.fixed_dictionaries(
                {
                    "age": st.none() | st.sampled_from([18, 20, 21, 40, 65, 66, 90]),
                    "monthlyIncome": _money,
                    "pension": _money,
                    "employment": st.none()
                    | st.sampled_from(["employed", "self-employed", "unemployed", "retired"]),
                }
            ),
            "loan": st.none() | st.fixed_dictionaries({"amount": _money}),
        }
    ),
    min_size=1,
    max_size=10,
)


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=applications)
def test_imported_loan_tables_agree_in_both_executors(rows: list[dict[str, Any]]) -> None:
    """Missing values everywhere (whole objects, single fields): batch and per-record
    results of the imported loan tables are the same, row for row."""
    with tempfile.TemporaryDirectory() as folder:
        where = Path(folder)
        plan = compile_pipeline(build_pipeline(GOLDEN / "loan_camunda13.dmn", where))
        full = [{"id": str(i), **r} for i, r in enumerate(rows)]
        records = where / "records.jsonl"
        records.write_text("\n".join(json.dumps(r) for r in full) + "\n", "utf-8")
        batch = BatchExecutor(plan).run(read_input(records, plan.schema))
        batch_rows = [json_value(row) for row in batch.to_dicts()]
    executor = RecordExecutor(plan)
    assert batch_rows == [json_value(executor.decide(r).output) for r in full]
