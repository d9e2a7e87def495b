"""Every documented command and Python block runs as written.

Each page of README.md and docs/ runs its ```bash, ```console and ```python blocks in page
order in a scratch copy of the repository with the credit example built; a block marked
``<!-- illustration: why -->`` is not run (see tests/docs/blocks.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs.blocks import page_blocks, untagged_commands
from tests.docs.runner import (
    ROOT,
    ExampleFailed,
    PageRun,
    command_env,
    scratch_bin_dir,
    scratch_repository,
    server_port_lock,
)

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
RUNNABLE_PAGES = [p for p in PAGES if any(not b.illustration for b in page_blocks(p))]


def _name(page: Path) -> str:
    return str(page.relative_to(ROOT))


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("page", RUNNABLE_PAGES, ids=_name)
def test_page_examples_run(page: Path, example_dir: Path, tmp_path: Path) -> None:
    repo = scratch_repository(tmp_path / "repo")
    blocks = [b for b in page_blocks(repo / page.relative_to(ROOT)) if not b.illustration]
    run = PageRun(repo)
    with server_port_lock(blocks):
        try:
            for block in blocks:
                if missing := [tool for tool in block.needs if shutil.which(tool) is None]:
                    if os.environ.get("KASKAD_REQUIRE_SERVICES") == "1":
                        pytest.fail(f"{block.where} needs {', '.join(missing)}")
                    continue
                run.run(block)
        finally:
            run.close()


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_commands_are_in_runnable_blocks(page: Path) -> None:
    """A command in a block with no language would silently escape the check above."""
    assert untagged_commands(page) == [], f"{_name(page)}: tag these blocks ```console"


@pytest.mark.slow
@pytest.mark.parametrize("zygote", [True, False], ids=["zygote", "fresh"])
def test_a_broken_example_fails(tmp_path: Path, zygote: bool) -> None:
    """The harness reports a documented command that fails, naming the page and line,
    whether it ran in a fork of the page's zygote or as a fresh process."""
    page = tmp_path / "broken.md"
    page.write_text(
        "# A page\n\n```console\n$ kaskad --version\n"
        "$ kaskad validate examples/credit/no-such-pipeline.yaml\n```\n"
    )
    scratch_bin_dir(tmp_path)
    run = PageRun(tmp_path, zygote=zygote)
    (block,) = page_blocks(page)
    failed = r"broken\.md:3: `kaskad validate .*` exited with 1"
    try:
        with pytest.raises(ExampleFailed, match=failed):
            run.run(block)
        assert (run.zygote is not None) == zygote
    finally:
        run.close()


@pytest.mark.slow
def test_zygote_commands_print_and_exit_as_fresh_processes(tmp_path: Path) -> None:
    """A command forked from the page's zygote prints and exits exactly as ``python -m
    kaskad.cli.main`` does; one whose environment differs from the page's (the CLI's
    consoles read COLUMNS when imported) runs as a fresh process."""
    commands = ["kaskad --help", "kaskad no-such-command", "COLUMNS=60 kaskad --help"]
    lines = [f"$ {c} > out{n} 2>&1 || echo exit $? >> out{n}" for n, c in enumerate(commands)]
    page = tmp_path / "page.md"
    page.write_text("```console\n" + "\n".join(lines) + "\n```\n")
    scratch_bin_dir(tmp_path)
    run = PageRun(tmp_path)
    try:
        run.run(page_blocks(page)[0])
        assert run.zygote is not None
        assert run.zygote.counts().endswith("2 command(s) forked, 1 run as fresh processes")
    finally:
        run.close()
    for n, command in enumerate(commands):
        fresh = command.replace("kaskad", f"{sys.executable} -m kaskad.cli.main")
        script = f"{fresh} > ref 2>&1 || echo exit $? >> ref"
        subprocess.run(["bash", "-c", script], cwd=tmp_path, env=command_env(tmp_path))
        expected = (tmp_path / "ref").read_text()
        assert (tmp_path / f"out{n}").read_text() == expected, command
    assert "exit 2" in (tmp_path / "out1").read_text()


def test_a_broken_python_block_fails(tmp_path: Path) -> None:
    page = tmp_path / "broken.md"
    page.write_text("```python\nimport kaskad\nkaskad.compile_pipeline('nowhere.yaml')\n```\n")
    (block,) = page_blocks(page)
    with pytest.raises(ExampleFailed, match=r"broken\.md:1: SpecError"):
        PageRun(tmp_path).run(block)


def test_illustration_needs_a_reason(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("<!-- illustration: needs a cluster -->\n```console\n$ false\n```\n")
    assert page_blocks(page)[0].illustration == "needs a cluster"
    page.write_text("<!-- illustration -->\n```console\n$ false\n```\n")
    with pytest.raises(ValueError, match="must say why"):
        page_blocks(page)


def test_needs_marker_names_the_programs(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("<!-- needs: promtool -->\n```console\n$ promtool --version\n```\n")
    (block,) = page_blocks(page)
    assert block.needs == ("promtool",) and block.illustration is None
