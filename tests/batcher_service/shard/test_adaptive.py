"""Adaptive batching: a lone write goes out at once; under load one statement per interval."""

from __future__ import annotations

import asyncio
import itertools
import json

import asyncpg
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from batcher_service.shard.pacing import FlushPacer
from batcher_service.shard.state import BatcherConfig
from tests.support.harness import Queues, payment, running_workers
from write_batcher.contract import WriteOutcome


async def test_lone_write_is_flushed_at_once_not_after_a_window(
    temporal_env: WorkflowEnvironment, db_pool: asyncpg.Pool, queues: Queues
) -> None:
    # An interval no test outlives: the write comes back only if the leading edge holds.
    config = BatcherConfig(
        mode="adaptive", min_interval_seconds=3600.0, max_interval_seconds=3600.0
    )
    async with running_workers(temporal_env.client, db_pool, queues, config) as h:
        result = await asyncio.wait_for(
            (await h.start_payment("lone-1", payment(1))).result(), timeout=60
        )
        assert result.outcome is WriteOutcome.WRITTEN
        assert len(await flush_starts(h.client, queues.batcher_id(0))) == 1


async def flush_starts(client: Client, workflow_id: str) -> list[float]:
    """Workflow time (what the pacer reads) at which each flush with rows was started, over
    every run of the shard (the pacer carries its last start through continue-as-new)."""
    starts: list[float] = []
    run_id: str | None = None
    while True:
        handle = client.get_workflow_handle(workflow_id, run_id=run_id)
        history = [event async for event in handle.fetch_history_events()]
        events = {e.event_id: e for e in history}
        for event in history:
            if event.event_type != EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                continue
            attributes = event.activity_task_scheduled_event_attributes
            if attributes.activity_type.name != "flush_batch":
                continue
            [payload] = attributes.input.payloads
            if not json.loads(payload.data)["requests"]:
                continue  # answers owed only: not paced
            completed = events[attributes.workflow_task_completed_event_id]
            started = events[completed.workflow_task_completed_event_attributes.started_event_id]
            starts.append(started.event_time.ToDatetime().timestamp())
        run_id = history[0].workflow_execution_started_event_attributes.continued_execution_run_id
        if not run_id:
            return sorted(starts)


async def test_statements_are_spaced_by_the_minimum_interval_under_load(
    temporal_env: WorkflowEnvironment, db_pool: asyncpg.Pool, queues: Queues
) -> None:
    interval = 1.0
    config = BatcherConfig(mode="adaptive", min_interval_seconds=interval, max_batch_size=15)
    async with running_workers(temporal_env.client, db_pool, queues, config) as h:
        handles = [await h.start_payment(f"ad-{i}", payment(i)) for i in range(60)]
        await asyncio.gather(*(x.result() for x in handles))
        starts = await flush_starts(h.client, queues.batcher_id(0))
    sizes = await h.batch_sizes()
    assert sum(sizes) == 60 and max(sizes) <= 15
    # Spacing in workflow time, exact whatever the load: a flush starts only when the
    # workflow's clock has passed the last start plus the interval.
    assert len(starts) == len(sizes) >= 4, (starts, sizes)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= interval, gaps


def test_interval_follows_the_arrival_rate_between_its_bounds() -> None:
    config = BatcherConfig(min_interval_seconds=0.25, max_interval_seconds=2.0, full_load_rate=20)
    pacer = FlushPacer(config, last_flush_started_at=None, arrival_rate=0.0)
    assert pacer.interval() == 0.25
    now = 100.0
    pacer.flush_started(now)
    # 40 writes/s sustained: the estimate converges, the interval stretches to its maximum.
    for _ in range(12):
        for _ in range(round(40 * pacer.interval())):
            pacer.arrived()
        now += pacer.interval()
        pacer.flush_started(now)
    assert pacer.arrival_rate == pytest.approx(40, rel=0.05)
    assert pacer.interval() == 2.0
    assert pacer.deadline(now, None) == now + 2.0
    # Quiet again: one write after 10 s; a few such intervals bring it back to the minimum.
    for _ in range(6):
        pacer.arrived()
        now += 10.0
        pacer.flush_started(now)
    assert pacer.interval() == 0.25
    # In between it grows with the square of the rate: 2 s x (10 / 20)^2; 5 writes/s is
    # still quiet enough for the minimum.
    pacer.arrival_rate = 10.0
    assert pacer.interval() == pytest.approx(0.5)
    pacer.arrival_rate = 5.0
    assert pacer.interval() == 0.25


async def test_under_load_the_interval_stretches_and_batches_grow(
    temporal_env: WorkflowEnvironment, db_pool: asyncpg.Pool, queues: Queues
) -> None:
    config = BatcherConfig(
        min_interval_seconds=0.2, max_interval_seconds=1.5, full_load_rate=5.0, max_batch_size=500
    )
    async with running_workers(temporal_env.client, db_pool, queues, config) as h:
        handles = [await h.start_payment(f"st-{i}", payment(i)) for i in range(80)]
        await asyncio.gather(*(x.result() for x in handles))
        stats = await h.stats()
    assert stats.rows_written == 80
    assert stats.arrival_rate > 0 and stats.interval_seconds > config.min_interval_seconds, stats
    # Far fewer statements than one per min_interval over the run would have allowed.
    assert stats.batches <= 80 // 4, stats
