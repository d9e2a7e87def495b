"""Errors of the registry layer: releases that must not be loaded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kaskad.errors import KaskadError
from kaskad.registry.environment import Mismatch, mismatch_table


class ReleaseError(KaskadError):
    """A release cannot be created, loaded or verified."""


class EnvironmentMismatchError(ReleaseError):
    """Installed package versions differ from the release's lock."""

    def __init__(self, ref: str, mismatches: list[Mismatch]) -> None:
        self.ref = ref
        self.mismatches = mismatches
        super().__init__(
            f"release {ref} refuses to load: the installed packages differ from its lock\n"
            f"{mismatch_table(mismatches)}\n"
            "install the locked versions, or override explicitly (--allow-environment-mismatch);"
            " an override is recorded in the audit trail"
        )


class UnchangedPlanError(ReleaseError):
    """A new release would have the same plan as an existing one (K950): nothing in the
    pipeline, its components or the models it pins changed."""

    code = "K950"

    def __init__(self, pipeline: str, existing: str, plan_hash: str) -> None:
        self.existing = existing
        super().__init__(
            f"K950 {pipeline} is unchanged: {existing} already has plan {plan_hash[:12]}; "
            f"use {existing} (promote it), or make a new release anyway with --allow-unchanged"
        )


@dataclass(frozen=True)
class GoldenDiff:
    """One field of one golden case that no longer reproduces."""

    case: str
    field: str
    expected: Any
    got: Any
    mode: str  # record or batch


class GoldenMismatchError(ReleaseError):
    """Golden cases recorded with the release give different results now."""

    def __init__(self, ref: str, diffs: list[GoldenDiff], cases: int) -> None:
        self.ref = ref
        self.diffs = diffs
        failing = sorted({d.case for d in diffs})
        lines = [
            f"release {ref} refuses to load: {len(failing)} of {cases} golden cases changed",
        ]
        for d in diffs[:20]:
            lines.append(
                f"  case {d.case} ({d.mode}): {d.field}: expected {d.expected!r}, got {d.got!r}"
            )
        if len(diffs) > 20:
            lines.append(f"  … and {len(diffs) - 20} more differences")
        super().__init__("\n".join(lines))
