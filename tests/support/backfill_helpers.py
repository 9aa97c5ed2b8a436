"""Backfill test helpers: a named source with a password, tables, worker, history checks."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from batcher_service.backfill.activities import BackfillActivities
from batcher_service.backfill.payloads import BackfillInput, BackfillProgress, BackfillResult
from batcher_service.backfill.sources import BackfillSources
from batcher_service.backfill.workflows import BackfillWorkflow
from batcher_service.names import BACKFILL_WORKFLOW

# Passwords no history may hold: every source's, and the ones tests hand to dead sources.
SECRETS = {"s3cret"}
# Every backfill a test starts; ``no_password_in_history`` reads each one's whole history.
STARTED: list[WorkflowHandle[Any, Any]] = []


@dataclass(frozen=True)
class Source:
    """A source database as the worker knows it: a name, and a URL with a password."""

    name: str
    url: str
    password: str


@dataclass(frozen=True)
class Backfill:
    """What most backfill tests work with: the Temporal client, the target database's pool
    and the source."""

    client: Client
    pool: asyncpg.Pool
    source: Source

    async def tables(self, rows: int) -> None:
        """``rows`` rows in the source's ``items``, an empty ``items_copy`` in the target."""
        await make_source(self.source.url, rows)
        await make_target(self.pool)

    def worker(self, *more: Source, no_sources: bool = False) -> AbstractAsyncContextManager[str]:
        """``backfill_worker`` knowing this test's source and ``more``."""
        return backfill_worker(self.client, self.pool, self.source, *more, no_sources=no_sources)

    def job(self, **options: Any) -> BackfillInput:
        """A job copying this source's ``items`` into ``items_copy`` by ``id``."""
        return BackfillInput(self.source.name, "id", "items_copy", source_table="items", **options)

    async def start(self, queue: str, job: BackfillInput) -> WorkflowHandle[Any, Any]:
        return await start_backfill(self.client, queue, job)


def with_password(url: str, password: str) -> tuple[str, str]:
    """``url`` with ``password`` (the server trusts local connections, so any password
    works); a URL that already has one keeps it."""
    parts = urlsplit(url)
    if parts.password:
        return url, parts.password
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{parts.username or 'postgres'}:{password}@{host}"
    return urlunsplit(parts._replace(netloc=netloc)), password


TABLE_DDL = """
CREATE TABLE {name} (
    id int8 PRIMARY KEY,
    name text NOT NULL,
    amount numeric(12, 2),
    note text,
    created timestamptz NOT NULL{extra}
)"""


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


# Counts the rows each statement really inserts (COPY or INSERT; ON CONFLICT DO NOTHING
# skips are not counted): a row written twice would show.
COUNT_INSERTS = """
CREATE TABLE {name}_inserts (n int8 NOT NULL);
INSERT INTO {name}_inserts VALUES (0);
CREATE FUNCTION {name}_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN UPDATE {name}_inserts SET n = n + (SELECT count(*) FROM new_rows); RETURN NULL; END $$;
CREATE TRIGGER {name}_count AFTER INSERT ON {name} REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION {name}_count();
"""


async def count_inserts(conn: Any, table: str = "items_copy") -> None:
    await conn.execute(COUNT_INSERTS.format(name=table))


async def inserts(conn: Any, table: str = "items_copy") -> int:
    return int(await conn.fetchval(f"SELECT n FROM {table}_inserts"))


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
async def backfill_worker(
    client: Client, pool: asyncpg.Pool, *sources: Source, no_sources: bool = False
) -> AsyncIterator[str]:
    """The batcher worker in this process on a fresh task queue, knowing ``sources`` by
    name (``no_sources``: started without any); yields the queue."""
    queue = f"backfill-{uuid.uuid4().hex[:8]}"
    named = None if no_sources else BackfillSources({s.name: s.url for s in sources})
    async with backfill_only_worker(client, pool, named, queue):
        yield queue


def backfill_only_worker(
    client: Client, pool: asyncpg.Pool, sources: BackfillSources | None, queue: str
) -> Worker:
    """The backfill's workflow and activities as the batcher worker registers them, alone:
    these tests do not depend on the batcher's own wiring."""
    activities = BackfillActivities(pool, sources)
    return Worker(
        client,
        task_queue=queue,
        workflows=[BackfillWorkflow],
        activities=[activities.validate, activities.plan, activities.copy_partition],
    )


async def start_backfill(
    client: Client, queue: str, job: BackfillInput
) -> WorkflowHandle[Any, Any]:
    handle = await client.start_workflow(
        BACKFILL_WORKFLOW,
        job,
        id=f"backfill-test-{uuid.uuid4().hex[:8]}",
        task_queue=queue,
        result_type=BackfillResult,
    )
    return check_history_of(handle)


def check_history_of(handle: WorkflowHandle[Any, Any]) -> WorkflowHandle[Any, Any]:
    """Have ``no_password_in_history`` read this workflow's history after the test."""
    STARTED.append(handle)
    return handle


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
