"""Run a page's blocks in order, in a scratch copy of the repository.

``kaskad`` and ``.venv/bin/kaskad`` / ``.venv/bin/python`` (the virtual environment the
README creates) are this interpreter with the repository's ``src`` first on its path, so a
block runs exactly as written. A ``kaskad serve`` command runs in the background until the
page ends; the next command waits until it answers ``/ready``. The other ``kaskad``
commands run in forks of the page's zygote, which has kaskad's modules imported already
(tests/docs/zygote.py): the same command, without 2.5–3 s of imports each.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.docs.blocks import Block
from tests.docs.zygote import CLIENT, VARIABLE, Zygote

ROOT = Path(__file__).resolve().parents[2]
COMMAND_TIMEOUT = 300
READY_TIMEOUT = 90
FAILED = "__docs_failed__"
SERVE = re.compile(
    r"""^(?:[A-Za-z_]\w*=(?:"[^"]*"|'[^']*'|\S*)\s+)*(?:\.venv/bin/)?kaskad\s+serve\b"""
)
KASKAD = re.compile(r"(?<![\w./-])(?:\.venv/bin/)?kaskad(?=\s|$|[);|&])")  # the command
SKIP_COPY = shutil.ignore_patterns(
    ".git",
    ".venv",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".hypothesis",
    "site",
    "out",
    ".kaskad",
    "results",
    ".build.lock",
)


class ExampleFailed(AssertionError):
    """A documented example did not run as written."""


def scratch_repository(target: Path) -> Path:
    """A copy of the repository (with the credit example built, when it is) and the
    README's ``.venv/bin``."""
    shutil.copytree(ROOT, target, ignore=SKIP_COPY, symlinks=True)
    scratch_bin_dir(target)
    return target


def scratch_bin_dir(repo: Path) -> None:
    """``repo/.venv/bin/kaskad``, ``python`` and ``python3`` (a venv's python3 is its own):
    this interpreter (a symlink would lose the virtual environment, found next to the
    link's own path). ``kaskad`` is the zygote's client while the page's zygote is up."""
    bin_dir = repo / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    client = f'[ -n "${{{VARIABLE}:-}}" ] && exec "{sys.executable}" -I -S "{CLIENT}" "$@"'
    for name, line in (
        ("kaskad", f'{client}\nexec "{sys.executable}" -m kaskad.cli.main "$@"'),
        ("python", f'exec "{sys.executable}" "$@"'),
        ("python3", f'exec "{sys.executable}" "$@"'),
    ):
        script = bin_dir / name
        script.write_text(f"#!/bin/sh\n{line}\n")
        script.chmod(0o755)


def command_env(repo: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KASKAD_", "PYTEST_"))}
    # The README's .venv/bin first, then the tools beside this interpreter (mkdocs);
    # kaskad is the scratch copy's own source.
    tools = Path(sys.executable).parent
    env["PATH"] = os.pathsep.join([str(repo / ".venv" / "bin"), str(tools), env.get("PATH", "")])
    env["PYTHONPATH"] = str(repo / "src")
    env["COLUMNS"] = "120"
    env["NO_COLOR"] = "1"
    return env


class PageRun:
    """One page's blocks, run in order in ``repo``; ``close`` stops its servers and its
    zygote (``zygote=False``: every ``kaskad`` command a fresh process)."""

    def __init__(self, repo: Path, zygote: bool = True) -> None:
        self.repo = repo
        self.env = command_env(repo)
        self.namespace: dict[str, Any] = {"__name__": "__docs__"}
        self.servers: list[tuple[subprocess.Popen[bytes], Path]] = []
        self.started = 0
        self.zygote: Zygote | None = None
        self.zygote_tried = not zygote

    def run(self, block: Block) -> None:
        """Run one block: a console block's commands in one shell (a variable set by one
        command is seen by the next, as when typed), up to each ``kaskad serve``."""
        if block.lang == "python":
            self._python(block)
            return
        pending: list[str] = []
        for command in block.commands():
            if SERVE.match(command):
                self._shell(block, pending)
                pending = []
                self._serve(block, command)
            else:
                pending.append(command)
        self._shell(block, pending)

    def _shell(self, block: Block, commands: list[str]) -> None:
        if not commands:
            return
        script = ["set -euo pipefail", f"trap 'echo {FAILED} $__docs_n >&2' ERR"]
        for n, command in enumerate(commands):
            script += [f"__docs_n={n}", command]
        env = self.env
        if any(KASKAD.search(c) for c in commands) and (zygote := self._zygote(block)):
            env = {**env, VARIABLE: str(zygote.socket)}
        started = time.monotonic()
        try:
            done = subprocess.run(
                ["bash", "-c", "\n".join(script)],
                cwd=self.repo,
                env=env,
                capture_output=True,
                timeout=COMMAND_TIMEOUT * len(commands),
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            raise ExampleFailed(f"{block.where}: ran over {exc.timeout} s") from None
        print(f"{block.where}: {time.monotonic() - started:5.1f} s, {len(commands)} command(s)")
        if self.zygote and (problem := self.zygote.problem()):
            raise ExampleFailed(f"{block.where}: the kaskad zygote failed: {problem}")
        if done.returncode != 0:
            stderr = done.stderr.decode(errors="replace")
            failed = re.findall(rf"^{FAILED} (\d+)$", stderr, flags=re.M)
            command = commands[int(failed[-1])] if failed else "\n".join(commands)
            stderr = re.sub(rf"^{FAILED} \d+\n?", "", stderr, flags=re.M)
            raise ExampleFailed(
                f"{block.where}: `{command}` exited with {done.returncode}\n"
                f"--- stdout\n{_tail(done.stdout)}\n--- stderr\n{_tail(stderr.encode())}"
            )

    def _zygote(self, block: Block) -> Zygote | None:
        """The page's zygote, started for its first ``kaskad`` command."""
        if not self.zygote_tried:
            self.zygote_tried = True
            try:
                self.zygote = Zygote.start(self.repo, self.env, READY_TIMEOUT)
            except AssertionError as exc:
                raise ExampleFailed(f"{block.where}: {exc}") from None
        return self.zygote

    def _python(self, block: Block) -> None:
        code = compile(block.text, f"{block.page.name}:{block.line}", "exec")
        here = Path.cwd()
        os.chdir(self.repo)
        try:
            exec(code, self.namespace)
        except Exception as exc:
            raise ExampleFailed(f"{block.where}: {type(exc).__name__}: {exc}") from exc
        finally:
            os.chdir(here)

    def _serve(self, block: Block, command: str) -> None:
        self._stop_servers()  # one server at a time: the documented commands share the port
        port = re.search(r"--port[ =](\d+)", command)
        number = int(port.group(1)) if port else 8000
        if _listening(number):  # another process's server would answer for ours
            raise ExampleFailed(f"{block.where}: port {number} is in use before `{command}`")
        self.started += 1
        log = self.repo / f"serve-{self.started}.log"
        with log.open("wb") as sink:
            proc = subprocess.Popen(
                ["bash", "-c", command],  # its own process group: stopped whole
                cwd=self.repo,
                env=self.env,  # no zygote: the server is a process of this group
                stdout=sink,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.servers.append((proc, log))
        url = f"http://127.0.0.1:{number}/ready"
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise ExampleFailed(
                    f"{block.where}: `{command}` stopped with {proc.returncode}\n"
                    f"{_tail(log.read_bytes())}"
                )
            with (
                contextlib.suppress(urllib.error.URLError, OSError),
                urllib.request.urlopen(url, timeout=2) as reply,
            ):
                if reply.status == 200:
                    return
            time.sleep(0.3)
        raise ExampleFailed(f"{block.where}: `{command}` never answered {url}")

    def close(self) -> None:
        """Stop the page's servers and its zygote."""
        self._stop_servers()
        if self.zygote:
            print(self.zygote.counts())
            self.zygote.close()
            self.zygote = None

    def _stop_servers(self) -> None:
        for proc, _ in self.servers:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        self.servers.clear()


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def server_port_lock(blocks: list[Block]) -> Iterator[None]:
    """Pages that start ``kaskad serve`` on its documented port run one at a time, also
    across pytest-xdist workers (a lock file in the temporary folder)."""
    if not any(SERVE.match(c) for b in blocks if b.lang != "python" for c in b.commands()):
        yield
        return
    with (Path(tempfile.gettempdir()) / "kaskad-docs-serve.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        yield


def _tail(data: bytes, lines: int = 25) -> str:
    return "\n".join(data.decode(errors="replace").splitlines()[-lines:])
