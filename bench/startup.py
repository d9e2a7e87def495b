"""How fast the ``kaskad`` command starts, next to plain Python measured in the same run.

    .venv/bin/python bench/startup.py [--runs 10]

Times, each in a new process (best and median of ``--runs``):

- ``kaskad --version`` and ``kaskad --help`` (target: under 0.5 s);
- ``kaskad validate examples/credit/pipeline.yaml`` (target: under 2 s);
- the baselines ``python -c pass`` and ``python -c "import polars"``, so that figures from
  a busy machine can be read against what Python itself costs at that moment.

The command runs as ``python -m kaskad.cli.main`` with this interpreter (the ``kaskad``
script does the same). Needs the credit example built (``examples/credit/build.py``).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

from benchlib import PIPELINE, ROOT, print_header, require_example

KASKAD = [sys.executable, "-m", "kaskad.cli.main"]


@dataclass(frozen=True)
class Case:
    name: str
    command: list[str]
    target_s: float | None  # None: a baseline


CASES = (
    Case("python -c pass", [sys.executable, "-c", "pass"], None),
    Case('python -c "import polars"', [sys.executable, "-c", "import polars"], None),
    Case("kaskad --version", [*KASKAD, "--version"], 0.5),
    Case("kaskad --help", [*KASKAD, "--help"], 0.5),
    Case(
        "kaskad validate examples/credit/pipeline.yaml",
        [*KASKAD, "validate", str(PIPELINE.relative_to(ROOT))],
        2.0,
    ),
)


def time_once(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - start


def measure(case: Case, runs: int) -> list[float]:
    time_once(case.command)  # warm the file cache and the .pyc files
    return [time_once(case.command) for _ in range(runs)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="timed runs per command")
    args = parser.parse_args()
    require_example()
    print_header(f"kaskad start-up: best and median of {args.runs} runs, each a new process")
    results = {case.name: measure(case, args.runs) for case in CASES}
    bare = min(results[CASES[0].name])
    width = max(len(case.name) for case in CASES)
    print(f"{'command':<{width}}  {'best':>7}  {'median':>7}  {'× python':>8}  target  met?")
    failed = []
    for case in CASES:
        times = results[case.name]
        best, mid = min(times), statistics.median(times)
        target, met = "", ""
        if case.target_s is not None:
            target = f"< {case.target_s:g} s"
            met = "yes" if mid < case.target_s else "NO"
            if met == "NO":
                failed.append(case.name)
        print(
            f"{case.name:<{width}}  {best:>6.3f}s  {mid:>6.3f}s  {best / bare:>7.1f}×  "
            f"{target:<6}  {met}"
        )
    print()
    if failed:
        print("verdict: target missed (median) by " + ", ".join(failed))
        return 1
    print("verdict: every target met (median)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
