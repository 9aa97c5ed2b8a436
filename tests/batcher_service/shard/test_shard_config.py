"""A run judges every signal by its own config, the first run's first signal included, and a
stats query changes nothing the run carries over (issue 23 item 7)."""

from __future__ import annotations

import json

import asyncpg
from temporalio.testing import WorkflowEnvironment

from batcher_service.shard.state import BatcherConfig
from tests.support.batcher_support import shard
from tests.support.harness import eventually
from write_batcher.contract import WriteRequest


def request(index: int) -> WriteRequest:
    row = {"account_id": f"cfg-{index}", "balance": index}
    return WriteRequest(f"cfg-{index}", "accounts", "nobody", f"cfg-{index}", row)


async def test_signals_are_judged_by_the_runs_config_from_the_first_one(
    temporal_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    # Nothing is flushed; each signal ends its run. The default config would take 20,000.
    config = BatcherConfig(
        mode="fixed",
        max_batch_size=1_000,
        max_wait_seconds=600,
        max_pending=5,
        max_signals_per_run=1,
    )
    async with shard(temporal_env.client, db_pool, config) as s:
        # The signal that starts the shard arrives before its config is loaded.
        await s.signal(*(request(i) for i in range(8)))

        async def handed_over() -> bool:
            return (await s.stats()).runs == 2

        await eventually(handed_over, within=30)
        stats = await s.stats()
        assert (stats.pending, stats.overloaded_rejections) == (5, 3), stats
        # The next run's first signal, judged before its own config activity returns.
        await s.signal(*(request(i) for i in range(8, 10)))

        async def refused() -> bool:
            return (await s.stats()).overloaded_rejections == 5

        await eventually(refused, within=30)
        assert (await s.stats()).pending == 5
        handle = s.client.get_workflow_handle(s.batcher_id)
        first = (await handle.fetch_history()).events[0]
        previous = first.workflow_execution_started_event_attributes.continued_execution_run_id
        history = await s.client.get_workflow_handle(s.batcher_id, run_id=previous).fetch_history()
        closing = history.events[-1].workflow_execution_continued_as_new_event_attributes
        carried = json.loads(closing.input.payloads[0].data)
    assert carried["config"]["max_pending"] == 5
    # Queried above (pending 5), yet the query's snapshot fields were never written to state.
    assert (carried["stats"]["pending"], carried["stats"]["interval_seconds"]) == (0, 0.0)
    assert len(carried["pending"]) == 5
