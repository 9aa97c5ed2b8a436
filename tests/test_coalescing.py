"""Writes of concurrent callers in one worker reach their shard in shared signals."""

from __future__ import annotations

import asyncio
import contextvars
from collections import deque

import asyncpg
import pytest
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from main_service.coalescer import (
    MAX_SIGNAL_BYTES,
    MAX_SIGNAL_REQUESTS,
    WriteCoalescer,
    _Waiting,
)
from main_service.ledger import ledger_write
from shared.payloads import BatcherConfig, WriteOutcome, WriteRequest
from tests.conftest import start_dev_server
from tests.harness import Queues, payment, running_workers


async def test_concurrent_writes_share_signals_and_each_is_written_once(
    temporal_env: WorkflowEnvironment, db_pool: asyncpg.Pool, queues: Queues
) -> None:
    config = BatcherConfig(max_batch_size=500, min_interval_seconds=0.2)
    writes = 120
    async with running_workers(
        temporal_env.client, db_pool, queues, config, submit_linger_seconds=0.5
    ) as h:
        handles = [await h.start_payment(f"co-{i}", payment(i)) for i in range(writes)]
        results = await asyncio.gather(*(x.result() for x in handles))
        stats = await h.stats()
    assert {r.request_id for r in results} == {f"co-{i}#1" for i in range(writes)}
    assert sorted(r["request_id"] for r in await h.rows()) == sorted(r.request_id for r in results)
    # Every write reached the batcher, in far fewer signals than writes.
    assert stats.rows_written == writes
    assert stats.signals_this_run <= writes // 4, stats
    assert all(r.write_latency_ms is not None and r.write_latency_ms >= 0 for r in results)


@pytest.mark.parametrize("transport", ["update", "signal"])
async def test_a_failed_message_fails_every_write_it_carried(
    temporal_env: WorkflowEnvironment, queues: Queues, transport: str
) -> None:
    # A namespace the server does not have: a real RPC failure for the whole message.
    client = Client(temporal_env.client.service_client, namespace="no-such-namespace")
    coalescer = WriteCoalescer(
        client, task_queue=queues.batcher, linger_seconds=0.2, transport=transport
    )
    requests = [WriteRequest(f"r-{i}", f"caller-{i}", "acct-1", {}) for i in range(3)]
    outcomes = await asyncio.gather(
        *(coalescer.send(queues.batcher_id(), r, 10) for r in requests), return_exceptions=True
    )
    assert all(isinstance(o, RPCError) for o in outcomes), outcomes


async def test_signals_are_bounded_by_count_and_bytes() -> None:
    loop = asyncio.get_running_loop()

    def waiting(size: int) -> _Waiting:
        request = WriteRequest("r", "c", "k", {})
        return _Waiting(request, size, loop.create_future(), contextvars.copy_context())

    many = deque(waiting(10) for _ in range(MAX_SIGNAL_REQUESTS + 5))
    assert len(WriteCoalescer._take(many)) == MAX_SIGNAL_REQUESTS
    assert len(many) == 5
    halves = deque(waiting(MAX_SIGNAL_BYTES // 2) for _ in range(3))
    assert len(WriteCoalescer._take(halves)) == 2
    # A write bigger than the byte bound still goes, alone.
    huge = deque([waiting(MAX_SIGNAL_BYTES * 2), waiting(1)])
    assert len(WriteCoalescer._take(huge)) == 1


async def test_an_update_for_a_write_that_came_by_signal_gets_its_outcome(
    temporal_env: WorkflowEnvironment, db_pool: asyncpg.Pool, queues: Queues
) -> None:
    config = BatcherConfig(mode="fixed", max_batch_size=10, max_wait_seconds=0.2)
    request = ledger_write(payment(1), "AUTH", "both-1")
    async with running_workers(temporal_env.client, db_pool, queues, config) as h:
        await h.signal_batcher(request)
        coalescer = WriteCoalescer(h.client, task_queue=queues.batcher, linger_seconds=0.0)
        ack = await coalescer.send(queues.batcher_id(), request, 100)
        assert ack is not None
        assert ack.outcome in (WriteOutcome.WRITTEN, WriteOutcome.ALREADY_WRITTEN), ack
        # Sent again once written: answered at once from the batcher's recent ids.
        again = await coalescer.send(queues.batcher_id(), request, 100)
        assert again is not None and again.outcome is WriteOutcome.ALREADY_WRITTEN, again
        assert [r["request_id"] for r in await h.rows()] == [request.request_id]


async def test_updates_beyond_the_servers_in_flight_limit_are_retried_not_lost(
    db_pool: asyncpg.Pool, queues: Queues
) -> None:
    # One update in flight per workflow: this worker's second and third waiting updates to
    # the shard are refused by the server, like a fleet of main workers at the default 10.
    env = await start_dev_server("limit.workflowExecution.maxInFlightUpdates=1")
    try:
        config = BatcherConfig(min_interval_seconds=0.3, max_interval_seconds=1.0)
        async with running_workers(
            env.client, db_pool, queues, config, submit_linger_seconds=0.05
        ) as h:
            handles = [await h.start_payment(f"lim-{i}", payment(i)) for i in range(60)]
            results = await asyncio.wait_for(
                asyncio.gather(*(x.result() for x in handles)), timeout=120
            )
        assert {r.outcome for r in results} == {WriteOutcome.WRITTEN}
        rows = await h.rows()
        assert sorted(r["request_id"] for r in rows) == sorted(r.request_id for r in results)
    finally:
        await env.shutdown()


async def test_writes_trickling_in_still_fill_a_size_triggered_batch(
    temporal_env: WorkflowEnvironment, db_pool: asyncpg.Pool, queues: Queues
) -> None:
    # One write per update, more writes than waiting updates a worker keeps per shard, and a
    # batcher that flushes only at 10 rows (or after 120 s): the writes beyond the waiting
    # updates must still reach it.
    config = BatcherConfig(mode="fixed", max_batch_size=10, max_wait_seconds=120)
    async with running_workers(temporal_env.client, db_pool, queues, config) as h:
        handles = []
        for i in range(20):
            handles.append(await h.start_payment(f"trickle-{i}", payment(i)))
            await asyncio.sleep(0.25)
        results = await asyncio.wait_for(asyncio.gather(*(x.result() for x in handles)), timeout=60)
        assert {r.outcome for r in results} == {WriteOutcome.WRITTEN}
        assert await h.batch_sizes() == [10, 10]
