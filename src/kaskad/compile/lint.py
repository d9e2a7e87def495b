"""Lint: what a valid pipeline probably did not mean, as warnings with codes.

Warnings are :class:`~kaskad.errors.Problem` values (code, message, location with the
offending text, hint) like the compiler's problems, but a pipeline with warnings still
compiles; ``kaskad validate --strict`` makes them errors for CI. Codes (docs/errors.md):

- K901 a rule set can be unknown and no decision branch reads its unknowns: those records
  get whatever the branches give them, often the default outcome;
- K902 an element field inside an aggregate, read twice there, has the name of a field
  outside it: both are the element's (``count(recent WHERE country <> country)`` is
  always 0);
- K903 a rule reads no field at all: it always or never hits;
- K904 a rule declares ``on_missing`` but reads only required input fields: it can never
  be unknown, so ``on_missing`` never applies;
- K230-K233 decision tables: overlapping rules, gaps, rules that never match
  (:mod:`kaskad.compile.table_checks`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator

from kaskad.compile.expr import typed as t
from kaskad.compile.plan import FeatureNode, Plan, RuleSetNode
from kaskad.compile.table_checks import TABLE_WARNING_CODES, table_checks
from kaskad.errors import Location, Problem
from kaskad.spec.pipeline import PipelineSpec
from kaskad.spec.reader import Text
from kaskad.spec.schema import Schema

__all__ = ["WARNING_CODES", "lint"]

WARNING_CODES = (*TABLE_WARNING_CODES, "K901", "K902", "K903", "K904")
_UNKNOWN_READERS = ("unknown_count",)


def lint(spec: PipelineSpec, plan: Plan) -> list[Problem]:
    """The warnings for a pipeline that compiled (``plan`` from ``spec``)."""
    texts = _texts(spec)
    found: list[Problem] = []
    found += _unread_unknowns(spec, plan, texts)
    found += _shadowing(plan, texts)
    found += _rule_checks(spec, plan, texts)
    found += table_checks(spec, plan)
    return found


# ---- where expressions came from --------------------------------------------------------

_Texts = dict[str, Text]  # "rules aml.cash" / "decision 2" / "feature x" → its text


def _texts(spec: PipelineSpec) -> _Texts:
    out: _Texts = {}
    for rs in spec.rulesets:
        for rule in rs.rules:
            out[f"rule {rs.name}.{rule.id}"] = rule.when
    for i, branch in enumerate(spec.decision):
        if branch.when is not None:
            out[f"decision {i}"] = branch.when
    for fs in spec.featuresets:
        for f in fs.features:
            if f.expr is not None:
                out[f"feature {f.name}"] = f.expr
    return out


def _at(texts: _Texts, key: str, word: str | None = None, after: str | None = None) -> Location:
    """The location of ``word`` (after ``after``) in the text at ``key``, else of the text."""
    text = texts.get(key)
    if text is None:
        return Location()
    start = 0
    if after is not None:
        hit = re.search(rf"\b{re.escape(after)}\b", text.text)
        start = hit.end() if hit else 0
    if word is not None:
        hit = re.compile(rf"\b{re.escape(word)}\b").search(text.text, start)
        if hit is not None:
            before = text.text[: hit.start()]
            line = before.count("\n") + 1
            column = hit.start() - (before.rfind("\n") + 1) + 1
            return text.location(line, column, len(word))
    return text.location(1, 1, max(1, len(text.text.splitlines()[0]) if text.text else 1))


def _expressions(plan: Plan) -> Iterator[tuple[str, t.TExpr]]:
    for node in plan.nodes:
        if isinstance(node, RuleSetNode):
            for rule in node.rules:
                yield f"rule {node.name}.{rule.id}", rule.expr
        elif isinstance(node, FeatureNode) and node.expr is not None:
            yield f"feature {node.id}", node.expr
    for i, branch in enumerate(plan.decision):
        if branch.when is not None:
            yield f"decision {i}", branch.when


# ---- K901 ---------------------------------------------------------------------------------


def _required_columns(schema: Schema) -> set[str]:
    """Input columns that always hold a value (required top-level fields)."""
    return {f.name for f in schema.fields if f.required}


def _nullable_columns(expr: t.TExpr, required: set[str]) -> list[str]:
    return sorted(c for c in t.columns_used(expr) if c not in required)


def _unread_unknowns(spec: PipelineSpec, plan: Plan, texts: _Texts) -> list[Problem]:
    read: set[str] = set()
    for branch in plan.decision:
        if branch.when is not None:
            read |= t.columns_used(branch.when)
    for node in plan.nodes:  # a feature or model may read them too
        if not isinstance(node, RuleSetNode):
            for e in node.expressions():
                read |= t.columns_used(e)
    default = next((b.outcome for b in plan.decision if b.when is None), None)
    required = _required_columns(plan.schema)
    out: list[Problem] = []
    for node in plan.nodes:
        if not isinstance(node, RuleSetNode):
            continue
        unknowable = [
            (rule, cols)
            for rule in node.rules
            if rule.on_missing == "unknown" and (cols := _nullable_columns(rule.expr, required))
        ]
        if not unknowable:
            continue
        readers = {node.column(n) for n in _UNKNOWN_READERS} | {
            node.column(r.id) for r in node.rules
        }
        if read & readers:
            continue
        rule, cols = unknowable[0]
        key = f"rule {node.name}.{rule.id}"
        out.append(
            Problem(
                "K901",
                f"rule set '{node.name}' can be unknown (rule '{rule.id}' reads "
                f"{', '.join(cols[:3])}, which can be missing) but no decision branch reads "
                f"its unknowns: such records get the outcome of the branches they match, "
                f"often the default '{default}'",
                _at(texts, key, cols[0]),
                f"read them in the decision, e.g. '- when: {node.name}.unknown_count > 0' "
                "with outcome manual_review, or give the rules an on_missing",
            )
        )
    return out


# ---- K902 ---------------------------------------------------------------------------------


def _shadowing(plan: Plan, texts: _Texts) -> list[Problem]:
    outer = {f.name for f in plan.schema.fields} | {n for n, _ in plan.node_outputs()}
    out: list[Problem] = []
    for key, expr in _expressions(plan):
        for agg in (n for n in t.walk(expr) if isinstance(n, t.TAgg)):
            inner = [x for x in (agg.where, agg.value) if x is not None]
            seen = Counter(
                e.path[0]
                for x in inner
                for e in t.walk(x)
                if isinstance(e, t.TElem) and e.path and e.path[0] in outer
            )
            # read twice (``country <> country``): one of them was meant as the outer field
            names = sorted(n for n, times in seen.items() if times > 1)
            for name in names:
                out.append(
                    Problem(
                        "K902",
                        f"'{name}' inside the aggregate over '{agg.source.column}' is the "
                        f"element's field, not the outer field '{name}' of the same name",
                        _at(texts, key, name, after=agg.source.column),
                        "to compare with the outer field, compute it first as a feature "
                        "with another name and use that name inside the aggregate",
                    )
                )
    return out


# ---- K903, K904 ---------------------------------------------------------------------------


def _entry(text: Text) -> dict[str, object]:
    """The YAML mapping that holds ``text`` (a rule's ``when``)."""
    value: object = text.doc.data
    for part in text.path[:-1]:
        if isinstance(part, int):
            value = value[part] if isinstance(value, list) and part < len(value) else None
        else:
            value = value.get(part) if isinstance(value, dict) else None
    return value if isinstance(value, dict) else {}


def _rule_checks(spec: PipelineSpec, plan: Plan, texts: _Texts) -> list[Problem]:
    declared = {
        (rs.name, r.id): "on_missing" in _entry(r.when) for rs in spec.rulesets for r in rs.rules
    }
    required = _required_columns(plan.schema)
    out: list[Problem] = []
    for node in plan.nodes:
        if not isinstance(node, RuleSetNode):
            continue
        for rule in node.rules:
            key = f"rule {node.name}.{rule.id}"
            used = t.columns_used(rule.expr)
            if not used:
                out.append(
                    Problem(
                        "K903",
                        f"rule '{rule.id}' reads no field: it always or never hits",
                        _at(texts, key),
                    )
                )
            elif declared.get((node.name, rule.id)) and used <= required:
                out.append(
                    Problem(
                        "K904",
                        f"rule '{rule.id}' declares on_missing: {rule.on_missing} but reads "
                        "only required fields: it is never unknown, so on_missing never applies",
                        _at(texts, key),
                    )
                )
    return out
