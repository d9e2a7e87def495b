"""Expression functions for scorecards: the logistic link and adverse-action reasons.

``logistic(x)`` is ``1 / (1 + exp(-x))``, computed the same way, element by element, by
both executors. ``top_reasons(n, 'code1', loss1, 'code2', loss2, …)`` gives the codes of
the (at most ``n``) largest losses above zero, largest first, ties in argument order; a
NULL loss counts as no loss. The scorecard compiler writes these calls; they may also be
used by hand.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from kaskad.compile.expr import typed as t
from kaskad.spec.types import FLOAT, INTEGER, STRING, STRING_LIST, DType

if TYPE_CHECKING:
    import polars as pl

    from kaskad.compile.expr.functions import ArgTypes, Env, Fn


def _logistic_value(x: float) -> float:
    try:
        return 1.0 / (1.0 + math.exp(-x))
    except OverflowError:  # exp(-x) beyond float range: Polars gives inf, hence 0.0
        return 0.0


def logistic_typing(a: ArgTypes) -> DType | None:
    return FLOAT if a.number(0) else None


def logistic_polars(args: Sequence[pl.Expr], node: t.TFunc) -> pl.Expr:
    import polars as pl

    x = args[0].cast(pl.Float64)
    return pl.lit(1.0) / (pl.lit(1.0) + (-x).exp())


def logistic_python(args: Sequence[Fn], node: t.TFunc) -> Fn:
    a0 = args[0]

    def logistic(env: Env, el: Any) -> Any:
        v = a0(env, el)
        return None if v is None else _logistic_value(float(v))

    return logistic


def top_reasons_typing(a: ArgTypes) -> DType | None:
    args = a.args
    ok = True
    if not (isinstance(args[0], t.TLit) and args[0].dtype == INTEGER):
        a.fail("K203", "top_reasons: the first argument is a whole number literal", 0)
        ok = False
    if len(args) % 2 != 1:
        a.fail("K203", "top_reasons: give pairs of a reason code and a loss", len(args) - 1)
        return None
    for i in range(1, len(args), 2):
        if not (isinstance(args[i], t.TLit) and args[i].dtype == STRING):
            a.fail("K203", "top_reasons: each reason code is a text literal", i)
            ok = False
        if not a.number(i + 1):
            ok = False
    return STRING_LIST if ok else None


def _codes(node: t.TFunc) -> tuple[int, list[str]]:
    first = node.args[0]
    assert isinstance(first, t.TLit)
    codes = []
    for arg in node.args[1::2]:
        assert isinstance(arg, t.TLit)
        codes.append(str(arg.value))
    return int(first.value), codes


def rank_reasons(n: int, codes: Sequence[str], losses: Sequence[Any]) -> list[str]:
    """The codes of the ``n`` largest losses above zero, largest first (stable)."""
    ranked = sorted(
        (i for i, loss in enumerate(losses) if loss is not None and loss > 0),
        key=lambda i: -losses[i],
    )
    return [codes[i] for i in ranked[:n]]


def top_reasons_polars(args: Sequence[pl.Expr], node: t.TFunc) -> pl.Expr:
    import polars as pl

    n, codes = _codes(node)
    losses = [e.cast(pl.Float64).alias(f"_{i}") for i, e in enumerate(args[2::2])]

    def per_batch(s: pl.Series) -> pl.Series:
        rows = s.struct.unnest().rows()
        return pl.Series([rank_reasons(n, codes, r) for r in rows], dtype=pl.List(pl.String))

    return pl.struct(losses).map_batches(per_batch, return_dtype=pl.List(pl.String))


def top_reasons_python(args: Sequence[Fn], node: t.TFunc) -> Fn:
    n, codes = _codes(node)
    losses = list(args[2::2])

    def top_reasons(env: Env, el: Any) -> Any:
        values = [f(env, el) for f in losses]
        return rank_reasons(n, codes, [None if v is None else float(v) for v in values])

    return top_reasons
