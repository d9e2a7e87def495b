"""Registry references from the shell: validate, decide and release commands resolve
``registered: NAME@VERSION`` / ``NAME@STAGE`` through ``--store``, and every hash is
labelled: the artifact sha256 (of the file) or the component hash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kaskad.cli.main import app

ENV = {"COLUMNS": "250", "NO_COLOR": "1"}


def kaskad(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), input=stdin, env=ENV)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.slow
def test_registered_models_from_the_shell(project: Path, tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    pipeline = project / "pipeline.yaml"
    text = pipeline.read_text()
    text = text.replace(
        "    artifact: models/fraud.txt\n    framework: lightgbm\n",
        "    registered: fraud@production\n",
    )
    (project / "registered.yaml").write_text(text)
    registered = str(project / "registered.yaml")

    code, out, _ = kaskad(
        "model", "register", str(project / "models" / "fraud.txt"),
        "--name", "fraud", "--framework", "lightgbm", "--store", store,
    )  # fmt: skip
    assert code == 0 and "artifact sha256" in out
    artifact = json.loads(kaskad("model", "show", "fraud@1", "--json", "--store", store)[1])
    sha = artifact["artifact_sha256"]

    code, _, err = kaskad("validate", registered, "--store", store)
    assert code == 1
    assert "K307" in err and "stage production of model fraud points at no version" in err

    code, out, _ = kaskad("model", "promote", "fraud@1", "--to", "production", "--store", store)
    assert code == 0 and "fraud@production" in out and "version 1" in out
    assert json.loads(kaskad("model", "show", "fraud@production", "--json", "--store", store)[1])[
        "stages"
    ] == ["production"]

    code, out, _ = kaskad("validate", registered, "--store", store)
    assert code == 0, out
    assert "component hash" in out and "artifact sha256" in out
    assert "registry fraud@1" in out and sha[:12] in out
    data = json.loads(kaskad("validate", registered, "--store", store, "--json")[1])
    fraud = next(c for c in data["components"] if c["name"] == "fraud")
    assert fraud["artifact_sha256"] == sha and fraud["sha256"] != sha

    record = (project / "data" / "applications.jsonl").read_text().splitlines()[0]
    code, out, _ = kaskad("decide", registered, "--store", store, stdin=record)
    assert code == 0, out
    assert f"artifact sha256 {sha[:12]}" in out and "component hash" in out

    code, out, _ = kaskad("release", "create", registered, "--store", store)
    assert code == 0, out
    assert "model fraud@production pinned to fraud@1" in out
    code, out, _ = kaskad("release", "show", "loan_decision@1", "--store", store)
    assert code == 0
    assert "component hash" in out and "artifact sha256" in out and sha[:12] in out
    assert "registered model fraud@production: pinned to fraud@1" in out
