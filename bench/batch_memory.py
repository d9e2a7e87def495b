"""Memory and throughput of ``kaskad run`` streaming a large Parquet file, against a baseline.

    .venv/bin/python bench/batch_memory.py [--rows N] [--chunk-size N] [--row-group N]

Builds (once, cached under bench/results/) a Parquet input of ``--rows`` applications: the
credit example's 20,000 repeated in order with fresh ids, written in row groups of
``--row-group`` rows, zstd-compressed, a row group at a time. Then runs, each in a child
process of its own so that its peak resident memory can be read alone:

- kaskad: the real command, ``python -m kaskad.cli.main run examples/credit/pipeline.yaml
  --input INPUT --output OUTPUT.parquet --quiet --store TMP`` (streaming source, executor,
  streaming sink, run summary kept in a temporary store);
- baseline: hand-written, the same work without kaskad: pyarrow ``iter_batches`` →
  ``batch_throughput.baseline`` (the plain-Polars credit pipeline with the same three model
  calls) → ``pyarrow.parquet.ParquetWriter``, one row group per chunk.

Peak RSS is the child's ``ru_maxrss`` from ``os.wait4``. On Linux a child's ``ru_maxrss``
starts at its parent's RSS when it was forked (it survives ``exec``), so this process
stays small: it imports only the standard library, and building the input, printing the
machine and checking the outputs run in children of their own. RSS and the high-water mark
(``VmHWM``) are also sampled from ``/proc/PID/status`` every half second, as a check and to
show whether memory grows with the rows read; so is the RSS of the child with its own
children (kaskad's compilers of the trees: :mod:`kaskad.models.kernels.native`), every
tenth of a second, since a container's memory limit counts them too. Rows/s is measured
inside each child over its loop (kaskad: the duration its run summary records; start-up
and loading the pipeline excluded), and over the child's whole life. Finally both outputs
must agree on their first ``--verify-rows`` rows.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PIPELINE = ROOT / "examples" / "credit" / "pipeline.yaml"
RESULTS = HERE / "results"
TARGET_RSS_MB = 1500  # kaskad's peak RSS must stay under 1.5 GB
SAMPLE_S = 0.5
TREE_SAMPLE_S = 0.1  # the child with its children: a compiler lives 0.3–3 s
# Only the standard library at the top: this process's own RSS must stay small (see the
# docstring). The children import what they need: benchlib, kaskad, batch_throughput.


# ---- the input ---------------------------------------------------------------------------


def input_path(rows: int, row_group: int) -> Path:
    return RESULTS / f"applications_tiled_{rows}_rg{row_group}.parquet"


def prepare_child(rows: int, row_group: int) -> None:
    """Print the machine; build the input unless it is cached."""
    import shutil

    import numpy as np
    import polars as pl
    import pyarrow.parquet as pq
    from benchlib import APPLICATIONS, print_header, require_example

    import kaskad
    from kaskad.io.files import read_input

    require_example()
    print_header("kaskad batch memory (credit example, streamed from Parquet)")
    path = input_path(rows, row_group)
    if path.exists():
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(RESULTS).free
    print(f"building {path.name}: {rows:,} rows ({free / 1e9:.0f} GB free in {RESULTS})")
    plan = kaskad.compile_pipeline(PIPELINE)
    base = read_input(APPLICATIONS, plan.schema)
    partial = path.with_suffix(".partial")
    writer: pq.ParquetWriter | None = None
    try:
        for start in range(0, rows, row_group):
            index = np.arange(start, min(start + row_group, rows))
            block = base[index % base.height].with_columns(
                pl.Series("application_id", index).cast(pl.String).str.zfill(10)
                .str.replace(r"^", "T")
            )  # fmt: skip
            table = block.to_arrow(compat_level=pl.CompatLevel.oldest())
            if writer is None:
                writer = pq.ParquetWriter(partial, table.schema, compression="zstd")
            writer.write_table(table, row_group_size=row_group)
    finally:
        if writer is not None:
            writer.close()
    partial.replace(path)
    print(f"wrote {path} ({path.stat().st_size / 1e6:,.0f} MB)")


# ---- children ----------------------------------------------------------------------------


@dataclass
class Measured:
    label: str
    rows: int = 0
    loop_s: float = 0.0  # the child's own timing of its read-decide-write loop
    wall_s: float = 0.0  # the child's whole life: start-up, loading, loop, exit
    peak_mb: float = 0.0  # ru_maxrss
    hwm_mb: float = 0.0  # the last VmHWM sampled before the child ended
    samples: list[float] = field(default_factory=list)  # RSS every SAMPLE_S, MB
    tree_mb: float = 0.0  # the highest RSS of the child and its children together (sampled)

    @property
    def rate(self) -> float:
        return self.rows / self.loop_s if self.loop_s else 0.0


def status_mb(pid: int | str, key: str) -> float | None:
    """A memory figure of ``/proc/PID/status`` (``VmRSS``, ``VmHWM``) in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def tree_mb(pid: int) -> float:
    """The RSS of ``pid`` and every process below it, in MB (0 once it has ended)."""
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        total += status_mb(p, "VmRSS") or 0.0
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return total


def measure(label: str, command: list[str]) -> tuple[Measured, str]:
    """Run ``command`` as a child, sampling its RSS; its peak from wait4 and its stdout."""
    result = Measured(label)
    parent = status_mb("self", "VmRSS") or 0.0
    print(f"{label}: starting (this process: {parent:,.0f} MB, the floor of its ru_maxrss)")
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    done = threading.Event()

    def sample() -> None:
        ticks = round(SAMPLE_S / TREE_SAMPLE_S)
        tick = 0
        while not done.wait(TREE_SAMPLE_S):
            result.tree_mb = max(result.tree_mb, tree_mb(child.pid))
            tick += 1
            if tick % ticks:
                continue
            rss, hwm = status_mb(child.pid, "VmRSS"), status_mb(child.pid, "VmHWM")
            if rss is not None and hwm is not None:
                result.samples.append(rss)
                result.hwm_mb = hwm

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    assert child.stdout is not None
    stdout = child.stdout.read()  # until the child closes it (at exit)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    done.set()
    sampler.join()
    result.wall_s = time.perf_counter() - start
    result.peak_mb = usage.ru_maxrss / 1024  # kilobytes on Linux
    if child.returncode != 0:
        raise SystemExit(f"{label} failed with exit code {child.returncode}")
    return result, stdout


def run_kaskad(source: Path, output: Path, chunk_size: int) -> Measured:
    with tempfile.TemporaryDirectory(prefix="kaskad-bench-store-") as store:
        command = [sys.executable, "-m", "kaskad.cli.main", "run", str(PIPELINE),
                   "--input", str(source), "--output", str(output), "--quiet",
                   "--chunk-size", str(chunk_size), "--store", store]  # fmt: skip
        result, _ = measure("kaskad", command)
        with sqlite3.connect(Path(store) / "kaskad.db") as db:  # the run kaskad recorded
            row = db.execute("SELECT rows_in, duration_s FROM runs ORDER BY id DESC").fetchone()
    result.rows, result.loop_s = row
    return result


def run_baseline(source: Path, output: Path, chunk_size: int) -> Measured:
    command = [sys.executable, __file__, "--child", "baseline", str(source), str(output),
               "--chunk-size", str(chunk_size)]  # fmt: skip
    result, stdout = measure("baseline", command)
    figures = json.loads(stdout.strip().splitlines()[-1])
    result.rows, result.loop_s = figures["rows"], figures["seconds"]
    print(f"baseline: {figures['loaded_mb']:,.0f} MB once imports and models were loaded")
    return result


def baseline_child(source: Path, output: Path, chunk_size: int) -> None:
    """The hand-written side: Arrow batches → plain Polars → ParquetWriter."""
    import polars as pl
    import pyarrow.parquet as pq
    from batch_throughput import baseline, library_scorers
    from benchlib import load_models

    scorers = library_scorers(load_models())
    loaded_mb = status_mb("self", "VmHWM")
    rows, start = 0, time.perf_counter()
    writer: pq.ParquetWriter | None = None
    with pq.ParquetFile(source) as file:
        for batch in file.iter_batches(batch_size=chunk_size):
            frame = pl.from_arrow(batch)
            assert isinstance(frame, pl.DataFrame)
            table = baseline(frame, scorers).to_arrow(compat_level=pl.CompatLevel.oldest())
            if writer is None:
                writer = pq.ParquetWriter(output, table.schema, compression="zstd")
            writer.write_table(table, row_group_size=table.num_rows)
            rows += frame.height
    if writer is not None:
        writer.close()
    seconds = time.perf_counter() - start
    print(json.dumps({"rows": rows, "seconds": seconds, "loaded_mb": loaded_mb}))


# ---- checking and reporting --------------------------------------------------------------


def verify_child(ours: Path, theirs: Path, rows: int) -> None:
    import polars as pl
    from batch_throughput import check_same

    a = pl.scan_parquet(ours).head(rows).collect()
    b = pl.scan_parquet(theirs).head(rows).collect()
    problems = check_same(a, b)
    if problems:
        raise SystemExit("kaskad and the baseline disagree:\n  " + "\n  ".join(problems))
    print(f"outputs agree on their first {a.height:,} rows")


def growth(samples: list[float]) -> str:
    """RSS over the run: after the first tenth of the samples vs the highest after it."""
    if len(samples) < 10:
        return "too short to sample"
    settled = samples[len(samples) // 10]
    return f"{settled:,.0f} MB at 10% of the run, at most {max(samples[len(samples) // 10 :]):,.0f}"


def report(results: list[Measured], input_mb: float) -> None:
    print()
    print(f"{'':<10}{'peak RSS':>12}{'VmHWM':>10}{'+children':>12}{'rows/s (loop)':>16}"
          f"{'rows/s (wall)':>16}{'wall':>8}   RSS during the run")  # fmt: skip
    for r in results:
        print(f"{r.label:<10}{r.peak_mb:>9,.0f} MB{r.hwm_mb:>7,.0f} MB{r.tree_mb:>9,.0f} MB"
              f"{r.rate:>16,.0f}{r.rows / r.wall_s:>16,.0f}{r.wall_s:>7.0f}s   "
              f"{growth(r.samples)}")  # fmt: skip
    print(
        "+children: the highest RSS of the process and its children together, sampled every "
        f"{TREE_SAMPLE_S:g} s (kaskad's compilers of the trees)"
    )
    ours, theirs = results[0], results[-1]
    if len(results) == 2:
        print(f"kaskad vs baseline: {ours.rate / theirs.rate:.0%} of the rows/s, "
              f"{ours.peak_mb / theirs.peak_mb:.2f}x the peak RSS")  # fmt: skip
    print(f"input: {ours.rows:,} rows, {input_mb:,.0f} MB on disk")
    peak = max(ours.peak_mb, ours.tree_mb)
    verdict = "met" if peak < TARGET_RSS_MB else "NOT met"
    print(
        f"target: kaskad's peak RSS, its compilers included, under {TARGET_RSS_MB:,} MB: "
        f"{verdict} ({peak:,.0f} MB)"
    )


def child(*args: str) -> None:
    """Run this script again with ``args``, in a process of its own."""
    subprocess.run([sys.executable, __file__, *args], check=True, cwd=ROOT)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rows", type=int, default=10_000_000, help="applications to decide (default 10,000,000)"
    )
    parser.add_argument(
        "--chunk-size",
        type=int,
        default=50_000,
        help="rows per batch, as kaskad run's --chunk-size (default 50,000)",
    )
    parser.add_argument(
        "--row-group",
        type=int,
        default=1_000_000,
        help="rows per row group of the input file (default 1,000,000)",
    )
    parser.add_argument(
        "--verify-rows",
        type=int,
        default=100_000,
        help="rows on which both outputs must agree (default 100,000)",
    )
    parser.add_argument("--skip-baseline", action="store_true", help="only kaskad")
    parser.add_argument(
        "--keep-outputs",
        action="store_true",
        help="keep both outputs in bench/results/ (deleted by default)",
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        role, *paths = args.child
        if role == "prepare":
            prepare_child(args.rows, args.row_group)
        elif role == "baseline":
            baseline_child(Path(paths[0]), Path(paths[1]), args.chunk_size)
        else:
            verify_child(Path(paths[0]), Path(paths[1]), args.verify_rows)
        return 0
    sizes = ["--rows", str(args.rows), "--row-group", str(args.row_group)]
    child("--child", "prepare", *sizes)
    source = input_path(args.rows, args.row_group)
    print(f"input: {source} ({args.rows:,} rows, row groups of {args.row_group:,}), "
          f"chunks of {args.chunk_size:,}\n")  # fmt: skip
    outputs = {side: RESULTS / f"out_{side}_{args.rows}.parquet" for side in ("kaskad", "baseline")}
    try:
        results = [run_kaskad(source, outputs["kaskad"], args.chunk_size)]
        print(f"kaskad done: {results[0].rate:,.0f} rows/s, peak {results[0].peak_mb:,.0f} MB")
        if not args.skip_baseline:
            results.append(run_baseline(source, outputs["baseline"], args.chunk_size))
            print(f"baseline done: {results[1].rate:,.0f} rows/s, "
                  f"peak {results[1].peak_mb:,.0f} MB")  # fmt: skip
            child("--child", "verify", str(outputs["kaskad"]), str(outputs["baseline"]),
                  "--verify-rows", str(args.verify_rows))  # fmt: skip
        report(results, source.stat().st_size / 1e6)
    finally:
        if not args.keep_outputs:
            for path in outputs.values():
                path.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
