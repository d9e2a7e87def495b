"""A plan as JSON and back, and the plan hash as the hash of that form.

Every object of a plan is a frozen dataclass of a known type; each is written as a JSON
object with its type name under ``"type"`` and its fields by name. Tuples become arrays
and come back as tuples; dates and datetimes in literals are tagged. Reading checks the
format version and the type names, so a plan from an incompatible kaskad is refused with
a clear message instead of running with a wrong meaning.

The hash covers what the plan does, not where its files were: the places a component
was read from (``source``, ``path`` and the plan's and schema's ``source``) and the
hashes themselves are left out of the hashed form, so the same pipeline compiled in
another folder or on another machine has the same hash.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

from kaskad.compile.expr import typed as t
from kaskad.compile.plan import (
    Branch,
    FeatureNode,
    ModelNode,
    Plan,
    Rule,
    RuleSetNode,
    ShadowPlan,
    TableNode,
    TableOutput,
    TableRule,
)
from kaskad.errors import KaskadError
from kaskad.features import FeatureCall, PythonModule
from kaskad.spec.common import ComponentRef, sha256_text
from kaskad.spec.on_error import Fallback
from kaskad.spec.schema import Schema
from kaskad.spec.types import Constraints, DType, Field

__all__ = ["FORMAT", "PlanFormatError", "plan_from_json", "plan_hash", "plan_to_json"]

FORMAT = "kaskad.plan/1"

_TYPES: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        Plan,
        ShadowPlan,
        Branch,
        FeatureNode,
        RuleSetNode,
        Rule,
        ModelNode,
        TableNode,
        TableOutput,
        TableRule,
        ComponentRef,
        Schema,
        Field,
        Constraints,
        DType,
        FeatureCall,
        PythonModule,
        Fallback,
        t.TLit,
        t.TCol,
        t.TElem,
        t.TUnary,
        t.TBinary,
        t.TIn,
        t.TIsNull,
        t.TLike,
        t.TCase,
        t.TFunc,
        t.TAgg,
        t.TShift,
        t.TLookup,
    )
}

# fields that say where something was read from, not what it is: left out of the hash;
# so is which kernel scores a model (checked bit-identical to the library where it runs:
# how it is computed in this environment, not what)
_PLACES: dict[type[Any], frozenset[str]] = {
    ComponentRef: frozenset({"source", "path"}),
    ModelNode: frozenset({"kernel", "kernel_reason"}),
    Plan: frozenset({"source", "hash"}),
    Schema: frozenset({"source"}),
    PythonModule: frozenset({"filename"}),
}


# fields added after format 1 was fixed: left out while None, so plans that do not use
# them keep the form (and the hash) they had
class PlanFormatError(KaskadError):
    """A serialised plan that this kaskad cannot read."""


_SCALARS = (str, int, float, bool, type(None))


def _encode(value: Any, portable: bool) -> Any:
    if isinstance(value, _SCALARS):  # first: a reference list holds many of them
        return value
    if isinstance(value, tuple | list):
        if all(isinstance(v, _SCALARS) for v in value):
            return list(value)
        return [_encode(v, portable) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        cls = type(value)
        if cls.__name__ not in _TYPES:
            raise TypeError(f"{cls.__name__} is not a plan type")
        skip = _PLACES.get(cls, frozenset()) if portable else frozenset()
        out: dict[str, Any] = {"type": cls.__name__}
        for f in dataclasses.fields(value):
            if f.metadata.get("omit_default") and getattr(value, f.name) == f.default:
                continue  # added after plans were first hashed: their hashes stay the same
            if f.name not in skip:
                out[f.name] = _encode(getattr(value, f.name), portable)
        return out
    if isinstance(value, dt.datetime):
        return {"type": "datetime", "value": value.isoformat()}
    if isinstance(value, dt.date):
        return {"type": "date", "value": value.isoformat()}
    raise TypeError(f"a plan cannot hold a {type(value).__name__}")


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_decode(v) for v in value)
    if not isinstance(value, dict):
        return value
    kind = value.get("type")
    if kind == "date":
        return dt.date.fromisoformat(value["value"])
    if kind == "datetime":
        return dt.datetime.fromisoformat(value["value"])
    cls = _TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise PlanFormatError(f"serialised plan holds an unknown object type {kind!r}")
    args = {k: _decode(v) for k, v in value.items() if k != "type"}
    try:
        return cls(**args)
    except TypeError as exc:
        raise PlanFormatError(f"serialised plan: bad {kind}: {exc}") from exc


def plan_to_json(plan: Plan) -> str:
    """The plan as JSON text (readable back with :func:`plan_from_json`)."""
    return json.dumps({"format": FORMAT, "plan": _encode(plan, portable=False)}, sort_keys=True)


def plan_from_json(text: str | bytes) -> Plan:
    """A plan written by :func:`plan_to_json`; its hash is checked against its content."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise PlanFormatError(f"serialised plan is not JSON: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        got = data.get("format") if isinstance(data, dict) else None
        raise PlanFormatError(f"serialised plan has format {got!r}; this kaskad reads {FORMAT}")
    plan = _decode(data.get("plan"))
    if not isinstance(plan, Plan):
        raise PlanFormatError("serialised plan does not hold a plan")
    if plan.hash != plan_hash(plan):
        raise PlanFormatError(
            f"serialised plan '{plan.name}' does not match its hash {plan.hash[:12]}"
        )
    return plan


def plan_hash(plan: Plan) -> str:
    """sha256 of the plan's serialised form, without the places its files came from."""
    form = _encode(plan, portable=True)
    return sha256_text(json.dumps(form, sort_keys=True, separators=(",", ":")))
