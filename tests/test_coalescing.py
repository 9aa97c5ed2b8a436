"""Writes of concurrent callers in one worker reach their shard in shared, bounded signals."""

from __future__ import annotations

import asyncio
import contextvars
from collections import deque

from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from tests.write_support import rig, write_env
from tests.write_workflows import WriteCall
from write_batcher._coalescer import MAX_SIGNAL_BYTES, MAX_SIGNAL_REQUESTS, WriteCoalescer, _Waiting
from write_batcher.contract import WriteOutcome, WriteRequest

__all__ = ["write_env"]


async def test_concurrent_callers_share_signals_and_each_write_arrives_once(
    write_env: WorkflowEnvironment,
) -> None:
    async with rig(write_env.client, submit_linger_seconds=0.5) as r:
        calls = [
            WriteCall("strict", {"id": f"c-{i}", "i8": i}, partition_key="one-shard")
            for i in range(60)
        ]
        results = await asyncio.gather(*(r.run("WriteOne", c) for c in calls))
        state = r.fake_state()
    assert {x["outcome"] for x in results} == {WriteOutcome.WRITTEN}
    assert sorted(q.request_id for q in state.requests) == sorted(x["request_id"] for x in results)
    assert state.signals <= 60 // 4, state.signals


async def test_a_failed_signal_fails_every_write_it_carried(
    write_env: WorkflowEnvironment,
) -> None:
    # A namespace the server does not have: a real RPC failure for the whole signal.
    client = Client(write_env.client.service_client, namespace="no-such-namespace")
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
