"""The backtest names every change between the two releases that can flip a decision, and
how many flips each explains: a lowered threshold, a changed rule, a retrained model.

The pipeline is a small microloan decision unlike the credit example: missing incomes,
debts and ages everywhere, a feature, a rule set, a logistic regression for ``pd``."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import polars as pl
import pytest
from sklearn.linear_model import LogisticRegression

from kaskad import BatchExecutor, compile_pipeline
from kaskad.backtest.report import read_summary, render_html, summary, write_summary
from kaskad.backtest.run import BacktestResult, CellChange, backtest
from kaskad.compile.plan import Plan
from kaskad.registry.diff import PLAN_KINDS, diff_plans, plan_kind

ROWS = 4000

SCHEMA = """\
schema: loan
fields:
  id: {type: string, required: true, key: true}
  income: float
  debt: float
  age: integer
"""

FEATURES = """\
featureset: money
features:
  - name: dti
    description: Debt to income; a missing debt counts as none, a missing income as {income}
    expr: coalesce(debt, 0) / coalesce(income, {income})
"""

RULES = """\
ruleset: checks
rules:
  - id: young
    description: The applicant is under {age}
    when: age < {age}
    outcome: review
"""

PIPELINE = """\
pipeline: microloan
input: schemas/loan.yaml
steps:
  - features: money.yaml
  - rules: checks.yaml
  - model: risk
    artifact: {model}
    framework: sklearn
    inputs: [dti]
    outputs: {{pd: score}}
decision:
  - when: checks.any_hit
    outcome: review
    reason: young
  - when: pd > {threshold}
    outcome: reject
    reason: credit_risk
  - otherwise: approve
"""


def _model(path: Path, seed: int, slope: float) -> None:
    rng = np.random.default_rng(seed)
    x = rng.gamma(2.0, 0.25, size=(400, 1))
    y = (rng.random(400) < 1 / (1 + np.exp(-(slope * x[:, 0] - 2.5)))).astype(int)
    joblib.dump(LogisticRegression().fit(x, y), path)


def build(
    folder: Path,
    *,
    threshold: str = "0.2",
    age: int = 21,
    model: str = "risk.joblib",
    income: int = 1000,
) -> Plan:
    (folder / "schemas").mkdir(parents=True, exist_ok=True)
    (folder / "schemas" / "loan.yaml").write_text(SCHEMA)
    (folder / "money.yaml").write_text(FEATURES.format(income=income))
    (folder / "checks.yaml").write_text(RULES.format(age=age))
    if not (folder / "risk.joblib").exists():
        _model(folder / "risk.joblib", seed=1, slope=4.0)
        _model(folder / "risk_v2.joblib", seed=2, slope=5.5)
    text = PIPELINE.format(threshold=threshold, model=model)
    (folder / "pipeline.yaml").write_text(text)
    return compile_pipeline(folder / "pipeline.yaml")


@pytest.fixture(scope="module")
def history() -> pl.DataFrame:
    rng = np.random.default_rng(11)
    income = rng.lognormal(10, 0.5, ROWS)
    debt = income * rng.gamma(2.0, 0.25, ROWS)
    age = rng.integers(18, 70, ROWS)

    def holes(values: np.ndarray, every: int) -> list[object]:
        return [None if i % every == 3 else v.item() for i, v in enumerate(values)]

    return pl.DataFrame(
        {
            "id": [f"L{i:05d}" for i in range(ROWS)],
            "income": holes(income, 7),
            "debt": holes(debt, 11),
            "age": holes(age, 13),
        },
        schema={"id": pl.String, "income": pl.Float64, "debt": pl.Float64, "age": pl.Int64},
    )


def run(a: Plan, b: Plan, history: pl.DataFrame) -> BacktestResult:
    return backtest(a, b, history.iter_slices(900), input_name="history")


def test_a_lowered_threshold_explains_every_flip(tmp_path: Path, history: pl.DataFrame) -> None:
    baseline = build(tmp_path / "a")
    candidate = build(tmp_path / "b", threshold="0.15")
    result = run(baseline, candidate, history)
    assert result.flipped > 100
    assert [(c.kind, c.name, c.status, c.before, c.after, c.flips) for c in result.changes] == [
        (
            "decision",
            "branch 2",
            "changed",
            "pd > 0.2 → reject ['credit_risk']",
            "pd > 0.15 → reject ['credit_risk']",
            result.flipped,
        )
    ]
    assert (result.flips_unexplained, result.flips_rejected) == (0, 0)
    # every flip is approve → reject (the threshold only went down), and its cell names it
    flips = [c for c in result.flips if c.baseline != c.candidate]
    assert [(c.baseline, c.candidate) for c in flips] == [("approve", "reject")]
    assert flips[0].explained_by == (CellChange("decision branch 2", result.flipped),)


def test_a_changed_rule_and_a_retrained_model_share_the_flips(
    tmp_path: Path, history: pl.DataFrame
) -> None:
    baseline = build(tmp_path / "a")
    candidate = build(tmp_path / "b", age=23, model="risk_v2.joblib")
    result = run(baseline, candidate, history)
    by = {f"{c.kind} {c.name}": c for c in result.changes}
    assert set(by) == {"rule checks.young", "model risk"}
    assert by["rule checks.young"].before == "age < 21  [outcome: review]"
    assert by["rule checks.young"].after == "age < 23  [outcome: review]"
    assert "risk_v2" not in by["model risk"].after  # artifacts are named by their sha256
    assert by["model risk"].before != by["model risk"].after
    # checked against both plans run over the whole history, row by row
    out_b, out_c = BatchExecutor(baseline).run(history), BatchExecutor(candidate).run(history)
    flipped = out_b["decision"] != out_c["decision"]
    young = out_b["checks.young"].ne_missing(out_c["checks.young"])
    risky = (out_b["pd"] > 0.2).ne_missing(out_c["pd"] > 0.2)
    assert by["rule checks.young"].flips == int((flipped & young).sum()) > 0
    assert by["model risk"].flips == int((flipped & ~young & risky).sum()) > 0
    assert by["rule checks.young"].flips + by["model risk"].flips == result.flipped
    assert result.flips_unexplained == 0
    # cell by cell, the changes behind the flips add up to the cell
    for cell in (c for c in result.flips if c.baseline != c.candidate):
        assert sum(e.rows for e in cell.explained_by) == cell.rows
        assert {e.change for e in cell.explained_by} <= set(by)
    review = {e.change for c in result.flips if c.candidate == "review" for e in c.explained_by}
    assert review == {"rule checks.young"}


def test_a_changed_feature_explains_the_flips_of_the_score_it_feeds(
    tmp_path: Path, history: pl.DataFrame
) -> None:
    # the model is the same; its input dti changes for the records without an income
    result = run(build(tmp_path / "a"), build(tmp_path / "b", income=20000), history)
    assert [(c.kind, c.name) for c in result.changes] == [("feature", "dti")]
    assert result.changes[0].flips == result.flipped > 0
    assert result.flips_unexplained == 0


def test_with_everything_changed_each_flip_is_counted_once(
    tmp_path: Path, history: pl.DataFrame
) -> None:
    baseline = build(tmp_path / "a")
    candidate = build(tmp_path / "b", threshold="0.25", age=19, model="risk_v2.joblib", income=5000)
    result = run(baseline, candidate, history)
    assert {f"{c.kind} {c.name}" for c in result.changes} == {
        "rule checks.young",
        "feature dti",
        "model risk",
        "decision branch 2",
    }
    assert result.flipped > 0
    total = sum(c.flips for c in result.changes) + result.flips_unexplained
    assert total + result.flips_rejected == result.flipped
    assert result.flips_unexplained == 0
    for cell in (c for c in result.flips if c.baseline != c.candidate):
        assert sum(e.rows for e in cell.explained_by) == cell.rows


def test_identical_releases_have_no_changes(tmp_path: Path, history: pl.DataFrame) -> None:
    plan = build(tmp_path / "a")
    result = run(plan, plan, history.head(500))
    assert result.changes == () and result.flipped == 0


def test_the_reports_show_each_change_next_to_its_flips(
    tmp_path: Path, history: pl.DataFrame
) -> None:
    result = run(build(tmp_path / "a"), build(tmp_path / "b", threshold="0.15"), history)
    data = summary(result)
    assert list(data["changes"]) == [
        {
            "kind": "decision",
            "name": "branch 2",
            "status": "changed",
            "before": "pd > 0.2 → reject ['credit_risk']",
            "after": "pd > 0.15 → reject ['credit_risk']",
            "flips": result.flipped,
        }
    ]
    write_summary(tmp_path / "s.json", result)
    assert read_summary(tmp_path / "s.json") == result
    # a summary written before changes were reported still reads
    old = {k: v for k, v in data.items() if k not in ("changes", "flips_unexplained")}
    (tmp_path / "old.json").write_text(json.dumps(old))
    assert read_summary(tmp_path / "old.json").changes == ()
    html = render_html(result)
    section = html.split('id="changes"', 1)[1].split("</section>", 1)[0]
    assert "<td>decision <code>branch 2</code></td><td>changed</td>" in section
    assert "pd &gt; 0.2 → reject" in section and "pd &gt; 0.15 → reject" in section
    assert f'<td class="num">{result.flipped:,}</td>' in section
    assert (
        f'explained by decision <a href="#changes"><code>branch 2</code></a>: '
        f"{result.flipped:,} rows" in html
    )


def test_a_new_kind_of_component_plugs_into_the_diff(tmp_path: Path) -> None:
    a, b = build(tmp_path / "a"), build(tmp_path / "b", threshold="0.15")

    @plan_kind("threshold")
    def thresholds(plan: Plan) -> dict[str, str]:
        return {"pd": next(x.text for x in plan.decision if "pd" in x.text)}

    try:
        kinds = [c.kind for c in diff_plans(a, b)]
    finally:
        del PLAN_KINDS["threshold"]
    assert kinds == ["decision", "threshold"]


def test_the_command_prints_the_changes_and_writes_them_in_the_reports(
    tmp_path: Path, history: pl.DataFrame
) -> None:
    import typer
    from typer.testing import CliRunner

    from kaskad.cli.backtest import backtest as backtest_command
    from kaskad.registry.releases import create_release
    from kaskad.store import Store

    project = tmp_path / "project"
    build(project)
    store = Store.open(tmp_path / "store")
    try:
        release = create_release(store, project / "pipeline.yaml", actor="a risk analyst")
    finally:
        store.close()
    build(project, threshold="0.15")  # the working copy lowers the threshold
    data = tmp_path / "history.parquet"
    history.write_parquet(data)
    app = typer.Typer()
    app.callback()(lambda: None)
    app.command("backtest")(backtest_command)
    report, saved = tmp_path / "report.html", tmp_path / "summary.json"
    args = ["backtest", str(project / "pipeline.yaml"), "--baseline", release.ref]
    args += ["--candidate", "working", "--input", str(data), "--store", str(tmp_path / "store")]
    args += ["--report", str(report), "--summary", str(saved), "--actor", "a risk analyst"]
    done = CliRunner().invoke(app, args, env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert done.exit_code == 0, done.output
    result = read_summary(saved)
    line = next(x for x in done.stdout.splitlines() if "decision branch 2" in x)
    cells = [c.strip() for c in line.split("│") if c.strip()]
    assert cells == [
        "decision branch 2",
        "changed",
        "pd > 0.2 → reject ['credit_risk']",
        "pd > 0.15 → reject ['credit_risk']",
        f"{result.flipped:,}",
    ]
    assert "what changed" in done.stdout
    assert 'id="changes"' in report.read_text(encoding="utf-8")
