"""``kaskad import-dmn FILE.dmn [--output-dir DIR] [--force]`` with real files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from kaskad.cli.main import app

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "dmn"
ENV = {"COLUMNS": "200", "NO_COLOR": "1"}


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=ENV)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_import_writes_tables_and_says_what_it_wrote(tmp_path: Path) -> None:
    code, out, _ = run("import-dmn", str(GOLDEN / "loan_camunda13.dmn"), "-o", str(tmp_path))
    assert code == 0
    risk, loan = tmp_path / "tables" / "risk_class.yaml", tmp_path / "tables" / "loan_approval.yaml"
    assert risk.exists() and loan.exists()
    assert (
        f"wrote {risk}: table risk_class (UNIQUE, 3 inputs, 1 output, 5 rules) from decision "
        "'Risk class'" in out
    )
    assert f"wrote {loan}: table loan_approval (PRIORITY, 2 inputs, 2 outputs, 4 rules)" in out
    assert (
        "input risk_class comes from decision 'Risk class': it reads risk_class.risk_class" in out
    )
    steps = out.split("pipeline steps, in this order (a table after those it reads):\n")[1]
    assert steps.splitlines() == [
        "  - table: tables/risk_class.yaml",
        "  - table: tables/loan_approval.yaml",
    ]


def test_existing_files_are_kept_without_force(tmp_path: Path) -> None:
    dmn = str(GOLDEN / "fees_camunda14.dmn")
    assert run("import-dmn", dmn, "--output-dir", str(tmp_path))[0] == 0
    fee = tmp_path / "tables" / "monthly_fee.yaml"
    fee.write_text("# edited by an analyst\n", encoding="utf-8")
    (tmp_path / "tables" / "offers.yaml").unlink()
    code, _out, err = run("import-dmn", dmn, "--output-dir", str(tmp_path))
    assert code == 1
    assert f"{fee}: K248 would overwrite an existing file; nothing was written" in err
    assert "hint: give --force to replace it" in err
    assert fee.read_text(encoding="utf-8") == "# edited by an analyst\n"
    assert not (tmp_path / "tables" / "offers.yaml").exists()  # nothing at all was written
    code, _out, _ = run("import-dmn", dmn, "--output-dir", str(tmp_path), "--force")
    assert code == 0
    assert fee.read_text(encoding="utf-8").startswith("# Imported by kaskad import-dmn")
    assert (tmp_path / "tables" / "offers.yaml").exists()


def test_problems_are_printed_with_file_line_and_code(tmp_path: Path) -> None:
    dmn = tmp_path / "bad.dmn"
    text = (GOLDEN / "dish_camunda7.dmn").read_text(encoding="utf-8")
    dmn.write_text(text.replace("<text>[3..5]</text>", "<text>[3..max(a, 5)]</text>"), "utf-8")
    code, _out, err = run("import-dmn", str(dmn), "-o", str(tmp_path))
    assert code == 1
    line = next(n for n, t in enumerate(dmn.read_text().splitlines(), 1) if "max(a, 5)" in t)
    assert "1 problem found" in err
    assert (
        f"{dmn}:{line}: K244 inputEntry 'UnaryTests_1ifwlrv' of rule 'DecisionRule_0d0xa8w': "
        "FEEL function 'max' is not supported" in err
    )
    assert not (tmp_path / "tables").exists()


def test_the_command_runs_as_a_user_runs_it(tmp_path: Path) -> None:
    shutil.copy(GOLDEN / "motor_drools12.dmn", tmp_path / "pricing.dmn")
    src = Path(__file__).resolve().parents[2] / "src"
    env = {**os.environ, **ENV, "PYTHONPATH": str(src)}
    done = subprocess.run(
        [sys.executable, "-m", "kaskad.cli.main", "import-dmn", "pricing.dmn"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "wrote tables/risk_level.yaml: table risk_level (ANY" in done.stdout
    assert "the FEEL name 'Car Value' is read as the field car_value" in done.stdout
    assert sorted(p.name for p in (tmp_path / "tables").iterdir()) == [
        "risk_level.yaml",
        "surcharges.yaml",
    ]
