"""Model versions in the registry. Private to :mod:`kaskad.store`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kaskad.errors import ArtifactMissingError, NotFoundError
from kaskad.store._audit import write_audit
from kaskad.store._base import StoreBase, now
from kaskad.store._names import check_name, check_stage, listing, unknown_name
from kaskad.store._records import model_record, to_json
from kaskad.store.api import ModelVersion
from kaskad.store.artifacts import check_sha256
from kaskad.store.refs import ReleaseSelector
from kaskad.store.tables import ModelStageRow, ModelVersionRow


class ModelMethods(StoreBase):
    """Registering, reading and listing model versions."""

    def add_model_version(
        self,
        *,
        name: str,
        framework: str,
        artifact_sha256: str,
        description: str,
        metrics: dict[str, Any],
        environment: dict[str, Any],
        inputs: list[dict[str, Any]],
        outputs: list[str],
        sample: list[dict[str, Any]],
        training_data: dict[str, Any] | None,
        actor: str,
    ) -> ModelVersion:
        """Register the next version of model ``name`` (1 for a new name).

        The artifact must already be in :attr:`artifacts`.
        """
        check_name(name, "model name")
        digest = check_sha256(artifact_sha256)
        if not self.artifacts.exists(digest):
            raise ArtifactMissingError(f"model {name}", digest, repr(self.artifacts))
        values = {
            "metrics": to_json(metrics, "metrics"),
            "environment": to_json(environment, "environment"),
            "inputs": to_json(inputs, "inputs"),
            "outputs": to_json(outputs, "outputs"),
            "sample": to_json(sample, "sample"),
            "training_data": to_json(training_data, "training_data"),
        }

        def change(session: Session) -> ModelVersion:
            latest = session.scalar(
                select(func.max(ModelVersionRow.version)).where(ModelVersionRow.name == name)
            )
            row = ModelVersionRow(
                name=name,
                version=(latest or 0) + 1,
                framework=framework,
                artifact_sha256=digest,
                description=description,
                created_at=now(),
                created_by=actor,
                **values,
            )
            session.add(row)
            session.flush()
            after = {"version": row.version, "framework": framework, "artifact_sha256": digest}
            write_audit(
                session, actor, "model.register", f"model:{name}@{row.version}", None, after
            )
            return model_record(row)

        return self._write(f"registering model {name}", change)

    def get_model(self, name: str, version: int | None = None) -> ModelVersion:
        """Version ``version`` of model ``name``, or its latest version when ``None``."""
        with self._read(f"reading model {name}") as session:
            query = select(ModelVersionRow).where(ModelVersionRow.name == name)
            if version is None:
                query = query.order_by(ModelVersionRow.version.desc()).limit(1)
            else:
                query = query.where(ModelVersionRow.version == version)
            row = session.scalar(query)
            if row is not None:
                return model_record(row)
            versions = list(
                session.scalars(
                    select(ModelVersionRow.version)
                    .where(ModelVersionRow.name == name)
                    .order_by(ModelVersionRow.version)
                )
            )
            if versions:
                raise NotFoundError(
                    f"model {name} has no version {version}; versions: {listing(versions)}"
                )
            names = list(
                session.scalars(
                    select(ModelVersionRow.name).distinct().order_by(ModelVersionRow.name)
                )
            )
            raise NotFoundError(unknown_name(f"no model named {name} is registered", name, names))

    def list_models(self, name: str | None = None) -> list[ModelVersion]:
        """Every model version (of ``name`` only, when given), by name then version."""
        query = select(ModelVersionRow).order_by(ModelVersionRow.name, ModelVersionRow.version)
        if name is not None:
            query = query.where(ModelVersionRow.name == name)
        with self._read("listing models") as session:
            return [model_record(row) for row in session.scalars(query)]

    def set_model_stage(self, name: str, stage: str, version: int, actor: str) -> ModelVersion:
        """Point ``stage`` of model ``name`` at ``version`` (``fraud@production``)."""
        check_stage(stage)
        model = self.get_model(name, version)  # raises NotFoundError for an unknown version

        def change(session: Session) -> ModelVersion:
            row = session.get(ModelStageRow, (name, stage), with_for_update=True)
            before = None if row is None else {"version": row.version}
            if row is None:
                row = ModelStageRow(name=name, stage=stage)
                session.add(row)
            row.version, row.updated_at, row.updated_by = version, now(), actor
            after = {"version": version, "stage": stage}
            write_audit(session, actor, "model.promote", f"model:{name}@{stage}", before, after)
            return model

        return self._write(f"moving {stage} of model {name} to version {version}", change)

    def model_stages(self, name: str) -> dict[str, int]:
        """Where each stage of model ``name`` points: ``{"production": 2}``."""
        query = (
            select(ModelStageRow.stage, ModelStageRow.version)
            .where(ModelStageRow.name == name)
            .order_by(ModelStageRow.stage)
        )
        with self._read(f"reading the stages of model {name}") as session:
            return {stage: version for stage, version in session.execute(query)}

    def resolve_model(self, ref: str) -> ModelVersion:
        """The model version ``fraud@2``, ``fraud@latest`` or ``fraud@production`` names."""
        selector = ReleaseSelector.parse(ref)
        if selector.number is not None:
            return self.get_model(selector.name, selector.number)
        if selector.is_latest:
            return self.get_model(selector.name)
        stages = self.model_stages(selector.name)
        if selector.selector not in stages:
            self.get_model(selector.name)  # an unknown name says so, with did-you-mean
            raise NotFoundError(
                unknown_name(
                    f"stage {selector.selector} of model {selector.name} points at no version",
                    selector.selector,
                    list(stages),
                    "stages",
                )
            )
        return self.get_model(selector.name, stages[selector.selector])
