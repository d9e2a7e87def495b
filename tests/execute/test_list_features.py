"""Python features over list fields: the example of docs/pipelines.md, run by both executors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from kaskad import BatchExecutor, RecordExecutor, compile_pipeline
from tests.conftest import frame_of

DOCS = Path(__file__).resolve().parents[2] / "docs" / "pipelines.md"
SCHEMA = """\
schema: payments
fields:
  id: {type: string, required: true, key: true}
  operation_ts: datetime
  transactions:
    type: list
    items:
      type: object
      fields:
        ts: datetime
        payee: string
"""


def _docs_example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), re.S)
    example = next(b for b in blocks if "def payees_last_hour" in b)
    return "import numpy as np\nfrom kaskad import feature\n" + example


def test_the_documented_list_feature_gives_the_same_values_in_both_executors(
    tmp_path: Path,
) -> None:
    (tmp_path / "schema.yaml").write_text(SCHEMA)
    (tmp_path / "velocity.py").write_text(_docs_example())
    (tmp_path / "pipeline.yaml").write_text(
        "pipeline: payments\ninput: schema.yaml\nsteps:\n  - features: velocity.py\n"
        "decision:\n  - when: payees_last_hour > 1\n    outcome: review\n  - otherwise: ok\n"
    )
    plan = compile_pipeline(tmp_path / "pipeline.yaml")
    txs = [
        {"ts": "2025-03-02T09:00:00", "payee": "A"},  # exactly one hour before: counted
        {"ts": "2025-03-02T08:59:59", "payee": "B"},  # one hour and a second: not counted
        {"ts": "2025-03-02T09:30:00", "payee": "C"},
        {"ts": None, "payee": "D"},
    ]
    recs: list[dict[str, Any]] = [
        {"id": "1", "operation_ts": "2025-03-02T10:00:00", "transactions": txs},
        {"id": "2", "operation_ts": "2025-03-02T10:00:00", "transactions": []},
        {"id": "3", "operation_ts": "2025-03-02T10:00:00"},
        {"id": "4", "transactions": txs},
    ]
    batch = BatchExecutor(plan).run(frame_of(recs, plan.schema)).to_dicts()
    one = [RecordExecutor(plan).decide(r).output for r in recs]
    assert batch == one
    assert [r["payees_last_hour"] for r in one] == [2, 0, None, None]
    assert [r["decision"] for r in one] == ["review", "ok", "ok", "ok"]
