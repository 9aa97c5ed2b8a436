"""A shard's run continues-as-new at 1,000 history events (shard/workflow.py): no run's history
grows much past it, and what the run holds (pending rows, recent ids, counters) carries over."""

from __future__ import annotations

import asyncio

import asyncpg
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from batcher_service.shard.state import BatcherConfig
from main_service.names import LEDGER_TABLE
from tests.support.faults import verify_payment_ids
from tests.support.harness import Harness, Queues, eventually, ledger_request, running_workers
from write_batcher.contract import WriteRequest

# The README's promise (shard/workflow.py MAX_HISTORY_EVENTS).
MAX_HISTORY_EVENTS = 1_000
# What may land after the run decided to hand over: the flushes it waits for and the signals
# that keep arriving meanwhile (measured here: 4-47 events).
SLACK = 200
CONCURRENT_SIGNALS = 4


def _request(i: int) -> WriteRequest:
    # No caller activity: nobody waits for an ack.
    return ledger_request(f"hist-{i}", f"acct-{i % 7}", i + 1)


async def _run_lengths(client: Client, workflow_id: str) -> list[tuple[int, bool]]:
    """Each run's history length, latest first, and whether it continued as new."""
    lengths: list[tuple[int, bool]] = []
    run_id: str | None = None
    while True:
        handle = client.get_workflow_handle(workflow_id, run_id=run_id)
        events = [e async for e in handle.fetch_history_events()]
        continued = events[-1].HasField("workflow_execution_continued_as_new_event_attributes")
        lengths.append((len(events), continued))
        previous = events[0].workflow_execution_started_event_attributes
        if not previous.continued_execution_run_id:
            return lengths
        run_id = previous.continued_execution_run_id


async def _signal_until_runs(h: Harness, runs: int, limit: int) -> int:
    """One request per signal, a few at a time, until the shard is on its ``runs``-th run."""
    sent = 0
    while sent < limit:
        batch = range(sent, min(sent + 50, limit))
        slots = asyncio.Semaphore(CONCURRENT_SIGNALS)

        async def send(i: int, slots: asyncio.Semaphore = slots) -> None:
            async with slots:
                await h.signal_batcher(_request(i))

        await asyncio.gather(*(send(i) for i in batch))
        sent = batch.stop
        if (await h.stats()).runs >= runs:
            return sent
    raise AssertionError(f"still on run {(await h.stats()).runs} after {limit} signals")


async def test_runs_hand_over_at_1000_events_carrying_their_state(
    temporal_env: WorkflowEnvironment, db_pool: asyncpg.Pool, queues: Queues
) -> None:
    client = temporal_env.client
    # Only the history length ends a run: the signal cap is far away, the server's suggestion
    # (4,096 events on the dev server) too.
    config = BatcherConfig(mode="fixed", max_batch_size=40, max_wait_seconds=0.3)
    assert config.max_signals_per_run > 3 * MAX_HISTORY_EVENTS
    async with running_workers(client, db_pool, queues, config) as h:
        sent = await _signal_until_runs(h, runs=3, limit=3_000)
        # Copies of writes a former run wrote: dropped by the ids the runs carried over.
        copies = 20
        await asyncio.gather(*(h.signal_batcher(_request(i)) for i in range(copies)))

        async def all_counted() -> bool:
            stats = await h.stats()
            return stats.rows_written == sent and stats.duplicates_dropped == copies

        await eventually(all_counted, within=60)
        stats = await h.stats()
        lengths = await _run_lengths(client, queues.batcher_id())
    closed = [length for length, continued in lengths[1:] if continued]
    print(f"history lengths per run, latest first: {lengths}")
    assert len(closed) == len(lengths) - 1 >= 2, lengths
    assert all(MAX_HISTORY_EVENTS <= n <= MAX_HISTORY_EVENTS + SLACK for n in closed), lengths
    # The counters went on across runs; no copy reached the database a second time.
    assert (stats.runs, stats.rows_written, stats.rows_already_written) == (len(lengths), sent, 0)
    check = await verify_payment_ids(db_pool, [f"hist-{i}" for i in range(sent)])
    assert (check.lost, check.duplicates) == (0, 0)
    assert await db_pool.fetchval(f"SELECT count(*) FROM {LEDGER_TABLE}") == sent
