"""The expression functions: one table the checker and both executors read.

Each :class:`Function` gives a function's arity, its typing rule (argument checks and
result type, for :mod:`~kaskad.compile.expr.check`), its Polars form (for the batch
executor, :mod:`~kaskad.compile.expr.to_polars`) and its Python form (for the per-record
executor, :mod:`~kaskad.compile.expr.to_python`), side by side so a reader sees they agree.
Both forms follow SQL: a NULL argument gives NULL (``coalesce``, ``least`` and
``greatest`` skip NULLs instead).

Aggregates (``count(LIST WHERE ...)`` and the like) take a list and a condition rather
than values, so their typing and forms live with the rest of each backend; their names
and their value over an empty list are here.

Polars is imported by the Polars forms when they run, so checking expressions (as
``kaskad validate`` does) does not load it.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

from kaskad.compile.expr import scoring as sc
from kaskad.compile.expr import typed as t
from kaskad.spec.timezone import zone
from kaskad.spec.types import BOOLEAN, DATE, FLOAT, INTEGER, STRING, DType

if TYPE_CHECKING:
    import polars as pl

Env = dict[str, Any]
Fn = Callable[[Env, Any], Any]  # a Python form: (record's values, current list element) → value

VARIADIC = 99  # max_args of functions taking any number of arguments
TRIM_CHARS = " \t\n\r"
AGGREGATES = ("count", "count_distinct", "sum", "avg", "min", "max", "any", "all")


def empty_value(node: t.TAgg) -> object:
    """An aggregate's value over an empty list."""
    return {"count": 0, "count_distinct": 0, "sum": 0, "any": False, "all": True}.get(node.func)


class ArgTypes(Protocol):
    """What a typing rule sees: the typed arguments, and checks that report a problem
    (K203, at the argument) and return whether the argument passed."""

    @property
    def args(self) -> tuple[t.TExpr, ...]: ...

    def number(self, i: int) -> bool: ...

    def text(self, i: int) -> bool: ...

    def date(self, i: int) -> bool: ...

    def datetime(self, i: int) -> bool: ...

    def common(self) -> DType | None:
        """The type all arguments unify to (a problem is reported when they do not)."""
        ...

    def fail(self, code: str, message: str, i: int) -> None: ...


TypingRule = Callable[[ArgTypes], DType | None]  # result type; None after a reported problem
PolarsForm = Callable[[Sequence["pl.Expr"], t.TFunc], "pl.Expr"]
PythonForm = Callable[[Sequence[Fn], t.TFunc], Fn]


@dataclass(frozen=True)
class Function:
    name: str
    min_args: int
    max_args: int
    typing: TypingRule
    polars: PolarsForm
    python: PythonForm

    def arity(self) -> str:
        """The number of arguments, in words: '1', '1 to 2', 'at least 1'."""
        if self.min_args == self.max_args:
            return str(self.min_args)
        if self.max_args < VARIADIC:
            return f"{self.min_args} to {self.max_args}"
        return f"at least {self.min_args}"


# ---- helpers shared by several functions ------------------------------------------------


def per_row(divisor: pl.Expr, like: pl.Expr) -> pl.Expr:
    """``divisor`` as a full column of ``like``'s length.

    Polars divides by a scalar — a constant, or a column it holds as one value, such as an
    input column whose values are all equal — by multiplying with the reciprocal, which
    rounds differently from true division (and from the per-record executor). Adding
    ``0.0`` times a per-row flag makes every divisor a per-row value: ``d + 0.0 == d`` for
    every divisor that is not zero, and zero divisors give NULL anyway.
    """
    import polars as pl

    return divisor + pl.lit(0.0) * like.is_null().cast(pl.Float64)


def pl_int64() -> pl.DataType:
    import polars as pl

    return pl.Int64()


def _target(node: t.TFunc) -> pl.DataType:
    from kaskad.compile.expr.polars_dtypes import to_polars_dtype

    return to_polars_dtype(node.dtype)


def _strict(op: Callable[..., Any]) -> PythonForm:
    """A Python form giving NULL when an argument is NULL, else ``op(*values)``."""

    def form(args: Sequence[Fn], node: t.TFunc) -> Fn:
        if len(args) == 1:
            a0 = args[0]

            def unary(env: Env, el: Any) -> Any:
                v = a0(env, el)
                return None if v is None else op(v)

            return unary
        a0, a1 = args

        def binary(env: Env, el: Any) -> Any:
            v = a0(env, el)
            w = a1(env, el)
            return None if v is None or w is None else op(v, w)

        return binary

    return form


def _as_date(v: Any) -> dt.date:
    if isinstance(v, dt.datetime):
        return v.date()
    assert isinstance(v, dt.date)
    return v


def _returns(dtype: DType, *checks: Callable[[ArgTypes], bool]) -> TypingRule:
    """A typing rule: every check passes (stopping at the first that fails) → ``dtype``."""

    def rule(a: ArgTypes) -> DType | None:
        return dtype if all(check(a) for check in checks) else None

    return rule


def _number(i: int) -> Callable[[ArgTypes], bool]:
    return lambda a: a.number(i)


def _text(i: int) -> Callable[[ArgTypes], bool]:
    return lambda a: a.text(i)


def _date(i: int) -> Callable[[ArgTypes], bool]:
    return lambda a: a.date(i)


def _datetime(i: int) -> Callable[[ArgTypes], bool]:
    return lambda a: a.datetime(i)


def _unified(a: ArgTypes) -> DType | None:
    result = a.common()
    if result is None:
        return None
    return STRING if result.kind == "null" else result


# ---- coalesce, least, greatest ----------------------------------------------------------


def _coalesce_polars(args: Sequence[pl.Expr], node: t.TFunc) -> pl.Expr:
    import polars as pl

    return pl.coalesce([a.cast(_target(node)) for a in args])


def _coalesce_python(args: Sequence[Fn], node: t.TFunc) -> Fn:
    as_float = node.dtype.kind == "float"

    def coalesce(env: Env, el: Any) -> Any:
        for a in args:
            v = a(env, el)
            if v is not None:
                return float(v) if as_float else v
        return None

    return coalesce


def _extreme_typing(a: ArgTypes) -> DType | None:
    if not all(a.number(i) for i in range(len(a.args))):
        return None
    return _unified(a)


def _extreme_polars(least: bool) -> PolarsForm:
    def form(args: Sequence[pl.Expr], node: t.TFunc) -> pl.Expr:
        import polars as pl

        horizontal = pl.min_horizontal if least else pl.max_horizontal
        return horizontal([a.cast(_target(node)) for a in args])

    return form


def _extreme_python(least: bool) -> PythonForm:
    pick = min if least else max

    def form(args: Sequence[Fn], node: t.TFunc) -> Fn:
        as_float = node.dtype.kind == "float"

        def extreme(env: Env, el: Any) -> Any:
            vals = [v for v in (a(env, el) for a in args) if v is not None]
            if not vals:
                return None
            return pick(float(v) for v in vals) if as_float else pick(vals)

        return extreme

    return form


# ---- round ------------------------------------------------------------------------------


def _round_typing(a: ArgTypes) -> DType | None:
    if not a.number(0):
        return None
    if len(a.args) == 2:
        digits = a.args[1]
        if not (isinstance(digits, t.TLit) and isinstance(digits.value, int)):
            a.fail("K209", "round()'s digits must be an integer constant", 1)
            return None
    return FLOAT


def _digits(node: t.TFunc) -> int:
    digits = node.args[1] if len(node.args) == 2 else None
    return int(digits.value) if isinstance(digits, t.TLit) else 0


def _round_polars(args: Sequence[pl.Expr], node: t.TFunc) -> pl.Expr:
    import polars as pl

    scale = 10.0 ** _digits(node)
    x = args[0].cast(pl.Float64) * scale
    return x.round(0, mode="half_to_even") / per_row(pl.lit(scale), x)


def _round_value(x: float, digits: int) -> float:
    scale = 10.0**digits
    scaled = float(x) * scale
    if not math.isfinite(scaled):
        return scaled / scale
    return float(round(scaled)) / scale  # round() is half to even, as in Polars


def _round_python(args: Sequence[Fn], node: t.TFunc) -> Fn:
    digits = _digits(node)
    x = args[0]

    def round_(env: Env, el: Any) -> Any:
        v = x(env, el)
        return None if v is None else _round_value(v, digits)

    return round_


# ---- Polars forms of the simple functions ----------------------------------------------


def _length_polars(args: Sequence[pl.Expr], node: t.TFunc) -> pl.Expr:
    import polars as pl

    return args[0].str.len_chars().cast(pl.Int64)


def _date_part_polars(args: Sequence[pl.Expr], node: t.TFunc) -> pl.Expr:
    import polars as pl

    part: pl.Expr = getattr(args[0].dt, node.name)()
    return part.cast(pl.Int64)


def _days_between_polars(args: Sequence[pl.Expr], node: t.TFunc) -> pl.Expr:
    import polars as pl

    return (args[1].cast(pl.Date) - args[0].cast(pl.Date)).dt.total_days().cast(pl.Int64)


def _to_date_polars(args: Sequence[pl.Expr], node: t.TFunc) -> pl.Expr:
    import polars as pl

    return args[0].cast(pl.Date)


DAY_MICROS = 86_400_000_000
MICROS = {"seconds": 1_000_000, "minutes": 60_000_000, "hours": 3_600_000_000}


def as_datetime(v: Any) -> dt.datetime:
    """A date as the datetime of its midnight; a datetime as it is."""
    if isinstance(v, dt.datetime):
        return v
    assert isinstance(v, dt.date)
    return dt.datetime(v.year, v.month, v.day)


def _micros_between(a: Any, b: Any) -> int:
    return (as_datetime(b) - as_datetime(a)) // dt.timedelta(microseconds=1)


def _between_polars(unit: str) -> PolarsForm:
    """Time from ``a`` to ``b`` in ``unit``: whole microseconds divided once, as a float."""

    def form(args: Sequence[pl.Expr], node: t.TFunc) -> pl.Expr:
        import polars as pl

        us = pl.Datetime("us")
        micros = (args[1].cast(us) - args[0].cast(us)).dt.total_microseconds().cast(pl.Float64)
        return micros / per_row(pl.lit(float(MICROS[unit])), micros)

    return form


def _between(unit: str) -> Function:
    divisor = float(MICROS[unit])
    return Function(
        f"{unit}_between",
        2,
        2,
        _returns(FLOAT, _date(0), _date(1)),
        _between_polars(unit),
        _strict(lambda a, b: float(_micros_between(a, b)) / divisor),
    )


def _date_part(name: str) -> Function:
    return Function(
        name,
        1,
        1,
        _returns(INTEGER, _date(0)),
        _date_part_polars,
        _strict(lambda d: getattr(d, name)),
    )


# ---- time zones ---------------------------------------------------------------------------


def local_polars(x: pl.Expr, dtype: DType) -> pl.Expr:
    """A datetime held in UTC as the naive local time of its zone (``dtype.tz``)."""
    if dtype.kind != "datetime" or not dtype.tz:
        return x
    return x.dt.replace_time_zone("UTC").dt.convert_time_zone(dtype.tz).dt.replace_time_zone(None)


def local_python(v: Any, dtype: DType) -> Any:
    """:func:`local_polars` for one value."""
    if v is None or dtype.kind != "datetime" or not dtype.tz:
        return v
    return v.replace(tzinfo=dt.UTC).astimezone(zone(dtype.tz)).replace(tzinfo=None)


def _local(fn: Fn, dtype: DType) -> Fn:
    if dtype.kind != "datetime" or not dtype.tz:
        return fn
    return lambda env, el: local_python(fn(env, el), dtype)


def _in_zone(f: Function) -> Function:
    """``f`` reading each datetime argument in its time zone: the day-level functions."""

    def polars(args: Sequence[pl.Expr], node: t.TFunc) -> pl.Expr:
        zoned = [local_polars(a, n.dtype) for a, n in zip(args, node.args, strict=True)]
        return f.polars(zoned, node)

    def python(args: Sequence[Fn], node: t.TFunc) -> Fn:
        zoned = [_local(a, n.dtype) for a, n in zip(args, node.args, strict=True)]
        return f.python(zoned, node)

    return replace(f, polars=polars, python=python)


_TABLE: tuple[Function, ...] = (
    Function("coalesce", 1, VARIADIC, _unified, _coalesce_polars, _coalesce_python),
    Function(
        "abs",
        1,
        1,
        lambda a: a.args[0].dtype if a.number(0) else None,
        lambda args, node: args[0].abs(),
        _strict(abs),
    ),
    Function("round", 1, 2, _round_typing, _round_polars, _round_python),
    Function("least", 1, VARIADIC, _extreme_typing, _extreme_polars(True), _extreme_python(True)),
    Function(
        "greatest", 1, VARIADIC, _extreme_typing, _extreme_polars(False), _extreme_python(False)
    ),
    Function(
        "lower",
        1,
        1,
        _returns(STRING, _text(0)),
        lambda args, node: args[0].str.to_lowercase(),
        _strict(str.lower),
    ),
    Function(
        "upper",
        1,
        1,
        _returns(STRING, _text(0)),
        lambda args, node: args[0].str.to_uppercase(),
        _strict(str.upper),
    ),
    Function("length", 1, 1, _returns(INTEGER, _text(0)), _length_polars, _strict(len)),
    Function(
        "trim",
        1,
        1,
        _returns(STRING, _text(0)),
        lambda args, node: args[0].str.strip_chars(TRIM_CHARS),
        _strict(lambda s: s.strip(TRIM_CHARS)),
    ),
    Function(
        "starts_with",
        2,
        2,
        _returns(BOOLEAN, _text(0), _text(1)),
        lambda args, node: args[0].str.starts_with(args[1]),
        _strict(str.startswith),
    ),
    Function(
        "ends_with",
        2,
        2,
        _returns(BOOLEAN, _text(0), _text(1)),
        lambda args, node: args[0].str.ends_with(args[1]),
        _strict(str.endswith),
    ),
    Function(
        "contains",
        2,
        2,
        _returns(BOOLEAN, _text(0), _text(1)),
        lambda args, node: args[0].str.contains(args[1], literal=True),
        _strict(lambda s, p: p in s),
    ),
    _in_zone(_date_part("year")),
    _in_zone(_date_part("month")),
    _in_zone(_date_part("day")),
    _in_zone(
        Function(
            "days_between",
            2,
            2,
            _returns(INTEGER, _date(0), _date(1)),
            _days_between_polars,
            _strict(lambda a, b: (_as_date(b) - _as_date(a)).days),
        )
    ),
    _between("seconds"),
    _between("minutes"),
    _between("hours"),
    _in_zone(
        Function(
            "hour",
            1,
            1,
            _returns(INTEGER, _datetime(0)),
            lambda args, node: args[0].dt.hour().cast(pl_int64()),
            _strict(lambda ts: ts.hour),
        )
    ),
    _in_zone(
        Function(
            "weekday",
            1,
            1,
            _returns(INTEGER, _date(0)),
            lambda args, node: args[0].dt.weekday().cast(pl_int64()),
            _strict(lambda d: d.isoweekday()),
        )
    ),
    _in_zone(
        Function("to_date", 1, 1, _returns(DATE, _date(0)), _to_date_polars, _strict(_as_date))
    ),
    Function("logistic", 1, 1, sc.logistic_typing, sc.logistic_polars, sc.logistic_python),
    Function(
        "top_reasons",
        3,
        VARIADIC,
        sc.top_reasons_typing,
        sc.top_reasons_polars,
        sc.top_reasons_python,
    ),
)

FUNCTION_TABLE: dict[str, Function] = {f.name: f for f in _TABLE}
# calls the checker reads itself: lookup(list, key, 'column') (kaskad.compile.expr.reflists)
SPECIAL = ("lookup",)
FUNCTIONS = tuple(sorted((*FUNCTION_TABLE, *AGGREGATES, *SPECIAL)))  # every name a call may use


__all__ = [
    "AGGREGATES",
    "DAY_MICROS",
    "FUNCTIONS",
    "FUNCTION_TABLE",
    "SPECIAL",
    "TRIM_CHARS",
    "ArgTypes",
    "Env",
    "Fn",
    "Function",
    "as_datetime",
    "empty_value",
    "local_polars",
    "local_python",
    "per_row",
]
