"""Challengers: a model, a rule set or a whole pipeline compiled beside the champion.

A model or rule-set shadow recomputes the step it replaces and every step downstream of it
on top of the champion's values, then the champion's decision (compiled once, shared); a
pipeline shadow is a plan of its own run on the same input.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from kaskad.compile.expr import typed as t
from kaskad.compile.expr.check import suggest
from kaskad.compile.plan import Branch, ModelNode, Node, RuleSetNode, ShadowPlan
from kaskad.errors import Location, Problem
from kaskad.spec.pipeline import PipelineSpec, ShadowSpec
from kaskad.spec.types import ANY, DType

if TYPE_CHECKING:
    from kaskad.compile.compiler import Compiler


def compile_shadows(
    c: Compiler,
    spec: PipelineSpec,
    nodes: list[Node],
    inputs: Mapping[str, DType],
    decision: tuple[Branch, ...],
) -> list[ShadowPlan]:
    """The challengers; each shares the champion's decision, compiled once."""
    out: list[ShadowPlan] = []
    by_id = {n.id: n for n in nodes}
    for s in spec.shadows:
        if s.pipeline is not None:
            sub = type(c)(c.models, allow_version_mismatch=c.allow_version_mismatch)
            plan = sub.compile(s.pipeline)
            c.problems.extend(sub.problems)
            if plan is None:
                continue
            _check_compatible(c, spec, s.pipeline, s.location)
            reported = tuple(plan.node_outputs())
            out.append(
                ShadowPlan(
                    s.name, "pipeline", None, (), plan.decision, reported, plan.components, plan
                )
            )
            continue
        target = by_id.get(s.replaces or "")
        if target is None and s.replaces in c.failed:
            # the step it replaces failed and was reported: check the challenger alone
            alone = {n: ANY for n in c.failed} | _upstream_columns(nodes, None, inputs)
            _replacement(c, s, alone, s.replaces)
            continue
        if target is None:
            c.problems.append(
                Problem(
                    "K504",
                    f"shadow '{s.name}' replaces '{s.replaces}', which is not a step "
                    "of this pipeline",
                    s.location,
                    suggest(s.replaces or "", list(by_id)),
                )
            )
            continue
        replacement: Node | None
        upstream = {n: ANY for n in c.failed} | _upstream_columns(nodes, target, inputs)
        if s.model is not None:
            if not isinstance(target, ModelNode):
                c.problems.append(
                    Problem(
                        "K504",
                        f"shadow '{s.name}' is a model but '{target.id}' is not",
                        s.location,
                    )
                )
                continue
            replacement = _replacement(c, s, upstream, target.id)
            missing = {o for o, _ in target.outputs_map} - {o for o, _ in s.model.outputs}
            if missing:
                c.problems.append(
                    Problem(
                        "K504",
                        f"shadow '{s.name}' must give the outputs of '{target.id}': "
                        f"missing {sorted(missing)}",
                        s.location,
                    )
                )
                continue
        else:
            assert s.ruleset is not None
            if not isinstance(target, RuleSetNode):
                c.problems.append(
                    Problem(
                        "K504",
                        f"shadow '{s.name}' is a rule set but '{target.id}' is not",
                        s.location,
                    )
                )
                continue
            replacement = _replacement(c, s, upstream, target.id)
        if replacement is None:
            continue
        affected = _downstream(nodes, target)
        redo: list[Node] = [replacement if n is target else n for n in affected]
        reported = tuple(o for n in redo for o in n.outputs())
        out.append(
            ShadowPlan(
                s.name,
                "model" if s.model else "rules",
                target.id,
                tuple(redo),
                decision,
                reported,
                (replacement.component,),
            )
        )
    return out


def _replacement(
    c: Compiler, s: ShadowSpec, upstream: Mapping[str, DType], replaces: str
) -> Node | None:
    """A model or rule-set shadow's own step, checked on the columns it may read."""
    if s.model is not None:
        parsed = {n: p for n, txt in s.model.inputs if (p := c.parse_text(txt)) is not None}
        return c._model_node(s.model, parsed, upstream)
    assert s.ruleset is not None
    parsed = {r.id: p for r in s.ruleset.rules if (p := c.parse_text(r.when)) is not None}
    return c._ruleset(s.ruleset, parsed, upstream, replaces)


def _check_compatible(c: Compiler, spec: PipelineSpec, other: PipelineSpec, loc: Location) -> None:
    mine = {f.name: f for f in spec.schema.fields}
    for f in other.schema.fields:
        have = mine.get(f.name)
        if have is None and f.required:
            c.problems.append(
                Problem(
                    "K505",
                    f"shadow pipeline '{other.name}' requires input '{f.name}', which "
                    f"pipeline '{spec.name}' does not accept",
                    loc,
                )
            )
        elif have is not None and have.dtype != f.dtype:
            c.problems.append(
                Problem(
                    "K505",
                    f"shadow pipeline '{other.name}' reads '{f.name}' as {f.dtype}, "
                    f"pipeline '{spec.name}' as {have.dtype}",
                    loc,
                )
            )


def _reads(node: Node) -> set[str]:
    out: set[str] = set()
    for e in node.expressions():
        out |= t.columns_used(e)
    return out


def _downstream(nodes: list[Node], target: Node) -> list[Node]:
    """``target`` and every node that reads its outputs, directly or not, in plan order."""
    dirty = {name for name, _ in target.outputs()}
    out: list[Node] = []
    for node in nodes:
        if node is target or _reads(node) & dirty:
            out.append(node)
            dirty |= {name for name, _ in node.outputs()}
    return out


def _upstream_columns(
    nodes: list[Node],
    target: Node | None,
    inputs: Mapping[str, DType],
) -> dict[str, DType]:
    cols = dict(inputs)
    for node in nodes:
        if node is target:
            break
        cols.update(dict(node.outputs()))
    return cols
