"""``decision_time``: the moment of a decision, as every expression sees it.

A pipeline may declare ``decision_time`` (a datetime) in its input schema: then it is an
ordinary input. When it reads ``decision_time`` without declaring it, the compiler adds it
to the plan's schema as an optional input and marks the plan ``clock``: the executors take
the record's value when it has one and the clock's (UTC) otherwise, and report it in every
result, so replaying a result's records gives the same decisions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from kaskad.compile.expr import typed as t
from kaskad.compile.naming import DECISION_TIME, DECISION_TIME_TYPE
from kaskad.compile.plan import Plan
from kaskad.spec.schema import Schema
from kaskad.spec.timezone import zoned, zoned_field
from kaskad.spec.types import DType, Field

_DESCRIPTION = "when the decision is taken: the record's value, else the clock (UTC)"


def with_decision_time(inputs: Mapping[str, DType], timezone: str = "") -> dict[str, DType]:
    """The names expressions may read: the inputs, and ``decision_time`` in any case (in
    the pipeline's time zone)."""
    return {DECISION_TIME: zoned(DECISION_TIME_TYPE, timezone), **inputs}


def zoned_schema(schema: Schema, timezone: str) -> Schema:
    """``schema`` with the pipeline's time zone on every datetime that declares none."""
    if not timezone:
        return schema
    return replace(schema, fields=tuple(zoned_field(f, timezone) for f in schema.fields))


def reads_clock(plan: Plan) -> bool:
    """Whether the plan reads ``decision_time`` without its schema declaring it."""
    if plan.schema.field(DECISION_TIME) is not None:
        return False
    exprs = [e for node in plan.nodes for e in node.expressions()]
    exprs += [b.when for b in plan.decision if b.when is not None]
    exprs += [
        e
        for s in plan.shadows
        for e in [*(x for n in s.nodes for x in n.expressions()), *(b.when for b in s.decision)]
        if e is not None
    ]
    return any(DECISION_TIME in t.columns_used(e) for e in exprs)


def add_clock(plan: Plan) -> Plan:
    """``plan`` with ``decision_time`` as an optional input filled from the clock, when it
    reads the decision time without declaring it; else ``plan`` itself."""
    if not reads_clock(plan):
        return plan
    field = Field(DECISION_TIME, zoned(DECISION_TIME_TYPE, plan.timezone), description=_DESCRIPTION)
    schema: Schema = replace(plan.schema, fields=(*plan.schema.fields, field))
    return replace(plan, schema=schema, clock=True)


__all__ = ["add_clock", "reads_clock", "with_decision_time", "zoned_schema"]
