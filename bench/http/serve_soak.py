"""Memory under sustained load: kaskad's server, RSS after every round of requests.

    .venv/bin/python bench/http/serve_soak.py [--rounds 8] [--per-round 5000]

Starts ``kaskad`` exactly as ``serve_throughput.py`` does (credit example, decision log
in a temporary folder, the ONNX challenger in shadow, one uvicorn worker on the server
core(s)), then sends ``--rounds`` rounds of ``--per-round`` requests over
``--connections`` keep-alive connections and prints, after each round, the throughput and
the server's resident memory (``VmRSS``). The last line compares the last round's RSS
with the first's: with the serving garbage-collector settings and bounded queues, it
should stay flat (no per-request growth).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench/, for benchlib

import serve_throughput as st
from benchlib import APPLICATIONS, print_header, require_example


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise SystemExit("no VmRSS: this benchmark needs Linux's /proc")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=8, help="rounds of requests (default 8)")
    parser.add_argument(
        "--per-round", type=int, default=5_000, help="requests per round (default 5,000)"
    )
    parser.add_argument(
        "--connections", type=int, default=32, help="concurrent keep-alive connections (default 32)"
    )
    parser.add_argument(
        "--records",
        type=int,
        default=2_000,
        help="distinct example applications sent, cycled (default 2,000)",
    )
    args = parser.parse_args(argv)
    require_example()
    print_header("kaskad serving memory under sustained load (credit example)")
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    server_cpus = ",".join(map(str, cores[:-1])) if len(cores) >= 2 else None
    client_cpus = [cores[-1]] if len(cores) >= 2 else None

    with APPLICATIONS.open(encoding="utf-8") as fh:
        records = [json.loads(line) for _, line in zip(range(args.records), fh, strict=False)]
    bodies = [json.dumps(r, separators=(",", ":")).encode() for r in records]
    with tempfile.TemporaryDirectory(prefix="kaskad-soak-log-") as log:
        options = argparse.Namespace(server_cpus=server_cpus, bare_threadpool=False)
        server = st.start("kaskad", options, json.dumps({"decision_log": log}))
        try:
            st.wait_ready(server, 60)
            print(
                f"client: {st._pin(client_cpus)}; server: cpu {server_cpus or 'any'}; "
                f"{args.connections} connections, decision log on, shadow on\n"
            )
            requests = st.encode_requests(
                server.port, f"/v1/pipelines/{st.PIPELINE_NAME}/decide", bodies
            )
            try:
                import uvloop

                runner = uvloop.run
            except ImportError:
                import asyncio

                runner = asyncio.run  # type: ignore[assignment]
            sizes = []
            for i in range(args.rounds):
                run = runner(
                    st.load(
                        server.port,
                        requests,
                        args.per_round,
                        args.connections,
                        start_at=i * args.per_round,
                    )
                )
                sizes.append(_rss_mib(server.process.pid))
                print(
                    f"  after {(i + 1) * args.per_round:>8,} requests: {run.rps:6,.0f} req/s  "
                    f"p99 {run.p(99):6.1f} ms  non-200 {run.errors}  rss {sizes[-1]:6.1f} MiB"
                )
        finally:
            server.process.terminate()
            server.process.wait(30)
    growth = sizes[-1] - sizes[0]
    served = (args.rounds - 1) * args.per_round
    print(
        f"\nRSS from the first round to the last: {sizes[0]:.1f} → {sizes[-1]:.1f} MiB "
        f"({growth:+.1f} MiB over {served:,} requests, "
        f"{growth * 1024 * 1024 / max(served, 1):+.1f} bytes per request)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
