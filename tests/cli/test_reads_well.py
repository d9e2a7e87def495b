"""A command line that reads well: help grouped by workflow and without type noise,
nothing cut in an 80-column terminal, tables that fit, one table of exit codes, the store
found from any sub-folder, `model show` in brief, `release create` on an unchanged plan."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from kaskad.cli.exitcodes import EXIT_CODES, ExitCode
from kaskad.cli.helptext import PANELS
from kaskad.cli.main import app
from kaskad.cli.tables import Columns, print_rows
from tests.cli.test_cli import GOLDEN, kaskad

ROOT = Path(__file__).resolve().parents[2]
CLI = ROOT / "src" / "kaskad" / "cli"


def command_paths() -> Iterator[list[str]]:
    """Every command and sub-command of ``kaskad``, as the words that name it."""
    root = typer.main.get_command(app)

    def walk(command: object, words: list[str]) -> Iterator[list[str]]:
        commands = getattr(command, "commands", None)
        if commands is None:
            yield words
            return
        for name, sub in commands.items():
            yield from walk(sub, [*words, name])

    yield from walk(root, [])


def help_of(words: list[str], columns: int) -> str:
    result = CliRunner().invoke(
        app, [*words, "--help"], env={"COLUMNS": str(columns), "NO_COLOR": "1"}
    )
    assert result.exit_code == 0, result.output
    return result.output


def test_help_groups_commands_in_workflow_order() -> None:
    text = help_of([], 100)
    positions = [text.index(f"─ {panel} ") for panel in PANELS]
    assert positions == sorted(positions), "panels out of workflow order"
    assert "─ Commands " not in text  # every command is in a workflow panel
    build = text[positions[0] : positions[1]]
    assert "validate" in build and "decide" in build and "backtest" not in build
    assert text.index(" run ") < text.index(" serve ") < text.index(" monitor ")


@pytest.mark.slow
def test_no_help_shows_type_noise_or_cuts_anything_at_80_columns() -> None:
    paths = list(command_paths())
    assert len(paths) > 30  # every sub-command, not only the top level
    for words in [[], *paths]:
        text = help_of(words, 80)
        where = " ".join(words) or "kaskad"
        assert not re.search(r"<(bool|str|int|float|path|int range)>", text), where
        assert "…" not in text, f"{where} --help cuts something at 80 columns:\n{text}"
        assert not re.search(r"\{[a-z_]+\}", text.split("\n", 3)[1]), where  # usage line


def test_run_help_at_80_columns_keeps_every_option_whole() -> None:
    text = help_of(["run"], 80)
    for option in ("--allow-environment-mismatch", "--max-rejected", "--input-table"):
        assert option in text
    assert "[OPTIONS] PIPELINE" in text


def test_tables_keep_identifiers_whole_and_go_vertical_when_narrow() -> None:
    from rich.console import Console

    columns = Columns.of("run", "pipeline", "status", "input → output", identifiers=(0, 1, 2))
    rows = [["12", "loan_decision_retail_channel@12", "completed", "data/a.jsonl → out/b.jsonl"]]
    wide = Console(width=120, record=True, color_system=None)
    print_rows(wide, columns, rows)
    table = wide.export_text()
    assert "loan_decision_retail_channel@12" in table and "│" in table
    narrow = Console(width=50, record=True, color_system=None)
    print_rows(narrow, columns, rows)
    vertical = narrow.export_text()
    assert "│" not in vertical and "…" not in vertical
    assert re.search(r"pipeline\s+loan_decision_retail_channel@12", vertical)
    assert re.search(r"status\s+completed", vertical)


def test_runs_fit_an_80_column_terminal(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    pipeline = str(GOLDEN / "pipeline.yaml")
    out = str(tmp_path / "decided_operations_with_a_long_name.jsonl")
    done = kaskad("run", pipeline, "-i", str(GOLDEN / "input.jsonl"), "-o", out, "--store", store)
    assert done.returncode == 0, done.stderr
    listed = CliRunner().invoke(app, ["runs", "--store", store], env={"COLUMNS": "80"})
    assert listed.exit_code == 0, listed.output
    assert "…" not in listed.stdout
    assert "aml_unknowns" in listed.stdout and "completed" in listed.stdout
    assert all(len(line) <= 80 for line in listed.stdout.splitlines())


# ---- exit codes -------------------------------------------------------------------------


def test_every_command_module_exits_through_the_one_table() -> None:
    """No command exits with a bare number: each code comes from ExitCode."""
    for path in CLI.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            if name in ("Exit", "fail", "exit"):
                literal = [a for a in node.args if isinstance(a, ast.Constant)]
                numbers = [a.value for a in literal if isinstance(a.value, int)]
                assert not numbers, f"{path.name}:{node.lineno} exits with a bare {numbers}"


def test_exit_codes_are_documented() -> None:
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    for code in EXIT_CODES:
        assert re.search(rf"^\| {int(code)} \| `{code.name}` \|", text, re.M), code
    assert len(EXIT_CODES) == len(ExitCode)


def test_a_stage_typo_and_a_bad_reference_exit_alike(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    pipeline = str(GOLDEN / "pipeline.yaml")
    assert kaskad("release", "create", pipeline, "--store", store).returncode == 0
    typo = kaskad("release", "promote", "aml_unknowns@1", "--to", "prodution", "--store", store)
    assert typo.returncode == ExitCode.FAILED and "did you mean 'production'" in typo.stderr
    missing = kaskad("release", "promote", "aml_unknowns@7", "--to", "production", "--store", store)
    assert missing.returncode == ExitCode.FAILED and "has no release 7" in missing.stderr
    stage = kaskad("decide", "aml_unknowns@prodution", "--store", store, stdin="{}")
    assert stage.returncode == ExitCode.FAILED and "Traceback" not in stage.stderr


def test_an_unreachable_store_exits_unavailable(tmp_path: Path) -> None:
    down = "postgresql://kaskad@127.0.0.1:9/nothing?connect_timeout=2"
    listed = kaskad("release", "list", "--store", down)
    assert listed.returncode == ExitCode.UNAVAILABLE, listed.stderr
    assert "cannot open the kaskad store" in listed.stderr and "Traceback" not in listed.stderr


def test_release_create_refuses_an_unchanged_plan(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    pipeline = str(GOLDEN / "pipeline.yaml")
    assert kaskad("release", "create", pipeline, "--store", store).returncode == 0
    again = kaskad("release", "create", pipeline, "--store", store)
    assert again.returncode == ExitCode.FAILED
    assert "K950" in again.stderr and "aml_unknowns@1" in again.stderr
    assert "--allow-unchanged" in again.stderr
    listed = json.loads(
        kaskad("release", "show", "aml_unknowns@latest", "--json", "--store", store).stdout
    )
    assert listed["number"] == 1  # nothing was made
    forced = kaskad("release", "create", pipeline, "--allow-unchanged", "--store", store)
    assert forced.returncode == 0 and "aml_unknowns@2" in forced.stdout


# ---- the store's location ---------------------------------------------------------------


def test_the_store_is_found_from_a_sub_folder_and_announced_when_made(tmp_path: Path) -> None:
    project = tmp_path / "project"
    deep = project / "models" / "v2"
    deep.mkdir(parents=True)
    (project / ".git").mkdir()  # the project's root: a store above it is not the project's
    pipeline = str(GOLDEN / "pipeline.yaml")
    made = kaskad("release", "create", pipeline, cwd=project)
    assert made.returncode == 0, made.stderr
    assert f"made a new store at {project / '.kaskad'}" in made.stderr
    listed = kaskad("release", "list", cwd=deep)  # found by walking up: no second store
    assert listed.returncode == 0 and "aml_unknowns@1" in listed.stdout
    assert not (deep / ".kaskad").exists() and "new store" not in listed.stderr
    other = tmp_path / "elsewhere"
    chosen = kaskad("release", "list", "--store", str(other), cwd=deep)
    assert chosen.returncode == 0 and "aml_unknowns@1" not in chosen.stdout
    assert "new store" not in chosen.stderr  # a store given explicitly is not announced
    (tmp_path / ".kaskad").mkdir()  # outside the repository: never the project's store
    inside = kaskad("release", "list", cwd=deep)
    assert inside.returncode == 0 and "aml_unknowns@1" in inside.stdout


# ---- model show -------------------------------------------------------------------------


@pytest.fixture
def registered(project: Path, tmp_path: Path) -> tuple[str, Path]:
    """The fraud model registered with training data that has an identifier column."""
    import polars as pl

    training = pl.read_parquet(project / "data" / "training.parquet").head(500)
    training = training.with_columns(
        pl.format("CUST-{}", pl.int_range(pl.len())).alias("customer_id")
    )
    path = tmp_path / "training.parquet"
    training.write_parquet(path)
    store = str(tmp_path / "store")
    result = kaskad(
        "model", "register", str(project / "models" / "fraud.txt"), "--name", "fraud",
        "--framework", "lightgbm", "--training-data", str(path), "--store", store,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return store, path


def test_model_show_summarises_and_json_keeps_the_record(registered: tuple[str, Path]) -> None:
    store, _ = registered
    shown = CliRunner().invoke(
        app, ["model", "show", "fraud@1", "--store", store], env={"COLUMNS": "100"}
    )
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert len(lines) < 60, shown.stdout
    assert "fraud version 1 (lightgbm)" in shown.stdout
    assert "customer_id" in shown.stdout and "an identifier" in shown.stdout
    assert "CUST-" not in shown.stdout  # never an identifier's values
    assert "--json" in shown.stdout  # says how to get the full record
    full = json.loads(kaskad("model", "show", "fraud@1", "--json", "--store", store).stdout)
    profile = full["training_data"]["profile"]["customer_id"]
    assert profile["identifier"] is True and "top" not in profile
    assert len(full["sample"]) == 20


# ---- Spark ------------------------------------------------------------------------------


def test_spark_refuses_an_existing_output_without_a_traceback(tmp_path: Path) -> None:
    output = tmp_path / "out.parquet"
    output.mkdir()
    refused = kaskad(
        "run", str(GOLDEN / "pipeline.yaml"), "-i", str(GOLDEN / "input.jsonl"),
        "-o", str(output), "--engine", "spark", "--no-record", "--store", str(tmp_path / "s"),
    )  # fmt: skip
    assert refused.returncode == ExitCode.USAGE
    assert "exists" in refused.stderr and "Traceback" not in refused.stderr


@pytest.mark.slow  # starts Spark
def test_a_spark_refusal_is_one_line_not_a_java_traceback(tmp_path: Path, spark: Any) -> None:
    missing = tmp_path / "no-such-folder" / "part.parquet"
    refused = kaskad(
        "run", str(GOLDEN / "pipeline.yaml"), "-i", str(missing), "-o", str(tmp_path / "o.parquet"),
        "--engine", "spark", "--master", "local[1]", "--no-record", "--store", str(tmp_path / "s"),
    )  # fmt: skip
    assert refused.returncode == ExitCode.USAGE
    assert "Spark refused the run: [PATH_NOT_FOUND]" in refused.stderr
    assert "Traceback" not in refused.stderr and "at org.apache" not in refused.stderr
    # the command ran in this process's Spark session and left it running
    assert spark.range(3).count() == 3
