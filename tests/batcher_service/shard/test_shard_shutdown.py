"""The ``shutdown`` signal: a shard writes and acks everything it holds, then completes."""

from __future__ import annotations

import asyncio

import asyncpg
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from batcher_service.names import SHUTDOWN_SIGNAL
from batcher_service.shard.state import BatcherConfig, BatcherStats
from main_service.names import LEDGER_TABLE
from main_service.payments import PaymentResult
from tests.support.harness import Queues, eventually, payment, running_workers
from write_batcher.contract import WriteOutcome

PAYMENTS = 12


async def test_shutdown_drains_every_pending_write_then_completes(
    temporal_env: WorkflowEnvironment, db_pool: asyncpg.Pool, queues: Queues
) -> None:
    client = temporal_env.client
    # Nothing would be flushed for an hour: only the shutdown's drain writes these rows.
    config = BatcherConfig(mode="fixed", max_batch_size=500, max_wait_seconds=3600)
    async with running_workers(client, db_pool, queues, config) as h:
        handles = [
            await h.start_payment(f"sd-{queues.main}-{i}", payment(i)) for i in range(PAYMENTS)
        ]

        async def all_pending() -> bool:
            return (await h.stats()).pending == PAYMENTS

        await eventually(all_pending, within=60)
        assert await db_pool.fetchval(f"SELECT count(*) FROM {LEDGER_TABLE}") == 0
        shard = client.get_workflow_handle(queues.batcher_id(), result_type=BatcherStats)
        await shard.signal(SHUTDOWN_SIGNAL)
        final = await asyncio.wait_for(shard.result(), 60)
        results: list[PaymentResult] = await asyncio.wait_for(
            asyncio.gather(*(handle.result() for handle in handles)), 60
        )
        desc = await shard.describe()
    assert {r.outcome for r in results} == {WriteOutcome.WRITTEN}
    assert (final.pending, final.rows_written, final.runs) == (0, PAYMENTS, 1)
    # Completed, not continued as new: the run that took the signal is the last one.
    assert desc.status == WorkflowExecutionStatus.COMPLETED
    rows = await db_pool.fetch(f"SELECT payment_id FROM {LEDGER_TABLE}")
    assert sorted(r["payment_id"] for r in rows) == sorted(f"p-{i}" for i in range(PAYMENTS))
