"""Tree ensembles as machine code: compiled by LLVM (through llvmlite), for large batches
and for records decided one by one.

Each tree becomes one function of a row: its splits are branches and its leaves return
constants, so a row walks the tree as a chain of compare-and-jump instructions instead of
an interpreter's loop over node arrays (or, for a record, Python's nested ``if``
statements). A loop over the rows calls the trees in tree order and adds their values
one after another to ``init`` (float64, or float32 for a ``float32_sum`` ensemble),
exactly as the other kernels and the libraries add them; no fast-math flag is set, so
LLVM may not reorder or fuse a floating-point operation. The inputs are prepared and the
sums finished (mean, link) by the code the other kernels use: NumPy's for a batch
(:mod:`kaskad.models.kernels.batch`), plain Python's for a record
(:mod:`kaskad.models.kernels.record`).

The comparisons are the ensemble's (see :mod:`kaskad.models.kernels.ensemble`): a NaN
input goes where ``nan_left`` says, LightGBM's zero band counts as missing where
``zero_missing`` is set, and a categorical split sends a row left when its value lies in
(-1, largest category + 1) and its integer part is in the node's set.

Compiling with LLVM's optimisations costs about 0.1 s per 1,000 nodes (0.6 s for the
credit example's fraud model of 200 trees, 5,800 nodes), without them a tenth of that for
walks about 1.5 times as long. So it is never done when a plan is loaded: once a model
has scored enough rows (in large batches or one record at a time), the unoptimised code
is compiled, and after many more the optimised one (:data:`STAGES`), each by a
background thread while the scoring goes on (:class:`NativeSlot`): no request or chunk
waits for it. LLVM compiles in a process of its own (:func:`compile_object`), at a lower
scheduling priority, so a compiler that crashes or hangs cannot take the deciding
process down, a server's requests go first, and a process that is done exits at once;
only loading the object code, a few milliseconds, happens in this one. The compiled code
is then checked against the library on the gate's sample
(:mod:`kaskad.models.kernels.gate`), as a batch and one row at a time, and used only if
every bit agrees. Without llvmlite, for an ensemble above :data:`MAX_NODES`, with
``KASKAD_COMPILE_TREES=0`` in the environment, or on a host that forbids executable
memory (the compiler runs its code once before handing it over, and dies there instead
of this process), the model keeps the library for large batches and the Python or
library function for records. A compile that fails, or that the gate refuses, is logged as a warning
naming the model; one done is logged at INFO with its time.
"""

from __future__ import annotations

import atexit
import ctypes
import logging
import os
import struct
import subprocess
import sys
import threading
import time
import weakref
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from kaskad.models.kernels.batch import BatchKernel
from kaskad.models.kernels.ensemble import ZERO, TreeEnsemble, Unsupported

FloatArray = npt.NDArray[np.float64]
# compiling takes about 0.1 ms a node (20 s of one core at this bound, in the background)
MAX_NODES = 200_000
# (rows a model has scored, LLVM level): when each compile starts. A stage starts after
# about as many rows as its compile costs to win back, for models of any size (both grow
# with the nodes): level 0 costs about 0.35 s of processor time for the credit example's
# three models (the compiler processes included) and saves 3.2 µs a row in large batches
# against the libraries, more for a record scored alone; level 2 costs about 1.3 s and
# saves 0.9 µs a row more. So a job never pays more than about twice what knowing its
# size would have cost, and a short one compiles nothing. Rows count in large batches
# (from ``LIBRARY_FROM_ROWS``) and one record at a time; a small batch's rows do not.
STAGES = ((100_000, 0), (1_500_000, 2))
SWITCH = "KASKAD_COMPILE_TREES"  # 0, off, false or no: never compile
_OFF = ("0", "off", "false", "no")
LOG = logging.getLogger("kaskad.models.kernels")
# predict(x, n, width, out) lets go of the GIL while a batch's rows are walked; one(x,
# out) keeps it (a record's call takes a microsecond or two, less than getting the GIL
# back behind a busy server's other threads)
_SIGNATURE = ctypes.CFUNCTYPE(
    None, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p
)
_ONE_ROW = ctypes.PYFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)
RecordFn = Callable[[list[float]], list[float]]
# LLVM's global context is not safe to use from two threads at once: one load at a time
_LLVM_LOCK = threading.Lock()
_initialised = False


class Skipped(Unsupported):
    """The trees are deliberately not compiled (switched off, too large): not a fault."""


@dataclass(frozen=True)
class Kernels:
    """A batch function and a record function of the same compiled trees: the raw sums
    of prepared rows from :func:`compile_trees`, a model's outputs in a
    :class:`NativeSlot`."""

    batch: BatchKernel  # an (n, inputs) array -> (n, classes)
    record: RecordFn  # one row's floats -> its value per class


def _double(v: float) -> str:
    """``v`` as an LLVM constant, bit for bit (hexadecimal IEEE double)."""
    bits = struct.unpack("<Q", struct.pack("<d", float(v)))[0]
    return f"0x{bits:016X}"


def ir_text(e: TreeEnsemble) -> str:
    """The LLVM IR of ``e``: ``@predict(x, n, width, out)`` writes the raw sums of the
    ``n`` rows of ``x`` (row-major float64, ``width`` values a row) to ``out`` (``n`` by
    the number of classes); ``@one(x, out)`` those of the one row ``x``."""
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
    # @one(x, out): one row (two arguments: a cheaper call from Python than four)
    body.append(
        "define void @one(ptr noalias nocapture readonly %x, ptr noalias nocapture %out) {\n"
        "  call void @predict(ptr %x, i64 1, i64 0, ptr %out)\n  ret void\n}"
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


# The compiler's process: IR on stdin, the object code for this processor on stdout.
_COMPILER = """
import os
import sys
os.nice(10)  # the deciding process's threads go first on a busy machine
import llvmlite.binding as llvm
PROBE = sys.argv[4]
llvm.initialize_native_target()
llvm.initialize_native_asmprinter()
level = int(sys.argv[1])
module = llvm.parse_assembly(sys.stdin.read())
module.verify()
machine = llvm.Target.from_default_triple().create_target_machine(
    opt=level,
    cpu=llvm.get_host_cpu_name(),
    features=llvm.get_host_cpu_features().flatten(),
    reloc="pic",  # loadable at any address
)
if level:
    builder = llvm.create_pass_builder(
        machine, llvm.create_pipeline_tuning_options(speed_level=level)
    )
    builder.getModulePassManager().run(module, builder)
code = machine.emit_object(module)
# The deciding process will load this code and run it: do both here first, on a row of
# zeros, so that a host which forbids executable memory (systemd's MemoryDenyWriteExecute,
# SELinux without execmem) kills this process, not that one.
print(PROBE, file=sys.stderr, flush=True)
import ctypes
machine = llvm.Target.from_default_triple().create_target_machine(
    cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten()
)
engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), machine)
engine.add_object_file(llvm.ObjectFileRef.from_data(code))
engine.finalize_object()
one = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)(engine.get_function_address("one"))
x, out = (ctypes.c_double * int(sys.argv[2]))(), (ctypes.c_double * int(sys.argv[3]))()
one(ctypes.addressof(x), ctypes.addressof(out))
sys.stdout.buffer.write(code)
"""
# what the compiler writes to its standard error just before it runs the code it made
PROBE = "kaskad: running the compiled code"
# set once a compiler has died running its code: this host forbids executable memory
_no_exec: str | None = None
_NO_EXEC_LOCK = threading.Lock()
COMPILE_TIMEOUT_S = 600.0
# Compilers running at once in a process: each holds 80–100 MB for the credit example's
# models (about 2 KB more per node), so a pipeline of many tree models that all reach a
# stage together (a batch job's first chunks) compiles them two by two instead of
# holding them all in memory at once; the rest wait in their background threads.
MAX_COMPILERS = 2
_COMPILERS = threading.BoundedSemaphore(MAX_COMPILERS)
_RUNNING: set[subprocess.Popen[bytes]] = set()  # compilers to stop when this process exits
_exiting = False


def compile_object(text: str, level: int, width: int, classes: int) -> bytes:
    """The object code of the IR ``text`` (trees of ``width`` inputs and ``classes``
    outputs), compiled in a process of its own: a compiler that crashes or hangs cannot
    take this one down, and this one exits without waiting for it (it is stopped). The
    compiler runs the code once before it hands it over: where this host forbids
    executable memory, it dies doing so, and no later compile is tried in this process."""
    with _COMPILERS:
        if _exiting:
            raise Skipped("stopped: this process is exiting")
        if _no_exec is not None:
            raise Skipped(_no_exec)
        return _run_compiler(text, level, width, classes)


def _run_compiler(text: str, level: int, width: int, classes: int) -> bytes:
    global _no_exec
    try:
        process = subprocess.Popen(
            # -P: not the working folder on its path (no module there can pose as llvmlite)
            [sys.executable, "-P", "-c", _COMPILER, str(level), str(width), str(classes), PROBE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            # not in the terminal's process group: Ctrl+C stops this process, which then
            # stops its compilers (at exit), rather than the compilers failing first
            start_new_session=True,
        )
    except OSError as exc:
        raise Unsupported(f"cannot start the compiler ({sys.executable}): {exc}") from exc
    with process:  # its pipes closed, and the process waited for, whatever happens
        _RUNNING.add(process)
        try:
            out, err = process.communicate(text.encode(), timeout=COMPILE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            raise Unsupported(f"the compiler took more than {COMPILE_TIMEOUT_S:g} s") from None
        finally:
            _RUNNING.discard(process)
    if process.returncode != 0:
        if _exiting:
            raise Skipped("stopped: this process is exiting")
        lines = err.decode("utf-8", "replace").strip().splitlines()
        last = lines[-1] if lines else "no message"
        if last == PROBE and process.returncode < 0:  # killed by a signal running the code
            with _NO_EXEC_LOCK:  # compilers that died together: the first one says it
                first = _no_exec is None
                if first:
                    signal = -process.returncode
                    _no_exec = (
                        "this host does not let a process run code it has made (executable "
                        "memory is forbidden: systemd's MemoryDenyWriteExecute, SELinux "
                        f"without execmem); the compiler died running it (signal {signal})"
                    )
            raise Unsupported(_no_exec) if first else Skipped(_no_exec)
        raise Unsupported(f"the compiler exited with {process.returncode}: {last}")
    return out


def compile_trees(e: TreeEnsemble, level: int = 2) -> Kernels:
    """``e``'s trees as machine code for this processor, as a batch walk (prepared inputs
    -> raw sums, what :func:`kaskad.models.kernels.batch.kernel_of` wraps) and a record
    walk (one prepared row -> its raw sums, what
    :func:`kaskad.models.kernels.record.wrapped` wraps), both over the same code.
    ``level`` 0: LLVM's fast code generator and no optimisation passes (about a tenth of
    the compile time, walks about 1.5 times as long); 2: its usual optimisations. The
    compiling is done in another process (:func:`compile_object`); only loading its
    object code happens here."""
    if os.environ.get(SWITCH, "").strip().lower() in _OFF:
        raise Skipped(f"{SWITCH}={os.environ[SWITCH]} turns compiling off")
    if e.n_nodes > MAX_NODES:
        raise Skipped(f"{e.n_nodes:,} nodes: more than {MAX_NODES:,} to compile")
    code = compile_object(ir_text(e), level, e.n_features, e.n_classes)
    with _LLVM_LOCK:
        llvm = _llvm()
        machine = llvm.Target.from_default_triple().create_target_machine(
            cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten()
        )
        engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), machine)
        engine.add_object_file(llvm.ObjectFileRef.from_data(code))
        engine.finalize_object()
        predict = _SIGNATURE(engine.get_function_address("predict"))
        one = _ONE_ROW(engine.get_function_address("one"))
    k, width = e.n_classes, e.n_features
    zeros = array("d", [0.0] * k)

    def walk(x: FloatArray) -> FloatArray:
        x = np.ascontiguousarray(x, dtype=np.float64)
        n, columns = x.shape
        out = np.empty((n, k), dtype=np.float64)
        predict(x.ctypes.data, n, columns, out.ctypes.data)  # ctypes lets go of the GIL
        return out

    def row(x: list[float]) -> list[float]:
        if len(x) != width:  # the code reads ``width`` values: never past a short row
            raise ValueError(f"expects {width} inputs, got {len(x)}")
        values, out = array("d", x), zeros[:]  # this call's own: threads do not share
        one(values.buffer_info()[0], out.buffer_info()[0])
        return out.tolist()

    # the code lives as long as either function
    walk.engine = engine  # type: ignore[attr-defined]
    row.engine = engine  # type: ignore[attr-defined]
    return Kernels(walk, row)


# every slot of this process, for a child forked from it (:func:`_after_fork`)
_SLOTS: weakref.WeakSet[NativeSlot] = weakref.WeakSet()


def _after_fork() -> None:
    """A child forked while compiles were in flight (``multiprocessing``'s fork, a
    server forking workers after loading): their threads are not in the child and the
    locks they held stay held, so the module's locks are made anew and each slot's
    stage in flight is pending again (the child compiles it itself)."""
    global _COMPILERS, _LLVM_LOCK, _NO_EXEC_LOCK, _RUNNING
    _COMPILERS = threading.BoundedSemaphore(MAX_COMPILERS)
    _LLVM_LOCK = threading.Lock()
    _NO_EXEC_LOCK = threading.Lock()
    _RUNNING = set()  # the parent's compilers are not this process's children
    for slot in list(_SLOTS):
        slot._forked()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


@atexit.register
def _at_exit() -> None:
    """Stop the compilers still running, and let no object code be loaded while this
    process tears LLVM down (a load takes milliseconds: this waits for one in progress)."""
    global _exiting
    _exiting = True
    for process in list(_RUNNING):
        process.kill()
    _LLVM_LOCK.acquire(timeout=5)


class NativeSlot:
    """A model's compiled kernels, made in the background in :data:`STAGES` as the rows
    it scores make each one pay.

    :meth:`kernel` (a large batch) and :meth:`record` (one record) never wait: they
    return the best kernel compiled so far, or None (the library, or the Python
    function, scores, with the same bits). Once the model has scored a stage's rows, a
    thread compiles that stage's level with ``build(level)``, which returns the
    :class:`Kernels` (checked against the library) or raises with the reason they cannot
    be used; then :attr:`reason` says it, the model keeps what it had and no later stage
    is tried. :meth:`wait` compiles every stage left, at once, and waits.

    The thread waits on a compiler process (:func:`compile_object`) and is a daemon: a
    process that is done exits at once, stopping its compilers."""

    def __init__(
        self,
        build: Callable[[int], Kernels],
        name: str = "a model",
        stages: tuple[tuple[int, int], ...] | None = None,  # None: STAGES
    ) -> None:
        self.name = name  # for the log: the model's artifact
        self._build = build
        self._stages = list(STAGES if stages is None else stages)
        self._first = len(self._stages)
        self._kernels: Kernels | None = None
        self._rows = 0
        self._forced = False
        self._thread: threading.Thread | None = None
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._compiling: tuple[int, int] | None = None  # the stage the thread is on
        self.level: int | None = None  # the level of the kernels in use
        self.reason = ""
        if not self._stages:
            self._done.set()
        _SLOTS.add(self)

    def _forked(self) -> None:
        """In a child process just forked: the parent's compile thread is not here, so
        the stage it was compiling is pending again and the next rows start it anew."""
        self._lock = threading.Lock()  # a lock the parent's thread held stays held here
        if self._compiling is not None:
            self._stages.insert(0, self._compiling)
        self._thread = self._compiling = None
        self._done = threading.Event()  # set: no stage left, and no thread on one
        if not self._stages:
            self._done.set()

    @property
    def started(self) -> bool:
        """Whether a compile has started (or is done)."""
        return self._thread is not None or len(self._stages) < self._first

    def kernel(self, rows: int) -> BatchKernel | None:
        """The best compiled batch kernel so far, else None; ``rows``: the batch's size."""
        if self._stages:
            self._count(rows)
        kernels = self._kernels
        return None if kernels is None else kernels.batch

    def record(self) -> RecordFn | None:
        """The best compiled record kernel so far, else None (for one record)."""
        if self._stages:
            self._count(1)
        kernels = self._kernels
        return None if kernels is None else kernels.record

    def _count(self, rows: int) -> None:
        self._rows += rows  # unlocked: a lost update only delays a stage
        head = self._stages[:1]  # one step: the compile thread may pop the last stage
        if head and self._thread is None and self._rows >= head[0][0]:
            self._start()

    def wait(self, timeout: float | None = None) -> BatchKernel | None:
        """The batch kernel of the last stage, once every stage left is compiled (None:
        it cannot be used, see :attr:`reason`); :meth:`record` then gives its record
        kernel."""
        with self._lock:
            self._forced = True
        self._start()
        self._done.wait(timeout)
        kernels = self._kernels
        return None if kernels is None else kernels.batch

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None or not self._stages:
                return
            self._thread = threading.Thread(
                target=self._run, name="kaskad-compile-trees", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._lock:  # the same lock as wait()'s: no stage is left behind
                if not self._stages or not (self._forced or self._rows >= self._stages[0][0]):
                    self._thread = None
                    if not self._stages:
                        self._done.set()
                    return
                self._compiling = self._stages.pop(0)
                level = self._compiling[1]
            compiled = self._compile(level)
            with self._lock:
                self._compiling = None
                if not compiled:
                    self._stages.clear()

    def _compile(self, level: int) -> bool:
        start = time.perf_counter()
        try:
            self._kernels = self._build(level)  # both kernels of one stage, replaced at once
        except Exception as exc:  # the model keeps what it had (gated): say why
            self.reason = (
                str(exc) if isinstance(exc, Unsupported) else f"{type(exc).__name__}: {exc}"
            )
            kept = (
                "large batches stay with the library"
                if self._kernels is None
                else f"the level {self.level} code stays"
            )
            severity = logging.INFO if isinstance(exc, Skipped) else logging.WARNING
            LOG.log(
                severity,
                "%s: the trees are not compiled at level %d (%s): %s",
                self.name,
                level,
                kept,
                self.reason,
            )
            return False
        self.level = level
        LOG.info(
            "%s: trees compiled to machine code (level %d) in %.2f s",
            self.name,
            level,
            time.perf_counter() - start,
        )
        return True
