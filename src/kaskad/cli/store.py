"""``kaskad store``: maintenance of the store itself (moving artifacts into its database)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kaskad.cli.common import ActorOpt, StoreOpt, actor_name, fail, out
from kaskad.cli.exitcodes import ExitCode
from kaskad.cli.registry import opened

store_app = typer.Typer(help="Maintain the store: move artifacts into it.", no_args_is_help=True)


@store_app.command("migrate-artifacts")
def migrate_artifacts(
    source: Annotated[
        Path,
        typer.Option(
            "--from",
            help="The artifact folder to copy from (e.g. .kaskad/artifacts).",
            show_default=False,
        ),
    ],
    store: StoreOpt = None,
    actor: ActorOpt = None,
) -> None:
    """Copy every artifact of a folder into the store's artifact store (its database for a
    store given by URL), verifying each; safe to run again. The folder is left as it was."""
    from kaskad.store import DatabaseArtifactStore, LocalArtifactStore, copy_artifacts

    if not source.is_dir():
        raise fail(f"{source} is not an artifact folder", ExitCode.USAGE)
    with opened(store) as s:
        in_database = isinstance(s.artifacts, DatabaseArtifactStore)
        into = f"the database {s.url}" if in_database else repr(s.artifacts)
        report = copy_artifacts(LocalArtifactStore(source), s.artifacts)
        s.record_audit(
            actor_name(actor),
            "artifacts.migrate",
            str(source.absolute()),
            detail={
                "into": into,
                "copied": len(report.copied),
                "present": len(report.present),
                "damaged": report.damaged,
            },
        )
    out.print(
        f"{len(report.copied)} artifact(s) copied, {len(report.present)} already present in {into}",
        highlight=False,
        soft_wrap=True,
    )
    if report.damaged:
        for digest in report.damaged:
            out.print(f"damaged, not copied: {source / digest[:2] / digest}", highlight=False)
        raise fail(
            f"{len(report.damaged)} artifact(s) do not match their sha256 (error K603):"
            " restore them from a backup and run this again"
        )
