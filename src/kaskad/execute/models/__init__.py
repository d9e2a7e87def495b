"""Model adapters: load sklearn, LightGBM and ONNX artifacts behind one interface."""

from kaskad.execute.models.base import FRAMEWORKS, ModelAdapter, load_model

__all__ = ["FRAMEWORKS", "ModelAdapter", "load_model"]
