"""Reading the decision log back: its rows, rejected shapes for operators, one decision
for auditors.

- :func:`read_decisions`, :func:`read_shadow_decisions` and :func:`read_decision_plans`
  return the rows of the ``decisions``, ``shadow_decisions`` and ``decision_plans``
  tables as dicts (column name → value).

- :func:`rejection_shapes` groups rejections by pipeline, content type and body-shape
  fingerprint, newest first, with counts, first and last time seen and the problems of
  the latest one: an upstream system that starts sending XML instead of JSON, or renames
  a field, shows up as a new shape with a growing count.
- :func:`decision_detail` gathers everything kept about one decision: its row, the
  components (with content hashes) of the plan that made it, and its challengers' outputs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kaskad.errors import NotFoundError
from kaskad.store import _engine
from kaskad.store.tables import Base, DecisionPlanRow, DecisionRow, ShadowDecisionRow


def read_decisions(location: str, ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Rows of the log (all, or those with these ids) as dicts, oldest first."""
    return _read_rows(location, DecisionRow, ids)


def read_shadow_decisions(location: str, ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Rows of the ``shadow_decisions`` table (all, or those of these decision ids)."""
    return _read_rows(location, ShadowDecisionRow, ids)


def read_decision_plans(location: str) -> dict[str, dict[str, Any]]:
    """Rows of the ``decision_plans`` table by plan hash: the components (kind, name,
    source, sha256) behind the ``plan_hash`` of logged decisions."""
    return {row["plan_hash"]: row for row in _read_rows(location, DecisionPlanRow, None)}


@dataclass(frozen=True)
class RejectionShape:
    """Rejections that share a pipeline, a content type and a body-shape fingerprint."""

    pipeline: str
    content_type: str | None
    fingerprint: str | None
    count: int
    first_at: dt.datetime
    last_at: dt.datetime
    problems: list[dict[str, Any]]  # of the latest rejection of this shape

    def to_dict(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline,
            "content_type": self.content_type,
            "fingerprint": self.fingerprint,
            "count": self.count,
            "first_at": self.first_at.isoformat(),
            "last_at": self.last_at.isoformat(),
            "problems": self.problems,
        }


def rejection_shapes(
    location: str, pipeline: str | None = None, since: dt.datetime | None = None
) -> list[RejectionShape]:
    """Rejections grouped by shape, the most recently seen first."""
    with _engine.reading(location) as engine:
        row = DecisionRow
        query = (
            select(
                row.pipeline,
                row.content_type,
                row.fingerprint,
                func.count(),
                func.min(row.at),
                func.max(row.at),
            )
            .where(row.status == "rejected")
            .group_by(row.pipeline, row.content_type, row.fingerprint)
            .order_by(func.max(row.at).desc())
        )
        if pipeline is not None:
            query = query.where(row.pipeline == pipeline)
        if since is not None:
            query = query.where(row.at >= since)
        shapes = []
        with Session(engine) as session:
            for name, content_type, fingerprint, count, first, last in session.execute(query):
                latest = select(row.errors).where(
                    row.status == "rejected",
                    row.pipeline == name,
                    row.content_type.is_(None)
                    if content_type is None
                    else row.content_type == content_type,
                    row.fingerprint.is_(None)
                    if fingerprint is None
                    else row.fingerprint == fingerprint,
                )
                problems = session.scalars(latest.order_by(row.at.desc()).limit(1)).first()
                shapes.append(
                    RejectionShape(
                        name,
                        content_type,
                        fingerprint,
                        count,
                        _utc(first),
                        _utc(last),
                        list(problems or []),
                    )
                )
        return shapes


def decision_detail(location: str, decision_id: str) -> dict[str, Any]:
    """The decision's row, ``components`` of its plan and ``shadows`` (name → output);
    NotFoundError when the log has no such decision."""
    with _engine.reading(location) as engine, Session(engine) as session:
        found = session.get(DecisionRow, decision_id)
        if found is None:
            raise NotFoundError(f"the decision log has no decision {decision_id!r}")
        detail = _as_dict(found)
        plan = session.get(DecisionPlanRow, found.plan_hash)
        detail["components"] = plan.components if plan is not None else None
        shadows = session.scalars(
            select(ShadowDecisionRow).where(ShadowDecisionRow.decision_id == decision_id)
        )
        detail["shadows"] = {s.shadow: s.output for s in shadows}
    return detail


def _utc(value: dt.datetime) -> dt.datetime:
    """Aggregates bypass the column type: SQLite returns naive UTC (or text)."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _read_rows(
    location: str,
    table: type[DecisionRow] | type[ShadowDecisionRow] | type[DecisionPlanRow],
    ids: Iterable[str] | None,
) -> list[dict[str, Any]]:
    query = select(table).order_by(table.at)
    if ids is not None and table is not DecisionPlanRow:
        query = query.where(table.decision_id.in_(list(ids)))  # type: ignore[union-attr]
    with _engine.reading(location) as engine, Session(engine) as session:
        return [_as_dict(row) for row in session.scalars(query)]


def _as_dict(row: Base) -> dict[str, Any]:
    """A row as column name → value."""
    return {c.name: getattr(row, c.key) for c in row.__table__.columns}
