"""The failure policy: what decision a record gets when a step fails for it.

A step (a feature set, a rule set, a model) may declare ``on_error: {outcome: ...,
reason: ...}``; so may the pipeline, for every step that declares none. A record for
which a step raises is ``failed`` either way (the step and the error are in its result);
the fallback gives it a decision too.
"""

from __future__ import annotations

from dataclasses import dataclass

from kaskad.spec.reader import Reader
from kaskad.spec.rules import check_identifier
from kaskad.spec.yamlfile import PathKey

__all__ = ["Fallback", "read_on_error"]

_KEYS = ("outcome", "reason")


@dataclass(frozen=True)
class Fallback:
    """The decision (``outcome``, ``reason``) of a record a step failed for: for the steps
    whose nodes are ``steps``, or for every step without its own when ``steps`` is empty
    (the pipeline's)."""

    outcome: str
    reason: str
    steps: tuple[str, ...] = ()


def read_on_error(r: Reader, path: PathKey, steps: tuple[str, ...] = ()) -> Fallback | None:
    """The ``on_error`` mapping at ``path`` (None when absent or wrong; problems reported)."""
    if r.get(path) is None:
        return None
    entry = r.mapping(path, _KEYS, ("outcome",), "'on_error'")
    if entry is None:
        return None
    outcome = r.string((*path, "outcome"), "the fallback outcome")
    if outcome is None or not check_identifier(r, outcome, (*path, "outcome"), "outcome"):
        return None
    reason = r.string((*path, "reason"), "the fallback reason", required=False) or "step_error"
    return Fallback(outcome, reason, steps)
