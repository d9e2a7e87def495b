"""``kaskad scorecard import``: a fitted scikit-learn logistic regression → scorecard YAML."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kaskad.cli.common import fail, out
from kaskad.cli.exitcodes import exit_code_for

scorecard_app = typer.Typer(
    help="Native scorecards: import from scikit-learn.", no_args_is_help=True
)


@scorecard_app.command("import")
def scorecard_import(
    model: Annotated[Path, typer.Argument(help="A joblib file: LogisticRegression or a Pipeline.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Scorecard YAML to write.")],
    name: Annotated[
        str | None, typer.Option(help="Scorecard name (default: the output file's stem).")
    ] = None,
    reasons: Annotated[int, typer.Option(help="Reason codes to give per record.")] = 4,
) -> None:
    """Write the scorecard of a fitted binary LogisticRegression (with KBinsDiscretizer,
    OneHotEncoder or ColumnTransformer preprocessing); its score equals predict_proba."""
    import joblib
    import yaml

    from kaskad.errors import KaskadError
    from kaskad.models.scorecard_import import scorecard_from_sklearn

    try:
        fitted = joblib.load(model)
    except Exception as exc:
        raise fail(f"K301 cannot load {model}: {type(exc).__name__}: {exc}") from exc
    try:
        data = scorecard_from_sklearn(fitted, name or output.stem, reasons)
    except KaskadError as exc:
        raise fail(str(exc), exit_code_for(exc)) from exc
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), "utf-8")
    count = len(data["characteristics"])
    out.print(f"wrote {output}: scorecard {data['scorecard']}, {count} characteristics")
