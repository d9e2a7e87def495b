"""``kaskad bundle``: one file to carry releases and everything they need into a closed
network; checked and installed on the other side.

Build: releases out of the store, the wheelhouse for the target machine, the container
files, then the manifest of sha256 sums, packed as one tar. Verify: every file against
the manifest. Install: verify, then put the releases into a store (numbers, stages and
audit entries kept) and, when asked, the wheels into a virtual environment.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kaskad.deliver.errors import BundleError, BundleInstallError, BundleIntegrityError
from kaskad.deliver.files import deploy_file
from kaskad.deliver.layout import (
    CONTAINER_FILES,
    MANIFEST,
    REQUIREMENTS,
    WHEELHOUSE,
    Manifest,
    Target,
    compare,
    folder_files,
    is_wheel,
    now_text,
    pack,
    tar_files,
    unpack,
)
from kaskad.deliver.releases import export_release, import_releases
from kaskad.deliver.wheelhouse import build_wheelhouse, run_tool
from kaskad.store.api import ImportedRelease
from kaskad.store.store import Store


@dataclass(frozen=True)
class CheckedBundle:
    """A bundle whose every file matches its manifest; ``sha256`` is the manifest's own."""

    path: Path
    manifest: Manifest
    sha256: str

    @property
    def wheels(self) -> list[str]:
        return sorted(p.removeprefix(WHEELHOUSE + "/") for p in self.manifest.files if is_wheel(p))


def build_bundle(
    store: Store,
    refs: Sequence[str],
    output: Path,
    *,
    actor: str,
    target: Target | None = None,
    project: Path | None = None,
    kaskad_wheel: Path | None = None,
    pip_options: Sequence[str] = (),
    wheels: bool = True,
    work: Path | None = None,
) -> CheckedBundle:
    """Write ``output``: the releases ``refs`` name, a wheelhouse for ``target``, the
    container files and the manifest; then check what was written.

    ``wheels=False`` makes a releases-only bundle (a few megabytes) for a machine where
    this kaskad is installed already: no wheelhouse, no container files."""
    from kaskad import __version__

    if not refs:
        raise BundleError("name at least one release to bundle: NAME@STAGE or NAME@NUMBER")
    target = target or Target()
    with tempfile.TemporaryDirectory(prefix="kaskad-bundle-", dir=work) as tmp:
        folder = Path(tmp) / "kaskad-bundle"
        folder.mkdir()
        releases = [export_release(store, ref, folder).ref for ref in refs]
        if wheels:
            build_wheelhouse(
                folder,
                target=target,
                project=project,
                kaskad_wheel=kaskad_wheel,
                pip_options=pip_options,
            )
            for name in CONTAINER_FILES:
                shutil.copyfile(deploy_file(name), folder / name)
            (folder / "entrypoint.sh").chmod(0o755)
        manifest = Manifest(
            created_at=now_text(),
            created_by=actor,
            kaskad_version=__version__,
            target=target,
            releases=sorted(set(releases)),
            files=folder_files(folder),
        )
        (folder / MANIFEST).write_bytes(manifest.to_json())
        output.parent.mkdir(parents=True, exist_ok=True)
        pack(folder, output)
    return verify_bundle(output)


def verify_bundle(path: Path, *, releases_only: bool = False) -> CheckedBundle:
    """Check every file of a bundle (a ``.tar`` or an unpacked folder) against its
    manifest; raise :class:`BundleIntegrityError` naming each difference.

    ``releases_only`` accepts a folder without its wheelhouse and container files (inside
    the container image, built from them); every file present is still checked."""
    if path.is_dir():
        raw = (path / MANIFEST).read_bytes() if (path / MANIFEST).is_file() else None
        if raw is None:
            raise BundleIntegrityError(f"{path}: no {MANIFEST}; is this an unpacked bundle?")
        found = folder_files(path)
    else:
        raw, found = tar_files(path)
    manifest = Manifest.from_json(raw, str(path))
    compare(manifest, found, str(path), releases_only=releases_only)
    return CheckedBundle(path, manifest, hashlib.sha256(raw).hexdigest())


def install_bundle(
    path: Path,
    store: Store,
    *,
    actor: str,
    venv: Path | None = None,
) -> tuple[CheckedBundle, list[ImportedRelease]]:
    """Verify a bundle, then put its releases into ``store`` (and its wheels into the
    virtual environment ``venv``, created if missing, when given)."""
    with tempfile.TemporaryDirectory(prefix="kaskad-install-") as tmp:
        folder = path if path.is_dir() else unpack(path, Path(tmp))
        checked = verify_bundle(folder, releases_only=venv is None and path.is_dir())
        if venv is not None:
            if not checked.wheels:
                raise BundleInstallError(f"{path} holds no wheels (a releases-only bundle)")
            install_wheels(folder, venv)
        detail = {"bundle_sha256": checked.sha256, "bundle": path.name}
        imported = import_releases(store, folder, actor=actor, detail=detail)
    return CheckedBundle(path, checked.manifest, checked.sha256), imported


def install_wheels(folder: Path, venv: Path) -> None:
    """``pip install --no-index --require-hashes`` of the bundle's wheelhouse into ``venv``."""
    python = venv / "bin" / "python"
    if not python.exists():
        command = [sys.executable, "-m", "venv", str(venv)]
        run_tool(command, f"creating the environment {venv}", BundleInstallError)
    command = [str(python), "-m", "pip", "install", "--quiet", "--no-index"]
    command += ["--find-links", str(folder / WHEELHOUSE), "--require-hashes"]
    command += ["-r", str(folder / REQUIREMENTS)]
    run_tool(command, f"installing the wheelhouse into {venv}", BundleInstallError)
