"""Batcher behaviour against a real dev server and PostgreSQL: size, time, cap, dedup, CAN."""

from __future__ import annotations

import asyncio
import time

import asyncpg
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from batcher_service.shard.state import BatcherConfig
from main_service.payments import PaymentResult
from tests.conftest import start_dev_server
from tests.support import faults
from tests.support.faults import record, verify_payment_ids
from tests.support.harness import Queues, eventually, payment, running_workers
from write_batcher.contract import WriteOutcome, WriteRequest


async def _pay_all(h, count: int, prefix: str) -> list[PaymentResult]:  # type: ignore[no-untyped-def]
    handles = await asyncio.gather(
        *(h.start_payment(f"{prefix}-{i}", payment(i)) for i in range(count))
    )
    return list(await asyncio.gather(*(hd.result() for hd in handles)))


async def test_size_trigger_flushes_full_batches_without_waiting(
    temporal_env: WorkflowEnvironment, db_pool: asyncpg.Pool, queues: Queues
) -> None:
    config = BatcherConfig(mode="fixed", max_batch_size=10, max_wait_seconds=120)
    async with running_workers(temporal_env.client, db_pool, queues, config) as h:
        # max wait is 120 s: done within 60 s only if full batches went out at once.
        results = await asyncio.wait_for(_pay_all(h, 20, "size"), timeout=60)
        assert {r.outcome for r in results} == {WriteOutcome.WRITTEN}
        assert await h.batch_sizes() == [10, 10]
        stats = await h.stats()
        assert stats.batches == 2 and stats.rows_written == 20 and stats.pending == 0


async def test_time_trigger_flushes_a_partial_batch_after_max_wait(
    temporal_env: WorkflowEnvironment, db_pool: asyncpg.Pool, queues: Queues
) -> None:
    config = BatcherConfig(mode="fixed", max_batch_size=1000, max_wait_seconds=2.0)
    async with running_workers(temporal_env.client, db_pool, queues, config) as h:
        began = time.monotonic()
        results = await _pay_all(h, 3, "time")
        elapsed = time.monotonic() - began
        assert len(results) == 3
        # A lower bound holds under any load; how many batches the three land in does not.
        assert elapsed >= 1.9, f"flushed after {elapsed:.2f}s, before max wait"
        assert sum(await h.batch_sizes()) == 3


async def test_batches_never_exceed_the_cap(
    temporal_env: WorkflowEnvironment, db_pool: asyncpg.Pool, queues: Queues
) -> None:
    config = BatcherConfig(mode="fixed", max_batch_size=7, max_wait_seconds=0.3)
    async with running_workers(temporal_env.client, db_pool, queues, config) as h:
        await _pay_all(h, 60, "cap")
        sizes = await h.batch_sizes()
        assert sum(sizes) == 60
        assert max(sizes) <= 7
        assert (await h.stats()).largest_batch <= 7


async def test_repeated_request_id_is_written_once(
    temporal_env: WorkflowEnvironment, db_pool: asyncpg.Pool, queues: Queues
) -> None:
    config = BatcherConfig(mode="fixed", max_batch_size=100, max_wait_seconds=0.5)
    request = WriteRequest(
        request_id="ledger_entries:dup-1",
        table="ledger_entries",
        caller_workflow_id="dup-caller",  # no such workflow: nobody collects its ack
        partition_key="acct-1",
        row={"payment_id": "dup-1", "account_id": "acct-1", "amount_cents": 5, "currency": "EUR"},
    )
    async with running_workers(temporal_env.client, db_pool, queues, config) as h:
        for _ in range(3):
            await h.signal_batcher(request)
        await eventually(lambda: _rows_count(db_pool, 1))
        await eventually(lambda: _stat_at_least(h, "batches", 1))
        # After it was written and its flush finished, a caller sends the same request id
        # (the payment's idempotency key): the shard completes that caller's write activity
        # with "already written", pointing at the batch that wrote it.
        late = await h.start_payment("dup-late", payment(1, payment_id="dup-1", amount_cents=5))
        result: PaymentResult = await late.result()
        assert result.request_id == request.request_id
        stats = await h.stats()
        assert stats.duplicates_dropped == 3
        assert stats.rows_written == 1
        assert result.outcome is WriteOutcome.ALREADY_WRITTEN
        [row] = await h.rows()
        assert result.batch_id == row["batch_id"]
        check = await verify_payment_ids(db_pool, ["dup-1"])
        record(
            faults.SAME_REQUEST_3X,
            1,
            check,
            "1 row; 3 duplicates dropped, the late one answered already_written",
        )


async def _rows_count(pool: asyncpg.Pool, n: int) -> bool:
    return int(await pool.fetchval("SELECT count(*) FROM ledger_entries")) == n


async def _stat_at_least(h, name: str, n: int) -> bool:  # type: ignore[no-untyped-def]
    return int(getattr(await h.stats(), name)) >= n


async def test_continue_as_new_under_load_loses_nothing(
    db_pool: asyncpg.Pool, queues: Queues
) -> None:
    env = await start_dev_server("limit.historyCount.suggestContinueAsNew=60")
    try:
        client: Client = env.client
        config = BatcherConfig(
            mode="fixed", max_batch_size=20, max_wait_seconds=0.2, max_signals_per_run=150
        )
        async with running_workers(client, db_pool, queues, config) as h:
            results = await asyncio.wait_for(_pay_all(h, 400, "can"), timeout=240)
            assert len(results) == 400
            rows = await h.rows()
            assert len(rows) == 400
            assert len({r["payment_id"] for r in rows}) == 400
            stats = await h.stats()
            assert stats.runs > 2, stats
            assert stats.rows_written == 400
    finally:
        await env.shutdown()


async def test_callers_collect_their_acks_from_the_batcher(
    temporal_env: WorkflowEnvironment, db_pool: asyncpg.Pool, queues: Queues
) -> None:
    config = BatcherConfig(mode="fixed", max_batch_size=10, max_wait_seconds=0.3)
    async with running_workers(temporal_env.client, db_pool, queues, config) as h:
        results = await _pay_all(h, 25, "sig")
        assert {r.outcome for r in results} == {WriteOutcome.WRITTEN}
        assert len(await h.rows()) == 25
        stats = await h.stats()
        assert stats.rows_written == 25
        # Every caller's row traces back to the batch that wrote it.
        traced = await db_pool.fetchval(
            "SELECT count(*) FROM ledger_entries l JOIN write_batcher_requests r "
            "ON r.row_key = json_build_array(l.payment_id)::text AND r.batch_id = l.batch_id"
        )
        assert traced == 25
