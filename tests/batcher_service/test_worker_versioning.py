"""Upgrades without stopping a shard: the batcher moved to version 2 under load."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import asyncpg
from temporalio.api.enums.v1 import VersioningBehavior
from temporalio.client import Client
from temporalio.common import WorkerDeploymentVersion
from temporalio.plugin import SimplePlugin
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from batcher_service.intake.config import IntakeConfig
from batcher_service.names import STATS_QUERY
from batcher_service.shard.state import BatcherConfig, BatcherStats
from batcher_service.worker import build_worker as build_batcher_worker
from devstack.schema import MAIN_SCHEMA
from loadtest.verify import verify_writes
from main_service.names import LEDGER_TABLE, PAYMENT_WORKFLOW
from main_service.payments import PaymentResult
from main_service.worker import build_worker as build_main_worker
from tests.support.harness import DEMO_TABLES, Queues, eventually, payment, running_workers
from tests.support.versioned_workflows import V2_PATCH
from tests.support.versioning_support import (
    ActivityCount,
    BatcherVersion2,
    build_id_of,
    completed_by,
    has_patch,
    histories,
    set_current_version,
    task_failures,
)
from write_batcher.contract import WRITE_ACTIVITY, WriteOutcome
from write_batcher_kit.versioning import WorkerVersioning

SHARDS = 3


@dataclass
class PaymentLoad:
    """Payments started one after another by a few concurrent starters, until stopped."""

    client: Client
    queue: str
    concurrency: int = 6
    started: list[str] = field(default_factory=list)
    results: dict[str, PaymentResult] = field(default_factory=dict)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def _starter(self) -> None:
        while not self._stop.is_set():
            index = len(self.started)
            request = payment(index, accounts=17)
            self.started.append(request.payment_id)
            self.results[request.payment_id] = await self.client.execute_workflow(
                PAYMENT_WORKFLOW,
                request,
                id=f"{self.queue}-{request.payment_id}",
                task_queue=self.queue,
                result_type=PaymentResult,
            )

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[PaymentLoad]:
        tasks = [asyncio.create_task(self._starter()) for _ in range(self.concurrency)]
        try:
            yield self
            self._stop.set()
            done, pending = await asyncio.wait(tasks, timeout=120)
            stuck = [i for i in self.started if i not in self.results]
            assert not pending, f"payments not done 120 s after the load stopped: {stuck}"
            for task in done:
                task.result()
        finally:
            for task in tasks:
                task.cancel()

    async def completed_beyond(self, count: int) -> bool:
        return len(self.results) >= count


def versioned(deployment: str, build_id: str) -> WorkerVersioning:
    return WorkerVersioning(WorkerDeploymentVersion(deployment, build_id))


async def test_shards_move_to_version_2_under_load_without_losing_a_write(
    temporal_env: WorkflowEnvironment, db_pool: asyncpg.Pool, database_url: str, queues: Queues
) -> None:
    client = temporal_env.client
    batcher_deployment, main_deployment = queues.batcher, queues.main
    # Short runs: every shard continues-as-new every few seconds under this load.
    config = BatcherConfig(max_signals_per_run=15)
    intake = IntakeConfig(shards=SHARDS, id_prefix=queues.prefix, linger_seconds=0.1)
    shard_ids = [queues.batcher_id(n) for n in range(SHARDS)]
    await db_pool.execute(MAIN_SCHEMA.read_text())
    v1_activities = ActivityCount()

    def batcher(build_id: str, plugins: Sequence[SimplePlugin] = ()) -> Worker:
        return build_batcher_worker(
            client,
            db_pool,
            config,
            DEMO_TABLES,
            task_queue=queues.batcher,
            intake=intake,
            versioning=versioned(batcher_deployment, build_id),
            plugins=plugins,
        )

    main = build_main_worker(
        client,
        task_queue=queues.main,
        batcher_task_queue=queues.batcher,
        versioning=versioned(main_deployment, "v1"),
    )
    load = PaymentLoad(client, queues.main)
    # The load stops before any worker does: v1's stack is closed early, by the test.
    async with main, contextlib.AsyncExitStack() as v1, contextlib.AsyncExitStack() as v2:
        await v1.enter_async_context(
            batcher("v1", plugins=[SimplePlugin("count-v1", interceptors=[v1_activities])])
        )
        await set_current_version(client, batcher_deployment, "v1")
        await set_current_version(client, main_deployment, "v1")
        async with load.running():
            # Every shard busy on version 1, and past its first continue-as-new.
            await eventually(lambda: load.completed_beyond(40), within=120)

            async def continued_as_new() -> bool:
                for shard_id in shard_ids:
                    handle = client.get_workflow_handle(shard_id)
                    # runs counts the current one: 2 is past the first continue-as-new.
                    if (await handle.query(STATS_QUERY, result_type=BatcherStats)).runs < 2:
                        return False
                return True

            await eventually(continued_as_new, within=120)
            for shard_id in shard_ids:
                assert await build_id_of(client, shard_id) == "v1"
            await v2.enter_async_context(batcher("v2", plugins=[BatcherVersion2()]))
            await set_current_version(client, batcher_deployment, "v2")

            async def all_on_version_2() -> bool:
                for shard_id in shard_ids:
                    if await build_id_of(client, shard_id) != "v2":
                        return False
                    if not has_patch((await histories(client, shard_id))[-1], V2_PATCH):
                        return False
                return True

            # Each shard moved at its next task and began a run on version 2 since.
            await eventually(all_on_version_2, within=120)
            drained_at = time.time()
            v1_seen = v1_activities.counts.copy()
            completed = len(load.results)
            await eventually(lambda: load.completed_beyond(completed + 30), within=120)
            # Version 1 drained: it ran nothing since, while the load went on.
            assert v1_activities.counts == v1_seen
            await v1.aclose()
            completed = len(load.results)
            await eventually(lambda: load.completed_beyond(completed + 20), within=120)

    # No write lost or duplicated: one ledger row per payment, and no other row.
    assert len(load.results) == len(load.started) >= 90
    check = await verify_writes(database_url, list(load.results))
    assert (check.rows, check.lost, check.duplicates) == (len(load.results), 0, 0)
    assert await db_pool.fetchval(f"SELECT count(*) FROM {LEDGER_TABLE}") == len(load.results)
    # Version 1 did run the shards' flushes and took callers' writes before.
    assert v1_activities.counts[WRITE_ACTIVITY] > 0 and v1_activities.counts["flush_batch"] > 0

    moved_mid_run = 0
    for shard_id in shard_ids:
        runs = await histories(client, shard_id)
        builds_by_run = []
        for run, events in enumerate(runs):
            # No non-determinism, nor any other failed task, in any run of any shard.
            assert task_failures(events) == [], (shard_id, run)
            tasks = completed_by(events)
            assert all(build == "v2" for at, build in tasks if at > drained_at), (shard_id, run)
            builds_by_run.append({build for _, build in tasks})
            assert has_patch(events, V2_PATCH) == ("v1" not in builds_by_run[-1]), run
        assert {"v1"} in builds_by_run and {"v2"} in builds_by_run, (shard_id, builds_by_run)
        # A run begun on version 1 and finished on version 2: replayed there without the timer.
        moved_mid_run += {"v1", "v2"} in builds_by_run
    assert moved_mid_run >= 1

    shard = await client.get_workflow_handle(shard_ids[0]).describe()
    info = shard.raw_description.workflow_execution_info.versioning_info
    assert info.behavior == VersioningBehavior.VERSIONING_BEHAVIOR_AUTO_UPGRADE
    paid = await client.get_workflow_handle(f"{queues.main}-{load.started[0]}").describe()
    info = paid.raw_description.workflow_execution_info.versioning_info
    assert (info.behavior, info.deployment_version.build_id) == (
        VersioningBehavior.VERSIONING_BEHAVIOR_PINNED,
        "v1",
    )


async def test_without_versioning_the_workers_run_unversioned_as_before(
    temporal_env: WorkflowEnvironment, db_pool: asyncpg.Pool, queues: Queues
) -> None:
    """The default: no deployment, no behaviour sent (which the server would refuse)."""
    client = temporal_env.client
    async with running_workers(client, db_pool, queues, BatcherConfig()) as harness:
        handle = await harness.start_payment("p-plain", payment(1))
        # A refused behaviour would fail every task of it: the payment would never end.
        result = await asyncio.wait_for(handle.result(), timeout=60)
        assert result.outcome == WriteOutcome.WRITTEN
    for workflow_id in ("p-plain", queues.batcher_id(0)):
        described = await client.get_workflow_handle(workflow_id).describe()
        info = described.raw_description.workflow_execution_info
        assert not info.HasField("versioning_info"), workflow_id
        assert info.worker_deployment_name == ""
