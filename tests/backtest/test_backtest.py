"""Backtest: two releases over the same history; flips, rule rates, score shift, AUC/KS."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import typer
from scipy.stats import ks_2samp
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from kaskad import BatchExecutor, compile_pipeline
from kaskad.backtest.report import read_summary, render_html, summary, write_report, write_summary
from kaskad.backtest.run import (
    BacktestResult,
    FlipCell,
    LabelError,
    RuleChange,
    auc,
    backtest,
    ks,
    psi,
    stability,
)
from kaskad.cli.backtest import backtest as backtest_command
from kaskad.compile.plan import Plan
from kaskad.io.files import read_input
from kaskad.registry.releases import create_release
from kaskad.store import Store

ROWS = 3000
CASH_1M = "aml_mandatory_control.cash_1m"
OLD, NEW = "operation.amount_rub >= 1000000", "operation.amount_rub >= 600000"


def lower_threshold(folder: Path) -> None:
    rules = folder / "rules" / "aml_mandatory_control.yaml"
    text = rules.read_text()
    assert OLD in text
    rules.write_text(text.replace(OLD, NEW))


@pytest.fixture(scope="module")
def plans(example_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Plan, Plan]:
    """The example as the baseline; a copy whose only change is the cash threshold."""
    copy = tmp_path_factory.mktemp("candidate") / "credit"
    shutil.copytree(example_dir, copy, ignore=shutil.ignore_patterns("__pycache__", "*.jsonl"))
    lower_threshold(copy)
    return compile_pipeline(example_dir / "pipeline.yaml"), compile_pipeline(copy / "pipeline.yaml")


@pytest.fixture(scope="module")
def history(example_dir: Path, plans: tuple[Plan, Plan]) -> pl.DataFrame:
    """A few thousand applications with their `defaulted` label.

    Cash operations between 600,000 and 1,000,000 RUB are rare in the synthetic data (2
    of 20,000), so every 8th operation is moved to 750,000 RUB; every 500th application
    loses its channel and is rejected at the door.
    """
    frame = read_input(example_dir / "data" / "applications.jsonl", plans[0].schema).head(ROWS)
    row = pl.int_range(pl.len())
    op = pl.col("operation")
    frame = frame.with_columns(
        pl.when(row % 8 == 0)
        .then(op.struct.with_fields(pl.lit(750_000.0).alias("amount_rub")))
        .otherwise(op)
        .alias("operation"),
        pl.when(row % 500 == 7).then(None).otherwise(pl.col("channel")).alias("channel"),
    )
    labels = pl.read_parquet(example_dir / "data" / "training.parquet")
    return frame.join(labels.select("application_id", "defaulted"), on="application_id", how="left")


@pytest.fixture(scope="module")
def result(plans: tuple[Plan, Plan], history: pl.DataFrame) -> BacktestResult:
    baseline, candidate = plans
    chunks = history.iter_slices(700)  # chunks of unequal size: the last one is short
    return backtest(baseline, candidate, chunks, "defaulted", input_name="history")


@pytest.fixture(scope="module")
def outputs(plans: tuple[Plan, Plan], history: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Both plans on the whole history at once, row by row, to check the backtest against."""
    return BatchExecutor(plans[0]).run(history), BatchExecutor(plans[1]).run(history)


# ---- the acceptance case ----------------------------------------------------------------


@pytest.mark.slow
def test_every_flip_is_explained_by_the_lowered_threshold(result: BacktestResult) -> None:
    flips = [c for c in result.flips if c.baseline != c.candidate]
    assert result.flipped > 100 and {c.baseline for c in flips} == {"approve", "reject"}
    for cell in flips:
        assert cell.baseline != "manual_review" and cell.candidate == "manual_review"
        assert cell.rule_changes == (RuleChange(CASH_1M, "pass", "hit", cell.rows),)
        assert {r.candidate for r in cell.reason_changes} == {"aml"}
        assert len(cell.examples) == 5
    # the report names the changed rule as the change that explains every flip
    assert [(c.kind, c.name, c.flips) for c in result.changes] == [
        ("rule", CASH_1M, result.flipped)
    ]
    assert (result.flips_unexplained, result.flips_rejected) == (0, 0)
    assert result.rows == ROWS
    assert result.cell("rejected", "rejected") == ROWS // 500
    assert result.decision_counts("baseline")["rejected"] == ROWS // 500


def test_flip_matrix_agrees_with_running_both_plans_row_by_row(
    result: BacktestResult, outputs: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    base, cand = outputs
    pairs = pl.DataFrame(
        {
            "b": base["decision"].fill_null("rejected"),
            "c": cand["decision"].fill_null("rejected"),
            "before": base[CASH_1M],
            "after": cand[CASH_1M],
        }
    )
    for b, c, n in pairs.group_by("b", "c").len().iter_rows():
        assert result.cell(b, c) == n
    flipped = pairs.filter(pl.col("b") != pl.col("c"))
    assert flipped.height == result.flipped
    assert (flipped["before"] == "pass").all() and (flipped["after"] == "hit").all()
    example = next(
        c for c in result.flips if (c.baseline, c.candidate) == ("approve", "manual_review")
    )
    keyed = base.with_columns(cand["decision"].alias("cand"))
    for key in example.examples:
        row = keyed.filter(pl.col("application_id") == key)
        assert row["decision"].item() == example.baseline and row["cand"].item() == "manual_review"


def test_only_the_changed_rule_changes(result: BacktestResult) -> None:
    assert {r.presence for r in result.rules} == {"both"}
    changed = [
        r
        for r in result.rules
        if r.hit_rate_change or r.unknown_rate_change or r.rows_changed or r.definition_changed
    ]
    assert [r.column for r in changed] == [CASH_1M]
    (rule,) = changed
    assert rule.definition_changed and rule.candidate_when and NEW in rule.candidate_when
    assert rule.baseline and rule.candidate and rule.hit_rate_change
    assert rule.candidate.hit > rule.baseline.hit
    assert rule.rows_changed == rule.candidate.hit - rule.baseline.hit >= result.flipped
    assert rule.baseline.rows == ROWS - ROWS // 500  # rejected rows have no rule outcomes


def test_scores_do_not_move(result: BacktestResult) -> None:
    assert [s.output for s in result.scores] == ["fraud_score", "pd"]
    for shift in result.scores:
        assert shift.psi == 0.0 and shift.stability == "stable"
        assert shift.rows_changed == 0 and shift.max_abs_change == 0.0
        assert shift.histogram.baseline == shift.histogram.candidate
        assert sum(shift.histogram.baseline) == shift.baseline.rows == ROWS - ROWS // 500
        assert len(shift.bins) == 10
        # deciles of the baseline: a tenth of it per bin, up to tied scores at an edge
        assert all(b.baseline_share == pytest.approx(0.1, abs=0.01) for b in shift.bins)


# ---- label metrics ----------------------------------------------------------------------


def test_label_metrics_match_scikit_learn(
    result: BacktestResult, outputs: tuple[pl.DataFrame, pl.DataFrame], history: pl.DataFrame
) -> None:
    base = outputs[0].with_columns(history["defaulted"])
    for output in ("fraud_score", "pd"):
        scored = base.filter(pl.col(output).is_not_null() & pl.col("defaulted").is_not_null())
        scores = scored[output].to_numpy().astype(np.float32)
        labels = scored["defaulted"].to_numpy()
        for perf in (p for p in result.performance if p.output == output):
            assert perf.rows == scored.height and perf.positives == int(labels.sum())
            assert perf.auc == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
            assert perf.gini == pytest.approx(2 * perf.auc - 1, abs=1e-12)
            stat = ks_2samp(scores[labels == 1], scores[labels == 0]).statistic
            assert perf.ks == pytest.approx(stat, abs=1e-12)
    pd_auc = next(p.auc for p in result.performance if p.output == "pd")
    assert pd_auc is not None and pd_auc > 0.7  # the credit model does separate defaults
    for release in ("baseline", "candidate"):
        rates = [o for o in result.outcomes if o.release == release]
        assert sum(o.rows for o in rates) == history["defaulted"].count()
        assert sum(o.positives for o in rates) == history["defaulted"].sum()
        assert all(o.rate == o.positives / o.rows for o in rates if o.rows)


def _direct_ks(scores: np.ndarray, labels: np.ndarray) -> float:
    pos, neg = scores[labels == 1], scores[labels == 0]
    return max(abs((pos <= t).mean() - (neg <= t).mean()) for t in np.unique(scores))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_and_ks_with_ties_match_references(seed: int) -> None:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 2000).astype(np.int8)
    scores = np.round(rng.normal(labels * 0.7, 1.0), 1).astype(np.float32)  # many ties
    assert auc(scores, labels) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert ks(scores, labels) == pytest.approx(_direct_ks(scores, labels), abs=1e-12)
    constant, alternating = np.full(10, 0.5, dtype=np.float32), np.arange(10, dtype=np.int8) % 2
    assert auc(constant, alternating) == 0.5 and ks(constant, alternating) == 0.0


def test_auc_against_a_hand_count() -> None:
    # positives 0.35, 0.8, 0.4 against negatives 0.1, 0.4: of the six pairs the positive
    # scores higher in 4 and ties in 1 (0.4 = 0.4, counted half), so AUC = 4.5 / 6
    scores = np.array([0.1, 0.4, 0.35, 0.8, 0.4], dtype=np.float32)
    labels = np.array([0, 0, 1, 1, 1], dtype=np.int8)
    assert auc(scores, labels) == pytest.approx(0.75, abs=1e-12)
    assert auc(scores, 1 - labels) == pytest.approx(0.25, abs=1e-12)


def test_metrics_need_both_classes() -> None:
    scores = np.array([0.1, 0.4, 0.8], dtype=np.float32)
    ones = np.ones(3, dtype=np.int8)
    assert auc(scores, ones) is None and ks(scores, ones) is None
    assert auc(scores[:0], ones[:0]) is None
    perfect = np.array([0, 0, 1], dtype=np.int8)
    assert auc(scores, perfect) == 1.0 and ks(scores, perfect) == 1.0


def test_psi_bins_and_reading() -> None:
    rng = np.random.default_rng(7)
    base = rng.uniform(0, 1, 10_000)
    same, bins = psi(base, base.copy())
    assert same == 0.0 and len(bins) == 10 and bins[0].lower is None and bins[-1].upper is None
    shifted, _ = psi(base, rng.uniform(0.3, 1.3, 10_000))
    assert shifted > 0.25 and stability(shifted) == "significant"
    # every candidate row above the baseline's top decile: empty bins count as 0.01%
    top, table = psi(base, np.full(100, 5.0))
    expected = 9 * (1e-4 - 0.1) * np.log(1e-4 / 0.1) + (1 - 0.1) * np.log(1 / 0.1)
    assert top == pytest.approx(expected, rel=1e-3) and table[-1].candidate_share == 1.0
    assert [stability(v) for v in (0.05, 0.1, 0.25, 0.26, None)] == [
        "stable",
        "moderate",
        "moderate",
        "significant",
        None,
    ]


def test_label_must_be_present_and_zero_or_one(
    plans: tuple[Plan, Plan], history: pl.DataFrame
) -> None:
    small = history.head(50)
    with pytest.raises(LabelError, match="'outcome' is not in the input"):
        backtest(*plans, [small], "outcome")
    bad = small.with_columns(pl.lit(2).alias("outcome"))
    with pytest.raises(LabelError, match=r"must hold 0 and 1.*found 2"):
        backtest(*plans, [bad], "outcome")
    no_label = backtest(*plans, [small], None)
    assert no_label.performance == () and no_label.outcomes == ()


def test_rules_in_only_one_release_are_shown_as_such(project: Path, example_dir: Path) -> None:
    rules = project / "rules" / "antifraud.yaml"
    text = rules.read_text()
    rules.write_text(
        text
        + "  - id: huge_amount\n    description: A very large loan\n"
        + "    when: amount > 2000000\n"
    )
    aml = project / "rules" / "aml_mandatory_control.yaml"
    text = aml.read_text()
    aml.write_text(text[: text.index("  - id: cash_structuring")])
    baseline, candidate = (
        compile_pipeline(example_dir / "pipeline.yaml"),
        compile_pipeline(project / "pipeline.yaml"),
    )
    frame = read_input(example_dir / "data" / "applications.jsonl", baseline.schema).head(200)
    got = {r.column: r for r in backtest(baseline, candidate, [frame], None).rules}
    assert got["antifraud.huge_amount"].presence == "candidate only"
    assert got["antifraud.huge_amount"].baseline is None
    assert got["aml_mandatory_control.cash_structuring"].presence == "baseline only"
    assert got["aml_mandatory_control.cash_structuring"].rows_changed is None
    assert list(got)[-1] == "antifraud.huge_amount"


# ---- report and summary -----------------------------------------------------------------


def test_html_report_is_self_contained_and_escaped(result: BacktestResult, tmp_path: Path) -> None:
    hostile = dataclasses.replace(result, input_name="<script>alert('x')</script>&")
    path = tmp_path / "report.html"
    write_report(path, hostile)
    page = path.read_text(encoding="utf-8")
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page and "<link" not in page and "src=" not in page
    # MarkupSafe (Jinja2's autoescape) writes ' as &#39;
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;" in page
    assert '<table class="matrix">' in page and page.count('class="num diag"') == len(
        result.decisions
    )
    assert page.count('class="num flip"') == len(
        [c for c in result.flips if c.baseline != c.candidate]
    )
    assert "<svg" in page and "PSI" in page and "stable: no meaningful shift" in page
    assert "AUC" in page and "Gini" in page and "KS" in page
    assert "condition changed" in page and "amount_rub &gt;= 600000" in page
    assert render_html(hostile) == page
    newly_rejected = FlipCell("approve", "rejected", 3, examples=("<A1>",))
    other = render_html(dataclasses.replace(result, flips=(*result.flips, newly_rejected)))
    assert "passes one release's schema check and fails the other's" in other
    assert "<code>&lt;A1&gt;</code>" in other


def test_summary_round_trips(result: BacktestResult, tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    write_summary(path, result)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data == json.loads(json.dumps(summary(result)))
    assert read_summary(path) == result
    assert data["baseline"]["plan_hash"] == result.baseline.plan_hash
    assert data["candidate"]["name"] == "loan_decision" and data["input_name"] == "history"
    assert data["headline"] == {
        "rows": ROWS,
        "flipped": result.flipped,
        "flip_share": result.flipped / ROWS,
    }
    assert data["flip_matrix"]["approve"]["manual_review"] == result.cell(
        "approve", "manual_review"
    )
    assert {d["decision"] for d in data["decision_rates"]} == set(result.decisions)


# ---- the command ------------------------------------------------------------------------


def cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """Test app."""

    app.command("backtest")(backtest_command)
    return app


def test_command_compares_a_release_with_the_working_copy(
    project: Path, history: pl.DataFrame, tmp_path: Path
) -> None:
    store_dir = tmp_path / "store"
    store = Store.open(store_dir)
    try:
        release = create_release(store, project / "pipeline.yaml", actor="a risk analyst")
    finally:
        store.close()
    lower_threshold(project)
    data = tmp_path / "history.parquet"
    history.head(1000).write_parquet(data)
    report, summary_path = tmp_path / "out" / "report.html", tmp_path / "out" / "summary.json"
    args = ["backtest", str(project / "pipeline.yaml"), "--baseline", release.ref]
    args += ["--candidate", "working", "--input", str(data), "--label", "defaulted"]
    args += ["--report", str(report), "--summary", str(summary_path), "--store", str(store_dir)]
    args += ["--actor", "a risk analyst", "--chunk-size", "300"]
    outcome = CliRunner().invoke(cli(), args, env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert outcome.exit_code == 0, outcome.output
    assert "decisions" in outcome.stdout and "flip matrix" in outcome.stdout
    assert CASH_1M in outcome.stdout
    saved = read_summary(summary_path)
    assert saved.baseline.ref == "loan_decision@1" and saved.candidate.ref is None
    assert saved.rows == 1000 and saved.flipped > 0 and saved.label == "defaulted"
    assert '<table class="matrix">' in report.read_text(encoding="utf-8")

    bad = CliRunner().invoke(cli(), [*args[:3], "loan_decision", *args[4:]])
    assert bad.exit_code == 1 and "is not a release" in bad.output  # as every bad reference
    no_label = [*args[:8], "--label", "nope", *args[10:]]
    missing = CliRunner().invoke(cli(), no_label)
    assert missing.exit_code == 2 and "'nope'" in missing.output
    assert "K701 no column 'nope'" in missing.output and "has no values" not in missing.output
