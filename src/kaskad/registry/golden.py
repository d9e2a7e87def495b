"""Golden cases: inputs with the outputs recorded when a release was made, replayed
through both executors before the release may serve.

Every field is compared exactly, except the outputs of model steps that declare a
tolerance (``Plan.tolerances``): those are compared within exactly that absolute
tolerance, and nothing else is. A case whose tolerance-checked score lies within the
tolerance of a threshold it is compared with (``pd > 0.2``) is reported: there the
tolerance could change the decision.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kaskad.compile.expr import typed as t
from kaskad.compile.plan import Plan
from kaskad.execute.batch import BatchExecutor
from kaskad.execute.convert import json_value
from kaskad.execute.record import RecordExecutor
from kaskad.io.files import frame_from_records, read_input
from kaskad.registry.errors import GoldenDiff, ReleaseError

Case = dict[str, Any]  # {"input": {...}, "output": {...}}


def sample_inputs(path: Path, plan: Plan, count: int) -> list[dict[str, Any]]:
    """The first ``count`` records of a sample file, as JSON-like dicts."""
    frame = read_input(path, plan.schema).head(count)
    return [json_value(row) for row in frame.to_dicts()]


def record_cases(plan: Plan, inputs: list[dict[str, Any]]) -> list[Case]:
    """Run the inputs through both executors; they must agree, or no release is made."""
    cases = [
        {"input": record, "output": json_value(out)}
        for record, out in zip(inputs, _record_outputs(plan, inputs), strict=True)
    ]
    diffs = _compare(plan, cases, _batch_outputs(plan, inputs), "batch")
    if diffs:
        first = diffs[0]
        raise ReleaseError(
            f"the batch and per-record executors disagree on golden case {first.case}, "
            f"field {first.field}: {first.expected!r} vs {first.got!r}; no release was made"
        )
    return cases


def replay(plan: Plan, cases: list[Case]) -> list[GoldenDiff]:
    """Every difference between recorded outputs and what both executors give now."""
    inputs = [c["input"] for c in cases]
    diffs = _compare(plan, cases, _record_outputs(plan, inputs), "record")
    diffs += _compare(plan, cases, _batch_outputs(plan, inputs), "batch")
    return diffs


def to_jsonl(cases: list[Case]) -> bytes:
    lines = [json.dumps(c, ensure_ascii=False, sort_keys=True) for c in cases]
    return ("\n".join(lines) + "\n").encode("utf-8") if lines else b""


def from_jsonl(data: bytes) -> list[Case]:
    return [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]


def _record_outputs(plan: Plan, inputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    executor = RecordExecutor(plan)
    return [json_value(executor.decide(record).output) for record in inputs]


def _batch_outputs(plan: Plan, inputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not inputs:
        return []
    frame = frame_from_records(inputs, plan.schema)
    return [json_value(row) for row in BatchExecutor(plan).run(frame).to_dicts()]


def _case_name(plan: Plan, index: int, case: Case) -> str:
    keys = [str(case["input"].get(k)) for k in plan.schema.keys if case["input"].get(k)]
    return f"#{index + 1}" + (f" ({', '.join(keys)})" if keys else "")


def same(expected: Any, got: Any, tolerance: float | None) -> bool:
    """Equal, or both numbers within ``tolerance`` (absolute) when one is declared."""
    if expected == got:
        return True
    if tolerance is None or not (_number(expected) and _number(got)):
        return False
    return bool(abs(float(expected) - float(got)) <= tolerance)


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def thresholds(plan: Plan) -> dict[str, list[float]]:
    """For each tolerance-checked field, the constants it is compared with anywhere in the
    plan (decision branches, rules, features; the challengers' too)."""
    checked = plan.tolerances()
    exprs: list[t.TExpr] = [b.when for b in plan.decision if b.when is not None]
    for shadow in plan.shadows:
        exprs += [b.when for b in shadow.decision if b.when is not None]
        exprs += [e for n in shadow.nodes for e in n.expressions()]
    exprs += [e for n in plan.nodes for e in n.expressions()]
    found: dict[str, list[float]] = {}
    for expr in exprs:
        for node in t.walk(expr):
            if not isinstance(node, t.TBinary) or node.op not in ("<", "<=", ">", ">=", "=", "!="):
                continue
            for col, lit in ((node.left, node.right), (node.right, node.left)):
                if isinstance(col, t.TCol) and isinstance(lit, t.TLit) and _number(lit.value):
                    for name in (
                        col.column,
                        *(f"shadow.{s.name}.{col.column}" for s in plan.shadows),
                    ):
                        if name in checked and float(lit.value) not in found.get(name, []):
                            found.setdefault(name, []).append(float(lit.value))
    return found


def near_thresholds(plan: Plan, cases: list[Case]) -> list[str]:
    """Golden cases whose tolerance-checked output lies within its tolerance of a
    threshold it is compared with, one line each."""
    tolerances = plan.tolerances()
    out: list[str] = []
    for field, limits in sorted(thresholds(plan).items()):
        tol = tolerances[field]
        for i, case in enumerate(cases):
            value = case["output"].get(field)
            if not _number(value):
                continue
            for limit in limits:
                if abs(float(value) - limit) <= tol:
                    out.append(
                        f"case {_case_name(plan, i, case)}: {field} = {value!r} is within "
                        f"the declared tolerance {tol:g} of the threshold {limit:g}"
                    )
    return out


def _compare(
    plan: Plan, cases: list[Case], outputs: list[dict[str, Any]], mode: str
) -> list[GoldenDiff]:
    diffs: list[GoldenDiff] = []
    tolerances = plan.tolerances()
    for i, (case, got) in enumerate(zip(cases, outputs, strict=True)):
        expected = case["output"]
        for name in sorted(set(expected) | set(got)):
            if not same(expected.get(name), got.get(name), tolerances.get(name)):
                diffs.append(
                    GoldenDiff(
                        _case_name(plan, i, case), name, expected.get(name), got.get(name), mode
                    )
                )
    return diffs
