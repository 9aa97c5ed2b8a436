"""A write pending in a shard that the new shard count no longer routes to, whose deadline
passes after BATCHER_SHARDS changed: its withdrawal goes to another shard (routed by the new
count), which records it in the request table; the old shard's flush is refused by that
record, so the row is never written late."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from batcher_service.intake.config import IntakeConfig
from batcher_service.names import STATS_QUERY
from batcher_service.shard.state import BatcherConfig, BatcherStats
from batcher_service.worker import build_worker
from tests.support.harness import eventually
from tests.support.write_workflows import WriteCall, WriteOne
from tests.support.writer_tables import SPECS, create_tables
from write_batcher import WriteBatchingPlugin
from write_batcher._ids import default_partition_key
from write_batcher._routing import shard_for
from write_batcher.contract import batcher_workflow_id

BEFORE, AFTER = 3, 2
# Flushed by the clock only, well after the caller's deadline.
FLUSH_AFTER_SECONDS = 12.0
DEADLINE_SECONDS = 4.0


def _orphaned_key() -> str:
    """An account id whose shard under BEFORE shards is one AFTER shards no longer have."""
    for n in range(1000):
        key = default_partition_key(SPECS["accounts"], {"account_id": f"a-{n}"}, "")
        if shard_for(key, BEFORE) >= AFTER:
            return f"a-{n}"
    raise AssertionError("no key routes past the new count")


async def test_a_write_withdrawn_after_the_shard_count_changed_is_never_written(
    temporal_env: WorkflowEnvironment, db_pool: asyncpg.Pool, database_url: str
) -> None:
    await create_tables(database_url)
    client = temporal_env.client
    tag = uuid.uuid4().hex[:8]
    queue, callers = f"batcher-{tag}", f"callers-{tag}"
    config = BatcherConfig(mode="fixed", max_batch_size=500, max_wait_seconds=FLUSH_AFTER_SECONDS)
    account = _orphaned_key()
    old_shard = batcher_workflow_id(BEFORE - 1, f"wb-{tag}")

    def batcher(shards: int) -> Worker:
        intake = IntakeConfig(shards=shards, id_prefix=f"wb-{tag}", linger_seconds=0.1)
        return build_worker(client, db_pool, config, SPECS, task_queue=queue, intake=intake)

    plugin = WriteBatchingPlugin(batcher_task_queue=queue, ack_timeout_seconds=DEADLINE_SECONDS)
    async with Worker(client, task_queue=callers, workflows=[WriteOne], plugins=[plugin]):
        handle = await client.start_workflow(
            WriteOne.run,
            WriteCall("accounts", {"account_id": account, "balance": 1}),
            id=f"late-{tag}",
            task_queue=callers,
        )
        async with batcher(BEFORE):

            async def pending() -> bool:
                try:
                    stats: BatcherStats = await client.get_workflow_handle(old_shard).query(
                        STATS_QUERY, result_type=BatcherStats
                    )
                except RPCError:
                    return False  # not started yet
                return stats.pending == 1

            await eventually(pending, within=30)
        async with batcher(AFTER):
            outcome = await asyncio.gather(handle.result(), return_exceptions=True)

            async def flushed() -> bool:
                stats: BatcherStats = await client.get_workflow_handle(old_shard).query(
                    STATS_QUERY, result_type=BatcherStats
                )
                return stats.pending == 0 and stats.inflight_flushes == 0

            await eventually(flushed, within=FLUSH_AFTER_SECONDS + 30)
    failed = outcome[0]
    written = await db_pool.fetchval("SELECT count(*) FROM accounts WHERE account_id = $1", account)
    # Either the caller learnt it was written, or it was withdrawn and is not in the table.
    if isinstance(failed, BaseException):
        assert written == 0, f"withdrawn ({failed!r}) yet written after its deadline"
    else:
        assert written == 1
