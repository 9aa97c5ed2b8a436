"""A hand-off the batcher's intake cannot signal fails the caller's attempt, which runs again."""

from __future__ import annotations

import uuid

import asyncpg
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from batcher_service.intake.config import IntakeConfig
from batcher_service.shard.state import BatcherConfig
from batcher_service.worker import build_worker as build_batcher_worker
from tests.support.harness import eventually
from tests.support.waiting_workflows import WriteOnce
from write_batcher import WriteBatchingPlugin, errors, table_specs_from_dict

SPECS = table_specs_from_dict(
    {"tables": {"handoff_rows": {"key": ["id"], "columns": {"id": "text"}}}}
)


async def test_a_failed_signal_fails_the_attempt_by_id_and_the_write_is_sent_again(
    temporal_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    client = temporal_env.client
    tag = uuid.uuid4().hex[:8]
    batcher_queue, callers = f"b-{tag}", f"c-{tag}"
    # A shard id the server refuses (over its id length limit): every signal to it fails.
    intake = IntakeConfig(id_prefix="x" * 1_100, linger_seconds=0.05)
    batcher = build_batcher_worker(
        client, db_pool, BatcherConfig(), SPECS, task_queue=batcher_queue, intake=intake
    )
    plugin = WriteBatchingPlugin(ack_timeout_seconds=60, batcher_task_queue=batcher_queue)
    caller = Worker(client, task_queue=callers, workflows=[WriteOnce], plugins=[plugin])
    async with batcher, caller:
        handle = await client.start_workflow(
            WriteOnce.run, args=["handoff_rows", {"id": tag}], id=f"h-{tag}", task_queue=callers
        )

        async def retried() -> bool:
            pending = (await handle.describe()).raw_description.pending_activities
            return any(
                p.attempt >= 3
                and p.last_failure.application_failure_info.type == errors.HAND_OFF_FAILED
                for p in pending
            )

        # Failed by id at once (not after the 30 s attempt timeout), and retried by policy.
        await eventually(retried, within=20)
        await handle.terminate("test over")
