"""What a bundle is on disk: one folder (``kaskad-bundle/``), packed as an uncompressed tar,
with a manifest naming the sha256 of every other file.

```
kaskad-bundle/
  MANIFEST.json            format, target platform and Python, releases, {path: sha256}
  Dockerfile, entrypoint.sh   the container image, built from this folder with no network
  wheelhouse/              kaskad's wheel, every locked dependency, the build backend;
    requirements.txt       every wheel pinned with its sha256 (pip --require-hashes)
  releases/NAME/N.json     a release with its stage history and audit entries
  artifacts/ab/abcdef…     every file a release needs, by sha256 (as in the store)
```

Checking a bundle reads every file once, compares it with the manifest, and refuses
missing, extra, unsafe (links, absolute paths, ``..``) or changed files.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from kaskad.deliver.errors import BundleIntegrityError

ROOT = "kaskad-bundle"
MANIFEST = "MANIFEST.json"
FORMAT = "kaskad-bundle/1"
WHEELHOUSE = "wheelhouse"
REQUIREMENTS = "wheelhouse/requirements.txt"
RELEASES = "releases"
ARTIFACTS = "artifacts"
CHUNK = 1 << 20
# The files a bundle carries to build its container image (the Dockerfile's build context).
CONTAINER_FILES = ("Dockerfile", "entrypoint.sh", "docker-compose.yml", ".dockerignore")


@dataclass(frozen=True)
class Target:
    """The machine a bundle's wheels are for: pip platform tags and a Python version."""

    platforms: tuple[str, ...] = ("manylinux_2_28_x86_64", "manylinux2014_x86_64")
    python_version: str = "3.11"

    def to_dict(self) -> dict[str, Any]:
        return {"platforms": list(self.platforms), "python_version": self.python_version}


@dataclass(frozen=True)
class Manifest:
    """The bundle's table of contents (``MANIFEST.json``)."""

    created_at: str
    created_by: str
    kaskad_version: str
    target: Target
    releases: list[str]
    files: dict[str, str]  # relative POSIX path → sha256

    def to_json(self) -> bytes:
        data = {
            "format": FORMAT,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "kaskad_version": self.kaskad_version,
            "target": self.target.to_dict(),
            "releases": self.releases,
            "files": dict(sorted(self.files.items())),
        }
        return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode()

    @classmethod
    def from_json(cls, data: bytes, where: str) -> Manifest:
        try:
            raw = json.loads(data)
            if raw.get("format") != FORMAT:
                raise ValueError(f"format {raw.get('format')!r}, expected {FORMAT!r}")
            target = raw["target"]
            return cls(
                created_at=str(raw["created_at"]),
                created_by=str(raw["created_by"]),
                kaskad_version=str(raw["kaskad_version"]),
                target=Target(tuple(target["platforms"]), str(target["python_version"])),
                releases=[str(r) for r in raw["releases"]],
                files={str(k): str(v) for k, v in raw["files"].items()},
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BundleIntegrityError(
                f"{where}: {MANIFEST} is not a bundle manifest: {exc}"
            ) from exc


def now_text() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def sha256_stream(fh: IO[bytes]) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: fh.read(CHUNK), b""):
        digest.update(block)
    return digest.hexdigest()


def sha256_file(path: Path) -> str:
    with path.open("rb") as fh:
        return sha256_stream(fh)


def folder_files(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (not the manifest) → its sha256; links are refused."""
    files: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        base = Path(dirpath)
        for name in [*dirnames, *filenames]:
            if (base / name).is_symlink():
                rel = (base / name).relative_to(folder).as_posix()
                raise BundleIntegrityError(f"{folder}: {rel} is a link; a bundle holds files")
        for name in filenames:
            rel = (base / name).relative_to(folder).as_posix()
            if rel != MANIFEST:
                files[rel] = sha256_file(base / name)
    return files


def _member_path(name: str, where: str) -> str | None:
    """The path of a tar member inside the bundle folder, or an integrity error."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts or path.parts[0] != ROOT:
        raise BundleIntegrityError(f"{where}: unsafe or foreign path {name!r} in the archive")
    inner = PurePosixPath(*path.parts[1:])
    return None if not inner.parts else inner.as_posix()


def tar_files(archive: Path) -> tuple[bytes, dict[str, str]]:
    """The manifest's bytes and every other member → sha256, read in one pass."""
    where = str(archive)
    manifest: bytes | None = None
    files: dict[str, str] = {}
    try:
        with tarfile.open(archive, "r:") as tar:
            for member in tar:
                rel = _member_path(member.name, where)
                if member.isdir():
                    continue
                if not member.isfile() or rel is None:
                    raise BundleIntegrityError(
                        f"{where}: {member.name} is not a regular file (links are refused)"
                    )
                fh = tar.extractfile(member)
                assert fh is not None  # a regular file always has content
                if rel == MANIFEST:
                    manifest = fh.read()
                else:
                    files[rel] = sha256_stream(fh)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BundleIntegrityError(f"{where}: not a readable bundle archive: {exc}") from exc
    if manifest is None:
        raise BundleIntegrityError(f"{where}: no {ROOT}/{MANIFEST} in the archive")
    return manifest, files


def is_wheel(rel: str) -> bool:
    return rel.startswith(WHEELHOUSE + "/") and rel.endswith(".whl")


def is_build_input(rel: str) -> bool:
    """A file used to install kaskad or build its image, not to install releases."""
    return rel.startswith(WHEELHOUSE + "/") or rel in CONTAINER_FILES


def compare(
    manifest: Manifest, found: dict[str, str], where: str, *, releases_only: bool = False
) -> None:
    """Raise naming every file that is missing, extra or changed. With ``releases_only``
    the wheelhouse and container files may be missing (inside the image built from the
    bundle, which keeps only what installs the releases); those present are checked."""
    problems = []
    for rel, sha in sorted(manifest.files.items()):
        if rel not in found:
            if not (releases_only and is_build_input(rel)):
                problems.append(f"missing: {rel}")
        elif found[rel] != sha:
            problems.append(f"changed: {rel} (sha256 {found[rel][:12]}, manifest {sha[:12]})")
    problems += [f"not in the manifest: {rel}" for rel in sorted(set(found) - set(manifest.files))]
    if problems:
        shown = "\n  ".join(problems[:20])
        more = f"\n  … and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise BundleIntegrityError(
            f"{where}: the bundle does not match its manifest ({len(problems)} problem(s)):"
            f"\n  {shown}{more}"
        )


def pack(folder: Path, output: Path) -> None:
    """``folder`` as ``output`` (tar, manifest first, files sorted, no owners)."""

    def clean(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        return info

    tmp = output.with_name(output.name + ".partial")
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        tar.add(folder / MANIFEST, f"{ROOT}/{MANIFEST}", filter=clean)
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            rel = path.relative_to(folder).as_posix()
            if rel != MANIFEST:
                tar.add(path, f"{ROOT}/{rel}", filter=clean)
    os.replace(tmp, output)


def unpack(archive: Path, into: Path) -> Path:
    """Extract ``archive`` into ``into`` (regular files only) and return the bundle folder."""
    try:
        with tarfile.open(archive, "r:") as tar:
            tar.extractall(into, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise BundleIntegrityError(f"{archive}: cannot be unpacked: {exc}") from exc
    return into / ROOT
