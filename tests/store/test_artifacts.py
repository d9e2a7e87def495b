"""Content-addressed artifacts: stored atomically, verified on every read."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from kaskad.store import (
    ArtifactIntegrityError,
    ArtifactMissingError,
    LocalArtifactStore,
    Store,
    StoreError,
)


def local(store: Store) -> LocalArtifactStore:
    assert isinstance(store.artifacts, LocalArtifactStore)
    return store.artifacts


def test_round_trip(store: Store, tmp_path: Path) -> None:
    artifacts = local(store)
    sha = artifacts.put_bytes(b"gradient boosted trees")
    assert sha == hashlib.sha256(b"gradient boosted trees").hexdigest()
    assert artifacts.put_bytes(b"gradient boosted trees") == sha  # idempotent
    assert artifacts.path_of(sha) == artifacts.root / sha[:2] / sha
    assert artifacts.exists(sha) and artifacts.exists(sha.upper())
    assert artifacts.get_bytes(sha) == b"gradient boosted trees"

    big = tmp_path / "model.bin"
    big.write_bytes(os.urandom(3 * 1024 * 1024 + 7))  # several read chunks
    big_sha = artifacts.put_file(big)
    assert big_sha == hashlib.sha256(big.read_bytes()).hexdigest()
    dest = tmp_path / "out" / "model.bin"
    artifacts.copy_to(big_sha, dest, name="model fraud (models/fraud.txt)")
    assert dest.read_bytes() == big.read_bytes()
    assert [p.name for p in (artifacts.root / ".tmp").iterdir()] == []
    assert [p.name for p in dest.parent.iterdir()] == ["model.bin"]


def test_changed_byte_is_refused_naming_the_artifact(store: Store, tmp_path: Path) -> None:
    artifacts = local(store)
    sha = artifacts.put_bytes(b"model weights " * 100)
    path = artifacts.path_of(sha)
    data = bytearray(path.read_bytes())
    data[10] ^= 0x01
    path.chmod(0o644)
    path.write_bytes(bytes(data))
    actual = hashlib.sha256(bytes(data)).hexdigest()

    name = "model fraud (models/fraud.txt)"
    with pytest.raises(ArtifactIntegrityError) as info:
        artifacts.get_bytes(sha, name=name)
    message = str(info.value)
    assert message.startswith(f"{name}: artifact {path} is damaged or was modified")
    assert sha in message and actual in message
    assert (info.value.expected, info.value.actual, info.value.code) == (sha, actual, "K603")

    dest = tmp_path / "copy" / "fraud.txt"
    with pytest.raises(ArtifactIntegrityError, match=r"model fraud \(models/fraud.txt\)"):
        artifacts.copy_to(sha, dest, name=name)
    assert not dest.exists() and list(dest.parent.iterdir()) == []

    artifacts.put_bytes(b"model weights " * 100)  # storing it again repairs it
    assert artifacts.get_bytes(sha, name=name) == b"model weights " * 100


def test_missing_artifact(store: Store, tmp_path: Path) -> None:
    artifacts = local(store)
    sha = hashlib.sha256(b"never stored").hexdigest()
    assert not artifacts.exists(sha)
    with pytest.raises(ArtifactMissingError, match=f"golden cases: artifact sha256 {sha} is"):
        artifacts.get_bytes(sha, name="golden cases")
    with pytest.raises(ArtifactMissingError, match=f"artifact {sha[:12]}: artifact sha256"):
        artifacts.copy_to(sha, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_registered_model_artifact_is_verified(store: Store) -> None:
    sha = store.artifacts.put_bytes(b"onnx bytes")
    model = store.add_model_version(
        name="credit_pd",
        framework="onnx",
        artifact_sha256=sha,
        description="",
        metrics={},
        environment={},
        inputs=[],
        outputs=["score"],
        sample=[],
        training_data=None,
        actor="data-scientist",
    )
    assert store.artifacts.get_bytes(model.artifact_sha256, name="model credit_pd") == b"onnx bytes"
    local(store).path_of(sha).unlink()
    with pytest.raises(ArtifactMissingError, match="model credit_pd"):
        store.artifacts.get_bytes(model.artifact_sha256, name="model credit_pd")


def test_addresses_must_be_sha256(store: Store) -> None:
    for bad in ("../../etc/passwd", "abc", "g" * 64):
        with pytest.raises(StoreError, match="is not a sha256 digest"):
            store.artifacts.get_bytes(bad)
