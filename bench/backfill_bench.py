"""Backfill throughput on the embedded stack against a raw COPY of the same rows, run after run;
``--kill`` instead kills the worker with SIGKILL mid-job and checks every row landed once."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from batcher_service.backfill.payloads import BackfillInput, BackfillResult
from batcher_service.names import BACKFILL_WORKFLOW
from devstack.stack import Stack
from write_batcher.contract import BATCHER_TASK_QUEUE
from write_batcher_kit.client import connect

_TICK = os.sysconf("SC_CLK_TCK")
RESULTS = Path(__file__).resolve().parent / "results" / "backfill.json"
# The worker knows the source by this name (BACKFILL_SOURCE_BENCH); the job only names it.
SOURCE = "bench"
DDL = """CREATE TABLE {name} (
    id int8 PRIMARY KEY, account text NOT NULL, amount numeric(12, 2) NOT NULL,
    memo text, created timestamptz NOT NULL)"""
# Counts rows really inserted (COPY or INSERT; ON CONFLICT skips are not): --kill only.
COUNT_INSERTS = """
CREATE TABLE {name}_inserts (n int8 NOT NULL); INSERT INTO {name}_inserts VALUES (0);
CREATE FUNCTION {name}_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN UPDATE {name}_inserts SET n = n + (SELECT count(*) FROM new_rows); RETURN NULL; END $$;
CREATE TRIGGER {name}_count AFTER INSERT ON {name} REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION {name}_count()"""
DIGEST = "SELECT md5(string_agg(md5(t::text), '' ORDER BY id)) FROM {name} t"


def _cpu_seconds(*roots: int | None) -> float:
    """CPU seconds spent so far by these processes and their children, live or exited: a
    measure of the work done that other load on the machine skews far less than wall time."""
    ppid: dict[int, int] = {}
    used: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        pid = int(stat.parent.name)
        ppid[pid] = int(fields[1])
        used[pid] = sum(int(f) for f in fields[11:15]) / _TICK  # utime stime cutime cstime
    total, todo = 0.0, [r for r in roots if r is not None]
    while todo:
        pid = todo.pop()
        total += used.get(pid, 0.0)
        todo += [child for child, parent in ppid.items() if parent == pid]
    return total


def _stack_cpu(stack: Stack) -> float:
    """PostgreSQL (its postmaster and backends), Temporal, the workers and this process."""
    postmaster = stack.data_dir / "postgres" / "postmaster.pid"
    pg = int(postmaster.read_text().split()[0]) if postmaster.exists() else None
    temporal = stack.temporal.process.pid if stack.temporal else None
    return _cpu_seconds(pg, temporal, *(w.pid for w in stack.workers), os.getpid())


def _with_db(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


async def _make_source(server_url: str, rows: int) -> str:
    name = f"bench_src_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = _with_db(server_url, name)
    conn = await asyncpg.connect(url)
    await conn.execute(DDL.format(name="items"))
    await conn.execute(
        """INSERT INTO items SELECT g, 'acct-' || (g % 1000), g * 0.01,
               CASE WHEN g % 5 = 0 THEN NULL ELSE 'memo ' || g END,
               '2024-01-01'::timestamptz + g * interval '1 second'
           FROM generate_series(1, $1) g""",
        rows,
    )
    await conn.execute("VACUUM ANALYZE items")
    await conn.close()
    return url


async def _settle(target_url: str, table: str) -> None:
    """Neither run may pay for the other's autovacuum or checkpoint."""
    conn = await asyncpg.connect(target_url)
    await conn.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
    await conn.execute("CHECKPOINT")
    await conn.close()


async def stream_copy(
    src: asyncpg.Connection, dst: asyncpg.Connection, table: str, fmt: Literal["text", "binary"]
) -> None:
    """COPY TO STDOUT of the source's items streamed into COPY FROM STDIN of ``table``."""
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=64)

    async def put(chunk: bytes) -> None:
        await queue.put(chunk)

    async def chunks() -> AsyncIterator[bytes]:
        while (chunk := await queue.get()) is not None:
            yield chunk

    async def produce() -> None:
        await src.copy_from_query("SELECT * FROM items ORDER BY id", output=put, format=fmt)
        await queue.put(None)

    await asyncio.gather(produce(), dst.copy_to_table(table, source=chunks(), format=fmt))


async def _raw_copy(source_url: str, target_url: str) -> float:
    """COPY TO STDOUT streamed into COPY FROM STDIN: the ceiling for moving these rows."""
    src, dst = await asyncpg.connect(source_url), await asyncpg.connect(target_url)
    await dst.execute(DDL.format(name="raw_copy"))
    began = time.monotonic()
    await stream_copy(src, dst, "raw_copy", "text")
    seconds = time.monotonic() - began
    await src.close()
    await dst.close()
    await _settle(target_url, "raw_copy")
    return seconds


async def _kill_midway(stack: Stack, target: asyncpg.Connection, table: str, rows: int) -> float:
    """SIGKILL the worker once half the rows are in the target (heartbeats reach the server
    throttled, the table does not), start a fresh one; returns when it died."""
    while True:  # polling: nothing announces a row count
        if await target.fetchval(f"SELECT count(*) FROM {table}") >= rows // 2:
            break
        await asyncio.sleep(0.02)
    for worker in stack.workers:
        worker.kill()
    killed_at = time.monotonic()
    stack.start_worker("batcher_service")
    return killed_at


def _phases(events: list[Any]) -> dict[str, float]:
    """Seconds before the first copy activity started (validate, plan, dispatch) and from
    there to the last copy's completion, from the history's own timestamps."""
    at = [e.event_time.ToDatetime().timestamp() for e in events]
    copies = [
        i
        for i, e in enumerate(events)
        if e.activity_task_scheduled_event_attributes.activity_type.name
        == "backfill_copy_partition"
    ]
    first_started = min(
        i
        for i, e in enumerate(events)
        if e.HasField("activity_task_started_event_attributes")
        and e.activity_task_started_event_attributes.scheduled_event_id - 1 in copies
    )
    last_completed = max(
        i for i, e in enumerate(events) if e.HasField("activity_task_completed_event_attributes")
    )
    return {
        "setup_seconds": round(at[first_started] - at[0], 3),
        "copy_seconds": round(at[last_completed] - at[first_started], 3),
    }


async def _backfill(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    assert stack.temporal_address is not None and stack.database_url is not None
    table = f"items_copy_{uuid.uuid4().hex[:6]}"
    conn = await asyncpg.connect(stack.database_url)
    await conn.execute(DDL.format(name=table))
    if args.kill:
        await conn.execute(COUNT_INSERTS.format(name=table))
    client = await connect({"target_host": stack.temporal_address, "namespace": "default"})
    job = BackfillInput(
        SOURCE,
        "id",
        table,
        source_table="items",
        batch_size=args.batch_size,
        partitions=args.partitions,
        heartbeat_timeout_seconds=5.0 if args.kill else 30.0,
    )
    began = time.monotonic()
    handle = await client.start_workflow(
        BACKFILL_WORKFLOW,
        job,
        id=f"bench-{uuid.uuid4().hex[:8]}",
        task_queue=BATCHER_TASK_QUEUE,
        result_type=BackfillResult,
    )
    killed_at = await _kill_midway(stack, conn, table, args.rows) if args.kill else None
    result: BackfillResult = await handle.result()
    seconds = time.monotonic() - began
    events = [e async for e in handle.fetch_history_events()]
    report: dict[str, Any] = {
        "seconds": seconds,
        # A retried activity's start is recorded with its last attempt: no phases then.
        **({} if args.kill else _phases(events)),
        "rows_read": result.rows_read,
        "rows_in_target": await conn.fetchval(f"SELECT count(*) FROM {table}"),
        "batches": result.batches,
        "merged_batches": sum(p.merged_batches for p in result.partitions),
        "history_events": len(events),
    }
    if killed_at is not None:
        report["seconds_after_kill"] = round(time.monotonic() - killed_at, 2)
        report["rows_inserted_once"] = await conn.fetchval(f"SELECT n FROM {table}_inserts")
        source = await asyncpg.connect(stack.env()[f"BACKFILL_SOURCE_{SOURCE.upper()}"])
        same = await source.fetchval(DIGEST.format(name="items")) == await conn.fetchval(
            DIGEST.format(name=table)
        )
        await source.close()
        report["digest_matches_source"] = same
    await conn.close()
    await _settle(stack.database_url, table)
    return report


async def _bench(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    assert stack.database_url is not None
    source_url = stack.env()[f"BACKFILL_SOURCE_{SOURCE.upper()}"]
    runs = []
    for run in range(1 if args.kill else args.runs):
        cpu = [_stack_cpu(stack)]
        raw = None if args.kill else await _raw_copy(source_url, stack.database_url)
        cpu.append(_stack_cpu(stack))
        backfill = await _backfill(stack, args)
        cpu.append(_stack_cpu(stack))
        entry = {"run": run + 1, **{k: v for k, v in backfill.items() if k != "seconds"}}
        # Other work on the machine skews both figures: the 1-minute load says how much.
        entry["load_average_1m"] = round(os.getloadavg()[0], 2)
        entry["backfill_seconds"] = round(backfill["seconds"], 2)
        entry["backfill_rows_per_s"] = round(args.rows / backfill["seconds"])
        if raw is not None:
            entry["raw_copy_seconds"] = round(raw, 2)
            entry["raw_copy_rows_per_s"] = round(args.rows / raw)
            entry["ratio_to_raw_copy"] = round(raw / backfill["seconds"], 3)
            # CPU seconds of everything involved (PostgreSQL, Temporal, worker, this process).
            entry["raw_copy_cpu_seconds"] = round(cpu[1] - cpu[0], 2)
            entry["backfill_cpu_seconds"] = round(cpu[2] - cpu[1], 2)
        print(json.dumps(entry), flush=True)
        runs.append(entry)
    report: dict[str, Any] = {
        "rows": args.rows,
        "batch_size": args.batch_size,
        "partitions": args.partitions,
        "kill_9_midway": args.kill,
        "runs": runs,
    }
    if not args.kill:
        ratios = [r["ratio_to_raw_copy"] for r in runs]
        report["ratio_min_median_max"] = [min(ratios), statistics.median(ratios), max(ratios)]
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=50_000)
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3, help="raw COPY + backfill pairs")
    parser.add_argument("--kill", action="store_true", help="one job, SIGKILL the worker midway")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="backfill-bench-") as tmp:
        stack = Stack(Path(tmp), persist_temporal=False)
        try:
            stack.start()
            assert stack.database_url is not None
            source_url = asyncio.run(_make_source(stack.database_url, args.rows))
            stack.worker_env[f"BACKFILL_SOURCE_{SOURCE.upper()}"] = source_url
            stack.start_worker("batcher_service")
            report = asyncio.run(_bench(stack, args))
        finally:
            stack.stop()
    out = RESULTS.with_name("backfill-kill.json") if args.kill else RESULTS
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    ok = all(r["rows_in_target"] == args.rows for r in report["runs"])
    if args.kill:
        ok = ok and all(
            r["rows_inserted_once"] == args.rows and r["digest_matches_source"]
            for r in report["runs"]
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
