"""Many callers' deadlines at once while PostgreSQL is slow: each gets an answer, none unknown."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest
from temporalio.testing import WorkflowEnvironment

from batcher_service.names import REQUEST_TABLE
from batcher_service.postgres.pool import create_pool
from batcher_service.shard.state import BatcherConfig
from loadtest.verify import Verification
from tests.support import faults
from tests.support.batcher_support import shard
from tests.support.faults import record
from tests.support.harness import eventually
from tests.support.withdraw_support import lock_table
from tests.support.writer_tables import create_tables
from write_batcher import WriteResult, errors
from write_batcher.contract import WriteOutcome

pytestmark = pytest.mark.slow

WRITES = 500


async def test_500_deadlines_at_once_while_postgres_is_slow_end_withdrawn_or_written(
    temporal_env: WorkflowEnvironment, db_pool: asyncpg.Pool, database_url: str
) -> None:
    """The target table is locked: flushes hang until their timeout. Every caller's deadline
    passes meanwhile and its withdrawal is answered at once ("in flight: ask again" while its
    write is in a flush). The lock goes once some callers have their answer."""
    await create_tables(database_url)
    check = await create_pool(database_url, 3)
    client = temporal_env.client
    config = BatcherConfig(min_interval_seconds=0.2, flush_timeout_seconds=8.0)
    try:
        async with shard(client, db_pool, config, ack_timeout_seconds=5.0) as s:
            async with check.acquire() as lock:
                tx = await lock_table(lock, "accounts")
                began = time.monotonic()
                tasks = [
                    asyncio.ensure_future(
                        s.write("accounts", {"account_id": f"slow-{i}", "balance": i})
                    )
                    for i in range(WRITES)
                ]

                async def some_answered() -> bool:
                    return sum(t.done() for t in tasks) >= WRITES // 10

                await eventually(some_answered, within=180)
                await tx.rollback()
            outcomes = await asyncio.gather(*tasks)
            took = time.monotonic() - began
            timed_out = {f"slow-{i}" for i, o in enumerate(outcomes) if isinstance(o, str)}

            async def all_recorded() -> bool:
                found = await check.fetch(
                    f"SELECT request_id FROM {REQUEST_TABLE} WHERE outcome = 'withdrawn'"
                )
                # One recorded withdrawal per caller told "withdrawn".
                return len(found) == len(timed_out)

            await eventually(all_recorded, within=60)
    finally:
        await check.close()
    unknown = [o for o in outcomes if o == errors.WRITE_OUTCOME_UNKNOWN]
    assert unknown == [], f"{len(unknown)} outcome unknown"
    for o in outcomes:
        assert o == errors.WRITE_CONFIRMATION_TIMEOUT or (
            isinstance(o, WriteResult) and o.outcome is WriteOutcome.WRITTEN
        ), o
    written = {f"slow-{i}" for i, o in enumerate(outcomes) if isinstance(o, WriteResult)}
    in_table = {
        r["account_id"]
        for r in await db_pool.fetch(
            "SELECT account_id FROM accounts WHERE account_id LIKE 'slow-%'"
        )
    }
    # What a caller was told is what the table holds: written rows there, withdrawn ones not.
    assert in_table == written
    assert len(timed_out) >= WRITES // 10
    record(
        faults.WITHDRAW_STORM,
        WRITES,
        Verification(len(written), len(in_table), 0, 0, 0, 0),
        f"{len(timed_out)} `WriteConfirmationTimeout` (withdrawn, recorded, not in the table), "
        f"{len(written)} written, {len(unknown)} `WriteOutcomeUnknown`; settled in {took:.0f} s",
    )
    print(f"{len(timed_out)} withdrawn, {len(written)} written in {took:.0f} s")
