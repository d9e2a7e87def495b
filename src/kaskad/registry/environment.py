"""The exact library environment a release was made in, and checking it at load time.

A release records the versions of the packages that can change its results (the
numerical and model libraries, and kaskad itself). Loading the release elsewhere
compares them with what is installed: any difference refuses to load unless an
operator explicitly overrides it, and the override is written to the audit trail.
"""

from __future__ import annotations

import getpass
import platform
import socket
import sys
from dataclasses import dataclass
from importlib import metadata
from typing import Any

# Packages whose version can change a decision. Names as on the package index.
RESULT_PACKAGES = (
    "kaskad",
    "numpy",
    "polars",
    "pyarrow",
    "scipy",
    "scikit-learn",
    "joblib",
    "lightgbm",
    "onnxruntime",
    "threadpoolctl",
    "xgboost-cpu",
    "xgboost",
    "catboost",
    "llvmlite",
)


# The packages each model framework's results depend on. llvmlite compiles every
# framework's tree ensembles to machine code (models/kernels/native.py); the compiled trees
# are used only where they reproduce the library's bits on a sample, but a different LLVM
# is a different compiler, so its version is locked like the libraries'.
FRAMEWORK_PACKAGES: dict[str, tuple[str, ...]] = {
    "sklearn": ("scikit-learn", "numpy", "scipy", "joblib", "threadpoolctl", "llvmlite"),
    "lightgbm": ("lightgbm", "numpy", "scipy", "llvmlite"),
    "onnx": ("onnxruntime", "numpy", "llvmlite"),
    "xgboost": ("xgboost-cpu", "xgboost", "numpy", "scipy", "llvmlite"),
    "catboost": ("catboost", "numpy", "scipy", "llvmlite"),
}
# What every plan's results depend on, whatever its models.
CORE_PACKAGES = ("kaskad", "numpy", "polars", "pyarrow")


def packages_for(frameworks: set[str]) -> tuple[str, ...]:
    """The result-affecting packages of a plan using these model frameworks: a release's
    lock names only these, so an installed library it does not use (XGBoost beside a
    LightGBM pipeline) neither enters its lock nor blocks loading it elsewhere."""
    wanted = set(CORE_PACKAGES)
    for framework in frameworks:
        wanted.update(FRAMEWORK_PACKAGES.get(framework, ()))
    return tuple(p for p in RESULT_PACKAGES if p in wanted)


@dataclass(frozen=True)
class Mismatch:
    """One package whose installed version is not the one in the lock."""

    package: str
    expected: str | None  # None: not in the lock
    installed: str | None  # None: not installed


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def default_actor() -> str:
    """``user@host`` of this process, for the audit trail when no actor is given."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def python_version() -> str:
    return ".".join(str(x) for x in sys.version_info[:3])


def capture_environment(packages: tuple[str, ...] = RESULT_PACKAGES) -> dict[str, Any]:
    """Versions of the installed result-affecting packages, Python and the platform."""
    found = {p: v for p in packages if (v := _version(p)) is not None}
    return {
        "python": python_version(),
        "platform": f"{platform.system()}-{platform.machine()}",
        "packages": dict(sorted(found.items())),
    }


def compare_environment(lock: dict[str, Any]) -> list[Mismatch]:
    """Differences between a lock and this interpreter: every locked package must be
    installed at exactly its version, and Python must have the same major.minor."""
    out: list[Mismatch] = []
    locked_python = str(lock.get("python", ""))
    if locked_python.split(".")[:2] != python_version().split(".")[:2]:
        out.append(Mismatch("python", locked_python or None, python_version()))
    for package, expected in sorted(dict(lock.get("packages", {})).items()):
        installed = _version(package)
        if installed != expected:
            out.append(Mismatch(package, str(expected), installed))
    return out


def mismatch_table(mismatches: list[Mismatch]) -> str:
    """The mismatches as a plain-text table: package, expected, installed."""
    rows = [("package", "expected (release lock)", "installed")]
    rows += [(m.package, m.expected or "-", m.installed or "not installed") for m in mismatches]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
