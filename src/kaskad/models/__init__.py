"""Models: sklearn, LightGBM and ONNX artifacts behind one adapter interface, and the one
model cache the compiler and both executors share."""

from kaskad.models.base import ModelAdapter, load_bytes, load_model
from kaskad.models.cache import ModelCache, default_cache
from kaskad.spec.types import FRAMEWORKS, Framework

__all__ = [
    "FRAMEWORKS",
    "Framework",
    "ModelAdapter",
    "ModelCache",
    "default_cache",
    "load_bytes",
    "load_model",
]
