"""Artifacts kept in the store's own database: every server on one database sees the same
content, with no shared file system.

Content is addressed and verified exactly as in :class:`LocalArtifactStore`: stored
under the sha256 of its bytes, checked against it on every read. Files are written and
read in chunks (``artifact_chunks``), never held whole; the ``artifacts`` row that makes
an artifact visible is written in the same transaction as its chunks.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Iterator
from pathlib import Path

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from kaskad.errors import ArtifactIntegrityError, ArtifactMissingError, StoreError
from kaskad.store import _engine
from kaskad.store.artifacts import (
    CHUNK_SIZE,
    ArtifactStore,
    _finish,
    _label,
    _temp_file,
    check_sha256,
)
from kaskad.store.tables import ArtifactChunkRow, ArtifactRow

__all__ = ["DatabaseArtifactStore"]


class DatabaseArtifactStore(ArtifactStore):
    """Artifacts in the ``artifacts`` and ``artifact_chunks`` tables of a store's database
    (the default for a store given by URL)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._writer = _engine.writer(engine)

    def __repr__(self) -> str:
        return f"DatabaseArtifactStore({_engine.shown(self._engine.url)!r})"

    @property
    def _where(self) -> str:
        return f"the artifacts table of {_engine.shown(self._engine.url)}"

    def _failed(self, what: str, exc: SQLAlchemyError) -> StoreError:
        cause = getattr(exc, "orig", None) or exc
        return StoreError(f"{what} {self._where}: {cause}")

    # -- writing --------------------------------------------------------------------

    def _store(self, digest: str, chunks: Iterable[bytes]) -> None:
        """Insert ``chunks`` under ``digest`` unless it is already stored.

        ``chunks`` is read once, inside the transaction; its sha256 must be ``digest``.
        """
        if self.exists(digest):
            return
        hasher = hashlib.sha256()
        try:
            with self._writer.begin() as conn:
                size = count = 0
                for count, chunk in enumerate(chunks, start=1):
                    hasher.update(chunk)
                    size += len(chunk)
                    conn.execute(
                        insert(ArtifactChunkRow).values(sha256=digest, seq=count - 1, data=chunk)
                    )
                if hasher.hexdigest() != digest:
                    raise StoreError(
                        f"the content changed while it was being stored (expected sha256"
                        f" {digest}, read {hasher.hexdigest()}); nothing was stored"
                    )
                conn.execute(
                    insert(ArtifactRow).values(
                        sha256=digest, size=size, chunks=count, created_at=dt.datetime.now(dt.UTC)
                    )
                )
        except IntegrityError:
            if not self.exists(digest):  # else: a concurrent writer stored the same content
                raise
        except SQLAlchemyError as exc:
            raise self._failed(f"cannot store artifact {digest[:12]} in", exc) from exc

    def put_bytes(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        self._store(digest, (data[i : i + CHUNK_SIZE] for i in range(0, len(data), CHUNK_SIZE)))
        return digest

    def put_file(self, path: Path) -> str:
        path = Path(path)
        hasher = hashlib.sha256()
        for chunk in _read_chunks(path):
            hasher.update(chunk)
        digest = hasher.hexdigest()
        self._store(digest, _read_chunks(path))
        return digest

    # -- reading --------------------------------------------------------------------

    def _read(self, sha256: str, name: str | None) -> tuple[str, Iterator[bytes]]:
        """The digest and a generator of the stored chunks (missing: raise at once)."""
        digest = check_sha256(sha256)
        try:
            with self._engine.connect() as conn:
                count = conn.execute(
                    select(ArtifactRow.chunks).where(ArtifactRow.sha256 == digest)
                ).scalar_one_or_none()
        except SQLAlchemyError as exc:
            raise self._failed(f"cannot read {_label(name, digest)} from", exc) from exc
        if count is None:
            raise ArtifactMissingError(_label(name, digest), digest, self._where)
        return digest, self._stream(digest, count, name)

    def _stream(self, digest: str, count: int, name: str | None) -> Iterator[bytes]:
        try:
            with self._engine.connect() as conn:
                rows = conn.execution_options(stream_results=True, yield_per=4).execute(
                    select(ArtifactChunkRow.seq, ArtifactChunkRow.data)
                    .where(ArtifactChunkRow.sha256 == digest)
                    .order_by(ArtifactChunkRow.seq)
                )
                expected = 0
                for seq, data in rows:
                    if seq != expected:
                        break  # a chunk is missing: the hash check below refuses it
                    expected += 1
                    yield bytes(data)
                if expected != count:
                    yield b"\0"  # never matches the address: reported as damaged
        except SQLAlchemyError as exc:
            raise self._failed(f"cannot read {_label(name, digest)} from", exc) from exc

    def _location(self, digest: str) -> str:
        return f"sha256 {digest} in {self._where}"

    def get_bytes(self, sha256: str, name: str | None = None) -> bytes:
        digest, chunks = self._read(sha256, name)
        data = b"".join(chunks)
        actual = hashlib.sha256(data).hexdigest()
        if actual != digest:
            label = _label(name, digest)
            raise ArtifactIntegrityError(label, digest, actual, self._location(digest))
        return data

    def copy_to(self, sha256: str, dest: Path, name: str | None = None) -> None:
        digest, chunks = self._read(sha256, name)
        dest = Path(dest)
        hasher = hashlib.sha256()
        with _temp_file(dest.parent) as (out, tmp):
            for chunk in chunks:
                hasher.update(chunk)
                out.write(chunk)
            actual = hasher.hexdigest()
            if actual != digest:
                raise ArtifactIntegrityError(
                    _label(name, digest), digest, actual, self._location(digest)
                )
            _finish(out, tmp, 0o644)
            tmp.replace(dest)

    def exists(self, sha256: str) -> bool:
        digest = check_sha256(sha256)
        try:
            with self._engine.connect() as conn:
                found = conn.execute(
                    select(ArtifactRow.sha256).where(ArtifactRow.sha256 == digest)
                ).first()
        except SQLAlchemyError as exc:
            raise self._failed("cannot read", exc) from exc
        return found is not None

    def digests(self) -> Iterator[str]:
        try:
            with self._engine.connect() as conn:
                found = conn.execute(select(ArtifactRow.sha256).order_by(ArtifactRow.sha256))
                yield from found.scalars()
        except SQLAlchemyError as exc:
            raise self._failed("cannot read", exc) from exc


def _read_chunks(path: Path) -> Iterator[bytes]:
    try:
        with path.open("rb") as src:
            yield from iter(lambda: src.read(CHUNK_SIZE), b"")
    except OSError as exc:
        raise StoreError(f"cannot read {path} to store it: {exc}") from exc
