"""The journaled decision log: fsync before the answer, shipping after, replay on start.

The server's journal mode end to end (a killed server, then replay) is in
tests/serve/test_journal_mode.py."""

from __future__ import annotations

import logging
import shutil
import uuid
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from kaskad.store import (
    DecisionRecord,
    JournaledLog,
    JournalError,
    JournalSettings,
    LogFull,
    ShadowRecord,
    default_journal_folder,
    open_decision_log,
    read_decisions,
    read_shadow_decisions,
)

UNREACHABLE = "postgresql://kaskad@127.0.0.1:1/kaskad"  # nothing listens on port 1


def decision(i: int = 0, plan_hash: str | None = "0" * 64) -> DecisionRecord:
    return DecisionRecord(
        decision_id=str(uuid.uuid4()),
        pipeline="aml",
        release=None,
        plan_hash=plan_hash,  # type: ignore[arg-type]  # None: a row the store refuses
        status="decided",
        input={"i": i, "name": "sha256:ab"},
        output={"decision": "approve", "score": 0.25},
        timings={"total": 0.5},
    )


def journaled(store: str, folder: Path, records: list[DecisionRecord]) -> None:
    """Journal ``records`` with ``store`` unreachable, so they stay in ``folder``."""
    log = JournaledLog(store, JournalSettings(folder, drain_timeout_s=0))
    for future in [log.submit(r) for r in records]:
        future.result(5)
    log.close()


def segments(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.jsonl"))


def test_records_resolve_once_journaled_and_are_in_the_store_after_close(
    tmp_path: Path,
) -> None:
    store = str(tmp_path / "store")
    log = JournaledLog(
        store, JournalSettings(tmp_path / "journal", segment_bytes=4096, batch_size=16)
    )
    records = [decision(i) for i in range(200)]
    shadow = ShadowRecord(records[0].decision_id, "aml", "challenger", {"decision": "reject"})
    futures: list[Future[None]] = []
    with ThreadPoolExecutor(8) as pool:  # concurrent submits share writes and fsyncs
        futures += pool.map(log.submit, [*records, shadow])
    for future in futures:
        assert future.result(5) is None
    log.close()
    rows = read_decisions(store)
    assert sorted(r["decision_id"] for r in rows) == sorted(r.decision_id for r in records)
    first = next(r for r in rows if r["decision_id"] == records[0].decision_id)
    assert first["input"] == {"i": 0, "name": "sha256:ab"}
    assert first["at"] == records[0].at and first["timings"] == {"total": 0.5}
    [stored] = read_shadow_decisions(store)
    assert (stored["shadow"], stored["decision"]) == ("challenger", "reject")
    assert not segments(tmp_path / "journal")  # everything shipped
    with pytest.raises(LogFull):
        log.submit(decision())


def test_unreachable_store_keeps_answering_then_ships_once_reachable(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    journal = tmp_path / "journal"
    records = [decision(i) for i in range(20)]
    with caplog.at_level(logging.WARNING, "kaskad.store.journal"):
        log = JournaledLog(UNREACHABLE, JournalSettings(journal, drain_timeout_s=0.2))
        for future in [log.submit(r) for r in records]:
            future.result(5)  # durable in the journal although the store is down
        assert log.backlog_bytes() > 0
        log.close()
    assert "stay in the journal" in caplog.text
    assert segments(journal)

    store = str(tmp_path / "store")
    JournaledLog(
        store, JournalSettings(journal)
    ).close()  # replays the journal into a reachable store
    logged = Counter(r["decision_id"] for r in read_decisions(store))
    assert logged == Counter(r.decision_id for r in records)
    assert not segments(journal)


def test_replay_skips_records_already_in_the_store(tmp_path: Path) -> None:
    journal, copy, store = tmp_path / "journal", tmp_path / "copy", str(tmp_path / "store")
    records = [decision(i) for i in range(10)]
    journaled(UNREACHABLE, journal, records)
    shutil.copytree(journal, copy)
    JournaledLog(store, JournalSettings(journal)).close()
    shutil.rmtree(journal)
    copy.rename(journal)  # as if the process died after the commit, before saving its position
    log = JournaledLog(store, JournalSettings(journal))
    log.submit(extra := decision(10)).result(5)
    log.close()
    logged = Counter(r["decision_id"] for r in read_decisions(store))
    assert logged == Counter(r.decision_id for r in [*records, extra])


def test_a_torn_last_line_is_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    journal, store = tmp_path / "journal", str(tmp_path / "store")
    records = [decision(i) for i in range(3)]
    journaled(UNREACHABLE, journal, records)
    [segment] = segments(journal)
    with segment.open("ab") as handle:
        handle.write(b'{"type":"decision","fields":{"decision_id":"torn-')  # cut by a crash
    with caplog.at_level(logging.WARNING, "kaskad.store.journal"):
        JournaledLog(store, JournalSettings(journal)).close()
    assert "torn last line" in caplog.text
    assert sorted(r["decision_id"] for r in read_decisions(store)) == sorted(
        r.decision_id for r in records
    )


def test_a_record_the_store_refuses_goes_to_the_dead_letter_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    journal, store = tmp_path / "journal", str(tmp_path / "store")
    good, bad, after = decision(1), decision(2, plan_hash=None), decision(3)
    with caplog.at_level(logging.ERROR, "kaskad.store.journal"):
        log = JournaledLog(store, JournalSettings(journal))
        for future in [log.submit(r) for r in (good, bad, after)]:
            future.result(5)
        log.close()
    assert {r["decision_id"] for r in read_decisions(store)} == {
        good.decision_id,
        after.decision_id,
    }
    assert bad.decision_id in (journal / "dead-letter.jsonl").read_text()
    assert "refused the decision record" in caplog.text


def test_the_journal_refuses_records_beyond_its_byte_limit(tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    log = JournaledLog(UNREACHABLE, JournalSettings(journal, limit_bytes=4096, drain_timeout_s=0))
    accepted = 0
    assert log.health() is None
    with pytest.raises(LogFull, match="limit of 4096 bytes"):
        for i in range(100):
            log.submit(decision(i)).result(5)
            accepted += 1
    assert 0 < accepted < 100
    assert sum(p.stat().st_size for p in segments(journal)) <= 4096
    assert log.health() == "the decision journal is full (the store is behind or unreachable)"
    log.close()


def test_journal_errors_are_store_errors(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="needs a journal folder"):
        default_journal_folder(f"sqlite:///{tmp_path / 'kaskad.db'}")
    assert default_journal_folder(str(tmp_path / "store")) == tmp_path / "store" / "journal"
    settings = JournalSettings(tmp_path / "journal")
    log = open_decision_log(str(tmp_path / "store"), journal=settings)
    assert isinstance(log, JournaledLog)
    try:
        with pytest.raises(JournalError, match="in use by another process") as raised:
            JournaledLog(str(tmp_path / "store"), settings)
        assert raised.value.code == "K605"
    finally:
        log.close()
