"""The names a plan gives its result fields, spelled once.

A rule set ``NAME`` gives ``NAME.RULE_ID`` (the rule's outcome) and the summary fields
``NAME.any_hit``, ``NAME.hit_count``, ``NAME.hits`` and ``NAME.unknown_count``. A shadow
``NAME`` gives ``shadow.NAME.decision``, ``shadow.NAME.reasons``, one
``shadow.NAME.OUTPUT`` per output it recomputes, and ``shadow.NAME.error``. The compiler,
the plan and both executors read these names from here (what the values are is in
:mod:`kaskad.execute.semantics`).
"""

from __future__ import annotations

from kaskad.spec.types import BOOLEAN, DATETIME, INTEGER, STRING, STRING_LIST, DType

# ---- rule outcomes ----------------------------------------------------------------------

HIT = "hit"  # the condition is true
PASS = "pass"  # the condition is false
UNKNOWN = "unknown"  # the condition is NULL (a value it reads is missing), by default

# ---- rule-set summary -------------------------------------------------------------------

ANY_HIT = "any_hit"
HIT_COUNT = "hit_count"
HITS = "hits"
UNKNOWN_COUNT = "unknown_count"
SUMMARY_FIELDS: tuple[tuple[str, DType], ...] = (
    (ANY_HIT, BOOLEAN),
    (HIT_COUNT, INTEGER),
    (HITS, STRING_LIST),
    (UNKNOWN_COUNT, INTEGER),
)
DECISION_TIME_TYPE = DATETIME
RULESET_SUMMARY = tuple(name for name, _ in SUMMARY_FIELDS)  # reserved rule ids


def ruleset_column(ruleset: str, field: str) -> str:
    """The result field of a rule (by id) or a summary field of rule set ``ruleset``."""
    return f"{ruleset}.{field}"


# ---- decision tables ------------------------------------------------------------------
# a table NAME gives NAME.OUTPUT per output, NAME.matched (the ids of the rules that
# matched, in rule order) and NAME.unknown (the rules whose tests read a missing value)

TABLE_MATCHED = "matched"
TABLE_UNKNOWN = "unknown"


def table_column(table: str, field: str) -> str:
    """The result field of an output (by id) or of ``matched``/``unknown`` of a table."""
    return f"{table}.{field}"


# ---- decision time ---------------------------------------------------------------------

# the moment a decision is taken: from the record when it gives one, else the clock; a
# pipeline that reads it and does not declare it as an input reports it in every result
DECISION_TIME = "decision_time"

# ---- shadows ----------------------------------------------------------------------------

SHADOW_PREFIX = "shadow."
SHADOW_DECISION = "decision"
SHADOW_REASONS = "reasons"
SHADOW_ERROR = "error"


def shadow_prefix(shadow: str) -> str:
    """``shadow.NAME.``: what every result field of shadow ``shadow`` starts with."""
    return f"{SHADOW_PREFIX}{shadow}."


def shadow_column(shadow: str, field: str) -> str:
    return shadow_prefix(shadow) + field


def shadow_fields(shadow: str, reported: list[tuple[str, DType]]) -> list[tuple[str, DType]]:
    """Every result field of a shadow, in order, given the outputs it reports."""
    prefix = shadow_prefix(shadow)
    out = [(prefix + SHADOW_DECISION, STRING), (prefix + SHADOW_REASONS, STRING_LIST)]
    out += [(prefix + n, d) for n, d in reported]
    out.append((prefix + SHADOW_ERROR, STRING))
    return out


__all__ = [
    "ANY_HIT",
    "DECISION_TIME",
    "HIT",
    "HITS",
    "HIT_COUNT",
    "PASS",
    "RULESET_SUMMARY",
    "SHADOW_DECISION",
    "SHADOW_ERROR",
    "SHADOW_PREFIX",
    "SHADOW_REASONS",
    "SUMMARY_FIELDS",
    "TABLE_MATCHED",
    "TABLE_UNKNOWN",
    "UNKNOWN",
    "UNKNOWN_COUNT",
    "ruleset_column",
    "shadow_column",
    "shadow_fields",
    "shadow_prefix",
    "table_column",
]
