"""The environment story end to end: a model trained and registered under another
scikit-learn minor version is refused with the expected-vs-installed table; the explicit
override loads it (the library's warning in the trace and the audit entry); without the
override nothing is audited as loaded."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import sklearn

from kaskad.execute.explain import explain
from kaskad.execute.record import RecordExecutor
from kaskad.registry.errors import EnvironmentMismatchError
from kaskad.registry.models import register_model
from kaskad.registry.releases import create_release, load_release
from kaskad.store import Store

OTHER = "1.8" if not sklearn.__version__.startswith("1.8.") else "1.7"
VENV = Path(tempfile.gettempdir()) / f"kaskad-tests-sklearn-{OTHER}"

TRAIN = """
import sys
import joblib, numpy as np, pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
rng = np.random.default_rng(3)
n = 1000
x = pd.DataFrame({"income": rng.lognormal(10, 0.5, n), "amount": rng.lognormal(11, 0.8, n),
                  "channel": rng.choice(["web", "branch", "phone"], n).tolist()})
y = (x["amount"] / x["income"] + rng.normal(0, 1, n) > 3).to_numpy().astype(int)
cols = ColumnTransformer([("num", make_pipeline(SimpleImputer(), StandardScaler()),
                           ["income", "amount"]),
                          ("cat", OneHotEncoder(handle_unknown="ignore"), ["channel"])])
joblib.dump(make_pipeline(cols, LogisticRegression()).fit(x, y), sys.argv[1])
rows = [dict(r, application_id=f"A{i}") for i, r in enumerate(x.to_dict("records"))]
with open(sys.argv[2], "w") as f:
    f.writelines(__import__("json").dumps(r) + "\\n" for r in rows[:50])
"""

PIPELINE = """\
pipeline: old_credit
version: 1
input: schema.yaml
steps:
  - model: credit
    artifact: credit.joblib
    framework: sklearn
    inputs: [income, amount, channel]
    outputs: {pd: score}
decision:
  - when: pd > 0.5
    outcome: reject
  - otherwise: approve
"""

SCHEMA = """\
schema: application
fields:
  application_id: {type: string, required: true, key: true}
  income: float
  amount: {type: float, required: true}
  channel: {type: category, values: [web, branch, phone], required: true}
"""


@pytest.fixture(scope="session")
def other_python() -> Path:
    """A virtualenv with another scikit-learn minor version, made once (from the pip cache)."""
    python = VENV / "bin" / "python"
    check = [
        str(python),
        "-c",
        f"import sklearn, pandas; assert sklearn.__version__[:3] == '{OTHER}'",
    ]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    try:
        subprocess.run(
            [sys.executable, "-m", "venv", "--clear", str(VENV)],
            check=True,
            capture_output=True,
            timeout=300,
        )
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "-q",
                f"scikit-learn=={OTHER}.*",
                "joblib",
                "pandas",
            ],
            check=True,
            capture_output=True,
            timeout=900,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        pytest.skip(f"cannot make a virtualenv with scikit-learn {OTHER}: {exc}")
    if subprocess.run(check, capture_output=True).returncode != 0:
        pytest.skip(f"the virtualenv at {VENV} has no scikit-learn {OTHER}")
    return python


def _overrides(store: Store) -> list[dict[str, object]]:
    return [
        {"target": e.target, **e.detail}
        for e in reversed(store.audit_log())
        if e.action == "environment.override"
    ]


@pytest.mark.slow
def test_another_minor_version_is_refused_then_loaded_by_the_override(
    other_python: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "pipeline"
    folder.mkdir()
    subprocess.run(
        [
            str(other_python),
            "-c",
            TRAIN,
            str(folder / "credit.joblib"),
            str(folder / "applications.jsonl"),
        ],
        check=True,
        timeout=300,
    )
    (folder / "schema.yaml").write_text(SCHEMA)
    (folder / "pipeline.yaml").write_text(PIPELINE)
    cache = tmp_path / "cache"
    with Store.open(tmp_path / "store") as store:
        version = register_model(
            folder / "credit.joblib", name="credit", framework="sklearn", store=store, actor="ds"
        )
        assert version.environment["packages"]["scikit-learn"].startswith(OTHER)

        def release(allow: bool) -> object:
            return create_release(
                store,
                folder / "pipeline.yaml",
                actor="rm",
                golden_input=folder / "applications.jsonl",
                allow_environment_mismatch=allow,
            )

        with pytest.raises(EnvironmentMismatchError) as refused:
            release(False)
        table = str(refused.value)
        assert "expected (release lock)" in table and "installed" in table
        assert f"scikit-learn  {OTHER}" in table and sklearn.__version__ in table
        assert _overrides(store) == []

        made = release(True)
        assert made.environment["packages"]["scikit-learn"].startswith(OTHER)
        [created] = _overrides(store)
        assert created["reason"] == "created with --allow-environment-mismatch"

        with pytest.raises(EnvironmentMismatchError, match="scikit-learn"):
            load_release(store, made.ref, actor="ops", cache_root=cache)
        assert len(_overrides(store)) == 1  # nothing audited as loaded

        loaded = load_release(
            store, made.ref, actor="ops", cache_root=cache, allow_environment_mismatch=True
        )
        entries = _overrides(store)
        assert len(entries) == 2
        assert entries[-1]["reason"] == "loaded with --allow-environment-mismatch"
        warnings = entries[-1]["warnings"]
        assert isinstance(warnings, list) and warnings
        assert all("InconsistentVersionWarning" in w for w in warnings)
        assert loaded.warnings == warnings
        record = json.loads((folder / "applications.jsonl").read_text().splitlines()[0])
        trace = explain(loaded.plan, RecordExecutor(loaded.plan).decide(record))
        [step] = trace["trace"]["steps"]
        assert step["model"]["warnings"] == warnings
