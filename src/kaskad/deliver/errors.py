"""Errors of delivery: building, checking and installing bundles (codes K800–K802,
documented in ``docs/errors.md``)."""

from __future__ import annotations

from kaskad.errors import KaskadError


class BundleError(KaskadError):
    """A bundle cannot be built: a release, a lock or a wheel is missing, or pip failed."""

    code = "K800"


class BundleIntegrityError(BundleError):
    """A bundle is damaged or was changed: a file is missing, added, unsafe or its sha256
    differs from the manifest's."""

    code = "K801"


class BundleInstallError(BundleError):
    """A bundle cannot be installed here (e.g. the store has another release under the
    same number)."""

    code = "K802"
