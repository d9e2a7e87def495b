"""The root command group: commands listed in the order of the work, and no traceback for
any failure kaskad expects.

A command turns the failures it knows into a message and an exit code itself (see
:func:`kaskad.cli.common.fail`); an error of kaskad's own (:class:`~kaskad.errors.KaskadError`)
or a file the system cannot open that reaches this group is printed the same way, with the
code :func:`exit_code_for` gives it, instead of a traceback. Only a bug prints one.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape
from typer.core import TyperGroup

from kaskad.cli.exitcodes import ExitCode, exit_code_for
from kaskad.errors import KaskadError, SpecError

__all__ = ["KaskadGroup", "message_for"]

# The order commands appear in within their panels (panels keep the order of
# kaskad.cli.helptext.PANELS because the first command of each is listed first).
ORDER = (
    "validate",
    "decide",
    "scorecard",
    "model",
    "release",
    "run",
    "runs",
    "backtest",
    "serve",
    "decisions",
    "monitor",
    "labels",
    "audit",
    "passport",
    "bundle",
    "store",
)


def message_for(exc: BaseException) -> str:
    """One line (or the problems of a spec) saying what is wrong, without a traceback."""
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror}"
    code = getattr(exc, "code", None)
    text = str(exc)
    if isinstance(exc, KaskadError) and isinstance(code, str) and not text.startswith(code):
        return f"{code} {text}"
    return text


class KaskadGroup(TyperGroup):
    """The ``kaskad`` group: workflow order in ``--help``; expected failures as messages."""

    def list_commands(self, ctx: Any) -> list[str]:
        names = super().list_commands(ctx)
        rank = {name: i for i, name in enumerate(ORDER)}
        return sorted(names, key=lambda n: rank.get(n, len(ORDER)))

    def invoke(self, ctx: Any) -> Any:
        from kaskad.cli.common import announce_new_store, err

        try:
            return super().invoke(ctx)
        except SpecError as exc:
            from kaskad.cli.render import print_problems

            print_problems(err, exc.problems)
            raise typer.Exit(ExitCode.FAILED) from None
        except (KaskadError, OSError) as exc:
            err.print(f"[red]error:[/] {escape(message_for(exc))}", highlight=False)
            raise typer.Exit(exit_code_for(exc)) from None
        except KeyboardInterrupt:
            err.print("interrupted", highlight=False)
            raise typer.Exit(ExitCode.INTERRUPTED) from None
        finally:
            announce_new_store()
