"""``NAME@selector``: the one parser of release (and model version) references.

``loan_decision@3`` names a release by number, ``loan_decision@latest`` the newest one,
``loan_decision@production`` the release a stage points at. Model versions use the same
form (``fraud@2``). A plain module with no database imports: the CLI and the server parse
references before (or without) opening a store.
"""

from __future__ import annotations

from dataclasses import dataclass

from kaskad.errors import StoreError

__all__ = ["LATEST", "MAX_NUMBER", "ReleaseSelector", "release_number"]

LATEST = "latest"
MAX_NUMBER = 2**63 - 1  # what a store's 64-bit integer column holds


def release_number(text: str) -> int | None:
    """``text`` as a release (or version) number: ASCII digits, from 1 to
    :data:`MAX_NUMBER`; None for anything else (a stage name, ``0``, ``²``, 10**30)."""
    if not (text.isascii() and text.isdigit()) or len(text.lstrip("0")) > 19:
        return None
    value = int(text)
    return value if 1 <= value <= MAX_NUMBER else None


@dataclass(frozen=True)
class ReleaseSelector:
    """A parsed ``NAME@selector``: a number, ``latest`` or a stage name."""

    name: str
    selector: str

    @classmethod
    def parse(cls, text: str, default: str | None = None) -> ReleaseSelector:
        """Parse ``NAME@selector`` (split at the last ``@``). With ``default``, a bare
        ``NAME`` means ``NAME@default``. A reference without a name or a selector raises
        :class:`~kaskad.errors.StoreError` (K600) saying how to write one."""
        text = text.strip()
        name, at, selector = text.rpartition("@")
        if not at and default is not None:
            name, selector = text, default
        if not name or not selector:
            raise StoreError(
                f"{text!r} is not a release reference: write PIPELINE@NUMBER, PIPELINE@latest"
                " or PIPELINE@STAGE (e.g. loan_decision@production)"
            )
        if selector.isdigit() and release_number(selector) is None:
            raise StoreError(
                f"{text!r}: release numbers go from 1 to {MAX_NUMBER}, not {selector[:30]}"
            )
        return cls(name, selector)

    @property
    def number(self) -> int | None:
        """The release (or version) number, when the selector is one."""
        return release_number(self.selector)

    @property
    def is_latest(self) -> bool:
        return self.selector == LATEST

    @property
    def stage(self) -> str | None:
        """The stage name, when the selector is neither a number nor ``latest``."""
        return None if self.number is not None or self.is_latest else self.selector

    def __str__(self) -> str:
        return f"{self.name}@{self.selector}"
