"""Backfill throughput on the embedded stack against a raw COPY of the same rows."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from devstack.stack import Stack
from shared.backfill_payloads import BackfillInput, BackfillResult
from shared.client import connect
from shared.names import BACKFILL_WORKFLOW, BATCHER_TASK_QUEUE

RESULTS = Path(__file__).resolve().parent / "results" / "backfill.json"
DDL = """CREATE TABLE {name} (
    id int8 PRIMARY KEY, account text NOT NULL, amount numeric(12, 2) NOT NULL,
    memo text, created timestamptz NOT NULL)"""


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


async def _raw_copy(source_url: str, target_url: str) -> float:
    """COPY TO STDOUT streamed into COPY FROM STDIN: the ceiling for moving these rows."""
    src, dst = await asyncpg.connect(source_url), await asyncpg.connect(target_url)
    await dst.execute(DDL.format(name="raw_copy"))
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=64)

    async def put(chunk: bytes) -> None:
        await queue.put(chunk)

    async def chunks() -> AsyncIterator[bytes]:
        while (chunk := await queue.get()) is not None:
            yield chunk

    async def produce() -> None:
        await src.copy_from_query("SELECT * FROM items ORDER BY id", output=put, format="text")
        await queue.put(None)

    began = time.monotonic()
    await asyncio.gather(produce(), dst.copy_to_table("raw_copy", source=chunks(), format="text"))
    seconds = time.monotonic() - began
    # Neither run may pay for the other's autovacuum or checkpoint.
    await dst.execute("DROP TABLE raw_copy")
    await dst.execute("CHECKPOINT")
    await src.close()
    await dst.close()
    return seconds


async def _backfill(stack: Stack, source_url: str, args: argparse.Namespace) -> dict[str, object]:
    assert stack.temporal_address is not None and stack.database_url is not None
    conn = await asyncpg.connect(stack.database_url)
    await conn.execute(DDL.format(name="items_copy"))
    await conn.close()
    client = await connect({"target_host": stack.temporal_address, "namespace": "default"})
    job = BackfillInput(
        source_url,
        "id",
        "items_copy",
        source_table="items",
        batch_size=args.batch_size,
        partitions=args.partitions,
    )
    began = time.monotonic()
    handle = await client.start_workflow(
        BACKFILL_WORKFLOW,
        job,
        id=f"bench-{uuid.uuid4().hex[:8]}",
        task_queue=BATCHER_TASK_QUEUE,
        result_type=BackfillResult,
    )
    result: BackfillResult = await handle.result()
    seconds = time.monotonic() - began
    events = [e async for e in handle.fetch_history_events()]
    return {
        "seconds": seconds,
        "rows": result.rows_inserted,
        "batches": result.batches,
        "history_events": len(events),
    }


async def _bench(stack: Stack, args: argparse.Namespace) -> dict[str, object]:
    assert stack.database_url is not None
    source_url = await _make_source(stack.database_url, args.rows)
    raw_seconds = await _raw_copy(source_url, stack.database_url)
    backfill = await _backfill(stack, source_url, args)
    raw_rate = args.rows / raw_seconds
    rate = args.rows / float(backfill["seconds"])  # type: ignore[arg-type]
    return {
        "rows": args.rows,
        "batch_size": args.batch_size,
        "partitions": args.partitions,
        "raw_copy_seconds": round(raw_seconds, 2),
        "raw_copy_rows_per_s": round(raw_rate),
        "backfill_seconds": round(float(backfill["seconds"]), 2),  # type: ignore[arg-type]
        "backfill_rows_per_s": round(rate),
        "ratio_to_raw_copy": round(rate / raw_rate, 3),
        "rows_copied": backfill["rows"],
        "batches": backfill["batches"],
        "history_events": backfill["history_events"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=20_000)
    parser.add_argument("--partitions", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="backfill-bench-") as tmp:
        stack = Stack(Path(tmp), persist_temporal=False)
        try:
            stack.start()
            stack.start_worker("batcher_service")
            report = asyncio.run(_bench(stack, args))
        finally:
            stack.stop()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0 if report["rows_copied"] == args.rows else 1


if __name__ == "__main__":
    sys.exit(main())
