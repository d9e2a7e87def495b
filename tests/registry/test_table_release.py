"""A release of a pipeline with decision tables snapshots the tables and their CSV rules,
and runs its own version after the files change."""

from __future__ import annotations

import shutil
from pathlib import Path

from kaskad import compile_pipeline
from kaskad.registry.releases import create_release, load_release
from kaskad.store import Store

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "tables"


def test_release_keeps_the_csv_rules(local_store: Store, tmp_path: Path) -> None:
    project = tmp_path / "tables"
    shutil.copytree(EXAMPLE, project)
    release = create_release(
        local_store,
        project / "pipeline.yaml",
        actor="an analyst",
        golden_input=project / "claims.jsonl",
        golden_count=5,
    )
    assert "tables/bonus.csv" in release.manifest["files"]
    kinds = {c["kind"] for c in release.components}
    assert {"table", "table_rules"} <= kinds
    csv = project / "tables" / "bonus.csv"
    csv.write_text(csv.read_text().replace(",5,", ",50,"))
    assert compile_pipeline(project / "pipeline.yaml").hash != release.plan_hash
    loaded = load_release(local_store, release.ref, actor="an analyst", cache_root=tmp_path / "c")
    assert loaded.plan.hash == release.plan_hash
    assert all(c.ok for c in loaded.checks)  # golden cases replay on the snapshot


def test_release_diff_names_the_changed_table_rule(local_store: Store, tmp_path: Path) -> None:
    from kaskad.registry.diff import diff_releases

    project = tmp_path / "tables"
    shutil.copytree(EXAMPLE, project)
    first = create_release(local_store, project / "pipeline.yaml", actor="an analyst")
    triage = project / "tables" / "triage.yaml"
    triage.write_text(triage.read_text().replace('"< 25"', '"< 30"'))
    second = create_release(local_store, project / "pipeline.yaml", actor="an analyst")
    diff = diff_releases(local_store, first.ref, second.ref, tmp_path / "cache")
    tables = diff.of_kind("table")
    assert [(c.name, c.status) for c in tables] == [("triage.r2", "changed")]
    assert tables[0].before is not None and "< 25" in tables[0].before
    assert tables[0].after is not None and "< 30" in tables[0].after


def test_passport_lists_table_rows_among_the_rules(local_store: Store, tmp_path: Path) -> None:
    from kaskad.passport.facts import gather

    project = tmp_path / "tables"
    shutil.copytree(EXAMPLE, project)
    release = create_release(local_store, project / "pipeline.yaml", actor="an analyst")
    passport = gather(local_store, release.ref, tmp_path / "cache")
    triage = next(rs for rs in passport.rulesets if rs["name"] == "triage")
    assert "hit policy FIRST" in triage["description"]
    large = triage["rules"][0]
    assert large["id"] == "large" and large["description"].startswith("large claims")
    assert large["text"] == "amount: >= 100000; age: -; kind: -"
    assert large["outcome"] == "action=investigate, weight=3.0"
