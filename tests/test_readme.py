"""The README's two set-up commands stay the ones CI and users run."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)\n```", text, flags=re.S)
    return [b.strip() for b in blocks[:2]]


def test_readme_starts_with_two_commands() -> None:
    text = (ROOT / "README.md").read_text()
    head = text.split("## ")[0]
    assert len(re.findall(r"```bash\n", head)) == 2
    install, test = setup_commands()
    assert "kaskad run examples/credit/pipeline.yaml" in install
    assert "pytest" in test and "ruff" in test and "mypy" in test


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert setup_commands()[1] in ci
    assert "KASKAD_REQUIRE_SERVICES=1" in ci


def test_ci_runs_every_test_and_fails_when_none_ran() -> None:
    """No marker or keyword filter (slow tests run in CI), and any non-zero pytest exit,
    5 (no tests collected) included, stops ``.ci/run`` (``set -e``, nothing swallowing it)."""
    ci = (ROOT / ".ci" / "run").read_text()
    test = setup_commands()[1]
    assert "set -euo pipefail" in ci
    assert not re.search(r"pytest[^&|;]*\s(-m|-k)\s", test)
    assert "|| true" not in ci and "|| :" not in ci


def test_development_commands_use_only_tools_the_locks_install() -> None:
    """Every ``.venv/bin/TOOL`` the README calls is pip, python, kaskad itself or a package
    pinned in the development lock (``uv`` was once called without being installed)."""
    text = (ROOT / "README.md").read_text()
    dev_lock = (ROOT / "requirements-dev.lock").read_text()
    pinned = {line.split("==")[0].lower() for line in dev_lock.splitlines() if "==" in line}
    for tool in sorted(set(re.findall(r"\.venv/bin/([\w-]+)", text))):
        assert tool in {"pip", "python", "kaskad"} or tool in pinned, f".venv/bin/{tool}"
    for lock in ("requirements.lock", "requirements-dev.lock", "requirements-build.lock"):
        assert f"-o {lock}" in text
        first = (ROOT / lock).read_text().splitlines()[1]  # uv's record of its command
        assert first.removeprefix("#    ").replace("uv pip", ".venv/bin/uv pip") in text


def test_offline_recipe_is_the_bundle() -> None:
    from kaskad.deliver.layout import REQUIREMENTS, WHEELHOUSE
    from kaskad.deliver.layout import ROOT as BUNDLE

    text = (ROOT / "README.md").read_text()
    assert "kaskad bundle loan_decision@production -o bundle.tar" in text
    assert f"--find-links {BUNDLE}/{WHEELHOUSE} --require-hashes -r {BUNDLE}/{REQUIREMENTS}" in text
    assert "pip download" not in text
