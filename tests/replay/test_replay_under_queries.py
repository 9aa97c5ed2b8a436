"""A batcher asked its stats query all the time, under load, replays its history.

Operators and dashboards poll a shard's ``stats`` query while it works. A query that reaches a
workflow while one of its local activities runs moved the time the workflow saw when the
activity resolved; on replay it sees the workflow task's time instead, so a batcher whose
pacing reads ``workflow.now()`` took other decisions and failed for good on its next replay (a
continue-as-new racing a signal forces one). The batcher therefore runs no local activity, and
a query never changes its state; this holds it to that under a stream of queries while the
flushes complete callers' write activities.
"""

from __future__ import annotations

import asyncio

import asyncpg
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from batcher_service.names import STATS_QUERY
from batcher_service.shard.state import BatcherConfig
from batcher_service.shard.workflow import WriteBatcherWorkflow
from tests.support.harness import Queues, payment, running_workers


async def test_a_batcher_queried_while_it_works_replays_its_history(
    temporal_env: WorkflowEnvironment, db_pool: asyncpg.Pool, queues: Queues
) -> None:
    client = temporal_env.client
    async with running_workers(client, db_pool, queues, BatcherConfig()) as h:
        batcher = client.get_workflow_handle(queues.batcher_id(0))
        done = asyncio.Event()

        answered = 0

        async def ask() -> None:
            nonlocal answered
            while not done.is_set():
                try:
                    await batcher.query(STATS_QUERY)
                    answered += 1
                except RPCError:  # not started yet, or the server's buffered-query limit
                    pass  # a query the workflow itself failed is not caught: it ends the test
                await asyncio.sleep(0.005)

        askers = [asyncio.create_task(ask()) for _ in range(4)]
        slots = asyncio.Semaphore(100)

        async def pay(i: int) -> None:
            async with slots:
                await (await h.start_payment(f"rq-{i}", payment(i))).result()

        try:
            await asyncio.wait_for(asyncio.gather(*(pay(i) for i in range(400))), timeout=180)
        finally:
            done.set()
            await asyncio.gather(*askers)
        history = await batcher.fetch_history()
    replayed = await Replayer(workflows=[WriteBatcherWorkflow]).replay_workflow(
        history, raise_on_replay_failure=False
    )
    assert replayed.replay_failure is None, replayed.replay_failure
    assert len(history.events) > 100
    assert answered > 50, answered
