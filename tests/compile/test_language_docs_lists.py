"""The examples of docs/language.md's "Reference lists" and "Time zones" sections compile
as written: the list files, the pipeline declaration and every expression."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from kaskad import compile_pipeline

DOCS = Path(__file__).resolve().parents[2] / "docs" / "language.md"
SCHEMA = """\
schema: operation
fields:
  id: string
  client_since: date
  booked_at: {type: datetime, timezone: UTC}
  operation:
    type: object
    fields:
      ts: datetime
      country: string
      mcc: integer
  transactions:
    type: list
    items:
      type: object
      fields:
        ts: datetime
        country: string
        counterparty_id: string
"""


def section(title: str) -> str:
    return DOCS.read_text().split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


def expressions(text: str) -> list[str]:
    """Each expression of the sql blocks (one per line, or continued while a parenthesis
    is open), without its -- comment."""
    out: list[str] = []
    pending = ""
    for block in blocks(text, "sql"):
        for line in block.splitlines():
            code = line.split("--", 1)[0].strip()
            if not code:
                continue
            pending = f"{pending} {code}".strip()
            if pending.count("(") == pending.count(")"):
                out.append(pending)
                pending = ""
    assert pending == ""
    return out


def test_the_documented_lists_and_expressions_compile(tmp_path: Path) -> None:
    lists_text, zones_text = section("Reference lists"), section("Time zones")
    (tmp_path / "lists").mkdir()
    declared: dict[str, object] = {}
    for block in blocks(lists_text, "yaml"):
        first = block.splitlines()[0]
        if first.startswith("# lists/"):
            (tmp_path / first[2:].split(":")[0]).write_text(block)
        elif first.startswith("# pipeline.yaml"):
            declared = yaml.safe_load(block)["lists"]
    assert set(declared) == {"high_risk_countries", "gambling_mcc", "mcc_groups", "limits"}
    (tmp_path / "lists" / "high_risk_countries.csv").write_text("country,listed_by\nIR,FATF\n")
    (tmp_path / "lists" / "limits.csv").write_text("mcc,limit\n7995,100000\n")
    exprs = expressions(lists_text) + expressions(zones_text)
    assert len(exprs) >= 7
    (tmp_path / "schema.yaml").write_text(SCHEMA)
    features = "".join(
        f"  - name: f{i}\n    description: from the docs\n    expr: {json.dumps(e)}\n"
        for i, e in enumerate(exprs)
    )
    (tmp_path / "features.yaml").write_text(f"featureset: docs\nfeatures:\n{features}")
    pipeline = {
        "pipeline": "docs",
        "input": "schema.yaml",
        "timezone": "Europe/Moscow",
        "lists": declared,
        "steps": [{"features": "features.yaml"}],
        "decision": [{"otherwise": "ok"}],
    }
    (tmp_path / "pipeline.yaml").write_text(yaml.safe_dump(pipeline, sort_keys=False))
    plan = compile_pipeline(tmp_path / "pipeline.yaml")
    assert {c.name for c in plan.components if c.kind == "list"} == set(declared)
