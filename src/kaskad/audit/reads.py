"""Which input paths a plan reads, and which of a schema's fields are sensitive: what
decides whether a logged (masked) input can be decided again."""

from __future__ import annotations

from collections.abc import Iterator

from kaskad.compile.expr.typed import TAgg, TCol, TElem, TExpr, walk
from kaskad.compile.plan import Branch, FeatureNode, ModelNode, Node, Plan, RuleSetNode, TableNode
from kaskad.spec.types import DType, Field

FieldPath = tuple[str, ...]
Path = FieldPath


def expr_paths(expr: TExpr) -> Iterator[Path]:
    for node in walk(expr):
        if isinstance(node, TCol):
            yield (node.column, *node.path)
        elif isinstance(node, TAgg):
            base = (node.source.column, *node.source.path)
            for part in (node.value, node.where):
                if part is not None:
                    for inner in walk(part):
                        if isinstance(inner, TElem):
                            yield (*base, *inner.path)


def _node_exprs(node: Node) -> list[TExpr]:
    if isinstance(node, FeatureNode | RuleSetNode | TableNode):
        return node.expressions()
    if isinstance(node, ModelNode):
        return [expr for _, expr in node.inputs]
    return []


def _branch_exprs(branches: tuple[Branch, ...]) -> list[TExpr]:
    return [b.when for b in branches if b.when is not None]


def readers(plan: Plan) -> dict[Path, list[str]]:
    """Every path read (``("applicant", "age")``; a whole object as its own path) → the
    steps that read it (``rules antifraud``, ``decision``, ``shadow credit_pd_v2``)."""
    found: dict[Path, list[str]] = {}

    def add(exprs: list[TExpr], who: str) -> None:
        for expr in exprs:
            for path in expr_paths(expr):
                names = found.setdefault(path, [])
                if who not in names:
                    names.append(who)

    for node in plan.nodes:
        add(_node_exprs(node), f"{_kind(node)} {node.id}")
    add(_branch_exprs(plan.decision), "decision")
    for shadow in plan.shadows:
        for node in shadow.nodes:
            add(_node_exprs(node), f"shadow {shadow.name}: {_kind(node)} {node.id}")
        add(_branch_exprs(shadow.decision), f"shadow {shadow.name}: decision")
    return found


def _kind(node: Node) -> str:
    if isinstance(node, RuleSetNode):
        return "rules"
    if isinstance(node, TableNode):
        return "table"
    if isinstance(node, ModelNode):
        return "model"
    return "feature"


def sensitive_fields(fields: tuple[Field, ...], prefix: Path = ()) -> dict[Path, DType]:
    """Paths of the ``sensitive: true`` fields (lists are looked through) → their type."""
    found: dict[Path, DType] = {}
    for f in fields:
        path = (*prefix, f.name)
        if f.sensitive:
            found[path] = f.dtype
            continue
        dtype = f.dtype
        while dtype.kind == "list" and dtype.item is not None:
            dtype = dtype.item
        if dtype.kind == "object":
            found.update(sensitive_fields(dtype.fields, path))
    return found


def read_by(path: Path, reads: dict[Path, list[str]]) -> list[str]:
    """The steps that read ``path``, itself or an object that holds it."""
    who: list[str] = []
    for read, names in reads.items():
        if path[: len(read)] == read:
            who += [n for n in names if n not in who]
    return who
