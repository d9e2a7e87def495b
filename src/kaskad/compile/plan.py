"""The compiled plan: immutable, typed, ordered, with a content hash per component.

A plan is plain data: expressions are typed trees, a model step names its artifact by
framework, file and sha256 (the model itself lives in the process's model cache), and a
Python feature names its function by module hash; the modules' source travels in the plan.
``kaskad.compile.serial`` writes a plan as JSON and reads it back; the plan's hash is the
hash of that form, without the places its files came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from kaskad.compile.expr.typed import TExpr
from kaskad.compile.naming import (
    DECISION_TIME,
    DECISION_TIME_TYPE,
    SUMMARY_FIELDS,
    TABLE_MATCHED,
    TABLE_UNKNOWN,
    ruleset_column,
    shadow_fields,
    table_column,
)
from kaskad.features import FeatureCall, PythonModule
from kaskad.spec.common import ComponentRef
from kaskad.spec.on_error import Fallback
from kaskad.spec.schema import Schema
from kaskad.spec.types import OUTCOME, STRING_LIST, DType, Framework

ShadowKind = Literal["model", "rules", "pipeline"]


@dataclass(frozen=True)
class FeatureNode:
    name: str
    dtype: DType
    description: str
    component: ComponentRef
    expr: TExpr | None = None
    func: FeatureCall | None = None
    args: tuple[TExpr, ...] = ()

    @property
    def id(self) -> str:
        return self.name

    def expressions(self) -> list[TExpr]:
        return [self.expr] if self.expr is not None else list(self.args)

    def outputs(self) -> list[tuple[str, DType]]:
        return [(self.name, self.dtype)]


@dataclass(frozen=True)
class Rule:
    id: str
    description: str
    outcome: str
    severity: str
    on_missing: str
    text: str
    expr: TExpr


@dataclass(frozen=True)
class RuleSetNode:
    name: str
    description: str
    rules: tuple[Rule, ...]
    component: ComponentRef

    @property
    def id(self) -> str:
        return self.name

    def expressions(self) -> list[TExpr]:
        return [r.expr for r in self.rules]

    def column(self, rule_id: str) -> str:
        return ruleset_column(self.name, rule_id)

    def outputs(self) -> list[tuple[str, DType]]:
        out = [(self.column(r.id), OUTCOME) for r in self.rules]
        out += [(self.column(name), dtype) for name, dtype in SUMMARY_FIELDS]
        return out


@dataclass(frozen=True)
class ModelNode:
    """A model step: the artifact (``component.path``, shown as ``component.source``) is
    named by its framework and the sha256 of its bytes; executors load it through the model
    cache."""

    name: str
    description: str
    framework: Framework
    artifact_sha256: str
    inputs: tuple[tuple[str, TExpr], ...]
    outputs_map: tuple[tuple[str, str], ...]  # pipeline output name → model output
    component: ComponentRef
    # absolute tolerance declared for a model not known to be batch-size invariant: its
    # outputs are compared within it (golden replay, parity checks); None: exactly
    tolerance: float | None = field(default=None, metadata={"omit_default": True})
    # what scores it: "library" (the model's own library) or a compiled kernel such as
    # "tree-ensemble/1" (kaskad.models.kernels), checked bit-identical to the library;
    # kernel_reason says why the library runs when it does. Not in the plan's hash: a
    # kernel gives the library's bits, so the plan computes the same either way
    kernel: str = field(default="library", metadata={"omit_default": True})
    kernel_reason: str = field(default="", metadata={"omit_default": True})

    @property
    def id(self) -> str:
        return self.name

    def expressions(self) -> list[TExpr]:
        return [e for _, e in self.inputs]

    def outputs(self) -> list[tuple[str, DType]]:
        return [(name, DType("float")) for name, _ in self.outputs_map]


@dataclass(frozen=True)
class TableOutput:
    """An output of a decision table: its id, value type and (optional) ordered values,
    the priority order of PRIORITY and OUTPUT ORDER."""

    id: str
    dtype: DType
    values: tuple[str | int | float | bool, ...] = ()


@dataclass(frozen=True)
class TableRule:
    """A row: ``when`` is its unary tests joined with AND, each over its input's value
    (None: every test is ``-``); ``then`` gives one value per output."""

    id: str
    when: TExpr | None
    then: tuple[TExpr, ...]
    annotation: str = ""
    text: str = ""  # the tests as written, ``amount: >= 100000; age: -``


@dataclass(frozen=True)
class TableNode:
    """A decision table step; what its hit policy means is in
    :mod:`kaskad.execute.tables`, shared by both executors."""

    name: str
    description: str
    hit_policy: str  # UNIQUE, ANY, PRIORITY, FIRST, RULE ORDER, OUTPUT ORDER, COLLECT[ AGG]
    on_missing: str  # unknown | pass | hit
    inputs: tuple[tuple[str, TExpr], ...]  # for people and the trace; tests hold their own
    table_outputs: tuple[TableOutput, ...]
    rules: tuple[TableRule, ...]
    order: tuple[int, ...]  # rule indices in the order the policy reads them
    default: tuple[TExpr, ...] | None
    component: ComponentRef

    @property
    def id(self) -> str:
        return self.name

    @property
    def aggregator(self) -> str | None:
        parts = self.hit_policy.split()
        return parts[1] if parts[0] == "COLLECT" and len(parts) == 2 else None

    @property
    def gives_lists(self) -> bool:
        return self.hit_policy in ("RULE ORDER", "OUTPUT ORDER", "COLLECT")

    def column(self, field_id: str) -> str:
        return table_column(self.name, field_id)

    def expressions(self) -> list[TExpr]:
        out = [r.when for r in self.rules if r.when is not None]
        out += [e for r in self.rules for e in r.then]
        return out + list(self.default or ())

    def output_type(self, output: TableOutput) -> DType:
        if self.gives_lists:
            return DType("list", item=output.dtype)
        if self.aggregator == "COUNT":
            return DType("integer")
        return output.dtype

    def outputs(self) -> list[tuple[str, DType]]:
        out = [(self.column(o.id), self.output_type(o)) for o in self.table_outputs]
        out.append((self.column(TABLE_MATCHED), STRING_LIST))
        out.append((self.column(TABLE_UNKNOWN), STRING_LIST))
        return out


Node = FeatureNode | RuleSetNode | ModelNode | TableNode


@dataclass(frozen=True)
class Branch:
    when: TExpr | None
    outcome: str
    reasons: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class ShadowPlan:
    """A challenger: nodes recomputed on top of the champion's values, and a decision.

    For a whole-pipeline challenger ``plan`` is set and runs on the input by itself.
    """

    name: str
    kind: ShadowKind
    replaces: str | None
    nodes: tuple[Node, ...]
    decision: tuple[Branch, ...]
    reported: tuple[tuple[str, DType], ...]  # outputs kept, besides decision and reasons
    components: tuple[ComponentRef, ...]
    plan: Plan | None = None

    def columns(self) -> list[tuple[str, DType]]:
        return shadow_fields(self.name, list(self.reported))


@dataclass(frozen=True)
class Plan:
    name: str
    description: str
    version: str
    source: str
    schema: Schema
    nodes: tuple[Node, ...]
    decision: tuple[Branch, ...]
    shadows: tuple[ShadowPlan, ...]
    components: tuple[ComponentRef, ...]
    hash: str
    modules: tuple[PythonModule, ...] = ()  # source of the Python feature modules
    # what a record gets when a step fails for it: per step, and the pipeline's (no steps)
    fallbacks: tuple[Fallback, ...] = field(default=(), metadata={"omit_default": True})
    # the pipeline reads ``decision_time`` without declaring it: the executors fill it from
    # the clock when the record has none, and report it in every result
    clock: bool = field(default=False, metadata={"omit_default": True})
    # the pipeline's time zone (``timezone:``): datetimes without their own are in it
    timezone: str = field(default="", metadata={"omit_default": True})

    def fallback(self, node_id: str) -> Fallback | None:
        """The fallback of a record the node ``node_id`` failed for: its step's, else the
        pipeline's, else None."""
        own = next((f for f in self.fallbacks if node_id in f.steps), None)
        return own or next((f for f in self.fallbacks if not f.steps), None)

    def all_components(self) -> list[ComponentRef]:
        """The champion's components and every shadow's, each once."""
        seen: dict[tuple[str, str, str], ComponentRef] = {}
        for c in [*self.components, *(c for s in self.shadows for c in s.components)]:
            seen.setdefault((c.kind, c.name, c.sha256), c)
        return list(seen.values())

    def model_nodes(self) -> list[ModelNode]:
        """Every model step: the champion's, its challengers' and their sub-plans', one per
        artifact."""
        found: dict[tuple[str, str], ModelNode] = {}
        for node in [*self.nodes, *(n for s in self.shadows for n in s.nodes)]:
            if isinstance(node, ModelNode):
                found.setdefault((node.framework, node.artifact_sha256), node)
        for sub in (s.plan for s in self.shadows if s.plan is not None):
            for node in sub.model_nodes():
                found.setdefault((node.framework, node.artifact_sha256), node)
        return list(found.values())

    def artifact_hashes(self) -> dict[str, str]:
        """Each model's component hash → the sha256 of its artifact's bytes.

        Two hashes name a model: the **artifact sha256** (of the file's bytes, what
        ``kaskad model register`` prints) and the **component hash** (of the artifact
        sha256 and the step's settings: what plans, releases and traces list)."""
        nodes = [*self.nodes, *(n for s in self.shadows for n in s.nodes)]
        found = {n.component.sha256: n.artifact_sha256 for n in nodes if isinstance(n, ModelNode)}
        for sub in (s.plan for s in self.shadows if s.plan is not None):
            found.update(sub.artifact_hashes())
        return found

    def tolerances(self) -> dict[str, float]:
        """Result fields compared within a declared tolerance instead of exactly: the
        outputs of model steps that declare one, the champion's and its challengers'."""
        out = _node_tolerances(self.nodes)
        for s in self.shadows:
            inner = _node_tolerances(s.nodes)
            if s.plan is not None:
                inner.update(s.plan.tolerances())
            reported = {n for n, _ in s.reported}
            out.update({f"shadow.{s.name}.{n}": tol for n, tol in inner.items() if n in reported})
        return out

    def node_outputs(self) -> list[tuple[str, DType]]:
        return [o for node in self.nodes for o in node.outputs()]

    def output_fields(self) -> list[tuple[str, DType]]:
        """Every field of a result row, in order: the same for batch and single decisions."""
        keys = [(f.name, f.dtype) for f in self.schema.fields if f.key]
        if self.clock:
            keys.append((DECISION_TIME, DECISION_TIME_TYPE))
        head = [
            ("status", DType("string")),
            ("errors", STRING_LIST),
            ("decision", DType("string")),
            ("reasons", STRING_LIST),
        ]
        shadow = [c for s in self.shadows for c in s.columns()]
        return keys + head + self.node_outputs() + shadow


def _node_tolerances(nodes: tuple[Node, ...]) -> dict[str, float]:
    return {
        name: node.tolerance
        for node in nodes
        if isinstance(node, ModelNode) and node.tolerance is not None
        for name, _ in node.outputs_map
    }
