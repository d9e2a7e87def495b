"""Content-addressed artifact storage: files named by the sha256 of their bytes.

Every read verifies the content against its address, so a damaged or edited file is
refused instead of silently served. :class:`LocalArtifactStore` keeps files in a local
folder; :class:`kaskad.store.db_artifacts.DatabaseArtifactStore` keeps them in the
store's database; both implement :class:`ArtifactStore`. :func:`copy_artifacts` moves
content from one to another.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from kaskad.errors import ArtifactIntegrityError, ArtifactMissingError, StoreError
from kaskad.spec.common import sha256_bytes

CHUNK_SIZE = 1024 * 1024
_SHA256 = re.compile(r"[0-9a-f]{64}")


def check_sha256(value: str) -> str:
    """``value`` as a lowercase hex sha256 digest, or :class:`StoreError`."""
    digest = value.strip().lower()
    if not _SHA256.fullmatch(digest):
        raise StoreError(f"{value!r} is not a sha256 digest (64 hexadecimal characters)")
    return digest


class ArtifactStore(ABC):
    """Immutable blobs addressed by the sha256 of their content.

    ``name`` arguments only label errors for people ("model fraud (models/fraud.txt)");
    they never affect where or how content is stored.
    """

    @abstractmethod
    def put_bytes(self, data: bytes) -> str:
        """Store ``data``; return its sha256. Storing the same content twice is harmless."""

    @abstractmethod
    def put_file(self, path: Path) -> str:
        """Store the file at ``path`` (streamed, never read whole); return its sha256."""

    @abstractmethod
    def get_bytes(self, sha256: str, name: str | None = None) -> bytes:
        """The verified content stored under ``sha256``.

        Raises :class:`ArtifactMissingError` or :class:`ArtifactIntegrityError`.
        """

    @abstractmethod
    def copy_to(self, sha256: str, dest: Path, name: str | None = None) -> None:
        """Write the verified content to ``dest``; ``dest`` appears only if it verifies."""

    @abstractmethod
    def exists(self, sha256: str) -> bool:
        """Whether content is stored under ``sha256`` (without verifying it)."""

    @abstractmethod
    def digests(self) -> Iterator[str]:
        """The sha256 of every stored artifact, in order (without verifying them)."""


def _label(name: str | None, sha256: str) -> str:
    return name if name else f"artifact {sha256[:12]}"


def _fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable (POSIX; a no-op where directories can't be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _temp_file(folder: Path) -> Iterator[tuple[IO[bytes], Path]]:
    """A new temporary file in ``folder``, removed unless the caller moved it away."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=folder, prefix=".tmp-")
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh, path
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _finish(fh: IO[bytes], path: Path, mode: int) -> None:
    """Flush ``fh`` to disk, close it and set the file's permissions."""
    fh.flush()
    os.fsync(fh.fileno())
    fh.close()
    os.chmod(path, mode)


class LocalArtifactStore(ArtifactStore):
    """Artifacts in a local folder: ``root/ab/abcdef…`` (the first two hex digits shard)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalArtifactStore({str(self.root)!r})"

    def path_of(self, sha256: str) -> Path:
        digest = check_sha256(sha256)
        return self.root / digest[:2] / digest

    @property
    def _tmp(self) -> Path:
        return self.root / ".tmp"

    def _commit(self, tmp: Path, fh: IO[bytes], digest: str) -> None:
        _finish(fh, tmp, 0o444)  # content never changes once stored
        final = self.path_of(digest)
        final.parent.mkdir(parents=True, exist_ok=True)
        # Replacing an existing copy is deliberate: it repairs a damaged one.
        os.replace(tmp, final)
        _fsync_dir(final.parent)

    def put_bytes(self, data: bytes) -> str:
        digest = sha256_bytes(data)
        with _temp_file(self._tmp) as (fh, tmp):
            fh.write(data)
            self._commit(tmp, fh, digest)
        return digest

    def put_file(self, path: Path) -> str:
        hasher = hashlib.sha256()
        with _temp_file(self._tmp) as (fh, tmp):
            try:
                with Path(path).open("rb") as src:
                    for chunk in iter(lambda: src.read(CHUNK_SIZE), b""):
                        hasher.update(chunk)
                        fh.write(chunk)
            except OSError as exc:
                raise StoreError(f"cannot read {path} to store it: {exc}") from exc
            digest = hasher.hexdigest()
            self._commit(tmp, fh, digest)
        return digest

    def _open(self, sha256: str, name: str | None) -> tuple[IO[bytes], Path, str]:
        digest = check_sha256(sha256)
        path = self.path_of(digest)
        try:
            return path.open("rb"), path, digest
        except FileNotFoundError as exc:
            raise ArtifactMissingError(_label(name, digest), digest, str(path)) from exc

    def get_bytes(self, sha256: str, name: str | None = None) -> bytes:
        fh, path, digest = self._open(sha256, name)
        with fh:
            data = fh.read()
        actual = sha256_bytes(data)
        if actual != digest:
            raise ArtifactIntegrityError(_label(name, digest), digest, actual, str(path))
        return data

    def copy_to(self, sha256: str, dest: Path, name: str | None = None) -> None:
        fh, path, digest = self._open(sha256, name)
        dest = Path(dest)
        hasher = hashlib.sha256()
        with fh, _temp_file(dest.parent) as (out, tmp):
            for chunk in iter(lambda: fh.read(CHUNK_SIZE), b""):
                hasher.update(chunk)
                out.write(chunk)
            actual = hasher.hexdigest()
            if actual != digest:
                raise ArtifactIntegrityError(_label(name, digest), digest, actual, str(path))
            _finish(out, tmp, 0o644)
            os.replace(tmp, dest)

    def exists(self, sha256: str) -> bool:
        return self.path_of(sha256).is_file()

    def digests(self) -> Iterator[str]:
        if not self.root.is_dir():
            return
        for shard in sorted(self.root.iterdir()):
            if len(shard.name) != 2 or not shard.is_dir():
                continue  # .tmp and anything else that is not a shard
            for path in sorted(shard.iterdir()):
                if _SHA256.fullmatch(path.name) and path.name.startswith(shard.name):
                    yield path.name


@dataclass(frozen=True)
class CopyReport:
    """What :func:`copy_artifacts` did: digests copied, already present, and damaged
    (their content no longer matches their name; not copied)."""

    copied: list[str]
    present: list[str]
    damaged: list[str]


def copy_artifacts(source: LocalArtifactStore, dest: ArtifactStore) -> CopyReport:
    """Copy every artifact of a folder into ``dest`` (e.g. a store's database), verifying
    each: a file whose content does not match its name is reported, not copied.

    Idempotent: run it again after an interruption and it copies what is left.
    """
    copied: list[str] = []
    present: list[str] = []
    damaged: list[str] = []
    for digest in source.digests():
        if dest.exists(digest):
            present.append(digest)
            continue
        path = source.path_of(digest)
        hasher = hashlib.sha256()
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(CHUNK_SIZE), b""):
                hasher.update(chunk)
        if hasher.hexdigest() != digest:
            damaged.append(digest)
            continue
        stored = dest.put_file(path)
        if stored != digest:  # changed between the check and the copy
            damaged.append(digest)
            continue
        copied.append(digest)
    return CopyReport(copied, present, damaged)
