"""Registered model references in a pipeline: ``registered: fraud@2`` or
``registered: fraud@production`` in place of an artifact file.

The compiler knows no store: a :class:`ModelResolver` (kaskad.registry.references gives
one over a store) turns each reference into the registered version's artifact file, its
framework and its version number. :func:`resolve_models` runs between reading the spec
and compiling it, so that the compiler sees ordinary artifact files; a reference that
does not resolve is a problem (K307) and the step counts as failed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from kaskad.errors import KaskadError, Problem
from kaskad.spec.pipeline import ModelSpec, PipelineSpec

__all__ = ["REGISTRY_PREFIX", "ModelResolver", "ResolvedModel", "resolve_models"]

# how a registered model's artifact is shown (its component's source): "registry fraud@2"
REGISTRY_PREFIX = "registry "


@dataclass(frozen=True)
class ResolvedModel:
    """A registered model version: ``fraud@2``, its artifact file (verified against
    ``artifact_sha256``) and its framework."""

    name: str
    version: int
    framework: str
    artifact_sha256: str
    path: Path

    @property
    def pinned(self) -> str:
        return f"{self.name}@{self.version}"


class ModelResolver(Protocol):
    def resolve(self, reference: str) -> ResolvedModel:
        """The version ``reference`` names; raise :class:`KaskadError` saying why not."""
        ...


def resolve_models(
    spec: PipelineSpec, resolver: ModelResolver | None, problems: list[Problem]
) -> PipelineSpec:
    """The spec with every registered model (steps and shadow challengers) pointing at
    its resolved artifact; unresolved ones are reported (K307) and left out as failed."""
    failed: list[str] = []

    def one(m: ModelSpec) -> ModelSpec | None:
        if not m.registered:
            return m
        try:
            if resolver is None:
                raise KaskadError("no store to resolve it in: give --store (or KASKAD_STORE)")
            got = resolver.resolve(m.registered)
        except KaskadError as exc:
            problems.append(Problem("K307", f"registered model {m.registered}: {exc}", m.location))
            failed.extend([m.name, *(o for o, _ in m.outputs)])
            return None
        if m.framework and m.framework != got.framework:
            problems.append(
                Problem(
                    "K307",
                    f"registered model {got.pinned} is {got.framework}, not {m.framework}",
                    m.location,
                    "leave 'framework' out: the registry knows it",
                )
            )
        return dataclasses.replace(
            m,
            artifact=got.path,
            artifact_display=f"{REGISTRY_PREFIX}{got.pinned}",
            framework=got.framework,
            registered=got.pinned,
        )

    if not any(m.registered for m in spec.models) and not any(
        s.model is not None and s.model.registered for s in spec.shadows
    ):
        return spec
    models = tuple(r for r in (one(m) for m in spec.models) if r is not None)
    shadows = []
    for s in spec.shadows:
        if s.model is None:
            shadows.append(s)
            continue
        resolved = one(s.model)
        if resolved is not None:
            shadows.append(dataclasses.replace(s, model=resolved))
    return dataclasses.replace(
        spec, models=models, shadows=tuple(shadows), failed=(*spec.failed, *failed)
    )
