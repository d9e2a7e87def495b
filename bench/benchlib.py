"""Shared helpers of the benchmarks: paths, the machine, model stand-ins, statistics.

Imported by the benchmark scripts in this folder (run as ``python bench/NAME.py``, which
puts this folder on ``sys.path``).
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import joblib
import lightgbm
import numpy as np
import numpy.typing as npt
import onnxruntime as ort
import polars as pl

from kaskad.compile.plan import Plan
from kaskad.execute.loaded import Loaded
from kaskad.models import ModelAdapter, ModelCache, default_cache, load_model
from kaskad.models.kernels import KernelAdapter, choose

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "credit"
PIPELINE = EXAMPLE / "pipeline.yaml"
APPLICATIONS = EXAMPLE / "data" / "applications.jsonl"
MODELS = EXAMPLE / "models"
RESULTS = Path(__file__).resolve().parent / "results"

# Model inputs, in the order pipeline.yaml declares them.
FRAUD_INPUTS = ("amount", "applicant.device_age_days", "debt_to_income", "is_online")
CREDIT_INPUTS = ("applicant.income", "term_months", "num_overdue", "fraud_score", "debt_to_income")
# What a stand-in model returns when model calls are excluded (both sides use it).
STUB_SCORE = 0.1
# scikit-learn warns on every call when an estimator fitted on a data frame gets an array.
SKLEARN_NAMES_WARNING = "X does not have valid feature names"

FloatArray = npt.NDArray[np.float64]


def require_example() -> None:
    """Exit with a hint unless the credit example's data and models are built."""
    needed = [
        APPLICATIONS,
        MODELS / "fraud.txt",
        MODELS / "credit_pd.joblib",
        MODELS / "credit_pd_v2.onnx",
    ]
    if missing := [p for p in needed if not p.exists()]:
        names = ", ".join(str(p.relative_to(ROOT)) for p in missing)
        sys.exit(
            f"missing {names}; build the example first: .venv/bin/python examples/credit/build.py"
        )


# ---- the machine ------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024**2
    except OSError:
        pass
    return None


def machine_lines() -> list[str]:
    """CPU, cores, memory, OS and library versions, one item per line."""
    memory = _memory_gb()
    packages = ("polars", "numpy", "lightgbm", "scikit-learn", "onnxruntime", "kaskad")
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return [
        f"cpu: {_cpu_model()}, {os.cpu_count()} logical cores",
        f"memory: {memory:.1f} GiB" if memory is not None else "memory: unknown",
        f"os: {platform.platform()}",
        f"python: {platform.python_version()} ({platform.python_implementation()})",
        "versions: " + ", ".join(f"{p} {version(p)}" for p in packages),
        f"polars threads: {pl.thread_pool_size()}",
        "load average (1/5/15 min): "
        + (" / ".join(f"{x:.2f}" for x in load) if load else "unknown"),
    ]


def print_header(title: str) -> None:
    print(title)
    print("=" * len(title))
    for line in machine_lines():
        print(f"  {line}")
    print()


# ---- models as the hand-written baselines load them ------------------------------------


@dataclass(frozen=True)
class Models:
    """The example's three artifacts, loaded with their own libraries."""

    fraud: Any  # lightgbm.Booster
    credit_pd: Any  # fitted sklearn Pipeline
    credit_pd_v2: ort.InferenceSession
    v2_input: str
    v2_output: str


def load_models() -> Models:
    """Load the artifacts directly. The ONNX session gets the options kaskad uses (one
    thread, sequential), without which its scores are not reproducible run to run."""
    warnings.filterwarnings("ignore", message=SKLEARN_NAMES_WARNING, category=UserWarning)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(
        str(MODELS / "credit_pd_v2.onnx"), sess_options=options, providers=["CPUExecutionProvider"]
    )
    probabilities = next(o.name for o in session.get_outputs() if "prob" in o.name)
    return Models(
        fraud=lightgbm.Booster(model_file=str(MODELS / "fraud.txt")),
        credit_pd=joblib.load(MODELS / "credit_pd.joblib"),
        credit_pd_v2=session,
        v2_input=session.get_inputs()[0].name,
        v2_output=probabilities,
    )


# ---- kaskad plans with stand-in or timed models ----------------------------------------


class ConstantAdapter(ModelAdapter):
    """A model that returns the same score for every row, at no cost."""

    framework = "stub"

    def __init__(self, path: Path, score: float = STUB_SCORE) -> None:
        self.path = path
        self.input_names = None
        self.n_inputs = None
        self.output_names = ("score",)
        self._score = score

    def predict_batch(self, x: FloatArray) -> dict[str, FloatArray]:
        return {"score": np.full(x.shape[0], self._score)}

    def predict_one(self, row: list[float]) -> dict[str, float]:
        return {"score": self._score}


class TimedAdapter(ModelAdapter):
    """Wraps an adapter and adds the time spent in it to ``nanoseconds``."""

    def __init__(self, inner: ModelAdapter) -> None:
        self.inner = inner
        self.framework = inner.framework
        self.path = inner.path
        self.input_names = inner.input_names
        self.n_inputs = inner.n_inputs
        self.output_names = inner.output_names
        self.nanoseconds = 0
        self.calls = 0

    def predict_batch(self, x: FloatArray) -> dict[str, FloatArray]:
        start = time.perf_counter_ns()
        try:
            return self.inner.predict_batch(x)
        finally:
            self.nanoseconds += time.perf_counter_ns() - start
            self.calls += 1

    def predict_one(self, row: list[float]) -> dict[str, float]:
        start = time.perf_counter_ns()
        try:
            return self.inner.predict_one(row)
        finally:
            self.nanoseconds += time.perf_counter_ns() - start
            self.calls += 1


class SwappedModels(ModelCache):
    """A model cache that hands executors a stand-in (or a wrapper) for every model."""

    def __init__(self, make: Callable[[ModelAdapter], ModelAdapter]) -> None:
        super().__init__()
        self._make = make
        self._made: dict[tuple[str, str], ModelAdapter] = {}

    def get(self, framework: str, sha256: str, path: Path | str) -> ModelAdapter:
        key = (framework, sha256)
        if key not in self._made:
            self._made[key] = self._make(default_cache().get(framework, sha256, path))
        return self._made[key]


def kernel_function(
    path: Path, framework: str, compiled: bool = False
) -> Callable[[list[float]], float] | None:
    """kaskad's per-record kernel of a model, called directly (the score of a binary
    model, the prediction of a regressor): the one made at load, or with ``compiled`` the
    trees as machine code (waiting for the compile); None when the model has none."""
    choice = choose(load_model(path, framework))
    if not isinstance(choice.adapter, KernelAdapter):
        return None
    record = choice.adapter.record
    native = choice.adapter.native
    if compiled and native is not None and native.wait() is not None:
        record = native.record() or record

    def score(row: list[float]) -> float:
        return record(row)[0]

    return score


def kernel_batch(path: Path, framework: str) -> Callable[[FloatArray], FloatArray] | None:
    """kaskad's compiled batch kernel of a model (the first output column), called
    directly: the trees as machine code (waiting for the compile), else the NumPy walk;
    None when the model has none."""
    choice = choose(load_model(path, framework))
    if not isinstance(choice.adapter, KernelAdapter) or choice.adapter.batch is None:
        return None
    native = choice.adapter.native
    batch = (native.wait() if native is not None else None) or choice.adapter.batch

    def score(x: FloatArray) -> FloatArray:
        return batch(x)[:, 0]

    return score


def compile_models(plan: Plan) -> list[str]:
    """Compile the trees of every model of ``plan`` (challengers included) to machine
    code and wait: the state of a process that has scored 1,500,000 rows with them. The
    executors made from ``plan`` afterwards (the process's model cache) use them. Returns
    a line for each model that stays uncompiled, with the reason."""
    loaded = Loaded(plan)
    left = []
    for node in plan.model_nodes():
        adapter = loaded.model(node)
        native = adapter.native if isinstance(adapter, KernelAdapter) else None
        if native is None or native.wait() is None:
            why = native.reason if native is not None else f"no compiled kernel ({node.kernel})"
            left.append(f"{node.name}: {why}")
    return left


def without_models() -> ModelCache:
    """Models for an executor: every model (shadows included) a constant score."""
    return SwappedModels(lambda a: ConstantAdapter(a.path))


def with_timed_models() -> tuple[ModelCache, list[TimedAdapter]]:
    """Models for an executor: every model wrapped in a :class:`TimedAdapter`; and the
    wrappers."""
    timers: list[TimedAdapter] = []

    def wrap(adapter: ModelAdapter) -> ModelAdapter:
        # what kaskad scores with: the compiled kernel where the plan uses one
        timers.append(TimedAdapter(choose(adapter).adapter))
        return timers[-1]

    return SwappedModels(wrap), timers


# ---- statistics --------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of already sorted values, by linear interpolation."""
    if not sorted_values:
        raise ValueError("no values")
    pos = (len(sorted_values) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (pos - low)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def spread(values: Sequence[float]) -> str:
    """``min–max`` of a few measurements, for showing how noisy the runs were."""
    return f"{min(values):,.0f}–{max(values):,.0f}"
