"""Typed tree → Polars expressions, for the vectorized executor.

Aggregates whose value or filter reads fields outside the list element cannot be
written inside ``list.agg`` (Polars allows only the element there); they are
*hoisted*: the executor computes them by exploding the list (see
:func:`compute_hoisted`) and the expression reads the result from a column.
Both paths apply the same per-element expression and the same reduction, so they
agree with each other and with the per-record executor.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl

from kaskad.compile.expr import typed as t
from kaskad.compile.expr.functions import DAY_MICROS, FUNCTION_TABLE, empty_value, per_row
from kaskad.compile.expr.ordered_sum import ordered_sums
from kaskad.compile.expr.polars_dtypes import to_polars_dtype


def like_pattern(node: t.TLike) -> str:
    flags = "(?si)" if node.case_insensitive else "(?s)"
    return f"^{flags}(?:{node.regex})$"


def hoisted_aggregates(expr: t.TExpr) -> list[t.TAgg]:
    """Aggregates in ``expr`` that read fields outside their list element."""
    return [n for n in t.walk(expr) if isinstance(n, t.TAgg) and n.outer]


class PolarsCompiler:
    """Compiles typed expressions; ``hoisted`` maps outer aggregates to their columns."""

    def __init__(self, hoisted: dict[t.TAgg, str] | None = None) -> None:
        self.hoisted = hoisted if hoisted is not None else {}

    def compile(self, node: t.TExpr, elem: pl.Expr | None = None) -> pl.Expr:
        """The Polars expression computing ``node`` (``elem``: the current list element)."""
        return self._compile(node, elem)

    def _compile(self, node: t.TExpr, elem: pl.Expr | None) -> pl.Expr:
        c = self._compile
        if isinstance(node, t.TLit):
            return pl.lit(node.value, dtype=to_polars_dtype(node.dtype))
        if isinstance(node, t.TCol):
            out = pl.col(node.column)
            for part in node.path:
                out = out.struct.field(part)
            return out
        if isinstance(node, t.TElem):
            assert elem is not None, "element reference outside an aggregate"
            out = elem
            for part in node.path:
                out = out.struct.field(part)
            return out
        if isinstance(node, t.TUnary):
            operand = c(node.operand, elem)
            return ~operand if node.op == "NOT" else -operand
        if isinstance(node, t.TBinary):
            return self._binary(node, elem)
        if isinstance(node, t.TIn):
            x = c(node.operand, elem)
            if any(isinstance(v, float) for v in node.values):
                x = x.cast(pl.Float64)
            values = pl.lit(pl.Series(list(node.values))).implode()
            match = x.is_in(values) if node.values else pl.lit(False)
            miss: object = None if node.has_null else False
            out = (
                pl.when(x.is_null())
                .then(None)
                .when(match)
                .then(True)
                .otherwise(pl.lit(miss, dtype=pl.Boolean))
            )
            return ~out if node.negated else out
        if isinstance(node, t.TLookup):
            return _lookup(c(node.key, elem), node)
        if isinstance(node, t.TShift):
            x = c(node.operand, elem)
            if node.dtype.kind == "date":
                return x + pl.duration(days=node.micros // DAY_MICROS)
            return x.cast(pl.Datetime("us")) + pl.duration(microseconds=node.micros)
        if isinstance(node, t.TIsNull):
            x = c(node.operand, elem)
            return x.is_not_null() if node.negated else x.is_null()
        if isinstance(node, t.TLike):
            out = c(node.operand, elem).str.contains(like_pattern(node))
            return ~out if node.negated else out
        if isinstance(node, t.TCase):
            target = to_polars_dtype(node.dtype)
            builder: Any = None
            for cond, value in node.whens:
                v = c(value, elem).cast(target)
                builder = (
                    pl.when(c(cond, elem)) if builder is None else builder.when(c(cond, elem))
                ).then(v)
            assert builder is not None
            default = (
                c(node.default, elem).cast(target)
                if node.default is not None
                else pl.lit(None, dtype=target)
            )
            result: pl.Expr = builder.otherwise(default)
            return result
        if isinstance(node, t.TFunc):
            return self._func(node, elem)
        if isinstance(node, t.TAgg):
            return self._aggregate(node)
        raise AssertionError(type(node))  # pragma: no cover

    def _binary(self, node: t.TBinary, elem: pl.Expr | None) -> pl.Expr:
        op = node.op
        left = self._compile(node.left, elem)
        right = self._compile(node.right, elem)
        if op == "AND":
            return left & right
        if op == "OR":
            return left | right
        if op == "||":
            return pl.concat_str([left, right])
        if op == "/":
            dividend = left.cast(pl.Float64)
            divisor = per_row(right.cast(pl.Float64), dividend)
            return pl.when(right == 0).then(None).otherwise(dividend / divisor)
        if op in ("+", "-", "*"):
            target = to_polars_dtype(node.dtype)
            left, right = left.cast(target), right.cast(target)
            return left + right if op == "+" else left - right if op == "-" else left * right
        if node.left.dtype.kind != node.right.dtype.kind and node.left.dtype.is_numeric:
            left, right = left.cast(pl.Float64), right.cast(pl.Float64)
        ops = {
            "=": left.__eq__,
            "!=": left.__ne__,
            "<": left.__lt__,
            "<=": left.__le__,
            ">": left.__gt__,
            ">=": left.__ge__,
        }
        result: pl.Expr = ops[op](right)
        return result

    def _func(self, node: t.TFunc, elem: pl.Expr | None) -> pl.Expr:
        args = [self._compile(a, elem) for a in node.args]
        return FUNCTION_TABLE[node.name].polars(args, node)

    # ---- aggregates ---------------------------------------------------------------------

    def element_value(self, node: t.TAgg, elem: pl.Expr) -> pl.Expr:
        """What each element contributes before the reduction (null = does not count)."""
        if node.func in ("any", "all"):
            assert node.value is not None
            return self._compile(node.value, elem)
        if node.func == "count":
            if node.where is None:
                return elem.is_null() | elem.is_not_null()
            return self._compile(node.where, elem).fill_null(False)
        assert node.value is not None
        value = self._compile(node.value, elem).cast(to_polars_dtype(node.value.dtype))
        if node.where is None:
            return value
        return pl.when(self._compile(node.where, elem)).then(value)

    @staticmethod
    def reduce(node: t.TAgg, values: pl.Expr) -> pl.Expr:
        func = node.func
        if func == "count":
            return values.sum().cast(pl.Int64)
        if func == "count_distinct":
            present = values.drop_nulls()
            if node.value is not None and node.value.dtype.kind == "float":
                present = present + 0.0  # -0.0 and 0.0 are one value, as in Python
            return present.n_unique().cast(pl.Int64)
        if func == "any":
            return values.any(ignore_nulls=False)
        if func == "all":
            return values.all(ignore_nulls=False)
        if func in ("sum", "avg"):
            # A running sum is strictly left to right, as in the per-record executor (float
            # values do not come here: see `ordered`, which is faster).
            present = values.drop_nulls()
            total = present.cum_sum().last()
            if func == "avg":
                return total.cast(pl.Float64) / present.count().cast(pl.Float64)
            return total.fill_null(0).cast(to_polars_dtype(node.dtype))
        out: pl.Expr = getattr(values, func)()
        return out.cast(to_polars_dtype(node.dtype))

    def _aggregate(self, node: t.TAgg) -> pl.Expr:
        if node.outer:
            return pl.col(self.hoisted[node])
        source = self._compile(node.source, None)
        if node.func == "count" and node.where is None:
            return source.list.len().cast(pl.Int64)
        if node.func == "count" or adds_floats(node):
            values = source.list.eval(self.element_value(node, pl.element()))
            if node.func == "count":  # adds booleans: any order gives the same number
                return values.list.sum().cast(pl.Int64)
            return ordered(node, values)
        return source.list.agg(self.reduce(node, self.element_value(node, pl.element())))


def adds_floats(node: t.TAgg) -> bool:
    """A sum or mean of float values: added strictly left to right by :func:`ordered`."""
    value = node.value
    return node.func in ("sum", "avg") and value is not None and value.dtype.kind == "float"


def ordered(node: t.TAgg, lists: pl.Expr) -> pl.Expr:
    """The sum (or mean) of each list of ``lists``, values added left to right as the
    per-record executor adds them (:mod:`kaskad.compile.expr.ordered_sum`)."""
    mean = node.func == "avg"
    return lists.cast(pl.List(pl.Float64)).map_batches(
        lambda s: ordered_sums(s, mean), return_dtype=pl.Float64
    )


def _lookup(key: pl.Expr, node: t.TLookup) -> pl.Expr:
    """The column's value of the entry whose key equals ``key``; NULL when none does."""
    target = to_polars_dtype(node.dtype)
    if not node.keys or node.key.dtype.kind == "null":
        return pl.lit(None, dtype=target)
    if node.key.dtype.kind == "float":
        key = key.cast(pl.Float64) + 0.0  # -0.0 finds the entry of 0, as in Python
    keys = pl.Series(list(node.keys), dtype=to_polars_dtype(node.key.dtype))
    values = pl.Series(list(node.values), dtype=target)
    return key.replace_strict(keys, values, default=pl.lit(None, dtype=target), return_dtype=target)


def compute_hoisted(
    frame: pl.DataFrame, aggs: Mapping[t.TAgg, str], compiler: PolarsCompiler
) -> pl.DataFrame:
    """Add a column per outer aggregate by exploding its list and re-aggregating per row.

    Only the columns the aggregate reads go through the explode; an aggregate whose column
    an earlier step already added is not computed again.
    """
    for node, name in aggs.items():
        if name in frame.columns:
            continue
        source = compiler.compile(node.source)
        narrow = (
            frame.select(sorted(t.columns_used(node)))
            .with_row_index("__hrow")
            .with_columns(source.alias("__src"))
        )
        # only the row index, the element and the outer fields the element expression reads
        # go through the explode (not the list itself, which would be copied per element)
        outer = sorted(
            set().union(*(t.columns_used(e) for e in (node.where, node.value) if e is not None))
        )
        flat = (
            narrow.filter(pl.col("__src").list.len() > 0)
            .select("__hrow", pl.col("__src").alias("__elem"), *outer)
            .explode("__elem")
            .select("__hrow", compiler.element_value(node, pl.col("__elem")).alias("__v"))
        )
        if node.func == "count":  # the elements counted, per row (flat is in row order)
            counted = flat.get_column("__hrow").filter(flat.get_column("__v")).to_numpy()
            counts = np.bincount(counted, minlength=narrow.height)
            joined = narrow.select("__src").with_columns(pl.Series(name, counts, pl.Int64))
        else:
            groups = flat.group_by("__hrow", maintain_order=True)
            if adds_floats(node):  # float sums need the values in order: a list per row
                exploded = groups.agg(pl.col("__v")).select(
                    "__hrow", ordered(node, pl.col("__v")).alias(name)
                )
            else:  # reduced within each row's group
                exploded = groups.agg(compiler.reduce(node, pl.col("__v")).alias(name))
            joined = narrow.select("__hrow", "__src").join(
                exploded, on="__hrow", how="left", maintain_order="left"
            )
        dtype = to_polars_dtype(node.dtype)
        value = (
            pl.when(pl.col("__src").is_null())
            .then(None)
            .when(pl.col("__src").list.len() == 0)
            .then(pl.lit(empty_value(node), dtype=dtype))
            .otherwise(pl.col(name).cast(dtype))
        )
        frame = frame.with_columns(joined.select(value.alias(name)).to_series())
    return frame
