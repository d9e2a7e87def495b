"""Delivery into closed networks: bundles (releases, a wheelhouse for the target machine,
the container files and a manifest of sha256 sums in one tar), checked and installed on
the other side; the container and GitLab CI files live in ``deploy/``.

See ``docs/delivery.md``.
"""

from __future__ import annotations

from kaskad.deliver.bundle import CheckedBundle, build_bundle, install_bundle, verify_bundle
from kaskad.deliver.errors import BundleError, BundleInstallError, BundleIntegrityError
from kaskad.deliver.layout import Manifest, Target

__all__ = [
    "BundleError",
    "BundleInstallError",
    "BundleIntegrityError",
    "CheckedBundle",
    "Manifest",
    "Target",
    "build_bundle",
    "install_bundle",
    "verify_bundle",
]
