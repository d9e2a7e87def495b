"""``kaskad decisions replay``: served decisions re-run through their release, compared
bit for bit; a changed environment and unreplayable records reported."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import lightgbm
import numpy as np
import pytest

from kaskad.registry.releases import create_release
from kaskad.store import Store
from tests.audit.conftest import ACTOR, NAME, Served, applications, serve_and_decide
from tests.cli.test_cli import kaskad


def replay_json(location: str, *args: str) -> tuple[int, dict[str, object]]:
    result = kaskad("decisions", "replay", "--store", location, "--json", *args)
    assert result.stdout, result.stderr
    return result.returncode, json.loads(result.stdout)


@pytest.mark.slow
def test_1000_served_decisions_replay_bit_identical_then_a_changed_library_shows(
    example_dir: Path, released: tuple[Store, str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, location, cache = released
    ids = serve_and_decide(store, location, cache, applications(example_dir, 1000))
    assert len(set(ids)) == 1000

    code, report = replay_json(location, "--pipeline", "credit", "--since", "2000-01-01")
    assert code == 0, report
    assert (report["matched"], report["mismatched"], report["unreplayable"]) == (1000, 0, 0)

    # A LightGBM build that rounds its last bit differently (what a new version may do):
    # the environment lock still matches, the scores do not.
    original = lightgbm.Booster.predict

    def last_bit_up(self: lightgbm.Booster, *args: object, **kwargs: object) -> object:
        return np.nextafter(np.asarray(original(self, *args, **kwargs)), np.inf)

    monkeypatch.setattr(lightgbm.Booster, "predict", last_bit_up)
    # a new process checks the compiled kernel against that library again, finds it no
    # longer bit-identical, and runs the library: its scores are what the replay sees
    from kaskad.models import kernels

    kernels.forget()
    code, report = replay_json(location, "--pipeline", "credit")
    assert code == 1
    assert report["mismatched"] == 1000 - report["matched"] > 900
    differing = report["fields_differing"]
    assert isinstance(differing, dict) and differing["fraud_score"] == report["mismatched"]
    first = report["mismatches"][0]["differences"]  # type: ignore[index]
    fraud = next(d for d in first if d["field"] == "fraud_score")
    assert fraud["replayed"] == float(np.nextafter(fraud["logged"], np.inf))


@pytest.mark.slow
def test_one_decision_and_a_tampered_model_artifact(served_200: Served) -> None:
    code, report = replay_json(served_200.location, served_200.ids[0])
    assert code == 0 and report["matched"] == 1

    release = served_200.store.resolve(f"{NAME}@production")
    artifact = served_200.store.artifacts.path_of(release.manifest["files"]["models/fraud.txt"])  # type: ignore[attr-defined]
    artifact.chmod(0o644)
    artifact.write_bytes(artifact.read_bytes() + b"\n")
    shutil.rmtree(served_200.cache, ignore_errors=True)
    code, report = replay_json(served_200.location, "--pipeline", "credit")
    assert code == 3
    assert report["unreplayable"] == 200 and report["matched"] == 0
    reason = report["unreplayable_records"][0]["reason"]  # type: ignore[index]
    assert "cannot be loaded" in reason and "models/fraud.txt" in reason


@pytest.mark.slow
def test_a_masked_sensitive_field_that_a_rule_reads_cannot_be_replayed(
    example_dir: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "credit"
    shutil.copytree(example_dir, copy, ignore=shutil.ignore_patterns("__pycache__", "data"))
    rules = copy / "rules" / "antifraud.yaml"
    rules.write_text(
        rules.read_text()
        + "  - id: passport_missing\n"
        + "    description: No passport number given\n"
        + "    when: applicant.passport_number IS NULL\n"
        + "    outcome: review\n"
    )
    location = str(tmp_path / "store")
    store = Store.open(location)
    release = create_release(store, copy / "pipeline.yaml", actor=ACTOR)
    store.set_stage(NAME, "production", release.number, ACTOR)
    records = applications(example_dir, 20)
    with_passport = [r for r in records if (r["applicant"] or {}).get("passport_number")]  # type: ignore[union-attr]
    assert with_passport
    serve_and_decide(store, location, tmp_path / "cache", records)
    code, report = replay_json(location, "--pipeline", "credit")
    assert code == 3
    assert report["unreplayable"] == len(with_passport)
    assert report["matched"] == len(records) - len(with_passport)
    reason = report["unreplayable_records"][0]["reason"]  # type: ignore[index]
    assert "applicant.passport_number" in reason and "rules antifraud" in reason
    store.close()
