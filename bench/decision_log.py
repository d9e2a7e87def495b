"""The decision log at scale on PostgreSQL: insert throughput on an empty log and on a log
of ``--rows`` decisions, and lookup time by decision id and by business key.

    python bench/decision_log.py --rows 10000000

What is measured, in a database of its own (``--database``, dropped and created again):

1. *insert, start*: ``--measure`` real decisions of the credit example (inputs masked as
   the server logs them, outputs from the record executor) written through
   :class:`kaskad.store.DecisionLog` (the server's writer: group commit, hashes computed in
   the writer thread), eight submitters keeping its queue busy, on an empty log.
2. *fill*: the log grown to ``--rows`` decisions server-side (``INSERT … SELECT`` over
   ``generate_series``, each row one of the measured decisions with its own id, time and
   business key, spread over ``--months`` months: one partition a month), so that filling
   10M rows does not take the writer's hours; its rate is printed but is not the figure.
3. *insert, end*: the same as 1 at ``--rows`` decisions.
4. *lookup*: ``--lookups`` random decisions by id (``decision_detail``'s query: the
   primary key, probed in every partition) and by business key (the index on
   ``business_key``), one connection, p50 and p99.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import random
import statistics
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg
from benchlib import APPLICATIONS, PIPELINE, percentile, print_header, require_example
from psycopg import sql
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session

from kaskad import RecordExecutor, compile_pipeline
from kaskad.execute.convert import json_value
from kaskad.serve.decision_log import mask
from kaskad.serve.ids import decision_id
from kaskad.store import DecisionLog, DecisionRecord
from kaskad.store.decision_keeping import prepare_months
from kaskad.store.tables import DecisionRow

ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
TEMPLATES = 1000
NOW = dt.datetime.now(dt.UTC)


def templates(n: int) -> list[DecisionRecord]:
    """``n`` real decisions of the credit example as the server logs them."""
    plan = compile_pipeline(PIPELINE)
    executor = RecordExecutor(plan)
    lines = APPLICATIONS.read_text().splitlines()[:n]
    records = []
    for line in lines:
        record = json.loads(line)
        output = json_value(executor.decide(record).output)
        body = {
            "decision_id": "",
            "pipeline": "credit",
            "release": "loan_decision@1",
            "plan_hash": plan.hash,
            "duration_ms": 0.8,
            **output,
        }
        records.append(
            DecisionRecord(
                "",
                "credit",
                "loan_decision@1",
                plan.hash,
                "decided",
                mask(record, plan.schema),
                body,
                business_key=str(record["application_id"]),
            )
        )
    return records


def measure_inserts(url: str, pool: list[DecisionRecord], count: int, offset: int) -> float:
    """Rows/s of ``count`` decisions (logged now, as a server logs) through the writer."""
    log = DecisionLog(url)

    def submit(part: range) -> None:
        pending = []
        for i in part:
            t = pool[i % len(pool)]
            record = DecisionRecord(
                decision_id(),  # as the server makes them
                t.pipeline,
                t.release,
                t.plan_hash,
                t.status,
                t.input,
                t.output,
                business_key=f"M{offset + i}",
            )
            pending.append(log.submit(record))
            if len(pending) >= 64:  # a server's concurrency: many requests waiting
                for done in pending:
                    done.result()
                pending.clear()
        for done in pending:
            done.result()

    workers = 8
    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool_:
        list(pool_.map(submit, [range(w, count, workers) for w in range(workers)]))
    elapsed = time.perf_counter() - started
    log.close()
    return count / elapsed


def fill(url: str, pool: list[DecisionRecord], rows: int, months: int, batch: int) -> int:
    """Grow the log to ``rows`` decisions server-side (their ids are ``md5(i)`` as a UUID
    and their business keys ``A<i>`` for i from 0); prints progress; how many it added."""
    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(
            "CREATE TEMP TABLE t (k int, input json, output json, input_sha256 text,"
            " record_sha256 text)"
        )
        with conn.cursor().copy("COPY t FROM STDIN") as copy:
            for k, r in enumerate(pool):
                row = r.row()
                copy.write_row(
                    (
                        k,
                        json.dumps(row["input"]),
                        json.dumps(row["output"]),
                        row["input_sha256"],
                        row["record_sha256"],
                    )
                )
        have = conn.execute("SELECT count(*) FROM decisions").fetchone()[0]  # type: ignore[index]
        start = NOW - dt.timedelta(days=30 * months)
        seconds = months * 30 * 86400
        started = time.perf_counter()
        done, todo = 0, rows - have
        while done < todo:
            upto = min(todo, done + batch)
            conn.execute(
                "INSERT INTO decisions (decision_id, at, pipeline, release, plan_hash, status,"
                " input, output, timings, errors, business_key, input_sha256, record_sha256)"
                " SELECT md5(i::text)::uuid::text,"
                " %(start)s::timestamptz"
                " + make_interval(secs => (i::bigint * %(seconds)s) / %(rows)s),"
                " 'credit', 'loan_decision@1', 'x', 'decided', t.input, t.output, '{}', '[]',"
                " 'A' || i, t.input_sha256, t.record_sha256"
                " FROM generate_series(%(lo)s, %(hi)s) AS i JOIN t ON t.k = i %% %(n)s",
                {
                    "start": start,
                    "seconds": seconds,
                    "rows": todo,
                    "lo": done,
                    "hi": upto - 1,
                    "n": len(pool),
                },
            )
            done = upto
            rate = done / (time.perf_counter() - started)
            print(f"  filled {have + done:,} rows ({rate:,.0f} rows/s)", flush=True)
        conn.execute("ANALYZE decisions")
        return todo


def lookups(url: str, rows: int, n: int) -> tuple[list[float], list[float]]:
    engine = create_engine(url)
    by_id, by_key = [], []
    with Session(engine) as session:
        for _ in range(n):
            i = random.randrange(rows)
            did = str(uuid.UUID(hex=hashlib.md5(str(i).encode()).hexdigest()))
            started = time.perf_counter()
            found = session.get(DecisionRow, did)
            by_id.append((time.perf_counter() - started) * 1000)
            assert found is not None, did
            session.expunge_all()
            started = time.perf_counter()
            hits = session.scalars(
                select(DecisionRow).where(DecisionRow.business_key == f"A{i}")
            ).all()
            by_key.append((time.perf_counter() - started) * 1000)
            assert len(hits) == 1
            session.expunge_all()
    engine.dispose()
    return by_id, by_key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--measure", type=int, default=20_000, help="decisions per insert phase")
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--lookups", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=500_000, help="rows per fill statement")
    parser.add_argument("--database", default="kaskad_bench_decision_log")
    args = parser.parse_args()
    require_example()
    print_header(f"decision log on PostgreSQL: {args.rows:,} decisions")
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        name = sql.Identifier(args.database)
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(name))
        version = admin.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{args.database}"
    print(f"PostgreSQL {version}, database {args.database}")
    pool = templates(TEMPLATES)
    size = statistics.mean(len(json.dumps(r.input)) + len(json.dumps(r.output)) for r in pool)
    print(f"{len(pool)} real credit decisions as templates, {size:,.0f} bytes of JSON each")

    created = prepare_months(url, NOW - dt.timedelta(days=30 * args.months), NOW)
    print(f"{len(created)} monthly partitions made for the fill")
    start_rate = measure_inserts(url, pool, args.measure, 0)
    print(
        f"insert, empty log: {start_rate:,.0f} decisions/s ({args.measure:,} through DecisionLog)"
    )
    filled = fill(url, pool, args.rows, args.months, args.batch)
    end_rate = measure_inserts(url, pool, args.measure, args.measure)
    print(
        f"insert, at {args.rows:,}: {end_rate:,.0f} decisions/s"
        f" ({args.measure:,} through DecisionLog)"
    )
    by_id, by_key = lookups(url, filled, args.lookups)
    by_id.sort()
    by_key.sort()
    engine = create_engine(url)
    with engine.connect() as conn:
        parts = conn.execute(
            text(
                "SELECT count(*) FROM pg_inherits i JOIN pg_class p"
                " ON p.oid = i.inhparent WHERE p.relname = 'decisions'"
            )
        ).scalar()
        total = conn.execute(text("SELECT count(*) FROM decisions")).scalar()
        bytes_ = conn.execute(text("SELECT pg_database_size(current_database())")).scalar()
    engine.dispose()
    print(
        f"lookup by id: p50 {percentile(by_id, 50):.2f} ms, p99 {percentile(by_id, 99):.2f} ms"
        f" ({args.lookups:,} random ids)"
    )
    print(
        f"lookup by business key: p50 {percentile(by_key, 50):.2f} ms,"
        f" p99 {percentile(by_key, 99):.2f} ms"
    )
    print(f"{total:,} decisions in {parts} partitions, database {bytes_ / 2**30:.1f} GiB")
    print(
        f"RESULT insert_start={start_rate:.0f} insert_end={end_rate:.0f}"
        f" id_p50_ms={percentile(by_id, 50):.3f} key_p50_ms={percentile(by_key, 50):.3f}"
    )


if __name__ == "__main__":
    sys.exit(main())
