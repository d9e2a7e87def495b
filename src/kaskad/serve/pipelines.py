"""A served pipeline: its plan, executors and the release it came from."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from kaskad.compile.compiler import compile_pipeline
from kaskad.compile.naming import shadow_prefix
from kaskad.compile.plan import ModelNode, Plan, RuleSetNode
from kaskad.errors import FieldProblem, InputError
from kaskad.execute.batch import BatchExecutor, ShadowRows
from kaskad.execute.convert import json_value
from kaskad.execute.inputs import coerce_record
from kaskad.execute.loaded import Loaded
from kaskad.execute.record import RecordExecutor
from kaskad.execute.tables import rule_outcomes
from kaskad.io.files import frame_from_records
from kaskad.registry.releases import load_release
from kaskad.serve.config import PipelineFile, ReleaseRef
from kaskad.serve.errors import problem_json
from kaskad.serve.ids import decision_id
from kaskad.store import Store

ShadowOutputs = dict[str, dict[str, Any]]  # shadow name -> its fields (no prefix)


@dataclass(frozen=True)
class Result:
    """One answer: the JSON body and the problems that rejected the record (if any)."""

    body: dict[str, Any]
    problems: list[FieldProblem]
    decision: str | None
    rules: dict[str, str | None]
    timings: dict[str, float]
    # runs the challengers later (``decide(record, shadows=False)``): shadow name -> fields
    shadow_job: Callable[[], ShadowOutputs] | None = None

    @property
    def rejected(self) -> bool:
        return bool(self.problems)

    @property
    def failed(self) -> bool:
        """A step failed for the record (its error is in ``body["errors"]``; the decision
        is the pipeline's fallback, or None without one)."""
        return self.body.get("status") == "failed"

    @property
    def failed_step(self) -> str:
        """``model credit_pd`` for a failed record: the start of its error."""
        errors = self.body.get("errors") or [""]
        return str(errors[0]).split(": ", 1)[0]


class ServedPipeline:
    """Decides records for one URL name."""

    def __init__(self, name: str, plan: Plan, release: str | None) -> None:
        self.name = name
        self.plan = plan
        self.release = release
        self._record = RecordExecutor(plan)
        self._batch = BatchExecutor(plan)
        self.score_fields = [  # model outputs, observed in the kaskad_score histogram
            name
            for node in plan.nodes
            if isinstance(node, ModelNode)
            for name, _ in node.outputs_map
        ]
        self._rules = [
            node.column(rule.id)
            for node in plan.nodes
            if isinstance(node, RuleSetNode)
            for rule in node.rules
        ]
        # a decision table's rules count as rules: TABLE.RULE_ID, hit when matched
        self._table_rules = list(rule_outcomes(plan.nodes, {}))

    @property
    def rule_columns(self) -> list[str]:
        """The result field of every rule (``RULESET.RULE``) and the name of every table
        rule (``TABLE.RULE_ID``)."""
        return [*self._rules, *self._table_rules]

    @functools.cached_property
    def _slots(self) -> dict[str, Any]:
        """Each model's compile slot (``NativeSlot``; None: its trees are never compiled),
        challengers' included: a plan's adapters do not change, so looked up once."""
        loaded = Loaded(self.plan)
        return {n.name: getattr(loaded.model(n), "native", None) for n in self.plan.model_nodes()}

    def compiled_levels(self) -> dict[str, int]:
        """Each model's compiled trees in this process: the LLVM level they were compiled
        at, or -1 while none score it (the library, or the function made at load:
        :mod:`kaskad.models.kernels.native`)."""
        return {
            name: -1 if slot is None or slot.level is None else slot.level
            for name, slot in self._slots.items()
        }

    @classmethod
    def load(cls, name: str, source: PipelineFile | ReleaseRef) -> ServedPipeline:
        if isinstance(source, PipelineFile):
            return cls(name, compile_pipeline(source.path), None)
        store = Store.open(source.store)
        loaded = load_release(store, source.ref, actor=source.actor, cache_root=source.cache_root)
        return cls(name, loaded.plan, loaded.release.ref)

    def decide(self, record: Any, shadows: bool = True) -> Result:
        """One record; with ``shadows=False`` the challengers are left out of the body and
        ``Result.shadow_job`` runs them later (None when there is nothing to run)."""
        if not isinstance(record, Mapping):
            _, problems = coerce_record(self.plan.schema, record)
            output = {"status": "rejected", "errors": [p.message for p in problems]}
            return self._result(output, problems)
        decision = self._record.decide(record, shadows=shadows)
        timings = decision.timings  # the trace's times only: no StepTrace is built
        values = decision.values
        job: Callable[[], ShadowOutputs] | None = None
        if not shadows and values is not None and self._record.has_shadows:
            executor = self._record

            def job() -> ShadowOutputs:
                return self._by_shadow(executor.run_shadows(record, values))

        return self._result(decision.output, decision.problems, decision.duration_ms, timings, job)

    def decide_many(
        self, records: list[Any], threshold: int, shadows: bool = True, timed: bool = False
    ) -> list[Result]:
        """Results in input order; more than ``threshold`` valid records are decided as a
        frame by the batch executor, the others one by one (same results: parity). With
        ``shadows=False`` the challengers run later, as for :meth:`decide`: for a frame,
        the first ``shadow_job`` called runs them for all its records at once. With
        ``timed``, a record decided in a frame has the frame's time as ``duration_ms``
        (the body of a coalesced request then has the fields an alone one has)."""
        if len(records) <= threshold:  # one by one: no frame, so no input check first
            return [self.decide(record, shadows) for record in records]
        check = self._record.read
        checked = [check(r)[1] for r in records]
        valid = [i for i, errors in enumerate(checked) if not errors]
        rows: dict[int, dict[str, Any]] = {}
        later: ShadowRows | None = None
        if len(valid) > threshold:
            frame = _frame([records[i] for i in valid], self)
            if frame is not None:
                start = time.perf_counter()
                try:
                    if shadows:
                        out = self._batch.run(frame, source="request")
                    else:
                        out, later = self._batch.run_deferred(frame, source="request")
                except InputError:  # a type polars reads differently: decide one by one
                    out = None
                took = (time.perf_counter() - start) * 1000 if timed else None
                if out is not None:
                    rows = dict(zip(valid, out.to_dicts(), strict=True))
        if not rows:
            return [self.decide(record, shadows) for record in records]
        position = {i: k for k, i in enumerate(valid)}
        shared = functools.cache(later) if later is not None else None
        results = []
        for i, record in enumerate(records):
            if i not in rows:
                results.append(self.decide(record, shadows))
                continue
            # (a record decided in the frame is a valid one: its challengers run later)
            job = None if shared is None else self._row_job(shared, position[i])
            results.append(self._result(rows[i], checked[i], took, shadow_job=job))
        return results

    def _row_job(self, rows: ShadowRows, k: int) -> Callable[[], ShadowOutputs]:
        def job() -> ShadowOutputs:
            return self._by_shadow(rows()[k])

        return job

    def _by_shadow(self, fields: Mapping[str, Any] | None) -> ShadowOutputs:
        """``shadow.NAME.*`` fields as {NAME: fields without the prefix}, JSON values."""
        values = json_value(dict(fields or {}))
        out: ShadowOutputs = {}
        for shadow in self.plan.shadows:
            prefix = shadow_prefix(shadow.name)
            out[shadow.name] = {
                k[len(prefix) :]: v for k, v in values.items() if k.startswith(prefix)
            }
        return out

    def _result(
        self,
        output: dict[str, Any],
        problems: Sequence[FieldProblem] = (),
        duration_ms: float | None = None,
        timings: dict[str, float] | None = None,
        shadow_job: Callable[[], ShadowOutputs] | None = None,
    ) -> Result:
        body: dict[str, Any] = {
            "decision_id": decision_id(),
            "pipeline": self.name,
            "release": self.release,
            "plan_hash": self.plan.hash,
        }
        if duration_ms is not None:
            body["duration_ms"] = round(duration_ms, 3)
        body.update(json_value(output))
        if problems:
            body["errors"] = [problem_json(p) for p in problems]
        decision = output.get("decision")
        rules = {rule: output.get(rule) for rule in self._rules}
        if self._table_rules:
            rules.update(rule_outcomes(self.plan.nodes, output))
        chosen = decision if isinstance(decision, str) else None
        return Result(body, list(problems), chosen, rules, timings or {}, shadow_job)


def _frame(records: list[Any], pipeline: ServedPipeline) -> pl.DataFrame | None:
    """Records as a frame, or None when polars cannot read them (then one by one)."""
    try:
        return frame_from_records(records, pipeline.plan.schema)
    except (pl.exceptions.PolarsError, ValueError, TypeError, InputError):
        return None
