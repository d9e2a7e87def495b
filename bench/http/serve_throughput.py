"""HTTP throughput: kaskad's server against a bare FastAPI endpoint doing the same work.

    .venv/bin/python bench/http/serve_throughput.py [--connections 32] [--requests 3000]

Starts, as subprocesses on 127.0.0.1 (free ports), each under uvicorn with uvloop and
httptools, one worker, no access log:

- ``kaskad``: ``create_app`` serving ``examples/credit/pipeline.yaml`` (anonymous access),
  requests to ``POST /v1/pipelines/credit/decide``;
- ``bare``: one FastAPI route that parses the JSON body and calls the hand-written credit
  pipeline of ``bench/record_latency.py`` (``baseline`` with the library model calls:
  LightGBM, scikit-learn, onnxruntime, the shadow model included) and returns its result
  with a ``decision_id``, as JSON;

and, to show the load generator is not the bottleneck, ``client-check``: a minimal asyncio
HTTP responder (uvloop, a fixed small JSON answer, no framework), against which the client
alone is measured. The load generator is raw asyncio streams with keep-alive (one
HTTP/1.1 connection per concurrent client, one request in flight per connection), bodies
encoded once up front from the example's applications. Each run sends ``--warmup``
requests, then times ``--requests`` requests; every run is bounded by ``--run-timeout``.

Where ``os.sched_setaffinity`` exists and there are at least 2 cores, the servers run on
the core(s) of ``--server-cpus`` and the client on ``--client-cpus`` (default: the last
core for the client, the others for the servers), and the servers' OpenMP thread pools
(LightGBM, scikit-learn) get one thread per core given unless ``OMP_NUM_THREADS`` is set:
two spinning OpenMP threads on one pinned core cost both servers half their throughput.

kaskad runs as the target asks: decision log on (SQLite in a temporary folder, group
commit, a reply only once its record is committed; ``--no-decision-log`` to compare), the
example's ONNX challenger in shadow, and the serving defaults of ``kaskad serve`` (its
lifespan runs, so the garbage-collector settings of ``kaskad.serve.gctune`` apply), in the
state of a server past its first 100,000 decisions: the models' trees compiled to machine
code (``kaskad.models.kernels.native``) before it starts; ``--as-loaded`` serves them as
loaded instead, as in a server's first 100,000 decisions. Other
options for kaskad's server are given as JSON
keyword arguments of ``ServeConfig`` with ``--kaskad-args '{"...": ...}'`` or the
environment variable ``KASKAD_BENCH_SERVE_ARGS``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

# At module level: FastAPI resolves the bare route's annotations in this module's globals.
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

BENCH = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BENCH))

from benchlib import (  # noqa: E402
    APPLICATIONS,
    PIPELINE,
    median,
    percentile,
    print_header,
    require_example,
)

TARGET = 1.5  # kaskad's requests/s at least this many times the bare endpoint's
P99_TARGET_MS = 20.0  # and kaskad's p99 at most this
PIPELINE_NAME = "credit"
MODES = ("kaskad", "bare", "client-check")
ENV_ARGS = "KASKAD_BENCH_SERVE_ARGS"


# ---- the servers (run in child processes) ------------------------------------------------


def _pin(cpus: list[int] | None) -> str:
    if cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cpus)
        return f"pinned to cpu {','.join(map(str, sorted(os.sched_getaffinity(0))))}"
    return "not pinned"


def kaskad_app(extra: dict[str, Any], as_loaded: bool = False) -> Any:
    from kaskad.execute.masking import MaskingKey
    from kaskad.serve import PipelineFile, ServeConfig, create_app

    if not as_loaded:  # the models' trees compiled first: a server past 100,000 decisions
        from benchlib import compile_models

        import kaskad

        for line in compile_models(kaskad.compile_pipeline(PIPELINE)):
            print(f"[kaskad] not compiled: {line}", file=sys.stderr, flush=True)

    # the example's passport number is sensitive: logged masked with a key, as in production
    key = MaskingKey("bench", os.urandom(32))
    config = ServeConfig(
        pipelines={PIPELINE_NAME: PipelineFile(PIPELINE)},
        allow_anonymous=True,
        **{"masking_key": key, **extra},
    )
    return create_app(config)


def bare_app(threadpool: bool) -> Any:
    from benchlib import load_models
    from record_latency import baseline, library_scorers
    from starlette.concurrency import run_in_threadpool

    scorers = library_scorers(load_models())
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    def decide(record: dict[str, Any]) -> dict[str, Any]:
        return {"decision_id": str(uuid.uuid4()), **baseline(record, scorers)}

    @app.post(f"/v1/pipelines/{PIPELINE_NAME}/decide")
    async def handle(request: Request) -> JSONResponse:
        record = json.loads(await request.body())
        if threadpool:
            return JSONResponse(await run_in_threadpool(decide, record))
        return JSONResponse(decide(record))

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


class _Responder(asyncio.Protocol):
    """Answers every HTTP/1.1 request (Content-Length bodies) with a fixed response."""

    ANSWER = b'{"status":"ok","decision":"approve"}'
    RESPONSE = (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
        + str(len(ANSWER)).encode()
        + b"\r\n\r\n"
        + ANSWER
    )

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            length = 0
            for line in self.buffer[:end].split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            self.transport.write(self.RESPONSE)


async def _respond_forever(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Responder, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def serve(
    mode: str,
    port: int,
    cpus: list[int] | None,
    extra: dict[str, Any],
    threadpool: bool,
    as_loaded: bool = False,
) -> None:
    pinned = _pin(cpus)
    print(f"[{mode}] port {port}, {pinned}", file=sys.stderr, flush=True)
    if mode == "client-check":
        import uvloop

        uvloop.run(_respond_forever(port))
        return
    import uvicorn

    app = kaskad_app(extra, as_loaded) if mode == "kaskad" else bare_app(threadpool)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        ws="none",
        lifespan="on",
        log_level="warning",
        access_log=False,
        workers=1,
    )


# ---- the load generator ------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def encode_requests(port: int, path: str, bodies: list[bytes]) -> list[bytes]:
    head = (
        f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n"
        "content-type: application/json\r\ncontent-length: "
    )
    return [head.encode() + str(len(b)).encode() + b"\r\n\r\n" + b for b in bodies]


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length is None:
        raise RuntimeError("the load generator needs Content-Length responses")
    return status, await reader.readexactly(length)


@dataclass
class Run:
    requests: int
    seconds: float
    latencies_ms: list[float]  # sorted
    client_cpu_s: float
    errors: int
    server_cpu_s: float | None = None  # the server process's processor time (all threads)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def server_us_per_request(self) -> float:
        """The server's processor time per request, in µs (NaN where unknown): steadier
        than req/s on a shared machine, as time the server waits for the processor is not
        counted."""
        if self.server_cpu_s is None:
            return math.nan
        return self.server_cpu_s / self.requests * 1e6

    def p(self, q: float) -> float:
        return percentile(self.latencies_ms, q)


async def load(
    port: int, requests: list[bytes], total: int, connections: int, start_at: int = 0
) -> Run:
    """Send ``total`` requests over ``connections`` keep-alive connections."""
    streams = [await asyncio.open_connection("127.0.0.1", port) for _ in range(connections)]
    for _, writer in streams:
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    counter = iter(range(start_at, start_at + total))
    latencies: list[float] = []
    errors = 0
    clock = time.perf_counter

    async def worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal errors
        for i in counter:
            start = clock()
            writer.write(requests[i % len(requests)])
            status, _ = await _read_response(reader)
            latencies.append((clock() - start) * 1000)
            if status != 200:
                errors += 1

    cpu0, wall0 = time.process_time(), clock()
    try:
        await asyncio.gather(*(worker(r, w) for r, w in streams))
    finally:
        wall = clock() - wall0
        cpu = time.process_time() - cpu0
        for _, writer in streams:
            writer.close()
    latencies.sort()
    return Run(len(latencies), wall, latencies, cpu, errors)


def process_cpu_s(pid: int) -> float | None:
    """User and system processor time of process ``pid`` so far (None off Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # after the command name: state is field 3, utime 14 and stime 15 (1-based)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(
    port: int, requests: list[bytes], args: argparse.Namespace, pid: int | None = None
) -> Run:
    await asyncio.wait_for(load(port, requests, args.warmup, args.connections), args.run_timeout)
    before = process_cpu_s(pid) if pid is not None else None
    run = await asyncio.wait_for(
        load(port, requests, args.requests, args.connections, start_at=args.warmup),
        args.run_timeout,
    )
    after = process_cpu_s(pid) if pid is not None else None
    if before is not None and after is not None:
        run.server_cpu_s = after - before
    return run


# ---- orchestration -----------------------------------------------------------------------


@dataclass
class Server:
    mode: str
    port: int
    process: subprocess.Popen[bytes]


def start(mode: str, args: argparse.Namespace, extra: str) -> Server:
    port = _free_port()
    command = [
        sys.executable,
        __file__,
        "--serve",
        mode,
        "--port",
        str(port),
        "--kaskad-args",
        extra,
    ]
    if args.server_cpus:
        command += ["--server-cpus", args.server_cpus]
    if args.bare_threadpool:
        command.append("--bare-threadpool")
    if args.as_loaded:
        command.append("--as-loaded")
    env = dict(os.environ)
    if args.server_cpus:  # OpenMP (LightGBM, scikit-learn): one thread per core given
        env.setdefault("OMP_NUM_THREADS", str(len(_cpus(args.server_cpus))))
    process = subprocess.Popen(command, env=env)
    return Server(mode, port, process)


def wait_ready(server: Server, timeout: float) -> None:
    """Until the server answers (a POST for client-check, GET /health otherwise)."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise SystemExit(f"{server.mode} server exited with {server.process.returncode}")
        try:
            url = f"http://127.0.0.1:{server.port}/health"
            if server.mode == "client-check":
                httpx.post(url, content=b"{}", timeout=1)
            else:
                httpx.get(url, timeout=1).raise_for_status()
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"{server.mode} server not ready after {timeout:.0f} s")


def check_same(kaskad_port: int, bare_port: int, records: list[dict[str, Any]]) -> None:
    """Both servers give the same decision, reasons and scores on ``records``."""
    import httpx

    path = f"/v1/pipelines/{PIPELINE_NAME}/decide"
    fields = (
        "application_id",
        "decision",
        "reasons",
        "fraud_score",
        "pd",
        "shadow.credit_pd_v2.decision",
        "shadow.credit_pd_v2.pd",
    )
    with httpx.Client(timeout=10) as client:
        for record in records:
            ours = client.post(f"http://127.0.0.1:{kaskad_port}{path}", json=record)
            theirs = client.post(f"http://127.0.0.1:{bare_port}{path}", json=record)
            if ours.status_code != 200 or theirs.status_code != 200:
                raise SystemExit(
                    f"status {ours.status_code} / {theirs.status_code}: "
                    f"{ours.text[:300]} / {theirs.text[:300]}"
                )
            a, b = ours.json(), theirs.json()
            # with a decision log, kaskad runs shadows after the reply (stored, not returned)
            compared = [f for f in fields if not f.startswith("shadow.") or f in a]
            if diff := [f for f in compared if a.get(f) != b.get(f)]:
                raise SystemExit(f"{record['application_id']}: the servers disagree on {diff}")


def _cpus(text: str | None) -> list[int] | None:
    return [int(c) for c in text.split(",")] if text else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--connections", type=int, default=32, help="concurrent keep-alive connections (default 32)"
    )
    parser.add_argument(
        "--requests", type=int, default=3_000, help="timed requests per run (default 3,000)"
    )
    parser.add_argument(
        "--warmup", type=int, default=300, help="untimed requests before each run (default 300)"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs per server, alternating; medians reported (default 3)",
    )
    parser.add_argument(
        "--records",
        type=int,
        default=2_000,
        help="distinct example applications sent, cycled (default 2,000)",
    )
    parser.add_argument(
        "--run-timeout",
        type=float,
        default=120.0,
        help="seconds after which a run is abandoned (default 120)",
    )
    parser.add_argument(
        "--ready-timeout",
        type=float,
        default=180.0,
        help="seconds a server may take to start (default 180)",
    )
    parser.add_argument(
        "--kaskad-args",
        default=os.environ.get(ENV_ARGS, "{}"),
        help=f"JSON keyword arguments added to kaskad's ServeConfig (default: ${ENV_ARGS} or none)",
    )
    parser.add_argument(
        "--no-decision-log",
        action="store_true",
        help="kaskad without its decision log (default: a decision log in a "
        "temporary folder, removed afterwards, as the target asks)",
    )
    parser.add_argument(
        "--bare-threadpool",
        action="store_true",
        help="the bare endpoint decides in the thread pool, as kaskad does "
        "(default: on the event loop)",
    )
    parser.add_argument(
        "--as-loaded",
        action="store_true",
        help="kaskad's models as loaded, as in a server's first 100,000 decisions (default: "
        "their trees compiled to machine code before the server starts, as in one past that)",
    )
    parser.add_argument("--server-cpus", help="comma-separated cores for the servers")
    parser.add_argument("--client-cpus", help="comma-separated cores for the load generator")
    parser.add_argument("--serve", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    extra = json.loads(args.kaskad_args)
    if not isinstance(extra, dict):
        parser.error("--kaskad-args must be a JSON object")

    if args.serve:
        serve(
            args.serve,
            args.port,
            _cpus(args.server_cpus),
            extra,
            args.bare_threadpool,
            args.as_loaded,
        )
        return 0

    require_example()
    scratch = None
    if not args.no_decision_log and "decision_log" not in extra:
        scratch = tempfile.TemporaryDirectory(prefix="kaskad-bench-log-")
        extra["decision_log"] = scratch.name
    try:
        return _run(args, extra)
    finally:
        if scratch is not None:
            scratch.cleanup()


def _run(args: argparse.Namespace, extra: dict[str, Any]) -> int:
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cores) >= 2 and not (args.server_cpus or args.client_cpus):
        args.client_cpus = str(cores[-1])
        args.server_cpus = ",".join(map(str, cores[:-1]))
    print_header("kaskad HTTP throughput (credit example)")
    client_pin = _pin(_cpus(args.client_cpus))
    print(f"client: {client_pin}; servers: cpu {args.server_cpus or 'any'}")
    where = "in the thread pool" if args.bare_threadpool else "on the event loop"
    models = "as loaded" if args.as_loaded else "their trees compiled to machine code"
    print(
        f"{args.connections} connections, {args.warmup:,} warm-up + {args.requests:,} timed "
        f"requests per run, {args.repeat} runs per server; kaskad extra config: {extra}; "
        f"kaskad's models {models}; bare endpoint decides {where}\n"
    )

    with APPLICATIONS.open(encoding="utf-8") as fh:
        records = [json.loads(line) for _, line in zip(range(args.records), fh, strict=False)]
    bodies = [json.dumps(r, separators=(",", ":")).encode() for r in records]
    print(f"{len(bodies):,} distinct bodies, mean {sum(map(len, bodies)) / len(bodies):,.0f} bytes")

    servers = {mode: start(mode, args, json.dumps(extra)) for mode in MODES}
    try:
        for server in servers.values():
            wait_ready(server, args.ready_timeout)
        check_same(servers["kaskad"].port, servers["bare"].port, records[:100])
        print("kaskad and bare agree on the first 100 records\n")
        try:
            import uvloop

            runner: Any = uvloop.run
        except ImportError:
            runner = asyncio.run
        path = f"/v1/pipelines/{PIPELINE_NAME}/decide"
        runs: dict[str, list[Run]] = {mode: [] for mode in MODES}
        order = list(MODES)
        for i in range(args.repeat):
            for mode in order if i % 2 == 0 else order[::-1]:
                port, pid = servers[mode].port, servers[mode].process.pid
                run = runner(measure(port, encode_requests(port, path, bodies), args, pid))
                runs[mode].append(run)
                print(
                    f"  run {i + 1}/{args.repeat} {mode:>12}: {run.rps:8,.0f} req/s  "
                    f"p50 {run.p(50):7.2f} ms  p99 {run.p(99):7.2f} ms  "
                    f"client cpu {run.client_cpu_s / run.seconds:4.0%}  "
                    f"server {run.server_us_per_request:6,.0f} µs cpu/req  "
                    f"non-200 {run.errors}"
                )
    finally:
        for server in servers.values():
            server.process.terminate()
        for server in servers.values():
            try:
                server.process.wait(10)
            except subprocess.TimeoutExpired:
                server.process.kill()

    print("\nmedian over runs:")
    summary = {
        m: (
            median([r.rps for r in rs]),
            median([r.p(50) for r in rs]),
            median([r.p(99) for r in rs]),
            median([r.client_cpu_s / r.seconds for r in rs]),
            median([r.server_us_per_request for r in rs]),
        )
        for m, rs in runs.items()
    }
    for mode, (rps, p50, p99, cpu, server_us) in summary.items():
        print(
            f"  {mode:>12}: {rps:8,.0f} req/s  p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  "
            f"client cpu {cpu:4.0%}  server {server_us:6,.0f} µs cpu/req"
        )
    ratio = summary["kaskad"][0] / summary["bare"][0]
    cpu_ratio = summary["bare"][4] / summary["kaskad"][4]
    print(
        f"\nserver processor time per request: kaskad {summary['kaskad'][4]:,.0f} µs, bare "
        f"{summary['bare'][4]:,.0f} µs: kaskad does a request's work in {1 / cpu_ratio:.2f}× "
        "the bare endpoint's processor time"
    )
    logged = "on" if extra.get("decision_log") else "OFF"
    verdict = "meets" if ratio >= TARGET else "MISSES"
    print(
        f"\nkaskad / bare throughput: {ratio:.2f}×; decision log {logged}, shadow on; "
        f"{verdict} the target of at least {TARGET:.1f}× with the decision log on"
    )
    p99 = summary["kaskad"][2]
    verdict = "meets" if p99 <= P99_TARGET_MS else "MISSES"
    print(f"kaskad p99 {p99:.1f} ms: {verdict} the target of at most {P99_TARGET_MS:.0f} ms")
    headroom = summary["client-check"][0] / max(summary["kaskad"][0], summary["bare"][0])
    print(f"client alone (client-check) is {headroom:.1f}x the faster server's req/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
