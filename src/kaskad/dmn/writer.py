"""Writing imported tables as ``tables/NAME.yaml`` files in kaskad's table format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from kaskad.dmn.errors import DmnImportError, problem
from kaskad.dmn.model import DmnModel, Table


class _Flow(list[Any]):
    """A list written on one line: ``values: [high, medium, low]``."""


class _Row(list[Any]):
    """A ``when``/``then`` list: on one line, its texts in double quotes, as the table
    format shows them (``when: ["< 21", "-"]``, ``then: ["'high'", 0]``)."""


class _Dumper(yaml.SafeDumper):
    pass


def _flow(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)


def _row(dumper: yaml.SafeDumper, data: _Row) -> yaml.Node:
    items = [
        yaml.ScalarNode("tag:yaml.org,2002:str", item, style='"')
        if isinstance(item, str)
        else dumper.represent_data(item)
        for item in data
    ]
    return yaml.SequenceNode("tag:yaml.org,2002:seq", items, flow_style=True)


_Dumper.add_representer(_Flow, _flow)
_Dumper.add_representer(_Row, _row)


def table_yaml(model: DmnModel, table: Table) -> str:
    """The YAML text of one imported table, with a comment naming where it came from."""
    data = table.to_data()
    for rule in data["rules"]:  # type: ignore[attr-defined]
        rule["when"] = _Row(rule["when"])
        rule["then"] = _Row(rule["then"])
    for output in data["outputs"]:  # type: ignore[attr-defined]
        if "values" in output:
            output["values"] = _Flow(output["values"])
    source = Path(model.file).name
    tool = f", {model.exporter}" if model.exporter else ""
    decision = table.decision_name or table.decision_id
    header = [
        f"# Imported by kaskad import-dmn from {source} (DMN {model.version}{tool}),",
        f"# decision '{decision}' (id {table.decision_id}, line {table.line}).",
    ]
    for borrowed in table.borrowed:
        header.append(
            f"# Input '{borrowed.input}' reads {borrowed.field}, the result of decision "
            f"'{borrowed.decision}'."
        )
    for feel_name, field in table.renamed:
        header.append(f"# The FEEL name '{feel_name}' is read as the field {field}.")
    body = yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=100,
        default_flow_style=False,
    )
    return "\n".join(header) + "\n" + body


def target(output_dir: Path, table: Table) -> Path:
    return output_dir / "tables" / f"{table.name}.yaml"


def write_tables(model: DmnModel, output_dir: Path, force: bool = False) -> list[Path]:
    """Write every table of ``model`` as ``OUTPUT_DIR/tables/NAME.yaml``; nothing is written
    when one of those files exists and ``force`` is not given (K248)."""
    paths = [target(output_dir, table) for table in model.tables]
    existing = [p for p in paths if p.exists()]
    if existing and not force:
        raise DmnImportError(
            [
                problem(
                    "K248",
                    "would overwrite an existing file; nothing was written",
                    str(p),
                    None,
                    "give --force to replace it",
                )
                for p in existing
            ]
        )
    for path, table in zip(paths, model.tables, strict=True):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(table_yaml(model, table), encoding="utf-8")
    return paths
