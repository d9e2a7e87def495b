"""The container and CI files kaskad ships (``deploy/`` of the source tree, inside the
wheel as ``kaskad/deliver/deploy``): one copy, used by the repository and by bundles."""

from __future__ import annotations

from pathlib import Path

from kaskad.deliver.errors import BundleError
from kaskad.deliver.layout import CONTAINER_FILES

__all__ = ["CONTAINER_FILES", "deploy_file", "deploy_folder"]
_PACKAGED = Path(__file__).resolve().parent / "deploy"
_SOURCE = Path(__file__).resolve().parents[3] / "deploy"


def deploy_folder() -> Path:
    """Where the deploy files are: inside the installed wheel, else the source tree's."""
    for folder in (_PACKAGED, _SOURCE):
        if (folder / "Dockerfile").is_file():
            return folder
    raise BundleError(f"kaskad's deploy files are missing (looked in {_PACKAGED} and {_SOURCE})")


def deploy_file(name: str) -> Path:
    path = deploy_folder() / name
    if not path.is_file():
        raise BundleError(f"kaskad's deploy file {name} is missing from {path.parent}")
    return path
