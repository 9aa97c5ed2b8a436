"""Writes of many callers reach their shard in few, bounded signals: the batcher worker's intake
gathers the write activities it runs for one shard into one ``submit_writes`` signal."""

from __future__ import annotations

import asyncio
import contextvars
from collections import deque

import asyncpg
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from batcher_service.intake.coalescer import (
    MAX_SIGNAL_BYTES,
    MAX_SIGNAL_REQUESTS,
    WriteCoalescer,
    _Waiting,
)
from batcher_service.intake.config import IntakeConfig
from batcher_service.shard.state import BatcherConfig
from main_service.names import PAYMENT_WORKFLOW
from main_service.payments import PaymentResult
from main_service.worker import build_worker as build_main_worker
from tests.support.harness import Queues, payment, running_workers
from write_batcher.contract import SUBMIT_SIGNAL, WriteOutcome, WriteRequest, WriteRequestBatch

WRITES = 60
CALLER_WORKERS = 3


async def submit_signals(client: Client, workflow_id: str) -> list[WriteRequestBatch]:
    """Every ``submit_writes`` signal a shard took, across its continued-as-new runs."""
    batches: list[WriteRequestBatch] = []
    run_id: str | None = None
    while True:
        handle = client.get_workflow_handle(workflow_id, run_id=run_id)
        events = [event async for event in handle.fetch_history_events()]
        for event in events:
            if event.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
                continue
            signaled = event.workflow_execution_signaled_event_attributes
            if signaled.signal_name == SUBMIT_SIGNAL:
                [batch] = await client.data_converter.decode(
                    signaled.input.payloads, [WriteRequestBatch]
                )
                batches.append(batch)
        started = events[0].workflow_execution_started_event_attributes
        if not started.continued_execution_run_id:
            return batches
        run_id = started.continued_execution_run_id


async def test_many_callers_on_many_workers_share_few_signals_and_each_write_arrives_once(
    temporal_env: WorkflowEnvironment, db_pool: asyncpg.Pool, queues: Queues
) -> None:
    client = temporal_env.client
    intake = IntakeConfig(shards=1, linger_seconds=0.5)
    async with running_workers(client, db_pool, queues, BatcherConfig(), intake=intake) as h:
        # More caller workers, each on a queue of its own: the signals a shard takes depend on
        # the batcher's workers, not on how many callers there are.
        callers = [queues.main, *(f"{queues.main}-{n}" for n in range(1, CALLER_WORKERS))]
        extra = [
            build_main_worker(client, task_queue=queue, batcher_task_queue=queues.batcher)
            for queue in callers[1:]
        ]
        async with extra[0], extra[1]:
            handles = await asyncio.gather(
                *(
                    client.start_workflow(
                        PAYMENT_WORKFLOW,
                        payment(i),
                        id=f"co-{queues.prefix}-{i}",
                        task_queue=callers[i % CALLER_WORKERS],
                        result_type=PaymentResult,
                    )
                    for i in range(WRITES)
                )
            )
            results = await asyncio.wait_for(
                asyncio.gather(*(handle.result() for handle in handles)), timeout=60
            )
    assert {r.outcome for r in results} == {WriteOutcome.WRITTEN}
    batches = await submit_signals(client, queues.batcher_id(0))
    sent = [request.request_id for batch in batches for request in batch.requests]
    # Every write reached the shard once, and writes shared signals (how many signals depends
    # on the machine's pace: the figure is the bench's).
    assert sorted(sent) == sorted(r.request_id for r in results)
    sizes = [len(b.requests) for b in batches]
    assert len(batches) < WRITES and max(sizes) > 1, sizes
    assert len(await h.rows()) == WRITES


async def test_a_failed_signal_fails_every_write_it_carried(
    temporal_env: WorkflowEnvironment,
) -> None:
    # A namespace the server does not have: a real RPC failure for the whole signal.
    client = Client(temporal_env.client.service_client, namespace="no-such-namespace")
    coalescer = WriteCoalescer(client, task_queue="nobody", linger_seconds=0.2)
    requests = [WriteRequest(f"r-{i}", "t", f"caller-{i}", "k", {}) for i in range(3)]
    outcomes = await asyncio.gather(
        *(coalescer.send("write-batcher-x-0", r, 10) for r in requests), return_exceptions=True
    )
    assert all(isinstance(o, RPCError) for o in outcomes), outcomes


async def test_signals_are_bounded_by_count_and_bytes() -> None:
    loop = asyncio.get_running_loop()

    def waiting(size: int) -> _Waiting:
        request = WriteRequest("r", "t", "c", "k", {})
        return _Waiting(request, size, loop.create_future(), contextvars.copy_context())

    many = deque(waiting(10) for _ in range(MAX_SIGNAL_REQUESTS + 5))
    assert len(WriteCoalescer.take(many)) == MAX_SIGNAL_REQUESTS
    assert len(many) == 5
    halves = deque(waiting(MAX_SIGNAL_BYTES // 2) for _ in range(3))
    assert len(WriteCoalescer.take(halves)) == 2
    # A write bigger than the byte bound still goes, alone.
    huge = deque([waiting(MAX_SIGNAL_BYTES * 2), waiting(1)])
    assert len(WriteCoalescer.take(huge)) == 1
