"""A step that fails for a record: the record is ``failed``, with the step and the error
in its result, and gets its fallback decision when the pipeline declares one. Both
executors write a failed record with these functions, so it reads the same in both."""

from __future__ import annotations

from kaskad.compile.plan import Node, Plan
from kaskad.errors import ExecutionError

__all__ = ["FAILED", "failure_text", "fallback_fields", "step_name"]

FAILED = "failed"


def step_name(node: Node) -> str:
    """``model credit_pd``, ``feature ratio``, ``rules aml``."""
    kind = type(node).__name__.removesuffix("Node").lower()
    kind = {"ruleset": "rules", "feature": "feature"}.get(kind, kind)
    return f"{kind} {node.id}"


def failure_text(node: Node, exc: BaseException) -> str:
    """One line for the result's ``errors``: ``model credit_pd: ValueError: ...``."""
    if isinstance(exc, ExecutionError):
        cause = exc.__cause__ if exc.__cause__ is not None else exc
    else:
        cause = exc
    message = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    detail = f"{type(cause).__name__}: {message}" if message else type(cause).__name__
    return f"{step_name(node)}: {detail}"


def fallback_fields(plan: Plan, node: Node) -> tuple[str | None, list[str] | None]:
    """The decision and reasons of a record ``node`` failed for (None, None without a
    fallback)."""
    found = plan.fallback(node.id)
    if found is None:
        return None, None
    return found.outcome, [found.reason]
