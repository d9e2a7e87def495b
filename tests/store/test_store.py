"""The registry on SQLite and PostgreSQL: the same tests run on both backends."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text

from kaskad.store import (
    ArtifactMissingError,
    DatabaseArtifactStore,
    NotFoundError,
    Release,
    Store,
    StoreError,
)
from kaskad.store.store import rollback_target
from kaskad.store.tables import Base, include_object

OpenStore = Callable[[], Store]


def add_model(store: Store, name: str = "fraud", **overrides: Any) -> Any:
    values: dict[str, Any] = {
        "name": name,
        "framework": "lightgbm",
        "artifact_sha256": store.artifacts.put_bytes(f"model {name}".encode()),
        "description": "fraud score",
        "metrics": {"auc": 0.91},
        "environment": {"python": "3.11.9", "packages": {"lightgbm": "4.6.0"}},
        "inputs": [{"name": "amount", "type": "float"}],
        "outputs": ["score"],
        "sample": [{"input": {"amount": 10.0}, "output": {"score": 0.1}}],
        "training_data": {"rows": 1000, "columns": {"amount": {"missing": 0.0}}},
        "actor": "data-scientist",
    }
    values.update(overrides)
    return store.add_model_version(**values)


def add_release(store: Store, pipeline: str = "loan_decision", actor: str = "ci") -> Release:
    golden = store.artifacts.put_bytes(b'{"input": {}, "output": {}}\n')
    return store.add_release(
        pipeline=pipeline,
        plan_hash="a" * 64,
        manifest={"entry": "pipeline.yaml", "files": {"pipeline.yaml": "b" * 64}},
        components=[{"kind": "model", "name": "fraud", "source": "fraud@1", "sha256": "c" * 64}],
        environment={"python": "3.11.9", "packages": {"polars": "1.0"}},
        golden_sha256=golden,
        golden_count=1,
        description="first cut",
        actor=actor,
    )


def is_utc(value: dt.datetime) -> bool:
    return value.tzinfo is not None and value.utcoffset() == dt.timedelta(0)


# -- models ---------------------------------------------------------------------------


def test_model_versions_increment_per_name(store: Store) -> None:
    first = add_model(store)
    second = add_model(store, metrics={"auc": 0.93})
    other = add_model(store, "credit_pd")
    assert (first.version, second.version, other.version) == (1, 2, 1)

    latest = store.get_model("fraud")
    assert latest == second
    assert latest.metrics == {"auc": 0.93}
    assert latest.training_data == {"rows": 1000, "columns": {"amount": {"missing": 0.0}}}
    assert is_utc(latest.created_at) and latest.created_by == "data-scientist"
    assert store.get_model("fraud", 1) == first
    assert [(m.name, m.version) for m in store.list_models()] == [
        ("credit_pd", 1),
        ("fraud", 1),
        ("fraud", 2),
    ]
    assert [m.version for m in store.list_models("fraud")] == [1, 2]


def test_get_model_errors_say_what_exists(store: Store) -> None:
    with pytest.raises(NotFoundError, match="no model named fraud is registered; there are no"):
        store.get_model("fraud")
    add_model(store)
    add_model(store)
    with pytest.raises(NotFoundError, match="model fraud has no version 7; versions: 1, 2"):
        store.get_model("fraud", 7)
    with pytest.raises(NotFoundError, match=r"models: fraud \(did you mean fraud\?\)"):
        store.get_model("frud")


def test_model_artifact_must_be_stored_first(store: Store) -> None:
    with pytest.raises(ArtifactMissingError, match=r"model fraud: artifact sha256 d{64}"):
        add_model(store, artifact_sha256="d" * 64)
    assert store.list_models() == []
    assert store.audit_log() == []


def test_values_must_be_json(store: Store) -> None:
    with pytest.raises(StoreError, match="metrics cannot be stored as JSON"):
        add_model(store, metrics={"auc": float("nan")})
    with pytest.raises(StoreError, match="invalid model name"):
        add_model(store, "fraud@2")


# -- releases -------------------------------------------------------------------------


def test_releases_increment_per_pipeline(store: Store) -> None:
    numbers = [add_release(store).number for _ in range(3)]
    assert numbers == [1, 2, 3]
    assert add_release(store, "aml_check").number == 1
    got = store.get_release("loan_decision", 2)
    assert got.ref == "loan_decision@2"
    assert got.manifest == {"entry": "pipeline.yaml", "files": {"pipeline.yaml": "b" * 64}}
    assert got.components[0]["source"] == "fraud@1"
    assert is_utc(got.created_at)
    assert [r.ref for r in store.list_releases()] == [
        "aml_check@1",
        "loan_decision@1",
        "loan_decision@2",
        "loan_decision@3",
    ]
    assert [r.number for r in store.list_releases("aml_check")] == [1]


def test_resolve_refs(store: Store) -> None:
    for _ in range(3):
        add_release(store)
    store.set_stage("loan_decision", "production", 2, "ops")
    store.set_stage("loan_decision", "shadow", 3, "data-scientist")
    assert store.resolve("loan_decision@1").number == 1
    assert store.resolve("loan_decision@latest").number == 3
    assert store.resolve("loan_decision@production").number == 2
    assert store.resolve("loan_decision@shadow").number == 3


def test_resolve_errors_say_what_exists(store: Store) -> None:
    add_release(store)
    add_release(store)
    with pytest.raises(
        NotFoundError, match=r"no release of loan_decision is in stage production; releases: 1, 2$"
    ):
        store.resolve("loan_decision@production")
    store.set_stage("loan_decision", "shadow", 2, "ops")
    with pytest.raises(NotFoundError, match="releases: 1, 2; stages: shadow → 2"):
        store.resolve("loan_decision@production")
    with pytest.raises(NotFoundError, match="loan_decision has no release 9; releases: 1, 2"):
        store.resolve("loan_decision@9")
    with pytest.raises(NotFoundError, match="loan_decision has no release 9"):
        store.get_release("loan_decision", 9)
    with pytest.raises(
        NotFoundError,
        match=r"pipeline loan_decison has no releases; pipelines: loan_decision \(did you mean",
    ):
        store.resolve("loan_decison@latest")
    with pytest.raises(StoreError, match="is not a release reference") as info:
        store.resolve("loan_decision")
    assert not isinstance(info.value, NotFoundError)


# -- stages ---------------------------------------------------------------------------


def test_promote_rollback_promote_history(store: Store) -> None:
    for _ in range(3):
        add_release(store)
    store.set_stage("loan_decision", "production", 1, "ops")
    store.set_stage("loan_decision", "production", 2, "ops")
    back = store.rollback("loan_decision", "production", "ops-on-call")
    assert (back.from_release, back.to_release, back.action) == (2, 1, "rollback")
    store.set_stage("loan_decision", "production", 3, "ops")
    store.set_stage("loan_decision", "shadow", 2, "data-scientist")

    assert store.stages("loan_decision") == {"production": 3, "shadow": 2}
    history = store.stage_history("loan_decision", "production")
    assert [(h.action, h.from_release, h.to_release, h.actor) for h in history] == [
        ("promote", None, 1, "ops"),
        ("promote", 1, 2, "ops"),
        ("rollback", 2, 1, "ops-on-call"),
        ("promote", 1, 3, "ops"),
    ]
    assert all(is_utc(h.at) for h in history)
    assert len(store.stage_history("loan_decision")) == 5
    assert store.resolve("loan_decision@production").number == 3


def test_repeated_rollbacks_walk_back(store: Store) -> None:
    for number in (1, 2, 3):
        add_release(store)
        store.set_stage("loan_decision", "production", number, "ops")
    assert store.rollback("loan_decision", "production", "ops").to_release == 2
    assert store.rollback("loan_decision", "production", "ops").to_release == 1
    with pytest.raises(StoreError, match="before release 1 it pointed at no other release"):
        store.rollback("loan_decision", "production", "ops")
    with pytest.raises(NotFoundError, match="stage shadow of loan_decision points at no release"):
        store.rollback("loan_decision", "shadow", "ops")
    assert store.stages("loan_decision") == {"production": 1}


def test_stage_needs_an_existing_release_and_a_valid_name(store: Store) -> None:
    add_release(store)
    with pytest.raises(NotFoundError, match="loan_decision has no release 5; releases: 1"):
        store.set_stage("loan_decision", "production", 5, "ops")
    with pytest.raises(StoreError, match="'latest' is reserved"):
        store.set_stage("loan_decision", "latest", 1, "ops")
    assert store.stages("loan_decision") == {}
    assert store.stage_history("loan_decision") == []


def test_rollback_target_is_a_stack() -> None:
    promote, rollback = "promote", "rollback"
    assert rollback_target([(promote, 1)], 1) is None
    assert rollback_target([(promote, 1), (promote, 2)], 2) == 1
    moves = [(promote, 1), (promote, 2), (promote, 3), (rollback, 2)]
    assert rollback_target(moves, 2) == 1
    assert rollback_target([*moves, (promote, 4)], 4) == 2
    assert rollback_target([(promote, 1), (promote, 1), (promote, 2)], 2) == 1


# -- audit ----------------------------------------------------------------------------


def test_audit_entries_with_before_and_after(store: Store) -> None:
    add_model(store)
    add_release(store)
    add_release(store)
    store.set_stage("loan_decision", "production", 1, "ops")
    store.set_stage("loan_decision", "production", 2, "ops")
    store.rollback("loan_decision", "production", "ops-on-call")
    store.record_audit(
        "ops",
        "environment.override",
        "loan_decision@1",
        before={"numpy": "2.1.0"},
        after={"numpy": "2.2.0"},
        detail={"reason": "approved change"},
    )

    log = store.audit_log()
    assert [(e.action, e.target) for e in log] == [
        ("environment.override", "loan_decision@1"),
        ("release.rollback", "loan_decision@1"),
        ("release.promote", "loan_decision@2"),
        ("release.promote", "loan_decision@1"),
        ("release.create", "loan_decision@2"),
        ("release.create", "loan_decision@1"),
        ("model.register", "model:fraud@1"),
    ]
    assert [e.id for e in log] == sorted((e.id for e in log), reverse=True)
    override, rollback, promote = log[0], log[1], log[2]
    assert override.detail == {"reason": "approved change"}
    assert (override.before, override.after) == ({"numpy": "2.1.0"}, {"numpy": "2.2.0"})
    assert promote.before == {"stage": "production", "release": 1}
    assert promote.after == {"stage": "production", "release": 2}
    assert (rollback.actor, rollback.before, rollback.after) == (
        "ops-on-call",
        {"stage": "production", "release": 2},
        {"stage": "production", "release": 1},
    )
    assert log[-1].before is None and log[-1].after is not None
    assert log[-1].after["version"] == 1
    assert all(is_utc(e.at) for e in log)

    assert len(store.audit_log(target="loan_decision")) == 6
    assert [e.action for e in store.audit_log(target="loan_decision@2")] == [
        "release.promote",
        "release.create",
    ]
    assert len(store.audit_log(action="release.promote")) == 2
    assert len(store.audit_log(limit=2)) == 2
    assert store.audit_log(target="loan") == []


def test_failed_change_leaves_no_audit_entry(store: Store) -> None:
    add_release(store)
    before = store.audit_log()
    with pytest.raises(NotFoundError):
        store.set_stage("loan_decision", "production", 2, "ops")
    with pytest.raises(StoreError):
        store.rollback("loan_decision", "production", "ops")
    assert store.audit_log() == before


# -- concurrency, migrations, lifecycle -----------------------------------------------


@pytest.mark.slow
def test_concurrent_writers_get_distinct_numbers(open_store: OpenStore) -> None:
    stores = [open_store(), open_store()]  # two engines, as two processes would have
    per_thread = 5
    barrier = threading.Barrier(len(stores))
    numbers: list[int] = []
    versions: list[int] = []
    errors: list[BaseException] = []

    def work(store: Store) -> None:
        try:
            barrier.wait()
            for _ in range(per_thread):
                numbers.append(add_release(store).number)
                versions.append(add_model(store).version)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    expected = list(range(1, per_thread * len(stores) + 1))
    assert sorted(numbers) == expected
    assert sorted(versions) == expected
    assert len(stores[0].audit_log(action="release.create")) == len(expected)


@pytest.mark.slow
def test_migrations_are_idempotent(open_store: OpenStore) -> None:
    first = open_store()
    add_release(first)
    first.close()
    again = open_store()
    assert again.resolve("loan_decision@latest").number == 1
    engine = create_engine(again.url)
    try:
        with engine.connect() as conn:
            versions = conn.execute(text("SELECT version_num FROM kaskad_alembic_version"))
            assert versions.scalars().all() == ["0011"]
            context = MigrationContext.configure(
                conn,
                opts={"version_table": "kaskad_alembic_version", "include_object": include_object},
            )
            diffs = compare_metadata(context, Base.metadata)
        assert diffs == [], "tables.py and the migrations disagree"
    finally:
        engine.dispose()


def test_closed_store_refuses_work(store: Store) -> None:
    with store:
        pass
    with pytest.raises(StoreError, match="is closed"):
        store.list_releases()


# -- where the store lives (SQLite only) ----------------------------------------------


def test_open_defaults_to_dot_kaskad(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with Store.open() as store:
        add_release(store)
        assert store.url == f"sqlite+pysqlite:///{tmp_path / '.kaskad' / 'kaskad.db'}"
    assert (tmp_path / ".kaskad" / "kaskad.db").is_file()
    assert any((tmp_path / ".kaskad" / "artifacts").iterdir())
    with Store.open(tmp_path / ".kaskad") as store:
        assert store.resolve("loan_decision@1").golden_count == 1


def test_open_url_and_bad_locations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with Store.open(f"sqlite:///{tmp_path / 'db' / 'registry.db'}") as store:
        add_release(store)
    assert (tmp_path / "db" / "registry.db").is_file()
    assert not (tmp_path / ".kaskad").exists()  # a store given by URL keeps its artifacts inside
    with Store.open(f"sqlite:///{tmp_path / 'db' / 'registry.db'}") as store:
        assert store.resolve("loan_decision@1").golden_count == 1
        assert isinstance(store.artifacts, DatabaseArtifactStore)
    (tmp_path / "file.db").write_bytes(b"")
    with pytest.raises(StoreError, match="is a file, not a folder"):
        Store.open(tmp_path / "file.db")
    with pytest.raises(StoreError, match="unsupported database mysql://u@h/db"):
        Store.open("mysql://u@h/db")
    with pytest.raises(StoreError, match="cannot open the kaskad store at postgresql") as info:
        Store.open("postgresql://kaskad:secret@127.0.0.1:1/none")
    assert "secret" not in str(info.value)
    journal = create_engine(f"sqlite:///{tmp_path / 'db' / 'registry.db'}")
    try:
        with journal.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        journal.dispose()
