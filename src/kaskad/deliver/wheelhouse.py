"""The wheelhouse of a bundle: kaskad's own wheel and every locked dependency, for a named
platform and Python version, with the build backend, so that nothing is missing on a
machine with no network.

The wheels come from ``pip download`` (binary wheels only, ``--no-deps``: the locks are
complete; pip checks each download against the index's sha256). kaskad's wheel is built
from the project with ``pip wheel``, its build backend taken from the wheelhouse itself
(``--no-index``), which proves the backend there works offline. ``requirements.txt`` then
pins every wheel with its sha256, so ``pip install --require-hashes`` on the other side
installs exactly these files.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from kaskad.deliver.errors import BundleError
from kaskad.deliver.layout import REQUIREMENTS, WHEELHOUSE, Target, sha256_file

# The locks of the project, by role: the base install and the build backend.
BASE_LOCK = "requirements.lock"
BUILD_LOCK = "requirements-build.lock"
_WHEEL_NAME = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)-.*\.whl$")


def find_project(start: Path | None = None) -> Path | None:
    """The kaskad source tree this code runs from (its ``pyproject.toml``), if any."""
    here = (start or Path(__file__)).resolve()
    for folder in here.parents:
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and 'name = "kaskad"' in pyproject.read_text(encoding="utf-8"):
            return folder
    return None


def run_tool(command: Sequence[str], what: str, error: type[BundleError] = BundleError) -> None:
    """Run ``command`` (pip, venv); on failure raise ``error`` with its last lines."""
    done = subprocess.run(list(command), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        raise error(f"{what} failed (exit {done.returncode}):\n{tail}")


def _pip(args: Sequence[str], what: str) -> None:
    run_tool([sys.executable, "-m", "pip", *args], what)


def download(
    locks: Sequence[Path], target: Target, dest: Path, pip_options: Sequence[str] = ()
) -> None:
    """Every package pinned in ``locks``, as binary wheels for ``target``, into ``dest``."""
    for lock in locks:
        if not lock.is_file():
            raise BundleError(f"lock file {lock} does not exist")
    platforms = [arg for p in target.platforms for arg in ("--platform", p)]
    requirements = [arg for lock in locks for arg in ("-r", str(lock))]
    _pip(
        [
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            *platforms,
            "--python-version",
            target.python_version,
            "--implementation",
            "cp",
            "-d",
            str(dest),
            *pip_options,
            *requirements,
        ],
        f"downloading the wheels of {', '.join(lock.name for lock in locks)} for "
        f"{'/'.join(target.platforms)}, Python {target.python_version}",
    )


def build_kaskad_wheel(project: Path, dest: Path) -> Path:
    """Build kaskad's wheel from ``project`` with the build backend found in ``dest``."""
    before = set(dest.glob("kaskad-*.whl"))
    args = ["wheel", "--quiet", "--no-deps", "--no-index", "--find-links", str(dest)]
    _pip(
        [*args, "-w", str(dest), str(project)],
        f"building kaskad's wheel from {project} (build backend from the wheelhouse)",
    )
    built = sorted(set(dest.glob("kaskad-*.whl")) - before) or sorted(dest.glob("kaskad-*.whl"))
    if not built:
        raise BundleError(f"building kaskad's wheel from {project} produced no wheel")
    return built[-1]


def write_requirements(folder: Path) -> Path:
    """``requirements.txt``: every wheel of the wheelhouse pinned with its sha256."""
    lines = [
        "# Every wheel of this wheelhouse, pinned with its sha256. Install with:",
        "#   pip install --no-index --find-links wheelhouse --require-hashes"
        " -r wheelhouse/requirements.txt",
    ]
    wheels = sorted((folder / WHEELHOUSE).glob("*.whl"))
    hashes: dict[tuple[str, str], list[str]] = {}
    for wheel in wheels:
        match = _WHEEL_NAME.match(wheel.name)
        if match is None:
            raise BundleError(f"{wheel.name} is not a wheel file name")
        key = (match["name"].replace("_", "-").lower(), match["version"])
        hashes.setdefault(key, []).append(sha256_file(wheel))
    for (name, version), digests in sorted(hashes.items()):
        pins = " ".join(f"--hash=sha256:{d}" for d in sorted(digests))
        lines.append(f"{name}=={version} {pins}")
    path = folder / REQUIREMENTS
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def build_wheelhouse(
    folder: Path,
    *,
    target: Target,
    project: Path | None,
    kaskad_wheel: Path | None = None,
    pip_options: Sequence[str] = (),
) -> list[Path]:
    """Fill ``folder/wheelhouse``: locked dependencies, build backend, kaskad's wheel.

    ``project`` is the kaskad source tree (its locks and sources); ``kaskad_wheel`` an
    already built wheel to use instead of building one.
    """
    if project is None:
        raise BundleError(
            "no kaskad project to take the locks from: run from a source checkout or give"
            " --project (the folder with pyproject.toml and requirements.lock)"
        )
    dest = folder / WHEELHOUSE
    dest.mkdir(parents=True, exist_ok=True)
    download([project / BASE_LOCK, project / BUILD_LOCK], target, dest, pip_options)
    if kaskad_wheel is not None:
        if not kaskad_wheel.is_file():
            raise BundleError(f"kaskad wheel {kaskad_wheel} does not exist")
        (dest / kaskad_wheel.name).write_bytes(kaskad_wheel.read_bytes())
    else:
        build_kaskad_wheel(project, dest)
    write_requirements(folder)
    return sorted(dest.glob("*.whl"))
