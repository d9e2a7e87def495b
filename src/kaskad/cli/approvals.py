"""Four eyes from the shell: ``kaskad release approve`` and ``kaskad release
require-approval`` (see docs/security.md#approvals)."""

from __future__ import annotations

from typing import Annotated

import typer

from kaskad.cli.common import ActorOpt, StoreOpt, actor_name, out
from kaskad.cli.registry import opened

StageOpt = Annotated[str, typer.Option(help="The stage the approval is for.")]


def release_approve(
    ref: Annotated[str, typer.Argument(help="NAME@NUMBER.")],
    stage: StageOpt = "production",
    store: StoreOpt = None,
    actor: ActorOpt = None,
) -> None:
    """Approve a release for a stage that requires approval; its creator cannot (K607)."""
    who = actor_name(actor)
    with opened(store) as s:
        release = s.resolve(ref)
        s.approve(release.pipeline, release.number, stage, actor=who)
        approvers = s.approvers(release.pipeline, release.number, stage)
    out.print(
        f"{release.ref} approved for {stage} (approvers: {', '.join(approvers)})",
        highlight=False,
    )


def release_require_approval(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name.")],
    stage: StageOpt = "production",
    off: Annotated[bool, typer.Option("--off", help="No longer require approval.")] = False,
    store: StoreOpt = None,
    actor: ActorOpt = None,
) -> None:
    """Make promotion to a stage need an approval by an identity other than the release's
    creator (``--off`` lifts it); recorded in the audit trail."""
    with opened(store) as s:
        s.require_approval(pipeline, stage, actor=actor_name(actor), required=not off)
    state = "no longer requires" if off else "requires"
    out.print(f"{pipeline}@{stage} {state} approval", highlight=False)
