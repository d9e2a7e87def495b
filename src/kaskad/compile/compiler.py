"""Pipeline spec → immutable plan. Every problem is collected, then raised once."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from kaskad.compile.clock import add_clock, with_decision_time, zoned_schema
from kaskad.compile.expr import ast
from kaskad.compile.expr import typed as t
from kaskad.compile.expr.check import Scope, check_expression, suggest
from kaskad.compile.expr.parser import ExprSyntaxError, parse
from kaskad.compile.model_checks import (
    check_invariance,
    check_model_outputs,
    kernel_of,
    model_inputs,
)
from kaskad.compile.naming import RULESET_SUMMARY, ruleset_column
from kaskad.compile.plan import (
    Branch,
    FeatureNode,
    ModelNode,
    Node,
    Plan,
    Rule,
    RuleSetNode,
)
from kaskad.compile.registered import ModelResolver, resolve_models
from kaskad.compile.scorecard import compile_scorecard, scorecard_outputs
from kaskad.compile.serial import plan_hash
from kaskad.compile.shadows import compile_shadows
from kaskad.compile.table import compile_table, table_expression_texts, table_outputs
from kaskad.errors import KaskadError, Location, Problem, SpecError
from kaskad.features import FeatureCall, FeatureFunction, PythonModule
from kaskad.models import ModelCache, default_cache
from kaskad.spec.common import ComponentRef, sha256_bytes, sha256_text
from kaskad.spec.featureset import FeatureSpec
from kaskad.spec.pipeline import (
    BranchSpec,
    ModelSpec,
    PipelineSpec,
    load_pipeline_spec,
)
from kaskad.spec.reader import Text
from kaskad.spec.reflist import RefList
from kaskad.spec.rules import RuleSetSpec
from kaskad.spec.scorecard import ScorecardSpec
from kaskad.spec.table import TableSpec
from kaskad.spec.types import (
    ANY,
    BOOLEAN,
    FLOAT,
    FRAMEWORKS,
    INTEGER,
    STRING,
    DType,
    is_framework,
)

_RETURNS = {"float": FLOAT, "integer": INTEGER, "boolean": BOOLEAN, "string": STRING}


@dataclass
class _Pending:
    """A node before type checking: its spec, parsed expressions and dependencies."""

    id: str
    kind: str
    spec: FeatureSpec | RuleSetSpec | ModelSpec | ScorecardSpec | TableSpec
    outputs: list[str]
    parsed: dict[str, ast.Node] = field(default_factory=dict)
    deps: set[str] = field(default_factory=set)
    order: int = 0


class Compiler:
    """Compiles one pipeline, collecting problems in ``problems``.

    Each problem is reported once: a step that failed (its file could not be read, its
    model not loaded, one of its expressions is wrong) is *known but failed*. The names it
    would have produced have the type ``any``, so expressions reading them, shadows
    replacing it and the models it feeds report nothing more about it.
    """

    def __init__(
        self, models: ModelCache | None = None, *, allow_version_mismatch: bool = False
    ) -> None:
        self.problems: list[Problem] = []
        self.failed: set[str] = set()  # ids of steps that failed, and the names they produce
        self.models = models or default_cache()
        # models saved by another version of their library load (the warning is kept)
        self.allow_version_mismatch = allow_version_mismatch
        self._digests: dict[Path, str] = {}  # artifact → sha256 of its bytes, read once
        # the pipeline's reference lists by name (None: it could not be read)
        self.lists: dict[str, RefList | None] = {}

    # ---- expressions --------------------------------------------------------------------

    def parse_text(self, text: Text) -> ast.Node | None:
        try:
            return parse(text.text)
        except ExprSyntaxError as exc:
            self.problems.append(
                Problem(
                    exc.code,
                    f"syntax error: {exc.message}" if exc.code == "K201" else exc.message,
                    text.location(exc.line, exc.column, exc.length),
                    exc.hint,
                )
            )
            return None

    def check(
        self, text: Text, node: ast.Node, columns: Mapping[str, DType], boolean: str | None = None
    ) -> t.TExpr | None:
        expr, issues = check_expression(node, Scope(columns, lists=self.lists), boolean)
        for issue in issues:
            self.problems.append(
                Problem(
                    issue.code,
                    issue.message,
                    text.location(issue.span.line, issue.span.column, issue.span.length),
                    issue.hint,
                )
            )
        return None if issues else expr

    # ---- whole pipeline -----------------------------------------------------------------

    def compile(self, spec: PipelineSpec) -> Plan | None:
        schema = zoned_schema(spec.schema, spec.timezone)
        inputs = with_decision_time({f.name: f.dtype for f in schema.fields}, spec.timezone)
        pending = self._pending(spec, inputs)
        produced = {out: p for p in pending for out in p.outputs}
        self.lists = self._lists(spec, {*inputs, *produced})
        self.failed.update(n for n in spec.failed if n not in produced and n not in inputs)
        for p in pending:
            self._dependencies(p, produced)
        ordered = self._toposort(pending)
        nodes, columns = self._check_nodes(ordered, inputs, spec)
        decision = self._decision(spec.decision, columns)
        components = self._components(spec)
        shadows = compile_shadows(self, spec, nodes, inputs, tuple(decision))
        if self.problems:
            return None
        plan = Plan(
            name=spec.name,
            description=spec.description,
            version=spec.version,
            source=spec.source,
            schema=schema,
            nodes=tuple(nodes),
            decision=tuple(decision),
            shadows=tuple(shadows),
            components=tuple(components),
            hash="",
            modules=_modules(spec),
            fallbacks=spec.on_error,
            timezone=spec.timezone,
        )
        plan = add_clock(plan)
        return replace(plan, hash=plan_hash(plan))

    def _pending(self, spec: PipelineSpec, inputs: Mapping[str, DType]) -> list[_Pending]:
        pending: list[_Pending] = []
        owner: dict[str, tuple[str, Location]] = {}

        def claim(name: str, node_id: str, loc: Location) -> None:
            if name in inputs:
                self.problems.append(
                    Problem(
                        "K502",
                        f"'{name}' is already an input field; outputs need their own names",
                        loc,
                    )
                )
            elif name in owner:
                other, where = owner[name]
                self.problems.append(
                    Problem(
                        "K502",
                        f"'{name}' is produced twice (also by {other} at {where.prefix()})",
                        loc,
                    )
                )
            else:
                owner[name] = (node_id, loc)

        for fs in spec.featuresets:
            for f in fs.features:
                claim(f.name, f"feature {f.name}", f.location)
                pending.append(_Pending(f.name, "feature", f, [f.name]))
        for rs in spec.rulesets:
            outs = [ruleset_column(rs.name, r.id) for r in rs.rules]
            outs += [ruleset_column(rs.name, s) for s in RULESET_SUMMARY]
            for rule in rs.rules:
                if rule.id in RULESET_SUMMARY:
                    self.problems.append(
                        Problem(
                            "K106",
                            f"rule id '{rule.id}' is reserved for the rule set summary",
                            rule.location,
                        )
                    )
            claim(rs.name, f"ruleset {rs.name}", rs.location)
            for out in outs:
                owner.setdefault(out, (f"ruleset {rs.name}", rs.location))
            pending.append(_Pending(rs.name, "rules", rs, outs))
        for m in spec.models:
            for out, _ in m.outputs:
                claim(out, f"model {m.name}", m.location)
            pending.append(_Pending(m.name, "model", m, [o for o, _ in m.outputs]))
        for sc in spec.scorecards:
            claim(sc.name, f"scorecard {sc.name}", sc.location)
            outs = scorecard_outputs(sc)
            for out in outs:
                claim(out, f"scorecard {sc.name}", sc.location)
            pending.append(_Pending(sc.name, "scorecard", sc, outs))
        for tb in spec.tables:
            claim(tb.name, f"table {tb.name}", tb.location)
            outs = table_outputs(tb)
            for out in outs:
                claim(out, f"table {tb.name}", tb.location)
            pending.append(_Pending(tb.name, "table", tb, outs))
        for i, p in enumerate(pending):
            p.order = i
        return pending

    def _dependencies(self, p: _Pending, produced: Mapping[str, _Pending]) -> None:
        texts: list[tuple[str, Text]] = []
        if isinstance(p.spec, TableSpec):
            self._table_dependencies(p, p.spec, produced)
            return
        if isinstance(p.spec, FeatureSpec):
            if p.spec.expr is not None:
                texts.append((p.id, p.spec.expr))
            if p.spec.func is not None:
                for param in p.spec.func.params:
                    dep = _producer(p.spec.func.field_for(param).split("."), produced)
                    if dep is not None and dep is not p:
                        p.deps.add(dep.id)
        elif isinstance(p.spec, RuleSetSpec):
            texts.extend((r.id, r.when) for r in p.spec.rules)
        elif isinstance(p.spec, ScorecardSpec):
            texts.extend((c.name, c.input) for c in p.spec.characteristics)
        else:
            texts.extend((name, text) for name, text in p.spec.inputs)
        for key, text in texts:
            node = self.parse_text(text)
            if node is None:
                continue
            p.parsed[key] = node
            for path in _paths(node):
                dep = _producer(list(path.parts), produced)
                if dep is not None and dep is not p:
                    p.deps.add(dep.id)

    def _table_dependencies(
        self, p: _Pending, spec: TableSpec, produced: Mapping[str, _Pending]
    ) -> None:
        """What a table reads (expressions that do not parse are reported when it compiles)."""
        for text in table_expression_texts(spec):
            try:
                node = parse(text)
            except ExprSyntaxError:
                continue
            for path in _paths(node):
                dep = _producer(list(path.parts), produced)
                if dep is not None and dep is not p:
                    p.deps.add(dep.id)

    def _toposort(self, pending: list[_Pending]) -> list[_Pending]:
        by_id = {p.id: p for p in pending}
        done: list[_Pending] = []
        state: dict[str, int] = {}

        def visit(p: _Pending, stack: list[str]) -> None:
            if state.get(p.id) == 2:
                return
            if state.get(p.id) == 1:
                cycle = [*stack[stack.index(p.id) :], p.id]
                loc = p.spec.location
                self.problems.append(
                    Problem("K501", f"circular dependency: {' -> '.join(cycle)}", loc)
                )
                return
            state[p.id] = 1
            for dep in sorted(p.deps, key=lambda d: by_id[d].order):
                visit(by_id[dep], [*stack, p.id])
            state[p.id] = 2
            done.append(p)

        for p in pending:
            visit(p, [])
        return done

    def _check_nodes(
        self, ordered: list[_Pending], inputs: Mapping[str, DType], spec: PipelineSpec
    ) -> tuple[list[Node], dict[str, DType]]:
        columns: dict[str, DType] = dict(inputs)
        columns.update((name, ANY) for name in self.failed)
        nodes: list[Node] = []
        for p in ordered:
            checked = self._check_node(p, columns, spec)
            if checked is None:
                self.failed.update([p.id, *p.outputs])
                for out in p.outputs:  # keep checking later nodes without cascading errors
                    columns[out] = ANY
                continue
            for node in checked if isinstance(checked, list) else [checked]:
                nodes.append(node)
                columns.update(dict(node.outputs()))
        return nodes, columns

    def _check_node(
        self,
        p: _Pending,
        columns: Mapping[str, DType],
        spec: PipelineSpec,
    ) -> Node | list[FeatureNode] | None:
        if isinstance(p.spec, FeatureSpec):
            return self._feature(p, p.spec, columns)
        if isinstance(p.spec, ScorecardSpec):
            return self._scorecard(p, p.spec, columns)
        if isinstance(p.spec, TableSpec):
            return compile_table(p.spec, columns, self.problems)
        if isinstance(p.spec, RuleSetSpec):
            return self._ruleset(p.spec, p.parsed, columns, p.spec.name)
        return self._model_node(p.spec, p.parsed, columns)

    def _feature(
        self,
        p: _Pending,
        f: FeatureSpec,
        columns: Mapping[str, DType],
    ) -> FeatureNode | None:
        if f.expr is not None:
            parsed = p.parsed.get(f.name)
            if parsed is None:
                return None
            expr = self.check(f.expr, parsed, columns)
            if expr is None:
                return None
            return FeatureNode(f.name, expr.dtype, f.description, f.component, expr=expr)
        assert f.func is not None
        return self._python_feature(f, f.func, columns)

    def _scorecard(
        self, p: _Pending, sc: ScorecardSpec, columns: Mapping[str, DType]
    ) -> list[FeatureNode] | None:
        typed: dict[str, t.TExpr] = {}
        for c in sc.characteristics:
            parsed = p.parsed.get(c.name)
            expr = None if parsed is None else self.check(c.input, parsed, columns)
            if expr is not None:
                typed[c.name] = expr
        if len(typed) != len(sc.characteristics):
            return None
        return compile_scorecard(sc, typed, self.problems)

    def _python_feature(
        self, f: FeatureSpec, func: FeatureFunction, columns: Mapping[str, DType]
    ) -> FeatureNode | None:
        args: list[t.TExpr] = []
        ok = True
        for param in func.params:
            name = func.field_for(param)
            parsed = ast.Path(ast.Span(1, 1, len(name)), tuple(name.split(".")))
            expr, issues = check_expression(parsed, Scope(columns, lists=self.lists))
            if issues:
                ok = False
                hint = issues[0].hint or (
                    f"map it with @feature(inputs={{'{param}': 'object.field'}})"
                )
                self.problems.append(
                    Problem(
                        "K402",
                        f"feature '{func.name}': parameter '{param}' does not name a field "
                        f"({issues[0].message})",
                        f.location,
                        hint,
                    )
                )
                continue
            args.append(expr)
        if not ok:
            return None
        assert f.module is not None
        return FeatureNode(
            func.name,
            _RETURNS.get(func.returns, FLOAT),
            f.description,
            f.component,
            func=FeatureCall(f.module.sha256, func.name),
            args=tuple(args),
        )

    def _ruleset(
        self,
        rs: RuleSetSpec,
        parsed: Mapping[str, ast.Node],
        columns: Mapping[str, DType],
        namespace: str,
    ) -> RuleSetNode | None:
        rules: list[Rule] = []
        for spec in rs.rules:
            node = parsed.get(spec.id)
            if node is None:
                continue
            expr = self.check(spec.when, node, columns, f"the condition of rule '{spec.id}'")
            if expr is None:
                continue
            rules.append(
                Rule(
                    spec.id,
                    spec.description,
                    spec.outcome,
                    spec.severity,
                    spec.on_missing,
                    spec.when.text,
                    expr,
                )
            )
        if len(rules) != len(rs.rules):
            return None
        return RuleSetNode(namespace, rs.description, tuple(rules), rs.ref)

    def _model_node(
        self, m: ModelSpec, parsed: Mapping[str, ast.Node], columns: Mapping[str, DType]
    ) -> ModelNode | None:
        loc = m.location
        framework = m.framework
        if not is_framework(framework):
            close = suggest(framework, list(FRAMEWORKS))
            self.problems.append(
                Problem(
                    "K303",
                    f"unknown framework '{framework}'",
                    loc,
                    close or f"known: {', '.join(FRAMEWORKS)}",
                )
            )
            return None
        if not m.artifact.is_file():
            why = "not a regular file" if m.artifact.exists() else "No such file or directory"
            self.problems.append(
                Problem(
                    "K301",
                    f"model artifact not found or unreadable: {m.artifact_display} ({why})",
                    loc,
                )
            )
            return None
        try:
            digest, adapter = self.models.inspect(
                m.artifact, framework, allow_version_mismatch=self.allow_version_mismatch
            )
        except KaskadError as exc:
            self.problems.append(Problem("K301", str(exc), loc))
            return None
        self._digests[m.artifact] = digest
        inputs = model_inputs(self, m, adapter, parsed, columns)
        check_model_outputs(self.problems, m, adapter)
        check_invariance(self.problems, m, adapter)
        if inputs is None:
            return None
        kernel, reason = kernel_of(m, adapter)
        return ModelNode(
            m.name,
            m.description,
            framework,
            digest,
            tuple(inputs),
            m.outputs,
            self._model_ref(m),
            m.tolerance,
            kernel,
            reason,
        )

    def _decision(
        self,
        branches: tuple[BranchSpec, ...],
        columns: Mapping[str, DType],
    ) -> list[Branch]:
        out: list[Branch] = []
        for i, b in enumerate(branches):
            if b.when is None:
                out.append(Branch(None, b.outcome, b.reasons, "otherwise"))
                continue
            node = self.parse_text(b.when)
            if node is None:
                continue
            expr = self.check(b.when, node, columns, f"decision branch #{i + 1}")
            if expr is not None:
                out.append(Branch(expr, b.outcome, b.reasons, b.when.text))
        return out

    def _lists(self, spec: PipelineSpec, names: set[str]) -> dict[str, RefList | None]:
        """The reference lists by name (None for those that could not be read); a list
        named like a field is refused (K256)."""
        out: dict[str, RefList | None] = dict.fromkeys(spec.failed_lists)
        for found in spec.lists:
            name = found.list.name
            if name in names:
                self.problems.append(
                    Problem(
                        "K256",
                        f"reference list '{name}' has the name of a field",
                        found.location or spec.location,
                        "rename the list (or the field): 'x IN name' must mean one of them",
                    )
                )
                continue
            out[name] = found.list
        return out

    def _components(self, spec: PipelineSpec) -> list[ComponentRef]:
        refs: list[ComponentRef] = [spec.ref, spec.schema_ref]
        refs.extend(found.ref for found in spec.lists)
        for fs in spec.featuresets:
            refs.extend(fs.refs)
        refs.extend(rs.ref for rs in spec.rulesets)
        refs.extend(sc.ref for sc in spec.scorecards)
        refs.extend(tb.ref for tb in spec.tables)
        refs.extend(tb.rules_file for tb in spec.tables if tb.rules_file is not None)
        return _unique(refs + [self._model_ref(m) for m in spec.models])

    def _model_ref(self, m: ModelSpec) -> ComponentRef:
        digest = self._digests.get(m.artifact)
        if digest is None:
            try:
                digest = self._digests[m.artifact] = sha256_bytes(m.artifact.read_bytes())
            except OSError:
                digest = "missing"
        return ComponentRef(
            "model",
            m.name,
            m.artifact_display,
            sha256_text(digest + m.config_hash),
            str(m.artifact),
        )


def _paths(node: ast.Node) -> Iterable[ast.Path]:
    if isinstance(node, ast.Path):
        yield node
        return
    for value in vars(node).values():
        items = value if isinstance(value, tuple) else (value,)
        for item in items:
            pair = item if isinstance(item, tuple) else (item,)
            for x in pair:
                if isinstance(x, ast.Node):
                    yield from _paths(x)


def _producer(parts: list[str], produced: Mapping[str, _Pending]) -> _Pending | None:
    for i in range(len(parts), 0, -1):
        hit = produced.get(".".join(parts[:i]))
        if hit is not None:
            return hit
    return None


def _modules(spec: PipelineSpec) -> tuple[PythonModule, ...]:
    """The source of every Python feature module the pipeline uses, each once."""
    found: dict[str, PythonModule] = {}
    for fs in spec.featuresets:
        for f in fs.features:
            if f.module is not None:
                found.setdefault(f.module.sha256, f.module)
    return tuple(found.values())


def _unique(refs: list[ComponentRef]) -> list[ComponentRef]:
    seen: dict[tuple[str, str, str], ComponentRef] = {}
    for r in refs:
        seen.setdefault((r.kind, r.name, r.sha256), r)
    return list(seen.values())


def compile_pipeline(
    path: Path | str,
    *,
    allow_version_mismatch: bool = False,
    resolver: ModelResolver | None = None,
) -> Plan:
    """Load, check and compile a pipeline file; raise `SpecError` listing every problem.

    ``allow_version_mismatch`` lets models saved by another version of their library load
    (their warnings stay on the loaded adapters); otherwise they are refused (K301).
    ``resolver`` resolves registered models (``registered: fraud@production``)."""
    return compile_with_spec(
        path, allow_version_mismatch=allow_version_mismatch, resolver=resolver
    )[1]


def compile_with_spec(
    path: Path | str,
    *,
    allow_version_mismatch: bool = False,
    resolver: ModelResolver | None = None,
) -> tuple[PipelineSpec, Plan]:
    """`compile_pipeline`, also giving the spec the plan was compiled from (whose
    texts keep their places in the files, for `kaskad.compile.lint.lint`)."""
    path = Path(path)
    problems: list[Problem] = []
    spec = load_pipeline_spec(path, problems, display=_shown(path))
    if spec is not None:
        spec = resolve_models(spec, resolver, problems)
    compiler = Compiler(allow_version_mismatch=allow_version_mismatch)
    plan = compiler.compile(spec) if spec is not None else None
    problems.extend(compiler.problems)
    problems = list(dict.fromkeys(problems))  # a file read twice (step and shadow): once
    if problems or plan is None or spec is None:
        raise SpecError(
            problems or [Problem("K100", "pipeline could not be compiled", Location(str(path)))]
        )
    return spec, plan


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
