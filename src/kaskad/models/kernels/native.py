"""The batch kernel as machine code: a tree ensemble compiled by LLVM (through llvmlite).

Each tree becomes one function of a row: its splits are branches and its leaves return
constants, so a row walks the tree as a chain of compare-and-jump instructions instead of
an interpreter's loop over node arrays. A loop over the rows calls the trees in tree
order and adds their values one after another to ``init`` (float64, or float32 for a
``float32_sum`` ensemble), exactly as the NumPy walk and the libraries add them; no
fast-math flag is set, so LLVM may not reorder or fuse a floating-point operation. The
inputs are prepared and the sums finished (mean, link) by the NumPy code the other batch
kernel uses (:mod:`kaskad.models.kernels.batch`).

The comparisons are the ensemble's (see :mod:`kaskad.models.kernels.ensemble`): a NaN
input goes where ``nan_left`` says, LightGBM's zero band counts as missing where
``zero_missing`` is set, and a categorical split sends a row left when its value lies in
(-1, largest category + 1) and its integer part is in the node's set.

Compiling costs about 0.1 s per 1,000 nodes (0.6 s for the credit example's fraud model
of 200 trees, 5,800 nodes), so it starts once a model has scored
:data:`COMPILE_AFTER_ROWS` rows in large batches, not when a plan is loaded, and runs in a
background thread while the library scores the batches (:class:`NativeSlot`): no request
or chunk waits for it. The compiled code is
then checked against the library on the gate's sample (:mod:`kaskad.models.kernels.gate`)
and used only if every bit agrees. Without llvmlite, for an ensemble above
:data:`MAX_NODES`, or with ``KASKAD_COMPILE_TREES=0`` in the environment (a host that
forbids executable memory, say), large batches stay with the library. A compile that
fails, or that the gate refuses, is logged as a warning naming the model; one done is
logged at INFO with its time.
"""

from __future__ import annotations

import ctypes
import logging
import os
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from kaskad.models.kernels.ensemble import ZERO, TreeEnsemble, Unsupported

FloatArray = npt.NDArray[np.float64]
Walk = Callable[[FloatArray], FloatArray]  # prepared (n, features) -> raw sums (n, classes)
Kernel = Callable[[FloatArray], FloatArray]  # (n, features) -> outputs (n, classes)
# compiling takes about 0.1 ms a node (20 s of one core at this bound, in the background)
MAX_NODES = 200_000
# rows a model scores in large batches before its trees are compiled. Compiling costs
# about what scoring a few hundred thousand rows through the library costs more than
# through the compiled trees (1.2 s of processor time for the credit example's three
# models, against 3.9 µs a row saved), for models of any size (both grow with the
# nodes): a job shorter than this never pays for a compile (nor waits for one at exit),
# and a longer one pays at most about twice what the best choice would have.
COMPILE_AFTER_ROWS = 200_000
SWITCH = "KASKAD_COMPILE_TREES"  # 0, off, false or no: never compile
_OFF = ("0", "off", "false", "no")
LOG = logging.getLogger("kaskad.models.kernels")
_SIGNATURE = ctypes.CFUNCTYPE(
    None, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p
)
# LLVM's global context is not safe to use from two threads at once: one compile at a time
_LLVM_LOCK = threading.Lock()
_initialised = False


class Skipped(Unsupported):
    """The trees are deliberately not compiled (switched off, too large): not a fault."""


def _double(v: float) -> str:
    """``v`` as an LLVM constant, bit for bit (hexadecimal IEEE double)."""
    bits = struct.unpack("<Q", struct.pack("<d", float(v)))[0]
    return f"0x{bits:016X}"


def ir_text(e: TreeEnsemble) -> str:
    """The LLVM IR of ``e``: ``@predict(x, n, width, out)`` writes the raw sums of the
    ``n`` rows of ``x`` (row-major float64, ``width`` values a row) to ``out`` (``n`` by
    the number of classes)."""
    if any(f >= e.n_features for f in e.feature):
        raise Unsupported("a split reads a feature beyond the model's inputs")
    ty = "float" if e.float32_sum else "double"
    width = 1 + max((max(s) for s in e.cat_sets if s), default=0)
    out: list[str] = []
    for t, root in enumerate(e.roots):
        out.append(f"define internal {ty} @t{t}(ptr noalias nocapture readonly %x) noinline {{")
        out.append(f"entry:\n  br label %n{root}")
        _tree(e, root, ty, width, out)
        out.append("}")
    out.append(_loop(e, ty))
    return "\n".join(out)


def _tree(e: TreeEnsemble, root: int, ty: str, width: int, out: list[str]) -> None:
    """The blocks of one tree: a block per node (``n<j>``), a leaf returning its value."""
    stack, seen = [root], set()
    compare = "olt" if e.strict else "ole"
    while stack:
        j = stack.pop()
        if j in seen:
            continue
        seen.add(j)
        if e.feature[j] < 0:
            value = float(np.float32(e.value[j])) if e.float32_sum else e.value[j]
            out.append(f"n{j}:\n  ret {ty} {_double(value)}")
            continue
        left, right = e.left[j], e.right[j]
        stack += [right, left]
        out.append(f"n{j}:\n  %p{j} = getelementptr inbounds double, ptr %x, i64 {e.feature[j]}")
        out.append(f"  %v{j} = load double, ptr %p{j}")
        if e.cat[j] >= 0:  # NaN fails both comparisons, so it goes right
            cases = " ".join(f"i64 {c}, label %n{left}" for c in sorted(e.cat_sets[e.cat[j]]))
            out.append(
                f"  %a{j} = fcmp ogt double %v{j}, -1.0\n"
                f"  %b{j} = fcmp olt double %v{j}, {_double(width)}\n"
                f"  %o{j} = and i1 %a{j}, %b{j}\n"
                f"  br i1 %o{j}, label %k{j}, label %n{right}\n"
                f"k{j}:\n  %i{j} = fptosi double %v{j} to i64\n"
                f"  switch i64 %i{j}, label %n{right} [ {cases} ]"
            )
            continue
        missing = f"n{left}" if e.nan_left[j] else f"n{right}"
        out.append(f"  %m{j} = fcmp uno double %v{j}, 0.0")
        if e.zero_missing[j]:
            out.append(
                f"  %za{j} = fcmp oge double %v{j}, {_double(-ZERO)}\n"
                f"  %zb{j} = fcmp ole double %v{j}, {_double(ZERO)}\n"
                f"  %zc{j} = and i1 %za{j}, %zb{j}\n"
                f"  %mz{j} = or i1 %m{j}, %zc{j}\n"
                f"  br i1 %mz{j}, label %{missing}, label %c{j}"
            )
        else:
            out.append(f"  br i1 %m{j}, label %{missing}, label %c{j}")
        out.append(
            f"c{j}:\n  %g{j} = fcmp {compare} double %v{j}, {_double(e.threshold[j])}\n"
            f"  br i1 %g{j}, label %n{left}, label %n{right}"
        )


def _loop(e: TreeEnsemble, ty: str) -> str:
    """``@predict``: for each row, every tree's value added to its class's sum in order."""
    k = e.n_classes
    init = [float(np.float32(v)) if e.float32_sum else float(v) for v in e.init]
    sums = [_double(v) for v in init]
    body = [
        "define void @predict(ptr noalias nocapture readonly %x, i64 %n, i64 %w, "
        "ptr noalias nocapture %out) {",
        "entry:\n  %empty = icmp sle i64 %n, 0\n  br i1 %empty, label %done, label %row",
        "row:\n  %r = phi i64 [0, %entry], [%next, %row]",
        "  %at = mul i64 %r, %w\n  %x1 = getelementptr inbounds double, ptr %x, i64 %at",
    ]
    for t, klass in enumerate(e.tree_class):
        body.append(f"  %v{t} = call {ty} @t{t}(ptr %x1)")
        body.append(f"  %s{t} = fadd {ty} {sums[klass]}, %v{t}")
        sums[klass] = f"%s{t}"
    body.append(f"  %o = mul i64 %r, {k}")
    for c in range(k):
        value = sums[c]
        if e.float32_sum:
            body.append(f"  %d{c} = fpext float {value} to double")
            value = f"%d{c}"
        body.append(
            f"  %oi{c} = add i64 %o, {c}\n"
            f"  %op{c} = getelementptr inbounds double, ptr %out, i64 %oi{c}\n"
            f"  store double {value}, ptr %op{c}"
        )
    body.append(
        "  %next = add i64 %r, 1\n  %more = icmp slt i64 %next, %n\n"
        "  br i1 %more, label %row, label %done\ndone:\n  ret void\n}"
    )
    return "\n".join(body)


def _llvm() -> Any:
    """llvmlite's binding, with the host's code generator set up once per process (call
    with ``_LLVM_LOCK`` held)."""
    global _initialised
    try:
        import llvmlite.binding as llvm
    except ImportError as exc:  # pragma: no cover - llvmlite is a dependency
        raise Unsupported(f"llvmlite is not installed ({exc})") from exc
    if not _initialised:
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        _initialised = True
    return llvm


def compile_walk(e: TreeEnsemble) -> Walk:
    """``e``'s trees as machine code for this processor: prepared inputs -> raw sums."""
    if os.environ.get(SWITCH, "").strip().lower() in _OFF:
        raise Skipped(f"{SWITCH}={os.environ[SWITCH]} turns compiling off")
    if e.n_nodes > MAX_NODES:
        raise Skipped(f"{e.n_nodes:,} nodes: more than {MAX_NODES:,} to compile")
    text = ir_text(e)
    with _LLVM_LOCK:
        llvm = _llvm()
        module = llvm.parse_assembly(text)
        module.verify()
        machine = llvm.Target.from_default_triple().create_target_machine(
            opt=2, cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten()
        )
        tuning = llvm.create_pipeline_tuning_options(speed_level=2)
        builder = llvm.create_pass_builder(machine, tuning)
        builder.getModulePassManager().run(module, builder)
        engine = llvm.create_mcjit_compiler(module, machine)
        engine.finalize_object()
        predict = _SIGNATURE(engine.get_function_address("predict"))
    k = e.n_classes

    def walk(x: FloatArray) -> FloatArray:
        x = np.ascontiguousarray(x, dtype=np.float64)
        n, width = x.shape
        out = np.empty((n, k), dtype=np.float64)
        predict(x.ctypes.data, n, width, out.ctypes.data)  # ctypes lets go of the GIL
        return out

    walk.engine = engine  # type: ignore[attr-defined]  # the code lives as long as the walk
    return walk


class NativeSlot:
    """A model's compiled batch kernel, made in the background once it pays.

    :meth:`kernel` never waits. Once the model has scored :data:`COMPILE_AFTER_ROWS` rows
    in large batches, it starts ``build`` in a thread; until the kernel is ready it returns
    None, and the library scores those batches with the same bits. ``build`` returns the
    kernel, or raises with the reason it cannot be used (then :attr:`reason` says it and
    the library keeps every batch). :meth:`wait` starts it at once and waits.

    The thread is not a daemon: the interpreter waits for a compile in progress before it
    exits, as LLVM must not be torn down under it (it aborts the process)."""

    def __init__(self, build: Callable[[], Kernel], name: str = "a model") -> None:
        self.name = name  # for the log: the model's artifact
        self._build: Callable[[], Kernel] | None = build
        self._kernel: Kernel | None = None
        self._rows = 0
        self._done = threading.Event()
        self._lock = threading.Lock()
        self.reason = ""

    @property
    def started(self) -> bool:
        """Whether the compile has started (or is done)."""
        return self._build is None

    def kernel(self, rows: int) -> Kernel | None:
        """The compiled kernel if it is ready, else None; ``rows``: the batch's size."""
        if self._build is not None:
            self._rows += rows  # unlocked: a lost update only delays the start
            if self._rows >= COMPILE_AFTER_ROWS:
                self._start()
        return self._kernel

    def wait(self, timeout: float | None = None) -> Kernel | None:
        """The compiled kernel once made (None: it cannot be used, see :attr:`reason`)."""
        self._start()
        self._done.wait(timeout)
        return self._kernel

    def _start(self) -> None:
        with self._lock:
            build, self._build = self._build, None
        if build is not None:
            threading.Thread(target=self._run, args=(build,), name="kaskad-compile-trees").start()

    def _run(self, build: Callable[[], Kernel]) -> None:
        start = time.perf_counter()
        try:
            self._kernel = build()
            LOG.info(
                "%s: trees compiled to machine code in %.1f s",
                self.name,
                time.perf_counter() - start,
            )
        except Exception as exc:  # the library keeps the batches: say why
            self.reason = str(exc) if isinstance(exc, Unsupported) else error_text(exc)
            level = logging.INFO if isinstance(exc, Skipped) else logging.WARNING
            LOG.log(level, "%s: large batches stay with the library: %s", self.name, self.reason)
        finally:
            self._done.set()


def error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
