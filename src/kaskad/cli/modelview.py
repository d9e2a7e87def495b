"""``kaskad model show``: a model version summarised in a screenful (``--json``: the full
record)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

from kaskad.cli.tables import Columns, print_rows

if TYPE_CHECKING:
    from kaskad.store.api import ModelVersion

INPUTS_SHOWN = 12


def print_model(console: Console, v: ModelVersion, stages: list[str]) -> None:
    """Who, what and when; inputs and outputs; metrics; the framework's package; the
    training data as one line per column (ranges and counts, never values of its rows)."""
    at = f", stages: {', '.join(stages)}" if stages else ""
    console.print(
        f"[bold]{escape(v.name)}[/] version {v.version} ({escape(v.framework)}){at}",
        highlight=False,
    )
    console.print(
        f"artifact sha256 {v.artifact_sha256}\n"
        f"registered {v.created_at:%Y-%m-%d %H:%M} by {escape(v.created_by)}",
        highlight=False,
    )
    if v.description:
        console.print(escape(v.description), highlight=False)
    inputs = [f"{i.get('name')} ({i.get('type', '?')})" for i in v.inputs]
    more = len(inputs) - INPUTS_SHOWN
    console.print(
        f"inputs ({len(inputs)}): {escape(', '.join(inputs[:INPUTS_SHOWN]))}"
        + (f", … {more} more" if more > 0 else ""),
        highlight=False,
    )
    console.print(f"outputs: {escape(', '.join(v.outputs)) or '-'}", highlight=False)
    if v.metrics:
        shown = ", ".join(f"{k} {_value(x)}" for k, x in v.metrics.items())
        console.print(f"metrics: {escape(shown)}", highlight=False)
    env = v.environment
    packages = env.get("packages", {})
    framework = {k: x for k, x in packages.items() if k.lower() in _FRAMEWORK_PACKAGES}
    console.print(
        f"environment: Python {env.get('python', '?')}, {len(packages)} packages"
        + "".join(f", {k} {x}" for k, x in framework.items()),
        highlight=False,
    )
    console.print(f"sample: {len(v.sample)} recorded input/output pairs", highlight=False)
    _print_training(console, v.training_data)
    console.print(
        f"[dim]the full record: kaskad model show {escape(v.name)}@{v.version} --json[/]",
        highlight=False,
    )


_FRAMEWORK_PACKAGES = {
    "scikit-learn",
    "lightgbm",
    "onnxruntime",
    "xgboost",
    "catboost",
    "numpy",
    "polars",
}


def _value(x: Any) -> str:
    """A number as people read it: 10,000 and 3,000,000 rather than 1e+04 and 3e+06."""
    if not isinstance(x, float) or x != x or x in (float("inf"), float("-inf")):
        return str(x)
    if x.is_integer() and abs(x) < 1e15:
        return f"{int(x):,}"
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.4g}"


def _print_training(console: Console, data: dict[str, Any] | None) -> None:
    if not data:
        console.print("training data: not recorded")
        return
    source = f" from {data['source']}" if data.get("source") else ""
    console.print(
        f"training data: {data.get('rows', 0):,} rows, {len(data.get('columns', []))} "
        f"columns{escape(source)}, sha256 {str(data.get('sha256', ''))[:12]}",
        highlight=False,
    )
    rows = []
    for name, col in data.get("profile", {}).items():
        count = max(int(col.get("count", 0)), 1)
        rows.append(
            [
                escape(name),
                escape(str(col.get("type", ""))),
                f"{int(col.get('nulls', 0)) / count:.1%}",
                escape(_column_values(col)),
            ]
        )
    columns = Columns.of("column", "type", "missing", "values", identifiers=(0, 1), numbers=(2,))
    print_rows(console, columns, rows)


def _column_values(col: dict[str, Any]) -> str:
    """A column's values in a few words: its range, or how many distinct values."""
    if "min" in col:
        return f"{_value(col['min'])} … {_value(col['max'])} (mean {_value(col['mean'])})"
    present = int(col.get("count", 0)) - int(col.get("nulls", 0))
    if col.get("identifier") or col.get("distinct") == present > len(col.get("top") or {}):
        return f"{col.get('distinct', 0):,} distinct (an identifier)"
    if "distinct" in col:
        top = list(dict(col.get("top") or {}))[:3]
        return f"{col['distinct']:,} distinct" + (f": {', '.join(top)}, …" if top else "")
    return ""
