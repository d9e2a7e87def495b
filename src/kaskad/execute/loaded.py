"""What a plan names and an executor needs live: model adapters and feature functions.

Both executors resolve them here, once per executor, from the shared model cache and the
plan's feature-module sources; a failure names the step."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from kaskad.compile.plan import FeatureNode, ModelNode, Plan
from kaskad.errors import ExecutionError, KaskadError
from kaskad.features import PythonModule, resolve
from kaskad.models import ModelAdapter, ModelCache, default_cache


class Loaded:
    """Resolves a plan's models and Python features for one executor."""

    def __init__(self, plan: Plan, models: ModelCache | None = None) -> None:
        self.models = models or default_cache()
        self._modules: dict[str, PythonModule] = {m.sha256: m for m in plan.modules}

    def model(self, node: ModelNode) -> ModelAdapter:
        """The adapter that scores ``node``: the compiled kernel the plan names, when it
        passes the bit-identity gate here too; else the library's adapter (same bits)."""
        try:
            adapter = self.models.get(
                node.framework, node.artifact_sha256, Path(node.component.path)
            )
        except KaskadError as exc:
            raise ExecutionError(f"model {node.name}", str(exc)) from exc
        if node.kernel == "library":
            return adapter
        from kaskad.models.kernels import choose

        choice = choose(adapter)
        return choice.adapter if choice.kernel == node.kernel else adapter

    def feature(self, node: FeatureNode) -> Callable[..., Any]:
        assert node.func is not None
        try:
            return resolve(node.func, self._modules).func
        except Exception as exc:
            raise ExecutionError(f"feature {node.name}", f"{type(exc).__name__}: {exc}") from exc
