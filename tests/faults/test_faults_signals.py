"""Signal-level faults: duplicates across continue-as-new, a 5,000-request burst, a gone caller."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from batcher_service.shard.state import BatcherConfig
from tests.conftest import start_dev_server
from tests.support import faults
from tests.support.faults import record, verify_payment_ids
from tests.support.harness import (
    Harness,
    Queues,
    eventually,
    ledger_request,
    payment,
    running_workers,
)
from tests.support.histories_io import record_if_asked
from write_batcher.contract import WriteRequest

pytestmark = pytest.mark.slow

WAVE = 1000


def _request(i: int) -> WriteRequest:
    # No caller activity: no ack is delivered for it.
    return ledger_request(f"burst-{i}", f"acct-{i % 17}", i + 1)


async def _count(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM ledger_entries"))


async def _burst(h: Harness, requests: list[WriteRequest]) -> None:
    """One signal per request, 64 in flight: a flood of signals, not a few large ones."""
    slots = asyncio.Semaphore(64)

    async def send(req: WriteRequest) -> None:
        async with slots:
            await h.signal_batcher(req)

    await asyncio.gather(*(send(r) for r in requests))


async def test_burst_of_5000_across_forced_continue_as_new(
    db_pool: asyncpg.Pool, queues: Queues
) -> None:
    env = await start_dev_server("limit.historyCount.suggestContinueAsNew=200")
    try:
        client: Client = env.client
        config = BatcherConfig(
            mode="fixed", max_batch_size=200, max_wait_seconds=0.2, max_signals_per_run=700
        )
        async with running_workers(client, db_pool, queues, config) as h:
            # Waves of 1,000 one-request signals, 64 in flight: as many as a shard holds
            # (its next run must carry them under 1 MiB); the next wave once it has taken them.
            for wave in range(0, 5000, WAVE):
                await _burst(h, [_request(i) for i in range(wave, wave + WAVE)])
                await eventually(lambda: _drained(h), within=120)
            # Anything a full shard dropped is sent again, as its caller would.
            await eventually(lambda: _resend_missing(h, db_pool), within=120)
            # Temporal cannot close a run while a flood of signals keeps arriving (the closing
            # task is rejected and retried), so a burst may end up in few runs; what matters is
            # that the run boundary carried pending requests and none was lost or doubled.
            await eventually(lambda: _runs_at_least(h, 2), within=60)
            # The stats catch up when the last flush activity has returned.
            await eventually(lambda: _stat(h, "rows_written", 5000), within=60)
            check = await verify_payment_ids(db_pool, [f"burst-{i}" for i in range(5000)])
            runs = (await h.stats()).runs
            record(
                faults.SIGNAL_BURST,
                5000,
                check,
                f"5000 written across {runs} runs",
            )
            assert (check.lost, check.duplicates) == (0, 0)
            # Every request recorded as written exactly once, by the batch that wrote its row.
            traced = await db_pool.fetchval(
                "SELECT count(*) FROM ledger_entries l JOIN write_batcher_requests r "
                "ON r.row_key = json_build_array(l.payment_id)::text AND r.batch_id = l.batch_id "
                "WHERE r.outcome = 'written' AND r.request_id = ANY($1::text[])",
                [r.request_id for r in (_request(i) for i in range(5000))],
            )
            assert traced == 5000
    finally:
        await env.shutdown()


async def _drained(h: Harness) -> bool:
    return (await h.stats()).pending == 0


async def _resend_missing(h: Harness, pool: asyncpg.Pool) -> bool:
    written = {
        r["payment_id"]
        for r in await pool.fetch(
            "SELECT payment_id FROM ledger_entries WHERE payment_id LIKE 'burst-%'"
        )
    }
    missing = [i for i in range(5000) if f"burst-{i}" not in written]
    if missing and (await h.stats()).pending == 0:
        await _burst(h, [_request(i) for i in missing[:1000]])
    return not missing


async def _runs_at_least(h: Harness, n: int) -> bool:
    return (await h.stats()).runs >= n


async def _is(pool: asyncpg.Pool, n: int) -> bool:
    return await _count(pool) == n


async def test_duplicates_across_continue_as_new_are_written_once(
    db_pool: asyncpg.Pool, queues: Queues
) -> None:
    env = await start_dev_server("limit.historyCount.suggestContinueAsNew=30")
    try:
        config = BatcherConfig(
            mode="fixed", max_batch_size=5, max_wait_seconds=0.2, max_signals_per_run=25
        )
        async with running_workers(env.client, db_pool, queues, config) as h:
            first = [_request(i) for i in range(60)]
            await _burst(h, first)
            await eventually(lambda: _is(db_pool, 60), within=120)
            # Re-send only once the originals' run has continued as new.
            await eventually(lambda: _runs_at_least(h, 2), within=60)
            await _burst(h, first)  # every one again, in a later run
            await eventually(lambda: _dropped_or_already(h, 60), within=120)
            assert await _count(db_pool) == 60
            check = await verify_payment_ids(db_pool, [str(r.row["payment_id"]) for r in first])
            assert (check.lost, check.duplicates) == (0, 0)
            record(
                faults.DELIVERED_TWICE,
                60,
                check,
                "60 written, 60 duplicates dropped or answered already_written",
            )
            await record_if_asked(env.client, "duplicates-can", queues.batcher_id(0), [])
    finally:
        await env.shutdown()


async def _stat(h: Harness, name: str, n: int) -> bool:
    return int(getattr(await h.stats(), name)) >= n


async def _dropped_or_already(h: Harness, n: int) -> bool:
    stats = await h.stats()
    # Ids that fell out of the dedup window reach the table and come back "already written".
    return stats.duplicates_dropped + stats.rows_already_written >= n


async def test_caller_terminated_before_its_ack(
    temporal_env: WorkflowEnvironment, db_pool: asyncpg.Pool, queues: Queues
) -> None:
    config = BatcherConfig(mode="fixed", max_batch_size=100, max_wait_seconds=3)
    async with running_workers(temporal_env.client, db_pool, queues, config) as h:
        gone = await h.start_payment("gone-1", payment(1))
        stays = [await h.start_payment(f"stays-{i}", payment(i + 2)) for i in range(3)]
        await eventually(lambda: _pending(h, 4))
        await gone.terminate("caller gone before its ack")
        results = await asyncio.gather(*(s.result() for s in stays))
        assert len(results) == 3
        await eventually(lambda: _stat(h, "rows_written", 4))
        assert await _count(db_pool) == 4  # the gone caller's row is written exactly once
        check = await verify_payment_ids(db_pool, [f"p-{i}" for i in range(1, 5)])
        assert (check.lost, check.duplicates) == (0, 0)
        record(
            faults.CALLER_TERMINATED,
            4,
            check,
            "3 callers acked, the gone one's activity found gone when its ack came, 4 rows",
        )
        await record_if_asked(temporal_env.client, "caller-gone", queues.batcher_id(0), ["gone-1"])


async def _pending(h: Harness, n: int) -> bool:
    try:
        return (await h.stats()).pending >= n
    except Exception:
        return False
