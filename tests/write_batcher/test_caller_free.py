"""A caller's workflow is free while its write waits: no open task, no slot, cancellable."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any, NoReturn

import asyncpg
import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import CancelledError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from batcher_service.intake.config import IntakeConfig
from batcher_service.names import STATS_QUERY
from batcher_service.shard.state import BatcherConfig, BatcherStats
from batcher_service.worker import build_worker as build_batcher_worker
from loadtest.verify import Verification
from tests.support import faults
from tests.support.harness import eventually
from tests.support.waiting_workflows import WriteOnce, WriteWhileServing
from write_batcher import StrictInputsPlugin, WriteBatchingPlugin, table_specs_from_dict
from write_batcher.contract import WRITE_ACTIVITY, WriteAck, WriteInput, WriteOutcome
from write_batcher.testing import FakeBatcher, Unacked

SPECS = table_specs_from_dict({"tables": {"wait_rows": {"key": ["id"], "columns": {"id": "text"}}}})
WAITING_WRITES = 2_000


async def test_a_waiting_write_leaves_signals_updates_queries_and_cancel_to_the_workflow(
    temporal_env: WorkflowEnvironment,
) -> None:
    client = temporal_env.client
    tag = uuid.uuid4().hex[:8]
    plugin = WriteBatchingPlugin(ack_timeout_seconds=300, batcher_task_queue=f"b-{tag}")
    callers = f"c-{tag}"
    async with (
        Worker(client, task_queue=callers, workflows=[WriteWhileServing], plugins=[plugin]),
        FakeBatcher(client, SPECS, {"wait_rows": Unacked.UNTIL_DEADLINE}, plugin=plugin) as fake,
    ):
        handle = await client.start_workflow(
            WriteWhileServing.run,
            args=["wait_rows", {"id": "a"}],
            id=f"w-{tag}",
            task_queue=callers,
        )
        await eventually(lambda: _true(len(fake.requests) == 1), within=15)
        # The write waits at the batcher; no workflow task of the caller stays open for it.
        description = await handle.describe()
        assert not description.raw_description.HasField("pending_workflow_task")
        began = time.monotonic()
        await handle.signal(WriteWhileServing.ping, "one")
        assert time.monotonic() - began < 1.0
        began = time.monotonic()
        echoed = await handle.execute_update(WriteWhileServing.echo, "hi")
        assert time.monotonic() - began < 1.0
        assert echoed == "hi while writing=True"
        began = time.monotonic()
        state = await handle.query(WriteWhileServing.state)
        assert time.monotonic() - began < 1.0
        assert state == {"writing": True, "pings": ["one"]}
        began = time.monotonic()
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
        assert isinstance(failed.value.cause, CancelledError)
        assert time.monotonic() - began < 10.0
        # Withdrawn before the cancellation went on: a late copy would be refused.
        assert fake.withdrawn == [fake.requests[0].request_id]
        assert fake.written == []


async def _true(value: bool) -> bool:
    """``eventually`` polls an async predicate: this wraps a plain condition."""
    return value


async def test_a_cancelled_callers_pending_write_is_withdrawn_and_never_written(
    temporal_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    client = temporal_env.client
    tag = uuid.uuid4().hex[:8]
    await db_pool.execute("CREATE TABLE IF NOT EXISTS wait_rows (id text PRIMARY KEY)")
    batcher_queue, callers, prefix = f"b-{tag}", f"c-{tag}", f"wb-{tag}"
    # Fixed mode, a long wait: the first write stays pending long enough to be cancelled.
    config = BatcherConfig(mode="fixed", max_wait_seconds=6.0)
    batcher = build_batcher_worker(
        client,
        db_pool,
        config,
        SPECS,
        task_queue=batcher_queue,
        intake=IntakeConfig(id_prefix=prefix, linger_seconds=0.05),
    )
    plugin = WriteBatchingPlugin(ack_timeout_seconds=60, batcher_task_queue=batcher_queue)
    caller = Worker(
        client, task_queue=callers, workflows=[WriteWhileServing, WriteOnce], plugins=[plugin]
    )
    async with batcher, caller:
        handle = await client.start_workflow(
            WriteWhileServing.run,
            args=["wait_rows", {"id": f"x-{tag}"}],
            id=f"cancelled-{tag}",
            task_queue=callers,
        )
        shard = client.get_workflow_handle(f"{prefix}-0")

        async def pending() -> bool:
            try:
                stats = await shard.query(STATS_QUERY, result_type=BatcherStats)
            except Exception:
                return False
            return bool(stats.pending == 1)

        await eventually(pending, within=15)
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
        assert isinstance(failed.value.cause, CancelledError)
        stats = await shard.query(STATS_QUERY, result_type=BatcherStats)
        assert (stats.rows_withdrawn, stats.pending) == (1, 0)
        # A later write flushes; the cancelled one is not in the table.
        written = await client.execute_workflow(
            WriteOnce.run, args=["wait_rows", {"id": f"y-{tag}"}], id=f"y-{tag}", task_queue=callers
        )
        assert written == "written"
        ids = {r["id"] for r in await db_pool.fetch("SELECT id FROM wait_rows")}
        assert f"y-{tag}" in ids
        assert f"x-{tag}" not in ids
    late = int(f"x-{tag}" in ids)
    faults.record(
        faults.CANCELLED_CALLER,
        1,
        # Expected in the table: none; a row for it would count as a duplicate.
        Verification(0, late, 0, late, 0, 0),
        f"withdrawn ({stats.rows_withdrawn}) before the workflow ended cancelled; not in the "
        "table after a later flush",
    )


class _HoldingBatcher:
    """A batcher that takes every write and answers none until told: a very slow one."""

    def __init__(self) -> None:
        self.held: dict[str, tuple[str, str, str]] = {}

    @activity.defn(name=WRITE_ACTIVITY)
    async def write(self, write: WriteInput) -> NoReturn:
        info = activity.info()
        self.held[write.request_id] = (
            info.workflow_id or "",
            info.workflow_run_id or "",
            info.activity_id,
        )
        activity.raise_complete_async()

    async def answer_all(self, client: Client) -> None:
        gate = asyncio.Semaphore(100)

        async def one(rid: str, address: tuple[str, str, str]) -> None:
            workflow_id, run_id, activity_id = address
            handle = client.get_async_activity_handle(
                workflow_id=workflow_id, run_id=run_id, activity_id=activity_id
            )
            async with gate:
                await handle.complete(WriteAck(rid, WriteOutcome.WRITTEN, "slow-batch"))

        await asyncio.gather(*(one(rid, address) for rid, address in self.held.items()))


@pytest.mark.timeout(600)
async def test_a_caller_worker_with_default_slots_carries_thousands_of_waiting_writes(
    temporal_env: WorkflowEnvironment,
) -> None:
    client = temporal_env.client
    tag = uuid.uuid4().hex[:8]
    plugin = WriteBatchingPlugin(ack_timeout_seconds=600, batcher_task_queue=f"b-{tag}")
    callers = f"c-{tag}"
    holder = _HoldingBatcher()
    # Both workers with the SDK's default slot counts (100 workflow tasks, 100 activities).
    caller = Worker(client, task_queue=callers, workflows=[WriteOnce], plugins=[plugin])
    batcher = Worker(
        client,
        task_queue=f"b-{tag}",
        activities=[holder.write],
        plugins=[StrictInputsPlugin()],
    )
    async with caller, batcher:
        gate = asyncio.Semaphore(50)

        async def start(n: int) -> WorkflowHandle[Any, str]:
            async with gate:
                return await client.start_workflow(
                    WriteOnce.run,
                    args=["wait_rows", {"id": f"{n}"}],
                    id=f"many-{tag}-{n}",
                    task_queue=callers,
                )

        handles = await asyncio.gather(*(start(n) for n in range(WAITING_WRITES)))
        await eventually(
            lambda: _true(len(holder.held) == WAITING_WRITES), within=400, interval=1.0
        )
        # All of them wait at once, none answered yet; then the slow batcher answers them all.
        await holder.answer_all(client)

        # Few at a time: each result is a long poll, and the server caps concurrent pollers.
        async def result(handle: WorkflowHandle[Any, str]) -> str:
            async with gate:
                return await handle.result()

        results = await asyncio.gather(*(result(h) for h in handles))
        assert results == ["written"] * WAITING_WRITES
