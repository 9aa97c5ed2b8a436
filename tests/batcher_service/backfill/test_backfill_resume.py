"""kill -9 of the worker mid-backfill: a new worker resumes from the heartbeat cursor and
writes every row once."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from pathlib import Path

import asyncpg
from temporalio.testing import WorkflowEnvironment

from batcher_service.backfill.payloads import BackfillInput, BackfillResult
from devstack.processes import ManagedProcess
from tests.support.backfill_helpers import (
    Source,
    count_inserts,
    inserts,
    make_source,
    make_target,
    progress,
    source_digest,
    start_backfill,
    table_digest,
)
from tests.support.harness import eventually

ROOT = Path(__file__).resolve().parents[3]


def worker_process(
    temporal: str, database_url: str, queue: str, named: Source, log: Path
) -> ManagedProcess:
    env = dict(os.environ, TEMPORAL_ADDRESS=temporal, DATABASE_URL=database_url, TASK_QUEUE=queue)
    # The source reaches the worker as an operator would configure it: by environment.
    env[f"BACKFILL_SOURCE_{named.name.upper()}"] = named.url
    return ManagedProcess(
        "backfill-worker",
        [sys.executable, "-m", "tests.support.backfill_worker_process"],
        env=env,
        log_path=log,
        cwd=ROOT,
    ).start()


async def source_reads(url: str) -> int:
    """Tuples the source table handed out, from PostgreSQL's own statistics."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        value = await conn.fetchval(
            "SELECT coalesce(idx_tup_fetch, 0) + coalesce(seq_tup_read, 0) "
            "FROM pg_stat_user_tables WHERE relname = 'items'"
        )
        return int(value)
    finally:
        await conn.close()


async def no_other_sessions(url: str) -> None:
    """Until every other client of the source database is gone: a backend writes its
    statistics out before it leaves pg_stat_activity, so ``source_reads`` then counts them."""
    conn = await asyncpg.connect(url)
    try:

        async def alone() -> bool:
            others = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
            )
            return others == 0

        await eventually(alone)
    finally:
        await conn.close()


async def test_kill_9_resumes_from_heartbeat_cursor(
    temporal_env: WorkflowEnvironment,
    database_url: str,
    source: Source,
    tmp_path: Path,
) -> None:
    rows = 12_000
    await make_source(source.url, rows)
    target = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    assert target is not None
    try:
        await make_target(target)
        await count_inserts(target)
        await no_other_sessions(source.url)
        before = await source_reads(source.url)
        client = temporal_env.client
        address = client.service_client.config.target_host
        queue = f"backfill-kill-{uuid.uuid4().hex[:8]}"
        first = worker_process(address, database_url, queue, source, tmp_path / "w1.log")
        second = None
        try:
            job = BackfillInput(
                source.name,
                "id",
                "items_copy",
                source_table="items",
                batch_size=200,
                rate_limit=3_000,
                heartbeat_timeout_seconds=2,
            )
            handle = await start_backfill(client, queue, job)

            async def midway() -> int:
                done = [p.rows_done for p in await progress(client, handle)]
                return max(done, default=0) >= rows * 0.4 and max(done)

            at_kill = await eventually(midway, within=60, interval=0.1)
            first.kill()
            copied_at_kill = await target.fetchval("SELECT count(*) FROM items_copy")
            second = worker_process(address, database_url, queue, source, tmp_path / "w2.log")
            result: BackfillResult = await asyncio.wait_for(handle.result(), 60)
        finally:
            for proc in (first, second):
                if proc is not None:
                    proc.stop()
        # Resumed, not restarted: rows read from the source over both attempts stay well
        # below the table plus the rows already copied when the first worker died.
        await no_other_sessions(source.url)
        reads = await source_reads(source.url) - before
        assert reads < rows + copied_at_kill // 2, (reads, copied_at_kill, at_kill)
        assert result.rows_read < rows + copied_at_kill // 2
        # Written once: a page committed after the last heartbeat is re-read and merged, and
        # the merge inserts none of its rows a second time.
        assert await inserts(target) == rows
        assert await table_digest(target, "items_copy") == await source_digest(source.url)
        history = [e async for e in handle.fetch_history_events()]
        assert any(e.activity_task_started_event_attributes.attempt == 2 for e in history)
    finally:
        await target.close()
