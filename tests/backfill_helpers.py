"""Backfill test helpers: a source database, source/target tables, in-process worker, checks."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest
from temporalio.client import Client, WorkflowHandle

from batcher_service.worker import build_worker
from shared.backfill_payloads import BackfillInput, BackfillProgress, BackfillResult
from shared.names import BACKFILL_WORKFLOW
from shared.payloads import BatcherConfig
from tests.conftest import scratch_database

TABLE_DDL = """
CREATE TABLE {name} (
    id int8 PRIMARY KEY,
    name text NOT NULL,
    amount numeric(12, 2),
    note text,
    created timestamptz NOT NULL{extra}
)"""


@pytest.fixture
async def source_url(pg_server_url: str) -> AsyncIterator[str]:
    """A second fresh database, the backfill's source."""
    async with scratch_database(pg_server_url, "wb_src") as url:
        yield url


async def make_source(url: str, rows: int, table: str = "items") -> None:
    """``rows`` rows with awkward text (tabs, newlines, quotes, NULLs) to exercise COPY."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(TABLE_DDL.format(name=table, extra=""))
        await conn.execute(
            f"""INSERT INTO {table}
            SELECT g, 'name ' || g || E'\\t''q''\\n\\\\', g * 1.25,
                   CASE WHEN g % 7 = 0 THEN NULL ELSE 'n' || g END,
                   '2024-01-01'::timestamptz + g * interval '1 second'
            FROM generate_series(1, $1) g""",
            rows,
        )
        await conn.execute(f"ANALYZE {table}")
    finally:
        await conn.close()


async def make_target(pool: asyncpg.Pool, table: str = "items_copy", extra: str = "") -> None:
    await pool.execute(TABLE_DDL.format(name=table, extra=extra))


async def table_digest(conn: Any, table: str) -> tuple[int, str]:
    """Row count and an order-independent digest of the copied columns."""
    row = await conn.fetchrow(
        f"""SELECT count(*) AS n, md5(string_agg(md5(
                concat_ws('|', id, name, amount, coalesce(note, '<null>'), created)), ''
                ORDER BY id)) AS digest
            FROM {table}"""
    )
    return int(row["n"]), str(row["digest"])


async def source_digest(url: str, table: str = "items") -> tuple[int, str]:
    conn = await asyncpg.connect(url)
    try:
        return await table_digest(conn, table)
    finally:
        await conn.close()


@asynccontextmanager
async def backfill_worker(client: Client, pool: asyncpg.Pool) -> AsyncIterator[str]:
    """The batcher worker in this process on a fresh task queue; yields the queue."""
    queue = f"backfill-{uuid.uuid4().hex[:8]}"
    async with build_worker(client, pool, BatcherConfig(), task_queue=queue):
        yield queue


async def start_backfill(
    client: Client, queue: str, job: BackfillInput
) -> WorkflowHandle[Any, Any]:
    return await client.start_workflow(
        BACKFILL_WORKFLOW,
        job,
        id=f"backfill-test-{uuid.uuid4().hex[:8]}",
        task_queue=queue,
        result_type=BackfillResult,
    )


async def progress(client: Client, handle: WorkflowHandle[Any, Any]) -> list[BackfillProgress]:
    """Heartbeat details of the running partitions, as ``watch`` reads them."""
    desc = await handle.describe()
    out = []
    for pending in desc.raw_description.pending_activities:
        if pending.heartbeat_details.payloads:
            values = await client.data_converter.decode(
                pending.heartbeat_details.payloads, [BackfillProgress]
            )
            out.append(values[0])
    return out
