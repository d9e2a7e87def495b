"""What the host lets a process do (``kaskad.host``); a host that forbids executable memory
is run for real in ``tests/models/test_kernels_native.py``."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from kaskad import host


def test_this_test_process_may_make_executable_memory() -> None:
    assert host.exec_memory_denied() is False


@pytest.mark.parametrize("given", [None, "0"])
def test_polars_check_is_left_alone_where_the_host_allows_it_or_the_user_chose(
    given: str | None,
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "POLARS_SKIP_CPU_CHECK"}
    if given is not None:
        env["POLARS_SKIP_CPU_CHECK"] = given
    script = "import os, kaskad; print(os.environ.get('POLARS_SKIP_CPU_CHECK'))"
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == str(given)
