"""The trees compiled to machine code (``kaskad.models.kernels.native``) for large
batches: used only after the gate found the library's bits, compiled once per model
content, safe to call from several threads, and replaced by the library, with the
reason, wherever they cannot be used. Their bits on random models of every family are
checked in ``test_kernels_trees.py`` (``assert_identical``)."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import joblib
import lightgbm as lgb
import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingClassifier, RandomForestRegressor

import kaskad.models.kernels as kernels
from kaskad.models.base import ModelAdapter, load_bytes
from kaskad.models.kernels import TREES, KernelAdapter, choose, ensemble_of, native
from kaskad.models.kernels.adapter import LIBRARY_FROM_ROWS
from kaskad.models.kernels.native import ir_text

WIDTH = 4


def _bits(values: Any) -> Any:
    return np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)


def _data(seed: int, rows: int = 2_000) -> tuple[Any, Any]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, WIDTH)) * [1.0, 10.0, 1e4, 1.0]
    x[:, 3] = rng.integers(0, 9, size=rows)
    y = x[:, 0] + (x[:, 3] % 2) + rng.normal(size=rows)
    x[rng.random(x.shape) < 0.1] = np.nan
    return x, y


def _sklearn(model: Any, name: str = "m.joblib") -> ModelAdapter:
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    return load_bytes(buffer.getvalue(), "sklearn", Path(name))


def _lightgbm(seed: int) -> ModelAdapter:
    x, y = _data(seed)
    booster = lgb.train(
        {"objective": "binary", "num_leaves": 15, "verbose": -1, "seed": seed},
        lgb.Dataset(x, (y > 0).astype(int), categorical_feature=[3]),
        num_boost_round=20,
    )
    return load_bytes(booster.model_to_string().encode(), "lightgbm", Path("m.txt"))


def _kernel(adapter: ModelAdapter) -> KernelAdapter:
    choice = choose(adapter)
    assert choice.kernel == TREES, choice.reason
    assert isinstance(choice.adapter, KernelAdapter)
    return choice.adapter


def _same_as_library(kernel: KernelAdapter, library: ModelAdapter, x: Any) -> None:
    want, got = library.predict_batch(x), kernel.predict_batch(x)
    assert set(got) == set(want)
    for name in want:
        assert (_bits(got[name]) == _bits(want[name])).all(), name


def test_a_large_batch_is_scored_by_the_compiled_trees_with_the_library_s_bits() -> None:
    adapter = _lightgbm(1)
    kernel = _kernel(adapter)
    slot = kernel.native
    assert slot is not None
    x, _ = _data(2, rows=5_000)
    edges = [-1.0, 0.5, 8.999, 1e300, np.inf, -np.inf, 2.0**31]
    x[: 7 * 50, 3] = np.tile(edges, 50)  # the categorical column's edges
    assert slot.wait() is not None and slot.reason == ""
    _same_as_library(kernel, adapter, x)
    # a small batch keeps the NumPy walk; the compiled trees agree with it too
    _same_as_library(kernel, adapter, x[: LIBRARY_FROM_ROWS - 1])


def _same_one_by_one(kernel: KernelAdapter, library: ModelAdapter, x: Any) -> None:
    want = library.predict_batch(x)
    for i, row in enumerate(x.tolist()):
        one = kernel.predict_one(row)
        for name in want:
            assert _bits([one[name]])[0] == _bits(want[name][i : i + 1])[0], (name, i)


def test_records_scored_alone_use_the_compiled_trees_with_the_library_s_bits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    x, y = _data(30, rows=600)
    edges = x.copy()
    edges[:70, 3] = np.tile([-1.0, 0.5, 8.999, 1e300, np.inf, -np.inf, 2.0**31], 10)
    lightgbm_adapter = _lightgbm(30)
    boosting = _sklearn(  # float32 inputs, an imputer-free forest of shallow trees
        GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=0).fit(
            np.nan_to_num(x), y > 0
        ),
        "boosting.joblib",
    )
    # (the categorical edges for LightGBM only: scikit-learn refuses values beyond float32)
    for adapter, rows in ((lightgbm_adapter, edges), (boosting, np.nan_to_num(x))):
        kernel = _kernel(adapter)
        slot = kernel.native
        assert slot is not None and slot.wait(60) is not None, slot.reason
        compiled = slot.record()
        assert compiled is not None
        used: list[int] = []

        def spy(row: list[float], compiled: Any = compiled, used: list[int] = used) -> list[float]:
            used.append(1)
            out: list[float] = compiled(row)
            return out

        monkeypatch.setattr(slot, "record", lambda spy=spy: spy)
        _same_one_by_one(kernel, adapter, rows)
        assert len(used) == len(rows)  # every record went to the compiled trees
        monkeypatch.undo()


def test_records_on_eight_threads_while_the_trees_compile_and_after() -> None:
    x, y = _data(31)
    adapter = _sklearn(
        GradientBoostingClassifier(n_estimators=25, max_depth=3, random_state=1).fit(
            np.nan_to_num(x), y > 0
        ),
        "threads.joblib",
    )
    kernel = _kernel(adapter)
    slot = kernel.native
    assert slot is not None
    rows = [np.nan_to_num(_data(40 + i, rows=300)[0]) for i in range(8)]

    def all_at_once() -> None:
        start = threading.Barrier(8)
        failures: list[BaseException] = []

        def score(i: int) -> None:
            start.wait()
            try:
                _same_one_by_one(kernel, adapter, rows[i])
            except BaseException as exc:  # reported by the main thread
                failures.append(exc)

        threads = [threading.Thread(target=score, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        slot.wait(0)  # the compile starts while the threads score
        for t in threads:
            t.join()
        assert not failures, failures[0]

    all_at_once()
    assert slot.wait(60) is not None and slot.record() is not None
    all_at_once()


def test_the_compiled_record_walk_refuses_a_row_of_the_wrong_width() -> None:
    e = ensemble_of(_lightgbm(32))
    row = native.compile_trees(e, 0).record
    assert len(row([0.5] * WIDTH)) == 1
    for width in (WIDTH - 1, WIDTH + 1, 0):
        with pytest.raises(ValueError, match=f"expects {WIDTH} inputs, got {width}"):
            row([0.5] * width)


def test_edge_values_of_a_categorical_split() -> None:
    adapter = _lightgbm(3)
    kernel = _kernel(adapter)
    edges = [-1.0, -0.5, 0.0, -0.0, 0.5, 8.999, 9.0, 1e300, np.inf, -np.inf, 2.0**31, np.nan]
    x = np.asarray([[0.1, 1.0, 100.0, v] for v in edges] * 4, dtype=np.float64)
    assert kernel.native is not None and kernel.native.wait() is not None
    _same_as_library(kernel, adapter, x)


def _one_ulp_off(batch: bool, record: bool) -> Any:
    """A stand-in for ``compile_trees`` whose batch or record walk is one ulp off."""
    real = native.compile_trees

    def compiled(e: Any, level: int) -> native.Kernels:
        good = real(e, level)
        walk, row = good.batch, good.record
        return native.Kernels(
            (lambda x: np.nextafter(walk(x), np.inf)) if batch else walk,
            (lambda x: [float(np.nextafter(v, np.inf)) for v in row(x)]) if record else row,
        )

    return compiled


@pytest.mark.parametrize(("batch", "record"), [(True, False), (False, True)])
def test_a_compiled_kernel_that_differs_is_not_used(
    batch: bool, record: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kernels, "compile_trees", _one_ulp_off(batch, record))
    x, y = _data(4)
    adapter = _sklearn(
        RandomForestRegressor(n_estimators=4, random_state=int(batch)).fit(np.nan_to_num(x), y)
    )
    kernel = _kernel(adapter)  # the NumPy walk and the records passed the gate
    big = np.nan_to_num(_data(5, rows=300)[0])
    _same_as_library(kernel, adapter, big)  # the library scored it
    assert kernel.native is not None and kernel.native.wait() is None
    assert kernel.native.record() is None
    assert "not bit-identical" in kernel.native.reason
    assert ("batch output" if batch else "per-record output") in kernel.native.reason
    want = adapter.predict_batch(big[:50])["prediction"]
    got = [kernel.predict_one(row)["prediction"] for row in big[:50].tolist()]
    assert (_bits(got) == _bits(want)).all()  # the Python record kernel scored them


def test_without_llvmlite_the_library_scores_large_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> Any:
        raise kernels.Unsupported("llvmlite is not installed (No module named 'llvmlite')")

    monkeypatch.setattr(native, "_llvm", missing)
    adapter = _lightgbm(6)
    kernel = _kernel(adapter)
    _same_as_library(kernel, adapter, _data(7, rows=400)[0])
    assert kernel.native is not None and kernel.native.wait() is None
    assert "llvmlite is not installed" in kernel.native.reason


def test_an_ensemble_too_large_to_compile_stays_with_the_library(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(native, "MAX_NODES", 10)
    adapter = _lightgbm(8)
    kernel = _kernel(adapter)
    _same_as_library(kernel, adapter, _data(9, rows=400)[0])
    assert kernel.native is not None and kernel.native.wait() is None
    assert "more than 10 to compile" in kernel.native.reason


def test_eight_threads_at_first_use_and_after() -> None:
    """At first use some batches are the library's and later ones the compiled trees':
    every one has the library's bits."""
    x, y = _data(10)
    adapter = _sklearn(
        GradientBoostingClassifier(n_estimators=30, max_depth=3, random_state=0).fit(
            np.nan_to_num(x), y > 0
        )
    )
    kernel = _kernel(adapter)
    batches = [np.nan_to_num(_data(20 + i, rows=3_000)[0]) for i in range(8)]
    want = [adapter.predict_batch(b) for b in batches]

    def all_at_once() -> None:
        got: list[Any] = [None] * 8
        start = threading.Barrier(8)

        def score(i: int) -> None:
            start.wait()
            for _ in range(5):
                got[i] = kernel.predict_batch(batches[i])
                for name in want[i]:
                    assert (_bits(got[i][name]) == _bits(want[i][name])).all(), name

        threads = [threading.Thread(target=score, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert all(g is not None for g in got)

    all_at_once()  # the first call starts the compiler
    assert kernel.native is not None and kernel.native.wait() is not None
    all_at_once()


def test_the_first_large_batch_does_not_wait_for_the_compiler(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    release = threading.Event()
    real = native.compile_trees

    def slow(e: Any, level: int) -> Any:
        release.wait(30)
        return real(e, level)

    monkeypatch.setattr(kernels, "compile_trees", slow)
    x, y = _data(15)
    adapter = _sklearn(
        RandomForestRegressor(n_estimators=9, max_depth=8, random_state=1).fit(np.nan_to_num(x), y)
    )
    kernel = _kernel(adapter)
    big = np.nan_to_num(_data(16, rows=native.STAGES[0][0])[0])
    _same_as_library(kernel, adapter, big)  # answered while the compiler waits
    assert kernel.native is not None and kernel.native.kernel(1) is None
    assert kernel.native.started and kernel.native.level is None  # still compiling
    assert kernel.native.record() is None  # records too keep the function made at load
    release.set()
    assert kernel.native.wait(30) is not None
    _same_as_library(kernel, adapter, big)


def test_the_same_model_content_is_compiled_once() -> None:
    x, y = _data(11)
    model = RandomForestRegressor(n_estimators=3, random_state=0).fit(np.nan_to_num(x), y)
    first, second = _kernel(_sklearn(model, "a.joblib")), _kernel(_sklearn(model, "b.joblib"))
    assert first.native is not None and first.native is second.native


def test_every_constant_is_written_bit_for_bit() -> None:
    e = ensemble_of(_lightgbm(12))
    text = ir_text(e)
    for value in e.threshold[:50]:
        if np.isfinite(value):
            assert native._double(value) in text
    assert native._double(0.1) == "0x3FB999999999999A"
    assert native._double(-0.0) == "0x8000000000000000"


@pytest.mark.slow
def test_two_models_compiled_from_two_threads_at_once() -> None:
    x, y = _data(13)
    x0 = np.nan_to_num(x)
    adapters = [
        _sklearn(RandomForestRegressor(n_estimators=n, max_depth=8, random_state=n).fit(x0, y))
        for n in (5, 6, 7, 8)
    ]
    kernels_ = [_kernel(a) for a in adapters]
    big = np.nan_to_num(_data(14, rows=500)[0])
    start = threading.Barrier(len(kernels_))
    got: list[Any] = [None] * len(kernels_)

    def score(i: int) -> None:
        start.wait()
        got[i] = kernels_[i].predict_batch(big)

    threads = [threading.Thread(target=score, args=(i,)) for i in range(len(kernels_))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for adapter, kernel, g in zip(adapters, kernels_, got, strict=True):
        assert kernel.native is not None and kernel.native.wait() is not None
        assert (_bits(g["prediction"]) == _bits(adapter.predict_batch(big)["prediction"])).all()


def test_a_short_job_compiles_nothing() -> None:
    x, y = _data(17)
    adapter = _sklearn(
        RandomForestRegressor(n_estimators=2, random_state=2).fit(np.nan_to_num(x), y)
    )
    kernel = _kernel(adapter)
    for _ in range(3):
        _same_as_library(kernel, adapter, np.nan_to_num(x[:1_000]))
    assert kernel.native is not None and kernel.native.kernel(0) is None
    assert not kernel.native.started


EXITS_WHILE_COMPILING = """
import sys
import numpy as np, lightgbm as lgb
from pathlib import Path
from kaskad.models.base import load_bytes
from kaskad.models.kernels import choose
rng = np.random.default_rng(0)
x = rng.normal(size=(5_000, 12))
booster = lgb.train({"objective": "regression", "num_leaves": 63, "verbose": -1},
                    lgb.Dataset(x, x[:, 0] + rng.normal(size=5_000)), num_boost_round=150)
adapter = load_bytes(booster.model_to_string().encode(), "lightgbm", Path("m.txt"))
kernel = choose(adapter).adapter
kernel.predict_batch(x)
assert kernel.native.wait(0) is None and kernel.native.started  # compiling now
print("scored", flush=True)
"""


@pytest.mark.slow
def test_the_process_exits_cleanly_while_the_trees_compile(tmp_path: Path) -> None:
    """LLVM aborts a process torn down under a compile: the compile runs in a process of
    its own, which is stopped, and nothing is written to stderr."""
    script = tmp_path / "exit.py"
    script.write_text(EXITS_WHILE_COMPILING)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout == "scored\n"
    assert done.stderr == ""


def test_a_value_the_library_refuses_raises_the_library_s_error_in_a_batch_and_a_record() -> None:
    x, y = _data(18)
    model = GradientBoostingClassifier(n_estimators=5, random_state=0).fit(np.nan_to_num(x), y > 0)
    adapter = _sklearn(model)
    kernel = _kernel(adapter)
    assert kernel.native is not None and kernel.native.wait() is not None
    assert kernel.native.record() is not None  # records too are on the compiled trees
    big = np.nan_to_num(_data(19, rows=500)[0])
    big[250, 1] = np.inf
    with pytest.raises(Exception, match="infinity") as ours:
        kernel.predict_batch(big)
    with pytest.raises(Exception, match="infinity") as theirs:
        adapter.predict_batch(big)
    assert str(ours.value) == str(theirs.value)
    row = big[250].tolist()
    with pytest.raises(Exception, match="infinity") as ours:
        kernel.predict_one(row)
    with pytest.raises(Exception, match="infinity") as theirs:
        adapter.predict_one(row)
    assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize("value", ["0", "off", "FALSE", " no "])
def test_the_environment_can_turn_compiling_off(
    value: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(native.SWITCH, value)
    x, y = _data(21)
    adapter = _sklearn(
        RandomForestRegressor(n_estimators=3, random_state=len(value)).fit(np.nan_to_num(x), y)
    )
    kernel = _kernel(adapter)
    with caplog.at_level(logging.INFO, logger="kaskad.models.kernels"):
        assert kernel.native is not None and kernel.native.wait(30) is None
    assert f"{native.SWITCH}={value} turns compiling off" in kernel.native.reason
    assert [r.levelno for r in caplog.records] == [logging.INFO]  # deliberate: no warning
    _same_as_library(kernel, adapter, np.nan_to_num(_data(22, rows=300)[0]))


@pytest.mark.slow
def test_a_compile_is_logged_and_a_refused_one_warns_naming_the_model(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    x, y = _data(23)
    good = _kernel(
        _sklearn(
            RandomForestRegressor(n_estimators=2, random_state=5).fit(np.nan_to_num(x), y),
            "good.joblib",
        )
    )
    with caplog.at_level(logging.INFO, logger="kaskad.models.kernels"):
        assert good.native is not None and good.native.wait(30) is not None
    assert any(
        r.levelno == logging.INFO and "good.joblib: trees compiled to machine code" in r.message
        for r in caplog.records
    )
    caplog.clear()
    monkeypatch.setattr(kernels, "compile_trees", _one_ulp_off(True, False))
    bad = _kernel(
        _sklearn(
            RandomForestRegressor(n_estimators=2, random_state=6).fit(np.nan_to_num(x), y),
            "bad.joblib",
        )
    )
    with caplog.at_level(logging.INFO, logger="kaskad.models.kernels"):
        assert bad.native is not None and bad.native.wait(30) is None
    warnings = [r.message for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and warnings[0].startswith("bad.joblib: the trees are not compiled")
    assert "not bit-identical" in warnings[0]


def _constant(value: float) -> native.Kernels:
    return native.Kernels(lambda x: np.full((len(x), 1), value), lambda row: [value])


def test_stages_start_as_the_rows_come_and_each_replaces_the_last() -> None:
    built: list[int] = []
    gates = {0: threading.Event(), 2: threading.Event()}

    def build(level: int) -> Any:
        gates[level].wait(30)
        built.append(level)
        return _constant(float(level))

    slot = native.NativeSlot(build, "staged", stages=((100, 0), (1_000, 2)))
    assert slot.kernel(99) is None and not slot.started
    # a record scored alone counts as a row: 100 rows, level 0 compiling
    assert slot.record() is None and slot.started
    gates[0].set()
    for _ in range(300):
        if slot.level == 0:
            break
        time.sleep(0.01)
    kernel = slot.kernel(500)  # 600 rows: level 0 in use, level 2 not started
    assert kernel is not None and kernel(np.zeros((2, 1)))[0, 0] == 0.0
    record = slot.record()  # 601
    assert record is not None and record([0.0]) == [0.0]
    assert built == [0]
    gates[2].set()
    for _ in range(399):  # 1,000 rows, one record at a time: level 2
        slot.record()
    assert slot.wait(30) is not None and slot.level == 2 and built == [0, 2]
    assert slot.kernel(1)(np.zeros((1, 1)))[0, 0] == 2.0
    assert slot.record()([0.0]) == [2.0]  # type: ignore[misc]


def test_a_stage_that_fails_keeps_the_library_and_tries_no_later_stage(
    caplog: pytest.LogCaptureFixture,
) -> None:
    built: list[int] = []

    def build(level: int) -> Any:
        built.append(level)
        raise RuntimeError("out of executable memory")

    slot = native.NativeSlot(build, "failing", stages=((0, 0), (10, 2)))
    with caplog.at_level(logging.INFO, logger="kaskad.models.kernels"):
        assert slot.wait(30) is None
    assert built == [0] and slot.reason == "RuntimeError: out of executable memory"
    assert slot.kernel(1_000) is None and built == [0]
    assert [r.levelno for r in caplog.records] == [logging.WARNING]


def test_a_later_stage_that_fails_keeps_the_earlier_stage_s_code(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Level 0 passed the gate and is in use; level 2 fails (a compiler timeout, say): the
    level 0 code goes on scoring, and the warning says so."""
    first = native.Kernels(lambda x: x, lambda row: row)

    def build(level: int) -> Any:
        if level:
            raise native.Unsupported("the compiler took more than 600 s")
        return first

    slot = native.NativeSlot(build, "m.txt", stages=((0, 0), (10, 2)))
    with caplog.at_level(logging.INFO, logger="kaskad.models.kernels"):
        assert slot.wait(30) is first.batch
    assert slot.level == 0 and slot.reason == "the compiler took more than 600 s"
    assert slot.kernel(1_000) is first.batch and slot.record() is first.record
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "m.txt: the trees are not compiled at level 2 (the level 0 code stays): "
        "the compiler took more than 600 s"
    ]


def test_wait_while_an_earlier_stage_compiles_gets_the_last_stage() -> None:
    release = threading.Event()

    def build(level: int) -> Any:
        if level == 0:
            release.wait(30)
        return _constant(float(level))

    slot = native.NativeSlot(build, "racing", stages=((1, 0), (10**9, 2)))
    slot.kernel(1)  # level 0 starts and blocks; level 2's rows will never come
    threading.Timer(0.2, release.set).start()
    assert slot.wait(30) is not None and slot.level == 2


def _forest(seed: int) -> tuple[Any, Any]:
    """A small random forest and its kernel adapter (one model content per seed)."""
    x, y = _data(seed)
    adapter = _sklearn(
        RandomForestRegressor(n_estimators=2, random_state=seed).fit(np.nan_to_num(x), y),
        f"m{seed}.joblib",
    )
    return adapter, _kernel(adapter)


def test_a_compiler_that_crashes_leaves_this_process_and_the_library(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(native, "_COMPILER", "import os; os.abort()")
    adapter, kernel = _forest(31)
    with caplog.at_level(logging.INFO, logger="kaskad.models.kernels"):
        assert kernel.native is not None and kernel.native.wait(60) is None
    assert kernel.native.reason.startswith("the compiler exited with -6")
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    _same_as_library(kernel, adapter, np.nan_to_num(_data(32, rows=300)[0]))


# A process on a host that forbids executable memory, as systemd's MemoryDenyWriteExecute
# makes it (the kernel's memory-deny-write-execute flag, inherited by its children): kaskad
# imports (Polars' processor check skipped), a model's compiler dies running its code
# instead of this process, the library's bits go on, and no other compile is tried.
_NO_EXEC = """
import ctypes, io, logging, os, sys
from pathlib import Path
assert ctypes.CDLL(None).prctl(65, 1, 0, 0, 0) == 0  # PR_SET_MDWE: refuse exec gain
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
import kaskad
assert os.environ["POLARS_SKIP_CPU_CHECK"] == "1"
import threading
import joblib, numpy as np
from sklearn.ensemble import RandomForestRegressor
from kaskad.models.base import load_bytes
from kaskad.models.kernels import choose
rng = np.random.default_rng(0)
x = rng.normal(size=(3000, 3)); y = x.sum(1)
def model(seed):
    buffer = io.BytesIO()
    joblib.dump(RandomForestRegressor(n_estimators=3, random_state=seed).fit(x, y), buffer)
    library = load_bytes(buffer.getvalue(), "sklearn", Path(f"m{seed}.joblib"))
    return library, choose(library).adapter
def check(library, kernel):
    print("reason:", kernel.native.reason)
    batch, want = kernel.predict_batch(x), library.predict_batch(x)
    assert batch["prediction"].tolist() == want["prediction"].tolist()
    rows = [list(r) for r in x[:50]]
    assert [kernel.predict_one(r) for r in rows] == [library.predict_one(r) for r in rows]
# two models compiling at the same moment (their compilers may die together), then a third
pairs = [model(1), model(2)]
threads = [threading.Thread(target=k.native.wait, args=(60,)) for _, k in pairs]
for t in threads: t.start()
for t in threads: t.join(90)
pairs.append(model(3))
assert pairs[2][1].native.wait(60) is None
for library, kernel in pairs:
    assert kernel.native.level is None
    check(library, kernel)
print("done")
"""


def _can_deny_exec_memory() -> bool:
    done = subprocess.run(
        [sys.executable, "-c", "import ctypes; exit(ctypes.CDLL(None).prctl(65, 1, 0, 0, 0))"],
        check=False,
    )
    return sys.platform.startswith("linux") and done.returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(not _can_deny_exec_memory(), reason="needs Linux 6.3 or later (PR_SET_MDWE)")
def test_a_host_that_forbids_executable_memory_keeps_the_library(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "POLARS_SKIP_CPU_CHECK"}
    done = subprocess.run(
        [sys.executable, "-c", _NO_EXEC],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert done.stdout.endswith("done\n")
    reasons = [line for line in done.stdout.splitlines() if line.startswith("reason:")]
    assert len(reasons) == 3 and all("executable memory is forbidden" in r for r in reasons)
    assert all("the compiler died running it (signal 11)" in r for r in reasons)
    # one warning, from whichever compiler died first (the other's, dying with it or not
    # started, is INFO); the third model tries no compiler
    lines = done.stderr.splitlines()
    warnings = [line for line in lines if line.startswith("WARNING")]
    assert len(warnings) == 1 and "the trees are not compiled" in warnings[0], warnings
    infos = [line for line in lines if line.startswith("INFO") and "not compiled" in line]
    assert len(infos) == 2 and "m3.joblib: the trees are not compiled" in infos[1], infos


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_child_forked_during_a_compile_compiles_for_itself(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A process forked while a model's trees compile (``multiprocessing``'s fork, a
    server forking workers after loading) does not have the compile's thread: the child
    starts the stage again and gets its own compiled trees, which give the library's bits."""
    adapter, kernel = _forest(46)
    slot = kernel.native
    assert slot is not None
    started = threading.Event()
    real = native._run_compiler

    def slow(*args: Any) -> bytes:
        started.set()
        time.sleep(1.0)  # still compiling when the parent forks
        return real(*args)

    monkeypatch.setattr(native, "_run_compiler", slow)
    waiter = threading.Thread(target=slot.wait, args=(60,))
    waiter.start()
    assert started.wait(30)
    pid = os.fork()
    if pid == 0:  # the child: compile here, then say how it went by the exit code
        code = 1
        try:
            native._run_compiler = real  # type: ignore[assignment]
            if slot.wait(60) is not None and slot.level == 2:
                code = 2  # compiled; the bits checked next
                _same_as_library(kernel, adapter, np.nan_to_num(_data(47, rows=300)[0]))
                code = 0
        finally:
            os._exit(code)
    waiter.join(60)
    _, status = os.waitpid(pid, 0)
    assert slot.level == 2, slot.reason
    assert os.waitstatus_to_exitcode(status) == 0
    # a child forked once every stage is done has nothing to compile, nor to wait for
    pid = os.fork()
    if pid == 0:
        os._exit(0 if slot.wait(0) is not None and slot.level == 2 and not slot._stages else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


@pytest.mark.slow
def test_many_models_compile_a_few_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each compiler holds 80–100 MB: five models reaching a stage together never run more
    than ``MAX_COMPILERS`` of them at once (one here), and all five get compiled."""
    monkeypatch.setattr(native, "_COMPILERS", threading.BoundedSemaphore(1))
    live, most, lock = [0], [0], threading.Lock()
    real = native._run_compiler

    def counted(*args: Any) -> bytes:
        with lock:
            live[0] += 1
            most[0] = max(most[0], live[0])
        try:
            return real(*args)
        finally:
            with lock:
                live[0] -= 1

    monkeypatch.setattr(native, "_run_compiler", counted)
    slots = [_forest(seed)[1].native for seed in range(40, 45)]
    assert all(slot is not None for slot in slots)
    threads = [threading.Thread(target=slot.wait, args=(120,)) for slot in slots if slot]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(150)
    assert all(slot is not None and slot.level == 2 for slot in slots), [
        slot.reason for slot in slots if slot
    ]
    assert most[0] == 1


def test_a_compiler_that_hangs_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(native, "_COMPILER", "import time; time.sleep(60)")
    monkeypatch.setattr(native, "COMPILE_TIMEOUT_S", 0.5)
    _, kernel = _forest(33)
    assert kernel.native is not None and kernel.native.wait(30) is None
    assert kernel.native.reason == "the compiler took more than 0.5 s"


def test_no_interpreter_to_compile_with(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(native.sys, "executable", "/nonexistent/python")
    _, kernel = _forest(34)
    assert kernel.native is not None and kernel.native.wait(30) is None
    assert kernel.native.reason.startswith("cannot start the compiler (/nonexistent/python)")


@pytest.mark.slow
def test_a_module_in_the_working_folder_cannot_pose_as_the_compiler(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "llvmlite").mkdir()
    (tmp_path / "llvmlite" / "__init__.py").write_text("raise SystemExit('hijacked')\n")
    monkeypatch.chdir(tmp_path)
    _, kernel = _forest(35)
    assert kernel.native is not None and kernel.native.wait(60) is not None, kernel.native.reason
