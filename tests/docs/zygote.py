"""A page run's zygote: kaskad's modules imported once, each ``kaskad`` command a fork.

A ``kaskad`` command spends 2.5–3 s importing (LightGBM, scikit-learn, SciPy, Polars,
SQLAlchemy, Alembic...) before 1–3 s of work. A page run starts one zygote, this file run
by the same interpreter in the page's folder with the page's environment: it imports
:data:`PRELOAD` (nothing runs, so no thread pool starts) and listens on a Unix socket. The
page's ``.venv/bin/kaskad`` (tests/docs/zygote_client.py) sends it its arguments, folder,
environment and standard streams; the zygote forks, and the child takes the streams,
folder and environment (replaced whole) and runs ``kaskad.cli.main`` as ``python -m``
does, then ends as the interpreter would (non-daemon threads joined, ``atexit`` run,
streams flushed). The client ends with the child's exit code or signal.

A command the zygote cannot run as a fresh process would is run as one (the client execs
``python -m kaskad.cli.main``): when its environment differs in anything but
:data:`FREE_VARIABLES` (kaskad and the libraries read some variables when imported), or a
stream is a terminal (Rich chose colours and width when the CLI's consoles were made).

A failure of the zygote itself (a child that could not start its command, a command left
without an exit status) is written to ``errors`` beside the socket, which the page run
checks after every block: it fails the page even if the shell carried on. The zygote
exits when the process that started it does.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib
import os
import runpy
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import NoReturn

VARIABLE = "KASKAD_DOCS_ZYGOTE"  # the socket's path, in the page's environment
CLIENT = Path(__file__).with_name("zygote_client.py")

MAIN = "kaskad.cli.main"  # run as ``python -m`` runs it: imported, then forgotten
# What the page's commands import (all the CLI and Typer's adapters when a command runs,
# most the store, two thirds the compiler and the models, scikit-learn's when the credit
# model is unpickled). Not ONNX Runtime: importing it starts its telemetry thread and
# opens its telemetry database, which forks must not share; a command loading an ONNX
# model imports it itself (a quarter of a second).
PRELOAD = (
    MAIN,
    "kaskad.cli.render",
    "typer._adapters",
    "kaskad.store.store",
    "kaskad.store._partitions",
    "sqlalchemy.dialects.sqlite",
    "kaskad.compile.compiler",
    "kaskad.registry.releases",
    "kaskad.registry.references",
    "kaskad.execute.batch",
    "kaskad.execute.record",
    "kaskad.batch.summary",
    "kaskad.models.lightgbm_adapter",
    "kaskad.models.sklearn_adapter",
    "kaskad.models.kernels.lightgbm",
    "kaskad.models.kernels.sklearn_trees",
    "kaskad.models.kernels.onnx_trees",
    "sklearn.ensemble",
    "sklearn.pipeline",
    "sklearn.compose",
    "sklearn.linear_model",
    "onnx",
)
NOT_PRELOADED = ("onnxruntime",)
# Variables a command may set differently from the page: the shell's own, and kaskad's
# (read when a command runs: --store, --actor, the masking key, this socket).
FREE_VARIABLES = ("_", "PWD", "OLDPWD", "SHLVL")
FREE_PREFIX = "KASKAD_"
MESSAGE_BYTES = 1 << 20
POLL_SECONDS = 1.0  # how often the zygote checks that the test process is alive


class Zygote:
    """The zygote of one page run, started by :meth:`start`; ``None`` when it declined
    (it prints why)."""

    def __init__(self, proc: subprocess.Popen[bytes], folder: Path) -> None:
        self.proc = proc
        self.folder = folder
        self.socket = folder / "socket"
        self.errors = folder / "errors"
        self.log = folder / "zygote.log"

    @classmethod
    def start(cls, repo: Path, env: dict[str, str], timeout: float) -> Zygote | None:
        """A zygote for commands run in ``repo`` with ``env``; ``None`` (said on standard
        output) when it would not be safe to fork; AssertionError when it failed."""
        folder = Path(tempfile.mkdtemp(prefix="kaskad-zygote-"))  # short: a socket's path
        with (folder / "zygote.log").open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, __file__, str(folder / "socket")],
                cwd=repo,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
            )
        zygote = cls(proc, folder)
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        line = proc.stdout.readline().decode().strip() if ready else ""
        proc.stdout.close()
        if line == "ready":
            return zygote
        tail = zygote.log_tail()
        zygote.close()
        if line.startswith("declined: "):
            print(f"kaskad zygote not used, {line}")
            return None
        said = line or ("no answer" if ready else f"no answer in {timeout} s")
        raise AssertionError(f"the kaskad zygote did not start ({said}):\n{tail}")

    def problem(self) -> str | None:
        """What went wrong in the zygote since it started, if anything."""
        if self.errors.exists() and (text := self.errors.read_text().strip()):
            return f"{text}\n--- zygote log\n{self.log_tail()}"
        if self.proc.poll() is not None:
            return f"the zygote stopped with {self.proc.returncode}\n{self.log_tail()}"
        return None

    def log_tail(self, lines: int = 25) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def counts(self) -> str:
        """How many commands were forked and how many run as fresh processes."""
        lines = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        words = [line.split(" ", 2)[1:2] for line in lines]  # after the time
        forked, declined = words.count(["forked"]), words.count(["declined"])
        return f"kaskad zygote: {forked} command(s) forked, {declined} run as fresh processes"

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


# ---- the zygote process ------------------------------------------------------------------


class _Server:
    """The zygote's side: one connection per command, a child per connection."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.errors = os.path.join(os.path.dirname(path), "errors")
        self.parent = os.getppid()
        self.environ = dict(os.environ)  # the page's, as a fresh process starts with it
        self.imported: dict[str, str] = {}  # variables the preloaded modules set
        self.unset: list[str] = []  # and removed
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.running: dict[int, tuple[int, socket.socket]] = {}  # pidfd: (pid, client)

    def preload(self) -> str | None:
        """Import :data:`PRELOAD`; why forking would not be safe, if it would not."""
        sys.path[0] = os.getcwd()  # as for ``python -m``: the folder, not this file's
        for name in PRELOAD:
            importlib.import_module(name)
        # what MAIN imports stays; MAIN itself is run afresh in each child, as ``__main__``
        del sys.modules[MAIN]
        package, _, name = MAIN.rpartition(".")
        delattr(sys.modules[package], name)
        self.imported = {k: v for k, v in os.environ.items() if self.environ.get(k) != v}
        self.unset = [k for k in self.environ if k not in os.environ]
        gc.collect()
        gc.freeze()  # the imports' objects: a child's collections leave them (uncopied)
        if loaded := [name for name in NOT_PRELOADED if name in sys.modules]:
            return f"{', '.join(loaded)} imported"
        if threading.active_count() != 1:
            return f"{threading.active_count()} Python threads after the imports"
        return None

    def serve(self) -> None:
        why = self.preload()
        self.listener.bind(self.path)
        self.listener.listen(16)
        _say("ready" if why is None else f"declined: {why}")
        threads = [
            Path(f"/proc/self/task/{t}/comm").read_text().strip()
            for t in os.listdir("/proc/self/task")
        ]
        _log(f"pid {os.getpid()}, {len(sys.modules)} modules, native threads: {threads}")
        while why is None and os.getppid() == self.parent and os.path.exists(self.path):
            listener = self.listener.fileno()
            ready, _, _ = select.select([listener, *self.running], [], [], POLL_SECONDS)
            for item in ready:
                if item == listener:
                    self.accept()
                else:
                    self.reap(item)
        if os.getppid() != self.parent:  # the test process is gone: nobody reads these
            shutil.rmtree(os.path.dirname(self.path), ignore_errors=True)

    def accept(self) -> None:
        client, _ = self.listener.accept()
        fds: list[int] = []
        try:
            message, fds, flags, _ = socket.recv_fds(client, MESSAGE_BYTES, 3)
            if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC) or len(fds) != 3:
                raise RuntimeError(f"a truncated request ({len(message)} bytes, fds {fds})")
            cwd, args, env = _parse(message)
            if why := self.declined(env, fds):
                _log(f"declined {args}: {why}")
                client.send(b"fallback")
                client.close()
                return
            if threading.active_count() != 1:
                raise RuntimeError(f"{threading.active_count()} Python threads: no fork")
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                try:
                    self.child(client, fds, cwd, args, env)
                finally:
                    os._exit(70)  # never back into the zygote's loop
            _log(f"forked {pid} {args}")
            self.running[os.pidfd_open(pid)] = (pid, client)
        except Exception as exc:
            self.fail(f"zygote: {type(exc).__name__}: {exc}\n{traceback.format_exc()}")
            with contextlib.suppress(OSError):  # the client went away
                client.send(f"error: {type(exc).__name__}: {exc}".encode()[:250])
            client.close()
        finally:
            for fd in fds:
                os.close(fd)

    def declined(self, env: dict[str, str], fds: list[int]) -> str | None:
        """Why a fresh process could behave differently from a fork, if it could."""
        keys = env.keys() | self.environ.keys()
        changed = sorted(
            k
            for k in keys
            if env.get(k) != self.environ.get(k)
            and k not in FREE_VARIABLES
            and not k.startswith(FREE_PREFIX)
        )
        if changed:
            return f"environment differs: {', '.join(changed)}"
        if any(os.isatty(fd) for fd in fds):
            return "a terminal"
        return None

    def reap(self, pidfd: int) -> None:
        pid, client = self.running.pop(pidfd)
        os.close(pidfd)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        _log(f"ended {pid} with {code}")
        try:
            client.send(f"exit {code}".encode() if code >= 0 else f"signal {-code}".encode())
        except OSError as exc:  # the client went away: nobody waits for the code
            _log(f"{pid}: exit code not delivered: {exc}")
        client.close()

    def child(
        self, client: socket.socket, fds: list[int], cwd: str, args: list[str], env: dict[str, str]
    ) -> NoReturn:
        """In the fork: become the command's process, run it, exit with its code."""
        try:
            self.listener.close()
            client.close()
            for pidfd, (_, other) in self.running.items():
                os.close(pidfd)
                other.close()
            for target, fd in enumerate(fds):
                os.dup2(fd, target)
                os.close(fd)
            os.chdir(cwd)
            os.environ.clear()
            os.environ.update(env)
            os.environ.update(self.imported)  # as the imports would have set them
            for key in self.unset:
                os.environ.pop(key, None)
            tempfile.tempdir = None  # read again from TMPDIR when first needed
            importlib.invalidate_caches()
            sys.path[0] = os.getcwd()
            sys.argv = ["kaskad", *args]  # argv[0]: the module's file, set by runpy
            sys.orig_argv = [sys.executable, "-m", MAIN, *args]
        except BaseException as exc:
            self.fail(f"zygote child for {args}: {exc!r}\n{traceback.format_exc()}")
            os._exit(70)
        os._exit(_run_cli())

    def fail(self, text: str) -> None:
        _log(text)
        with open(self.errors, "a") as errors:
            errors.write(text + "\n")


def _run_cli() -> int:
    """``python -m kaskad.cli.main``, then the interpreter's exit: its exit code."""
    try:
        runpy.run_module(MAIN, run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        code = _exit_code(exc.code)
    except BaseException:
        sys.excepthook(*sys.exc_info())
        code = 1
    threading._shutdown()  # type: ignore[attr-defined]  # non-daemon threads are joined
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            code = 120  # as the interpreter: its standard streams could not be flushed
    return code & 0xFF


def _exit_code(code: object) -> int:
    """The exit status ``raise SystemExit(code)`` gives a process."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _parse(message: bytes) -> tuple[str, list[str], dict[str, str]]:
    """The client's folder, arguments and environment (NUL-separated)."""
    fields = [os.fsdecode(f) for f in message.split(b"\0")]
    count = int(fields[1])
    args = fields[2 : 2 + count]
    env: dict[str, str] = {}
    for item in fields[2 + count :]:
        key, _, value = item.partition("=")
        env[key] = value
    return fields[0], args, env


def _say(line: str) -> None:
    """Tell the page run (standard output), then leave standard output to the children."""
    os.write(1, f"{line}\n".encode())
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)


def _log(line: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {line}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    _Server(sys.argv[1]).serve()
    os._exit(0)  # not the interpreter's teardown of thousands of modules
