"""The per-record executor: one decision without building a DataFrame.

Each expression is one generated Python function compiled once from the plan; a decision
walks the nodes in plan order over a dict of values. It must agree exactly with the
batch executor (see ``tests/execute/test_parity.py``).
"""

from __future__ import annotations

import functools
import operator
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kaskad.compile.expr.to_code import compile_record
from kaskad.compile.naming import DECISION_TIME
from kaskad.compile.plan import (
    Branch,
    FeatureNode,
    ModelNode,
    Node,
    Plan,
    RuleSetNode,
    ShadowPlan,
    TableNode,
)
from kaskad.errors import ExecutionError, FieldProblem
from kaskad.execute.convert import array_to_value, clean_float, model_row, value_to_array
from kaskad.execute.failures import FAILED, failure_text, fallback_fields
from kaskad.execute.loaded import Loaded
from kaskad.execute.reader import compile_reader
from kaskad.execute.semantics import (
    ShadowFields,
    clock_now,
    decision_step,
    fill_decision_time,
    ruleset_step,
)
from kaskad.execute.tables import table_step
from kaskad.models import ModelCache

Env = dict[str, Any]
Step = Callable[[Env], dict[str, Any]]


@dataclass(slots=True)
class StepTrace:
    """What one node did for one record."""

    id: str
    kind: str
    duration_ms: float
    outputs: dict[str, Any]
    component: str = ""


StepMeta = tuple[str, str, str]  # a node's id, kind and component hash
RawStep = tuple[StepMeta, float, dict[str, Any]]  # what a step did: its node, ms, outputs


@dataclass(frozen=True)
class Decision:
    """One decision: the result row (same fields as a batch output row) and its trace.

    The trace is kept as the executor wrote it (``trace``); :attr:`steps` builds its
    :class:`StepTrace` values the first time it is read, :attr:`timings` only the times."""

    output: dict[str, Any]
    trace: list[RawStep]
    duration_ms: float
    plan_hash: str
    branch: int | None = None  # index of the decision branch that matched
    # the champion's values, kept only by ``decide(record, shadows=False)`` so that
    # `RecordExecutor.run_shadows` can run the challengers later
    values: dict[str, Any] | None = field(default=None, repr=False, compare=False)
    # why the record was rejected, as values (``output["errors"]`` holds their messages)
    problems: tuple[FieldProblem, ...] = ()
    failed_step: str | None = None  # the node that failed for the record (status 'failed')

    @functools.cached_property
    def steps(self) -> list[StepTrace]:
        """What each step did, in plan order (up to the failed one)."""
        return [StepTrace(m[0], m[1], ms, out, m[2]) for m, ms, out in self.trace]

    @property
    def timings(self) -> dict[str, float]:
        """Milliseconds by step id, rounded to the microsecond (what serving logs)."""
        return {m[0]: round(ms, 3) for m, ms, _ in self.trace}

    @property
    def outcome(self) -> str | None:
        value = self.output.get("decision")
        return value if isinstance(value, str) else None


def _feature_step(node: FeatureNode, loaded: Loaded) -> Step:
    name = node.name
    if node.expr is not None:
        fn = compile_record(node.expr)
        return lambda env: {name: fn(env, None)}
    func = loaded.feature(node)
    args = [(compile_record(a), a.dtype) for a in node.args]
    dtype = node.dtype

    def call(env: Env) -> dict[str, Any]:
        arrays = [value_to_array(fn(env, None), d) for fn, d in args]
        try:
            result = func(*arrays)
            return {name: array_to_value(result, dtype)}
        except Exception as exc:
            raise ExecutionError(f"feature {name}", f"{type(exc).__name__}: {exc}") from exc

    return call


def _ruleset_step(node: RuleSetNode) -> Step:
    return ruleset_step(node, [compile_record(r.expr) for r in node.rules])


def _model_step(node: ModelNode, loaded: Loaded) -> Step:
    inputs = [compile_record(e) for _, e in node.inputs]
    outputs = list(node.outputs_map)
    adapter = loaded.model(node)
    kinds = [adapter.kind_of(i) for i in range(len(inputs))]

    def run(env: Env) -> dict[str, Any]:
        row = model_row([fn(env, None) for fn in inputs], kinds)
        try:
            result = adapter.predict_one(row)
        except Exception as exc:
            raise ExecutionError(f"model {node.name}", f"{type(exc).__name__}: {exc}") from exc
        return {name: clean_float(float(result[source])) for name, source in outputs}

    return run


def _table_step(node: TableNode) -> Step:
    return table_step(
        node,
        [compile_record(r.when) if r.when is not None else None for r in node.rules],
        [[compile_record(e) for e in r.then] for r in node.rules],
        [compile_record(e) for e in node.default or ()],
    )


def compile_step(node: Node, loaded: Loaded) -> Step:
    if isinstance(node, TableNode):
        return _table_step(node)
    if isinstance(node, FeatureNode):
        return _feature_step(node, loaded)
    if isinstance(node, RuleSetNode):
        return _ruleset_step(node)
    return _model_step(node, loaded)


def _decision_step(
    branches: tuple[Branch, ...],
) -> Callable[[Env], tuple[str, list[str], int]]:
    return decision_step(
        branches, [compile_record(b.when) if b.when is not None else None for b in branches]
    )


def _getter(names: list[str]) -> Callable[[Env], tuple[Any, ...]]:
    """The values of ``names`` in an environment, as a tuple (one C call for several)."""
    if len(names) > 1:
        return operator.itemgetter(*names)
    if names:
        name = names[0]
        return lambda env: (env[name],)
    return lambda env: ()


def _kind(node: Node) -> str:
    return (
        "features"
        if isinstance(node, FeatureNode)
        else "rules"
        if isinstance(node, RuleSetNode)
        else "table"
        if isinstance(node, TableNode)
        else "model"
    )


def shared_steps(champion: Plan, challenger: Plan) -> int:
    """How many of a challenger pipeline's first steps it can take from the champion's
    values: each is a step of the champion (same definition), on the same input schema,
    neither reading the clock. Their inputs are then the champion's and so are their
    values (a step reads only the input and the steps before it)."""
    if champion.schema != challenger.schema or champion.clock or challenger.clock:
        return 0
    known = set(champion.nodes)
    shared = 0
    for node in challenger.nodes:
        if node not in known:
            break
        shared += 1
    return shared


class _Shadow:
    def __init__(self, shadow: ShadowPlan, loaded: Loaded, champion: Plan) -> None:
        self.fields = ShadowFields(shadow)
        self.columns = self.fields.columns
        self.sub = RecordExecutor(shadow.plan, loaded.models) if shadow.plan is not None else None
        self.shared = 0  # a challenger pipeline's first steps taken from the champion
        self.names: list[str] = []  # the values they need: the input and those steps'
        if shadow.plan is not None and (shared := shared_steps(champion, shadow.plan)):
            self.shared = shared
            self.names = [f.name for f in shadow.plan.schema.fields] + [
                name for node in shadow.plan.nodes[:shared] for name, _ in node.outputs()
            ]
        self.steps = [compile_step(n, loaded) for n in shadow.nodes]
        self.decide = _decision_step(shadow.decision)

    def run(self, env: Env, record: Mapping[str, Any]) -> dict[str, Any]:
        try:
            if self.sub is not None:
                if self.shared:  # only the steps that differ run
                    known = {name: env[name] for name in self.names}
                    result = self.sub.decide_after(record, known, self.shared).output
                else:
                    result = self.sub.decide(record).output
                if result["status"] == FAILED:  # a step of the challenger failed for it
                    return self.fields.failed(str(result["errors"][0]))
                values = {n: result.get(n) for n in self.fields.reported}
                decision: str | None = result.get("decision")
                reasons: list[str] | None = result.get("reasons")
            else:
                local = dict(env)
                for step in self.steps:
                    local.update(step(local))
                decision, reasons, _ = self.decide(local)
                values = {n: local.get(n) for n in self.fields.reported}
        except Exception as exc:  # a challenger never fails the champion
            return self.fields.failed(exc)
        return self.fields.ran(decision, reasons, values)


class RecordExecutor:
    """Runs a plan on one record at a time; models come from ``models`` (the process's
    shared model cache by default)."""

    def __init__(self, plan: Plan, models: ModelCache | None = None) -> None:
        self.plan = plan
        loaded = Loaded(plan, models)
        self._steps = [
            (n, compile_step(n, loaded), (n.id, _kind(n), n.component.sha256)) for n in plan.nodes
        ]
        self._decide = _decision_step(plan.decision)
        self._shadows = [_Shadow(s, loaded, plan) for s in plan.shadows]
        self._shadow_columns = [c for s in self._shadows for c in s.columns]
        self._fields = [name for name, _ in plan.output_fields()]
        self._node_outputs = [name for name, _ in plan.node_outputs()]
        self._outputs_of = _getter(self._node_outputs)
        self._keys = list(plan.schema.keys)
        self.read = compile_reader(plan.schema)  # coerce_record(plan.schema, ·), compiled

    @property
    def has_shadows(self) -> bool:
        return bool(self._shadows)

    def run_shadows(self, record: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
        """The ``shadow.NAME.*`` fields for ``record``, given the champion's values (a
        ``Decision.values`` from ``decide(record, shadows=False)``); never raises for a
        failing challenger (its ``error`` field says why)."""
        out: dict[str, Any] = {}
        for shadow in self._shadows:
            out.update(shadow.run(dict(values), record))
        return out

    def decide(self, record: Mapping[str, Any], shadows: bool = True) -> Decision:
        """Decide one record (JSON-like values); invalid input gives a 'rejected' result.

        With ``shadows=False`` the challengers are not run and their fields are left out;
        the decision keeps the champion's values for `run_shadows`."""
        start = time.perf_counter()
        env, errors = self.read(record)
        return self._run(record, env, errors, shadows, start, self._steps)

    def decide_after(self, record: Mapping[str, Any], known: Env, first: int) -> Decision:
        """Decide ``record`` whose input and first ``first`` steps' values are ``known``
        (the values are the champion's: see :func:`shared_steps`); only the other steps
        run, and the trace holds only them."""
        start = time.perf_counter()
        return self._run(record, known, [], True, start, self._steps[first:])

    def _run(
        self,
        record: Mapping[str, Any],
        env: Env,
        errors: list[FieldProblem],
        shadows: bool,
        start: float,
        todo: list[tuple[Node, Step, StepMeta]],
    ) -> Decision:
        out: dict[str, Any] = dict.fromkeys(self._fields)
        for key in self._keys:
            out[key] = env.get(key)
        if self.plan.clock:
            out[DECISION_TIME] = fill_decision_time(env, clock_now())
        out["errors"] = [p.message for p in errors]
        steps: list[RawStep] = []
        if errors:
            out["status"] = "rejected"
            duration = (time.perf_counter() - start) * 1000
            return Decision(out, steps, duration, self.plan.hash, problems=tuple(errors))
        clock = time.perf_counter
        append = steps.append
        t0 = clock()
        for node, step, meta in todo:
            try:
                values = step(env)
            except Exception as exc:  # the record fails, not the run or the request
                error = failure_text(node, exc)
                append((meta, (clock() - t0) * 1000, {"error": error}))
                return self._failed(out, env, steps, error, node, start, shadows)
            env.update(values)
            t1 = clock()
            append((meta, (t1 - t0) * 1000, values))
            t0 = t1
        out["status"] = "decided"
        out["decision"], out["reasons"], branch = self._decide(env)
        out.update(zip(self._node_outputs, self._outputs_of(env), strict=True))
        if not shadows:
            for column in self._shadow_columns:
                out.pop(column, None)
            duration = (time.perf_counter() - start) * 1000
            return Decision(out, steps, duration, self.plan.hash, branch, dict(env))
        for shadow in self._shadows:
            out.update(shadow.run(env, record))
        return Decision(out, steps, (time.perf_counter() - start) * 1000, self.plan.hash, branch)

    def _failed(
        self,
        out: dict[str, Any],
        env: Env,
        steps: list[RawStep],
        error: str,
        node: Node,
        start: float,
        shadows: bool,
    ) -> Decision:
        """A record ``node`` failed for: the outputs of the steps before it, the error, and
        the fallback decision if there is one (no challengers)."""
        out["status"] = FAILED
        out["errors"] = [error]
        out["decision"], out["reasons"] = fallback_fields(self.plan, node)
        for name in self._node_outputs:
            out[name] = env.get(name)
        if not shadows:
            for column in self._shadow_columns:
                out.pop(column, None)
        duration = (time.perf_counter() - start) * 1000
        return Decision(out, steps, duration, self.plan.hash, failed_step=node.id)
