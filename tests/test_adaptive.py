"""Adaptive batching: a lone write goes out at once; under load one statement per interval."""

from __future__ import annotations

import asyncio
import itertools
import time

import asyncpg
from temporalio.testing import WorkflowEnvironment

from shared.payloads import BatcherConfig
from tests.harness import Queues, payment, running_workers


async def test_lone_write_is_flushed_at_once_not_after_a_window(
    temporal_env: WorkflowEnvironment, db_pool: asyncpg.Pool, queues: Queues
) -> None:
    config = BatcherConfig(mode="adaptive", min_interval_seconds=4.0, max_wait_seconds=4.0)
    async with running_workers(temporal_env.client, db_pool, queues, config) as h:
        began = time.monotonic()
        await (await h.start_payment("lone-1", payment(1))).result()
        assert time.monotonic() - began < 3.0, "leading edge: no waiting out the interval"


async def test_statements_are_spaced_by_the_minimum_interval_under_load(
    temporal_env: WorkflowEnvironment, db_pool: asyncpg.Pool, queues: Queues
) -> None:
    interval = 1.0
    config = BatcherConfig(mode="adaptive", min_interval_seconds=interval, max_batch_size=15)
    async with running_workers(temporal_env.client, db_pool, queues, config) as h:
        handles = [await h.start_payment(f"ad-{i}", payment(i)) for i in range(60)]
        await asyncio.gather(*(x.result() for x in handles))
    starts = [
        r["began"].timestamp()
        for r in await db_pool.fetch(
            "SELECT min(created_at) AS began, count(*) AS n FROM ledger_entries "
            "GROUP BY batch_id ORDER BY began"
        )
    ]
    sizes = await h.batch_sizes()
    assert sum(sizes) == 60 and max(sizes) <= 15
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    # created_at is the statement's start inside PostgreSQL; allow scheduling jitter.
    assert min(gaps) >= interval - 0.15, gaps
