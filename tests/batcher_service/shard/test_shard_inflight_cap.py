"""BATCHER_MAX_INFLIGHT_FLUSHES: a shard never has more flush activities running at once than
its cap, counted by the server (pending activities) and by PostgreSQL (statements waiting)."""

from __future__ import annotations

import asyncio

import asyncpg
from temporalio.testing import WorkflowEnvironment

from batcher_service.shard.state import BatcherConfig
from main_service.names import LEDGER_TABLE
from tests.support.harness import Harness, Queues, eventually, ledger_request, running_workers
from write_batcher.contract import WriteRequest

CAP = 2
REQUESTS = 10
SAMPLES = 15


def _request(i: int) -> WriteRequest:
    # A key of its own each: no request waits for another's key to leave a flush.
    return ledger_request(f"cap-{i}", f"acct-cap-{i}", 1)


async def _running_flushes(h: Harness) -> int:
    """Flush activities the server holds as scheduled or running for the shard."""
    desc = await h.client.get_workflow_handle(h.queues.batcher_id()).describe()
    pending = desc.raw_description.pending_activities
    return sum(1 for a in pending if a.activity_type.name == "flush_batch")


async def _waiting_statements(conn: asyncpg.Connection, database: str) -> int:
    """Statements of this test's database stuck behind the lock on the ledger table (read
    outside a transaction: inside one, pg_stat_activity is a snapshot)."""
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = "
            "'Lock' AND query ILIKE $2",
            database,
            f"%{LEDGER_TABLE}%",
        )
    )


async def test_flushes_in_flight_never_exceed_the_cap(
    temporal_env: WorkflowEnvironment, db_pool: asyncpg.Pool, database_url: str, queues: Queues
) -> None:
    # One request per flush, due at once: without the cap all ten would start together.
    config = BatcherConfig(
        mode="fixed", max_batch_size=1, max_wait_seconds=0.05, max_inflight_flushes=CAP
    )
    async with running_workers(temporal_env.client, db_pool, queues, config) as h:
        # Connections of their own: the batcher's pool is all its flushes'.
        lock = await asyncpg.connect(database_url)
        observer = await asyncpg.connect(database_url)
        try:
            database = str(await lock.fetchval("SELECT current_database()"))
            tx = lock.transaction()
            await tx.start()
            await lock.execute(f"LOCK TABLE {LEDGER_TABLE} IN ACCESS EXCLUSIVE MODE")
            await h.signal_batcher(*(_request(i) for i in range(REQUESTS)))

            async def cap_reached() -> bool:
                return await _waiting_statements(observer, database) >= CAP

            await eventually(cap_reached, within=30)
            seen: list[tuple[int, int, int]] = []
            for _ in range(SAMPLES):
                stats = await h.stats()
                flushes = await _running_flushes(h)
                statements = await _waiting_statements(observer, database)
                seen.append((flushes, statements, stats.pending))
                await asyncio.sleep(0.2)
            await tx.rollback()
        finally:
            await lock.close()
            await observer.close()

        async def all_written() -> bool:
            count = await db_pool.fetchval(f"SELECT count(*) FROM {LEDGER_TABLE}")
            return bool(count == REQUESTS)

        await eventually(all_written, within=60)
    # Eight or more waited their turn all along, and never more than the cap ran.
    assert all(pending >= REQUESTS - CAP for _, _, pending in seen), seen
    assert max(f for f, _, _ in seen) == CAP, seen
    assert max(s for _, s, _ in seen) == CAP, seen
