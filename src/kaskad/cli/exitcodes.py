"""The one table of exit codes every ``kaskad`` command uses (documented in docs/cli.md).

A script tells what went wrong from the code alone: the same kind of mistake exits with
the same code whichever command made it.
"""

from __future__ import annotations

from enum import IntEnum

from kaskad.errors import InputError, StoreUnavailableError

__all__ = ["EXIT_CODES", "ExitCode"]


class ExitCode(IntEnum):
    """How a command ended; :data:`EXIT_CODES` says what each means."""

    OK = 0
    FAILED = 1
    USAGE = 2
    REJECTED = 3
    NO_MATCH = 4
    UNAVAILABLE = 5
    INTERRUPTED = 130


EXIT_CODES: dict[ExitCode, str] = {
    ExitCode.OK: "done",
    ExitCode.FAILED: "refused or failed: an invalid pipeline, a name the store does not hold "
    "(release, stage, model, decision), a check that did not pass, a conflict, a run that "
    "failed",
    ExitCode.USAGE: "the command line is wrong: an unknown option or value, a file that cannot "
    "be read or is not what the command takes, an input without a column it needs",
    ExitCode.REJECTED: "done, but records were rejected or differ: `decide` refused the "
    "record, more records rejected than `run --max-rejected` allows, a replay found "
    "differences",
    ExitCode.NO_MATCH: "nothing matched what was asked (no logged decision in the window or "
    "with that key)",
    ExitCode.UNAVAILABLE: "a service kaskad needs cannot be reached: the store's database, Spark",
    ExitCode.INTERRUPTED: "stopped by Ctrl-C or SIGTERM; no partial output is left behind",
}
"""Each exit code and what it means, as docs/cli.md lists them."""


def exit_code_for(exc: BaseException) -> ExitCode:
    """The exit code of an expected failure, by its kind."""
    if isinstance(exc, StoreUnavailableError):
        return ExitCode.UNAVAILABLE
    if isinstance(exc, (InputError, OSError)):
        return ExitCode.USAGE
    return ExitCode.FAILED
