"""The caller side against the real batcher: retried when it is full, waiting while it is down."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from batcher_service.intake.config import IntakeConfig
from batcher_service.names import STATS_QUERY
from batcher_service.shard.state import BatcherConfig, BatcherStats
from batcher_service.worker import build_worker as build_batcher_worker
from tests.support.harness import eventually
from tests.support.write_support import CALLER_WORKFLOWS
from tests.support.write_workflows import WriteCall
from tests.write_batcher.test_write_batcher import DDL, TABLES, workers
from write_batcher import WriteBatchingPlugin
from write_batcher.contract import WRITE_ACTIVITY, WriteOutcome


@pytest.fixture
async def pool(db_pool: asyncpg.Pool) -> asyncpg.Pool:
    await db_pool.execute(DDL)
    return db_pool


async def test_overloaded_batcher_pushes_callers_back_and_they_retry(
    temporal_env: WorkflowEnvironment, pool: asyncpg.Pool
) -> None:
    client = temporal_env.client
    # Room for 4 pending requests; the rest are dropped (their write activities fail,
    # retryable), and each caller's activity runs again after its retry backoff.
    config = BatcherConfig(mode="fixed", max_batch_size=100, max_wait_seconds=1.5, max_pending=4)
    async with workers(client, pool, config, ack_timeout_seconds=60) as queue:
        calls = [WriteCall("strict", {"id": f"bp-{i}"}, partition_key="one") for i in range(10)]
        results = await asyncio.wait_for(
            asyncio.gather(
                *(
                    client.execute_workflow("WriteOne", c, id=f"bp-{i}", task_queue=queue)
                    for i, c in enumerate(calls)
                )
            ),
            timeout=90,
        )
        prefix = queue.replace("callers-", "wb-")
        stats = await client.get_workflow_handle(f"{prefix}-0").query(
            STATS_QUERY, result_type=BatcherStats
        )
    assert {r["outcome"] for r in results} == {WriteOutcome.WRITTEN}
    assert stats.overloaded_rejections >= 6, stats
    assert stats.largest_batch <= 4
    assert len(await pool.fetch("SELECT id FROM strict")) == 10


async def test_a_write_waits_on_the_queue_for_a_batcher_worker_that_starts_late(
    temporal_env: WorkflowEnvironment, pool: asyncpg.Pool
) -> None:
    """No batcher worker yet: the write's activity waits in the batcher's queue (nothing is
    resent, no caller slot is held) and is written once one starts, within its deadline."""
    client = temporal_env.client
    tag = uuid.uuid4().hex[:8]
    callers, batcher = f"callers-{tag}", f"batcher-{tag}"
    plugin = WriteBatchingPlugin(batcher_task_queue=batcher, ack_timeout_seconds=60)
    async with Worker(client, task_queue=callers, workflows=CALLER_WORKFLOWS, plugins=[plugin]):
        handle = await client.start_workflow(
            "WriteOne", WriteCall("strict", {"id": "late"}), id=f"late-{tag}", task_queue=callers
        )

        async def waiting_in_the_queue() -> bool:
            pending = (await handle.describe()).raw_description.pending_activities
            return [(a.activity_type.name, a.state) for a in pending] == [
                (WRITE_ACTIVITY, PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED)
            ]

        await eventually(waiting_in_the_queue)
        assert await pool.fetch("SELECT id FROM strict") == []
        intake = IntakeConfig(id_prefix=f"wb-{tag}")
        config = BatcherConfig(min_interval_seconds=0.2)
        async with build_batcher_worker(
            client, pool, config, TABLES, task_queue=batcher, intake=intake
        ):
            result = await asyncio.wait_for(handle.result(), timeout=30)
    assert result["outcome"] == WriteOutcome.WRITTEN
    assert [r["id"] for r in await pool.fetch("SELECT id FROM strict")] == ["late"]
