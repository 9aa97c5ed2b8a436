"""Backfill test helpers: a named source with a password, tables, worker, history checks."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from batcher_service.backfill.activities import BackfillActivities
from batcher_service.backfill.payloads import BackfillInput, BackfillProgress, BackfillResult
from batcher_service.backfill.sources import BackfillSources
from batcher_service.backfill.workflows import BackfillWorkflow
from batcher_service.names import BACKFILL_WORKFLOW
from tests.conftest import scratch_database

# Passwords no history may hold: every source's, and the ones tests hand to dead sources.
SECRETS = {"s3cret"}
# Every backfill a test starts; ``no_password_in_history`` reads each one's whole history.
_STARTED: list[WorkflowHandle[Any, Any]] = []


@dataclass(frozen=True)
class Source:
    """A source database as the worker knows it: a name, and a URL with a password."""

    name: str
    url: str
    password: str


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


@pytest.fixture
async def source(pg_server_url: str) -> AsyncIterator[Source]:
    """A second fresh database, the backfill's source, reached with a password."""
    async with scratch_database(pg_server_url, "wb_src") as url:
        secret_url, password = with_password(url, f"pw{uuid.uuid4().hex[:16]}")
        SECRETS.add(password)
        yield Source(f"src_{uuid.uuid4().hex[:8]}", secret_url, password)


@pytest.fixture(autouse=True)
async def no_password_in_history() -> AsyncIterator[None]:
    """After each test: no event of any backfill it started holds a password or a URL."""
    _STARTED.clear()
    yield
    for handle in _STARTED:
        async for event in handle.fetch_history_events():
            # The wire form holds every string and payload byte as sent.
            raw = event.SerializeToString()
            for secret in SECRETS:
                assert secret.encode() not in raw, f"{handle.id}: a password in {event}"
            assert b"postgresql://" not in raw or event.event_id == 1, f"{handle.id}: a URL"


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
    _STARTED.append(handle)
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
