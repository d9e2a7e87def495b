"""Finding ``promtool`` (Debian package ``prometheus``; ``.ci/run`` installs it): tests
that need it skip without it, and fail under ``KASKAD_REQUIRE_SERVICES=1`` (CI)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "kaskad-alerts.yml"


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        reason = "promtool is not installed (apt-get install prometheus)"
        if os.environ.get("KASKAD_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{reason}; KASKAD_REQUIRE_SERVICES=1 requires it")
        pytest.skip(reason)
    return found


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
