"""A withdrawal lasts: recorded in the request table, it refuses every later copy of its write,
however many withdrawals came after it and however many runs the shard went through."""

from __future__ import annotations

import asyncio
import os
import time

import asyncpg
import pytest
from temporalio.testing import WorkflowEnvironment

from batcher_service.names import REQUEST_TABLE, SHUTDOWN_SIGNAL
from batcher_service.postgres.pool import create_pool
from batcher_service.shard.state import BatcherConfig, BatcherStats
from tests.support import faults
from tests.support.batcher_support import Shard, shard
from tests.support.harness import eventually
from tests.support.withdraw_support import recorded, settle
from tests.support.writer_tables import create_tables
from write_batcher import errors
from write_batcher.contract import WriteOutcome, WriteRequest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

# Twice what the shard once kept in memory (5,000); WD_OTHERS makes a quicker local run.
OTHERS = int(os.environ.get("WD_OTHERS", "10000"))
CHUNK = 200


async def test_a_late_copy_of_a_withdrawn_write_is_refused_after_10000_withdrawals(
    temporal_env: WorkflowEnvironment, db_pool: asyncpg.Pool, database_url: str
) -> None:
    await create_tables(database_url)
    check = await create_pool(database_url, 3)
    client = temporal_env.client
    # Nothing flushes by itself (the window is an hour, the cap above everything sent):
    # every write is pending when withdrawn, and only the final drain flushes.
    config = BatcherConfig(mode="fixed", max_wait_seconds=3600, max_batch_size=20_000)
    rid = "accounts:k-1"
    try:
        async with shard(client, db_pool, config, ack_timeout_seconds=2.0) as s:
            row = {"account_id": "late", "balance": 1}
            assert (
                await s.write("accounts", row, idempotency_key="k-1")
                == errors.WRITE_CONFIRMATION_TIMEOUT
            )
            runs_before = (await s.stats()).runs
            began = time.monotonic()
            outcomes = await _withdraw_others(s)
            took = time.monotonic() - began
            assert set(outcomes) == {WriteOutcome.WITHDRAWN}
            runs = (await s.stats()).runs
            assert runs > runs_before, (runs, runs_before)

            async def all_recorded() -> bool:
                n = await check.fetchval(
                    f"SELECT count(*) FROM {REQUEST_TABLE} WHERE outcome = 'withdrawn'"
                )
                return int(n) == OTHERS + 1

            await eventually(all_recorded, within=120)
            # The late copy of the same request id, as a resend reaches the shard; then the
            # shard drains and completes. The flush's statement refuses it: the request table.
            await s.signal(WriteRequest(rid, "accounts", "late-copy", "late", row))
            handle = client.get_workflow_handle(s.batcher_id, result_type=BatcherStats)
            await handle.signal(SHUTDOWN_SIGNAL)
            final = await handle.result()
        assert (final.rows_rejected, final.rows_written) == (1, 0), final
        assert await recorded(check, rid) == "withdrawn"
        assert await check.fetchval("SELECT count(*) FROM accounts") == 0
        faults.record(
            faults.WITHDRAWN_LATE_COPY,
            1,
            faults.one_write(0, int(await check.fetchval("SELECT count(*) FROM accounts"))),
            f"refused by the request table (`WriteWithdrawn`), not written; {OTHERS:,} "
            f"withdrawals in {took:.0f} s over {runs} runs",
        )
    finally:
        await check.close()


async def _withdraw_others(s: Shard) -> list[WriteOutcome]:
    gate = asyncio.Semaphore(10)

    async def one(n: int) -> WriteOutcome:
        async with gate:
            ack, _ = await settle(s.client, s.batcher_id, f"other-{n}", "samples", within=600)
        return ack.outcome

    outcomes: list[WriteOutcome] = []
    # A chunk at a time: the buffer stays far below the bytes that make a batch due (a
    # quarter of what a shard holds, ~140 kB: ~500 of these requests), so nothing flushes.
    for first in range(0, OTHERS, CHUNK):
        ids = range(first, min(first + CHUNK, OTHERS))
        await s.signal(
            *(WriteRequest(f"other-{n}", "samples", "t", f"o-{n}", {"id": str(n)}) for n in ids)
        )
        outcomes += await asyncio.gather(*(one(n) for n in ids))
    return outcomes
