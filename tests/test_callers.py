"""The caller side against the real batcher: backing off when it is full, out of reach."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from batcher_service.names import STATS_QUERY
from batcher_service.shard.state import BatcherConfig, BatcherStats
from tests.test_write_batcher import DDL, TABLES, workers
from tests.write_support import CALLER_WORKFLOWS, failure
from tests.write_workflows import WriteCall
from write_batcher import WriteBatchingPlugin, errors
from write_batcher.contract import WriteOutcome


@pytest.fixture
async def pool(db_pool: asyncpg.Pool) -> asyncpg.Pool:
    await db_pool.execute(DDL)
    return db_pool


async def test_overloaded_batcher_pushes_callers_back_and_they_retry(
    temporal_env: WorkflowEnvironment, pool: asyncpg.Pool
) -> None:
    client = temporal_env.client
    # Room for 4 pending requests; the rest are dropped, and their workers send them again.
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


async def test_no_batcher_worker_at_the_deadline_is_outcome_unknown(
    temporal_env: WorkflowEnvironment,
) -> None:
    client = temporal_env.client
    tag = uuid.uuid4().hex[:8]
    plugin = WriteBatchingPlugin(
        TABLES,
        batcher_task_queue=f"nobody-{tag}",
        batcher_id_prefix=f"wb-{tag}",
        ack_timeout_seconds=1.0,
        withdraw_retry_seconds=2.0,
    )
    queue = f"callers-{tag}"
    async with Worker(client, task_queue=queue, workflows=CALLER_WORKFLOWS, plugins=[plugin]):
        with pytest.raises(WorkflowFailureError) as failed:
            await asyncio.wait_for(
                client.execute_workflow(
                    "WriteOne", WriteCall("strict", {"id": "x"}), id=f"u-{tag}", task_queue=queue
                ),
                timeout=30,
            )
    err = failure(failed.value)
    assert err.type == errors.WRITE_OUTCOME_UNKNOWN
    assert "python -m batcher_service requests lookup" in err.message
