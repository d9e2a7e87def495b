"""The reference frozen per release: what monitoring compares live traffic with.

A reference holds, for every series of :mod:`kaskad.monitor.profile` (input fields,
features, scores, rule outcomes, decisions, reasons), its bins and counts, plus the
content-type and shape mix when it was taken from served traffic. It is computed from
rows shaped like the decision log's (masked input, result), taken from

- the release's golden cases (``kaskad release create --golden``: frozen at once);
- a reference file the user names (a training or backtest sample), run through the
  release's plan with the batch executor (``kaskad monitor reference REF --data FILE``);
- a window of the decision log (``--from-log``: e.g. the first week a release served).

It is kept in the store's ``release_references`` table, one per release.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kaskad.compile.plan import Plan
from kaskad.errors import InputError
from kaskad.execute.batch import BatchExecutor
from kaskad.execute.convert import json_value
from kaskad.execute.masking import mask
from kaskad.io.files import read_input
from kaskad.monitor.profile import Row, freeze, media_type, tally
from kaskad.registry import golden
from kaskad.store.monitoring import load_reference, save_reference
from kaskad.store.store import Store

FORMAT = "kaskad.monitor.reference/1"
MAX_REFERENCE_ROWS = 200_000


def reference_of(rows: Sequence[Row], source: str) -> dict[str, Any]:
    """A reference from decision-log-shaped rows (``status``, ``input``, ``output`` and,
    when served, ``content_type`` and ``fingerprint``)."""
    served = [r for r in rows if r.get("content_type") is not None]
    return {
        "format": FORMAT,
        "source": source,
        "at": dt.datetime.now(dt.UTC).isoformat(),
        "records": len(rows),
        "decided": sum(1 for r in rows if r.get("status") == "decided"),
        "series": freeze(rows),
        "content_types": _media(served),
        "shapes": tally(served, "fingerprint"),
    }


def _media(rows: Sequence[Row]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in rows:
        key = media_type(r.get("content_type"))
        out[key] = out.get(key, 0) + 1
    return out


def rows_of_cases(plan: Plan, cases: Sequence[golden.Case]) -> list[dict[str, Any]]:
    """Golden cases as log rows (their recorded outputs; nothing is executed)."""
    return [
        {
            "status": c["output"].get("status"),
            "input": mask(c["input"], plan.schema),
            "output": c["output"],
        }
        for c in cases
    ]


def rows_of_file(plan: Plan, path: Path, limit: int = MAX_REFERENCE_ROWS) -> list[dict[str, Any]]:
    """The first ``limit`` records of a CSV, Parquet or JSON Lines file, decided by the
    plan (batch executor) and shaped as log rows."""
    frame = read_input(path, plan.schema).head(limit)
    if frame.height == 0:
        raise InputError(f"{path}: no records to build a monitoring reference from")
    inputs = [json_value(r) for r in frame.to_dicts()]
    outputs = [json_value(r) for r in BatchExecutor(plan).run(frame).to_dicts()]
    return [
        {"status": out.get("status"), "input": mask(record, plan.schema), "output": out}
        for record, out in zip(inputs, outputs, strict=True)
    ]


def freeze_golden(
    store: Store, location: str, release_ref: str, plan: Plan
) -> dict[str, Any] | None:
    """Freeze the reference of a release from its golden cases (None: it has none);
    ``location`` is the store's (folder or URL)."""
    release = store.resolve(release_ref)
    if not release.golden_sha256:
        return None
    cases = golden.from_jsonl(
        store.artifacts.get_bytes(release.golden_sha256, name=f"{release.ref}: golden cases")
    )
    reference = reference_of(rows_of_cases(plan, cases), f"golden cases of {release.ref}")
    save_reference(location, release.pipeline, release.number, reference["source"], reference)
    return reference


def freeze_rows(
    store: Store, location: str, release_ref: str, rows: Sequence[Row], source: str
) -> dict[str, Any]:
    """Freeze the reference of a release from rows (a file's, or a log window's)."""
    release = store.resolve(release_ref)
    if not rows:
        raise InputError(f"{source}: no records to build a monitoring reference from")
    reference = reference_of(rows, source)
    save_reference(location, release.pipeline, release.number, source, reference)
    return reference


def reference_for(location: str, release: str | None) -> dict[str, Any] | None:
    """The reference frozen for ``release`` (``NAME@N`` as the log records it), if any."""
    if release is None or "@" not in release:
        return None
    name, _, number = release.rpartition("@")
    if not number.isdigit():
        return None
    from kaskad.errors import NotFoundError

    try:
        return load_reference(location, name, int(number))[1]
    except NotFoundError:
        return None
