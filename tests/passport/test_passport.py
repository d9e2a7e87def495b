"""The model passport of the credit example: every section from recorded facts, and every
hash in it (HTML, PDF, CycloneDX ML-BOM, JSON) equal to the registry's."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from kaskad.registry.models import register_model
from kaskad.registry.releases import create_release
from kaskad.store import Store
from tests.cli.test_cli import kaskad

HASH = re.compile(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")
SECTIONS = (
    "1. Purpose and use",
    "2. Design and logic",
    "3. Data",
    "4. Limitations",
    "5. Validation evidence",
    "6. Monitoring",
    "7. Change history and approvals",
    "8. Components and environment",
)


@dataclass(frozen=True)
class Made:
    store: str
    out: Path
    registry: set[str]  # every hash the registry holds for the release
    backtest_sha: str
    baseline_plan: str  # shown only with the backtest
    ref: str


@pytest.fixture(scope="module")
def made(example_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Made:
    """Two releases of the credit example (the second promoted by a risk officer), its
    models registered with training data, a backtest of one against the other, and the
    passport of the second in every format."""
    root = tmp_path_factory.mktemp("passport")
    store = str(root / "store")
    data = example_dir / "data"
    history = root / "history.jsonl"
    with data.joinpath("applications.jsonl").open() as lines:
        history.write_text("".join(next(lines) for _ in range(400)))
    project = root / "credit"
    shutil.copytree(example_dir, project, ignore=shutil.ignore_patterns("__pycache__", "data"))
    with Store.open(store) as s:
        for name, framework in (("fraud", "lightgbm"), ("credit_pd", "sklearn")):
            artifact = project / "models" / ("fraud.txt" if name == "fraud" else "credit_pd.joblib")
            register_model(
                artifact,
                store=s,
                name=name,
                framework=framework,
                metrics={"auc": 0.8},
                description=f"{name} for the passport test",
                training_data=data / "training.parquet",
                actor="model developer",
            )
        create_release(s, project / "pipeline.yaml", actor="model developer")
        rules = project / "rules" / "antifraud.yaml"
        rules.write_text(rules.read_text().replace("> 500000", "> 400000"))
        second = create_release(
            s,
            project / "pipeline.yaml",
            actor="model developer",
            golden_input=history,
            golden_count=40,
            description="new-device threshold <lowered> to 400,000",
        )
        s.set_stage("loan_decision", "production", second.number, actor="head of model risk")
        registry = {second.plan_hash, str(second.golden_sha256)}
        registry |= {c["sha256"] for c in second.components}
        registry |= set(second.manifest["files"].values())
        first = s.resolve("loan_decision@1")
        registry |= {c["sha256"] for c in first.components}  # the changes table shows both
        registry.add(first.plan_hash)  # the backtest's baseline
        for version in s.list_models():
            registry.add(version.artifact_sha256)
            assert version.training_data is not None
            registry.add(version.training_data["sha256"])
    summary = root / "backtest.json"
    ran = kaskad(
        "backtest", str(project / "pipeline.yaml"), "--baseline", "loan_decision@1",
        "--candidate", second.ref, "--input", str(history), "--summary", str(summary),
        "--store", store,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    out = root / "out"
    made = kaskad(
        "passport", second.ref, "--store", store, "--backtest", str(summary),
        "-o", str(out / "p.html"), "-o", str(out / "p.cdx.json"), "-o", str(out / "p.json"),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    backtest_sha = hashlib.sha256(summary.read_bytes()).hexdigest()
    return Made(store, out, registry, backtest_sha, first.plan_hash, second.ref)


@pytest.mark.slow
def test_every_hash_in_the_html_is_the_registrys(made: Made) -> None:
    html = (made.out / "p.html").read_text()
    # every hash shown is the registry's (or the backtest file's, shown as its evidence)
    assert set(HASH.findall(html)) == made.registry | {made.backtest_sha}


def test_sections_and_facts(made: Made) -> None:
    html = (made.out / "p.html").read_text()
    for section in SECTIONS:
        assert section in html
    assert "Retail credit risk (model owner)" in html  # owner and purpose, as declared
    assert "Decide consumer loan applications in the retail channel" in html
    assert "applicant.device_age_days &lt; 1 AND amount &gt; 400000" in html  # rule text
    assert "A device first seen less than a day ago" in html  # its description
    assert "fraud_score &gt; 0.9" in html  # decision logic
    assert "lightgbm" in html and "sklearn" in html and "onnx" in html
    assert "every output reproduces" in html  # golden replay
    assert "Used by fraud (fraud@1), credit_pd (credit_pd@1): 20,000 rows" in html
    assert "loan_decision@1 → loan_decision@2" in html  # the backtest
    assert "head of model risk" in html  # the approval, from the audit trail
    assert "rules antifraud" in html  # changed since loan_decision@1
    assert "&lt;lowered&gt;" in html and "<lowered>" not in html  # autoescaped
    assert "Model credit_pd_v2 (onnx) is not registered in this store" in html  # limitation
    assert "<script" not in html and "http://" not in html and "https://" not in html


def test_machine_readable_forms_carry_the_same_hashes(made: Made) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    text = (made.out / "p.cdx.json").read_text()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    bom = json.loads(text)
    assert bom["metadata"]["component"]["bom-ref"] == made.ref
    contents = {h["content"] for c in bom["components"] for h in c.get("hashes", [])}
    assert contents <= made.registry
    models = [c for c in bom["components"] if c["type"] == "machine-learning-model"]
    assert {m["name"] for m in models} == {"fraud", "credit_pd", "credit_pd_v2"}
    assert {"pkg:pypi/polars@" in c.get("purl", "") for c in bom["components"]} == {True, False}

    facts = json.loads((made.out / "p.json").read_text())
    assert facts["format"] == "kaskad.passport/1"
    assert set(HASH.findall(json.dumps(facts))) <= made.registry | {made.backtest_sha}
    assert facts["golden"]["count"] == 40 and facts["golden"]["difference_count"] == 0


def require_pdf_tools() -> None:
    """pdftotext and pdftoppm (Debian poppler-utils, installed by .ci/services.sh): the test
    skips without them, unless KASKAD_REQUIRE_SERVICES=1 (CI), where it fails."""
    if shutil.which("pdftotext") and shutil.which("pdftoppm"):
        return
    reason = "pdftotext/pdftoppm are not installed (apt-get install poppler-utils)"
    if os.environ.get("KASKAD_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason}; KASKAD_REQUIRE_SERVICES=1 requires them")
    pytest.skip(reason)


@pytest.mark.slow
def test_pdf_pages_and_hashes(made: Made, tmp_path: Path) -> None:
    require_pdf_tools()
    pdf = tmp_path / "p.pdf"
    done = kaskad("passport", made.ref, "--store", made.store, "-o", str(pdf))
    assert done.returncode == 0, done.stderr
    assert pdf.read_bytes().startswith(b"%PDF-")
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    for section in SECTIONS:
        assert section in text
    # no hash cut by a line or a page edge (no backtest given this time)
    assert set(HASH.findall(text)) == made.registry - {made.baseline_plan}
    pages = subprocess.run(
        ["pdftoppm", "-r", "30", "-png", str(pdf), str(tmp_path / "page")], check=True
    )
    assert pages.returncode == 0 and len(list(tmp_path.glob("page-*.png"))) >= 5


def test_bad_requests_are_refused_clearly(made: Made, tmp_path: Path) -> None:
    bad = kaskad("passport", made.ref, "--store", made.store, "-o", str(tmp_path / "p.docx"))
    assert bad.returncode == 2 and "say the format by the file name's ending" in bad.stderr
    missing = kaskad("passport", "loan_decision@9", "--store", made.store, "-o", "x.html")
    assert missing.returncode == 1 and "loan_decision has no release 9" in missing.stderr
    not_a_summary = tmp_path / "x.json"
    not_a_summary.write_text("{}")
    wrong = kaskad(
        "passport", made.ref, "--store", made.store, "--backtest", str(not_a_summary),
        "-o", str(tmp_path / "p.html"),
    )  # fmt: skip
    assert wrong.returncode == 1 and "cannot use it as backtest evidence" in wrong.stderr
    assert not (tmp_path / "p.html").exists()


def test_owner_and_purpose_are_optional_text(project: Path) -> None:
    from kaskad.errors import Problem
    from kaskad.spec.pipeline import load_pipeline_spec

    pipeline = project / "pipeline.yaml"
    problems: list[Problem] = []
    spec = load_pipeline_spec(pipeline, problems)
    assert spec is not None and problems == []
    assert spec.owner.startswith("Retail credit risk")
    assert spec.purpose.startswith("Decide consumer loan applications")

    text = pipeline.read_text()
    start, end = text.index("owner:"), text.index("input:")
    pipeline.write_text(text[:start] + "owner: [a, b]\n" + text[end:])
    problems = []
    spec = load_pipeline_spec(pipeline, problems)
    assert [p.code for p in problems] == ["K104"] and "owner" in problems[0].message
    pipeline.write_text(text[:start] + text[end:])  # neither: the passport says so
    problems = []
    spec = load_pipeline_spec(pipeline, problems)
    assert spec is not None and problems == [] and (spec.owner, spec.purpose) == ("", "")
