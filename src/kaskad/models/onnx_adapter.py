"""Adapter for ONNX models run with onnxruntime on the CPU.

The model takes one float (or double) tensor of shape [N, k]. A classifier must
expose its probabilities as an [N, C] tensor whose name contains ``prob`` (for
skl2onnx: convert with ``options={"zipmap": False}``); a regressor exposes one
[N] or [N, 1] tensor. Sessions run on one thread: onnxruntime splits tree
ensembles across threads and merges partial sums in no fixed order, which would
make results differ between runs and between batch and single-row calls.

A graph is row-wise exact only if every operator in it is on :data:`ROW_WISE_OPS`
(element-wise arithmetic, imputers and scalers, tree ensembles, which add one tree after
another per row). Matrix products (MatMul, Gemm, linear classifiers) and anything else are
not known to be: a pipeline using such a graph declares a tolerance on its outputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from kaskad.errors import ModelLoadError
from kaskad.models.base import ArrayModelAdapter, FloatArray, Task

_FLOAT_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64}

# Operators computed row by row in an order that does not depend on the batch.
ROW_WISE_OPS = frozenset(
    {
        "TreeEnsembleClassifier",
        "TreeEnsembleRegressor",
        "TreeEnsemble",
        "Imputer",
        "Scaler",
        "Binarizer",
        "Normalizer",
        "Cast",
        "CastLike",
        "Identity",
        "Constant",
        "Shape",
        "Reshape",
        "Flatten",
        "Squeeze",
        "Unsqueeze",
        "Concat",
        "Slice",
        "Gather",
        "ArgMax",
        "Add",
        "Sub",
        "Mul",
        "Div",
        "Neg",
        "Abs",
        "Sigmoid",
        "Exp",
        "Log",
        "Clip",
        "Where",
        "Less",
        "Greater",
        "Equal",
        "Not",
        "And",
        "Or",
        "IsNaN",
        "LabelEncoder",
    }
)


class OnnxAdapter(ArrayModelAdapter):
    """An onnxruntime session over a single-input tabular model."""

    framework = "onnx"

    def __init__(self, data: bytes, path: Path) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        try:
            session = ort.InferenceSession(
                data, sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:
            raise ModelLoadError(path, f"cannot read ONNX model: {exc}") from exc
        inputs = session.get_inputs()
        if len(inputs) != 1:
            names = ", ".join(i.name for i in inputs)
            raise ModelLoadError(
                path, f"expects one input tensor, the model has {len(inputs)}: {names}"
            )
        feed = inputs[0]
        dtype = _FLOAT_TYPES.get(feed.type)
        if dtype is None or len(feed.shape) != 2:
            raise ModelLoadError(
                path,
                f"input {feed.name!r} is {feed.type} of shape {feed.shape}; "
                "expected a float tensor of shape [N, k]",
            )
        width = feed.shape[1]
        output, task, n_classes = _pick_output(session.get_outputs(), path)
        super().__init__(path, task, n_classes, None, width if isinstance(width, int) else None)
        self._session = session
        self._input = feed.name
        self._outputs = [output]
        self._dtype = dtype
        self._positive = task == "binary"
        other = _not_row_wise(data, path)
        if other:
            self.exact = False
            self.inexact_reason = f"the graph uses {', '.join(other)}"

    def _raw(self, x: FloatArray, single: bool) -> npt.NDArray[Any]:
        feed = x.astype(self._dtype, order="C")
        out = np.asarray(self._session.run(self._outputs, {self._input: feed})[0])
        return out[:, 1] if self._positive else out


def _not_row_wise(data: bytes, path: Path) -> list[str]:
    """The graph's operators not known to be row-wise exact."""
    try:
        import onnx
    except ImportError:  # onnx (the format library) is optional: assume the worst
        return ["operators kaskad cannot inspect (install onnx)"]
    try:
        model = onnx.load_model_from_string(data)
    except Exception as exc:
        raise ModelLoadError(path, f"cannot read ONNX graph: {exc}") from exc
    ops = {node.op_type for node in model.graph.node}
    return sorted(ops - ROW_WISE_OPS)


def _pick_output(outputs: list[Any], path: Path) -> tuple[str, Task, int]:
    """Name of the output to read, the task it implies and its class count."""
    listing = ", ".join(f"{o.name}: {o.type} {o.shape}" for o in outputs)
    for o in outputs:
        if not o.type.startswith("tensor("):
            raise ModelLoadError(
                path,
                f"output {o.name!r} is {o.type} (a ZipMap, list of dicts); export "
                "probabilities as a tensor (skl2onnx: options={'zipmap': False})",
            )
    tensors = [o for o in outputs if o.type in _FLOAT_TYPES]
    probs = [o for o in tensors if "prob" in o.name.lower()]
    if len(probs) == 1:
        shape = probs[0].shape
        if len(shape) != 2 or not isinstance(shape[1], int) or shape[1] < 2:
            raise ModelLoadError(
                path,
                f"probability output {probs[0].name!r} has shape {shape}; "
                "expected [N, C] with a fixed number of classes C >= 2",
            )
        task: Task = "binary" if shape[1] == 2 else "multiclass"
        return probs[0].name, task, shape[1]
    if not probs and len(tensors) == 1:
        shape = tensors[0].shape
        if len(shape) == 1 or (len(shape) == 2 and shape[1] == 1):
            return tensors[0].name, "regression", 0
    raise ModelLoadError(
        path,
        "cannot tell which output holds the prediction; expected one [N, C] "
        f"tensor named '*prob*' or one [N] / [N, 1] float tensor; outputs: {listing}",
    )
