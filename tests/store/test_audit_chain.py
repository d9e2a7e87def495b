"""The audit trail is a hash chain: an entry edited, deleted or moved directly in the
database is found by ``verify_audit``; entries written before migration 0010 are chained."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, text

from kaskad.store import Store
from tests.store.conftest import OpenStore


def _entries(store: Store, n: int = 4) -> None:
    for i in range(n):
        store.record_audit(
            "ops", "environment.override", f"loan_decision@{i}", {"a": i}, {"a": i + 1}
        )


def _sql(store: Store, statement: str) -> None:
    engine = create_engine(store.url)
    try:
        with engine.begin() as conn:
            conn.execute(text(statement))
    finally:
        engine.dispose()


def test_an_untouched_chain_verifies(store: Store) -> None:
    assert store.verify_audit().ok and store.verify_audit().entries == 0
    _entries(store)
    report = store.verify_audit()
    assert report.ok
    assert report.entries == 4
    newest = store.audit_log(limit=1)[0]
    assert len(report.head) == 64 and report.head != "0" * 64
    assert newest.target == "loan_decision@3"


def test_an_edited_entry_is_found(store: Store) -> None:
    _entries(store)
    _sql(store, "UPDATE audit SET actor = 'someone else' WHERE id = 2")
    report = store.verify_audit()
    assert not report.ok
    assert [(b.id, b.reason) for b in report.breaks] == [(2, "its content does not match its hash")]


def test_an_edited_entry_with_a_recomputed_hash_breaks_the_next_link(store: Store) -> None:
    _entries(store)
    _sql(store, f"UPDATE audit SET hash = '{'ab' * 32}' WHERE id = 2")
    ids = [b.id for b in store.verify_audit().breaks]
    assert ids == [2, 3]


def test_a_deleted_entry_is_found(store: Store) -> None:
    _entries(store)
    _sql(store, "DELETE FROM audit WHERE id = 2")
    report = store.verify_audit()
    assert report.entries == 3
    assert [(b.id, b.reason) for b in report.breaks] == [
        (3, "the previous entry is not the one it was chained to")
    ]


def test_reordered_entries_are_found(store: Store) -> None:
    _entries(store)
    _sql(store, "UPDATE audit SET id = 100 WHERE id = 2")
    _sql(store, "UPDATE audit SET id = 2 WHERE id = 3")
    _sql(store, "UPDATE audit SET id = 3 WHERE id = 100")
    assert not store.verify_audit().ok


def test_entries_written_after_a_break_chain_on_the_newest(store: Store) -> None:
    _entries(store, 2)
    store.record_audit("ops", "release.promote", "loan_decision@9")
    assert store.verify_audit().ok


def test_the_migration_chains_existing_entries(tmp_path: Path, open_store: OpenStore) -> None:
    store = open_store()
    url = store.url
    store.close()
    # Rebuild the database as 0009 left it, with entries; opening it migrates again.
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM audit"))
            conn.execute(text("DROP TABLE approvals"))  # migration 0011 makes them again
            conn.execute(text("DROP TABLE stage_policies"))
            conn.execute(text("ALTER TABLE audit DROP COLUMN prev_hash"))
            conn.execute(text("ALTER TABLE audit DROP COLUMN hash"))
            conn.execute(text("UPDATE kaskad_alembic_version SET version_num = '0009'"))
            at = "CAST(:at AS TIMESTAMPTZ)" if conn.dialect.name == "postgresql" else ":at"
            for i in (1, 2, 3):
                conn.execute(
                    text(
                        "INSERT INTO audit (id, at, actor, action, target, before, after, detail)"
                        f" VALUES (:id, {at}, 'ops', 'model.register', :target, NULL, :after,"
                        " '{}')"
                    ),
                    {
                        "id": i,
                        "at": f"2025-01-0{i} 10:00:00.000000",
                        "target": f"m@{i}",
                        "after": '{"n": 1}',
                    },
                )
    finally:
        engine.dispose()
    again = open_store()
    report = again.verify_audit()
    assert report.ok and report.entries == 3
    again.record_audit("ops", "release.create", "m@4")
    assert again.verify_audit().ok
    _sql(again, "UPDATE audit SET target = 'm@9' WHERE id = 1")
    assert [b.id for b in again.verify_audit().breaks] == [1]
