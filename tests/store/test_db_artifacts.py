"""Artifacts in the store's database (the default for a store given by URL): stored in
chunks, verified on every read, shared by every process on the database; and moved there
from an artifact folder."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from kaskad.store import (
    ArtifactIntegrityError,
    ArtifactMissingError,
    DatabaseArtifactStore,
    LocalArtifactStore,
    Store,
    copy_artifacts,
)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'registry.db'}"
    location: str = request.getfixturevalue("pg_database")
    return location


@pytest.fixture
def store(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    monkeypatch.chdir(tmp_path)
    with Store.open(url) as opened:
        yield opened


def db(store: Store) -> DatabaseArtifactStore:
    assert isinstance(store.artifacts, DatabaseArtifactStore)
    return store.artifacts


def test_round_trip_in_chunks(store: Store, url: str, tmp_path: Path) -> None:
    artifacts = db(store)
    sha = artifacts.put_bytes(b"gradient boosted trees")
    assert sha == hashlib.sha256(b"gradient boosted trees").hexdigest()
    assert artifacts.put_bytes(b"gradient boosted trees") == sha  # idempotent
    assert artifacts.exists(sha) and artifacts.exists(sha.upper())
    assert artifacts.get_bytes(sha) == b"gradient boosted trees"

    big = tmp_path / "model.bin"
    big.write_bytes(os.urandom(3 * 1024 * 1024 + 7))  # four chunks of at most 1 MiB
    big_sha = artifacts.put_file(big)
    assert big_sha == hashlib.sha256(big.read_bytes()).hexdigest()
    dest = tmp_path / "out" / "model.bin"
    artifacts.copy_to(big_sha, dest, name="model fraud (models/fraud.txt)")
    assert dest.read_bytes() == big.read_bytes()
    assert [p.name for p in dest.parent.iterdir()] == ["model.bin"]
    assert sorted(artifacts.digests()) == sorted([sha, big_sha])
    assert not (tmp_path / ".kaskad").exists()  # nothing was written beside the database

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            chunks = conn.execute(
                text("SELECT count(*) FROM artifact_chunks WHERE sha256 = :s"), {"s": big_sha}
            ).scalar_one()
    finally:
        engine.dispose()
    assert chunks == 4


def test_changed_byte_is_refused(store: Store, url: str, tmp_path: Path) -> None:
    artifacts = db(store)
    sha = artifacts.put_bytes(b"model weights " * 100)
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE artifact_chunks SET data = :d WHERE sha256 = :s"),
                {"d": b"model weightz " * 100, "s": sha},
            )
    finally:
        engine.dispose()
    actual = hashlib.sha256(b"model weightz " * 100).hexdigest()
    name = "model fraud (models/fraud.txt)"
    with pytest.raises(ArtifactIntegrityError) as info:
        artifacts.get_bytes(sha, name=name)
    assert str(info.value).startswith(f"{name}: artifact sha256 {sha} in the artifacts table")
    assert (info.value.expected, info.value.actual, info.value.code) == (sha, actual, "K603")
    dest = tmp_path / "copy" / "fraud.txt"
    with pytest.raises(ArtifactIntegrityError, match=r"model fraud \(models/fraud.txt\)"):
        artifacts.copy_to(sha, dest, name=name)
    assert not dest.exists() and list(dest.parent.iterdir()) == []


def test_missing_artifact(store: Store, tmp_path: Path) -> None:
    artifacts = db(store)
    sha = hashlib.sha256(b"never stored").hexdigest()
    assert not artifacts.exists(sha)
    with pytest.raises(
        ArtifactMissingError,
        match=r"golden cases: artifact sha256 \w+ is missing .* artifacts",
    ) as info:
        artifacts.get_bytes(sha, name="golden cases")
    assert info.value.code == "K602"
    with pytest.raises(ArtifactMissingError):
        artifacts.copy_to(sha, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_concurrent_writers_of_the_same_content(url: str, tmp_path: Path) -> None:
    data = os.urandom(2 * 1024 * 1024)
    stores = [Store.open(url) for _ in range(4)]
    errors: list[BaseException] = []

    def put(store: Store) -> None:
        try:
            store.artifacts.put_bytes(data)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=put, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    try:
        assert errors == []
        assert stores[0].artifacts.get_bytes(hashlib.sha256(data).hexdigest()) == data
    finally:
        for s in stores:
            s.close()


def test_copy_from_a_folder(store: Store, tmp_path: Path) -> None:
    folder = LocalArtifactStore(tmp_path / "old-artifacts")
    kept = [folder.put_bytes(f"artifact {i}".encode()) for i in range(3)]
    damaged = folder.put_bytes(b"will be edited")
    path = folder.path_of(damaged)
    path.chmod(0o644)
    path.write_bytes(b"edited")
    db(store).put_bytes(b"artifact 0")  # already there

    report = copy_artifacts(folder, store.artifacts)
    assert sorted(report.copied) == sorted(kept[1:])
    assert report.present == [kept[0]]
    assert report.damaged == [damaged]
    for sha in kept:
        assert store.artifacts.get_bytes(sha).startswith(b"artifact ")
    assert not store.artifacts.exists(damaged)
    again = copy_artifacts(folder, store.artifacts)
    assert (again.copied, sorted(again.present)) == ([], sorted(kept))
