"""The caller's side: typed failures, batcher auto-start, shutdown drain."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from batcher_service.dead_letters import list_dead_letters, resubmit
from batcher_service.worker import build_worker as build_batcher_worker
from main_service.worker import build_worker as build_main_worker
from shared import errors
from shared.names import DEAD_LETTER_TABLE, PAYMENT_WORKFLOW, SHUTDOWN_SIGNAL, STATS_QUERY
from shared.payloads import BatcherConfig, BatcherStats, WriteOutcome, WriteRequest
from tests.faults import record, verify_request_ids
from tests.harness import Queues, eventually, payment, running_workers


def _failure(err: WorkflowFailureError) -> ApplicationError:
    cause = err.cause
    assert isinstance(cause, ApplicationError), cause
    return cause


@pytest.mark.parametrize("transport", ["update", "signal"])
async def test_unconfirmed_write_fails_with_timeout_type_and_is_still_written_once(
    temporal_env: WorkflowEnvironment, db_pool: asyncpg.Pool, queues: Queues, transport: str
) -> None:
    client = temporal_env.client
    main = build_main_worker(
        client,
        task_queue=queues.main,
        batcher_task_queue=queues.batcher,
        batcher_id_prefix=queues.prefix,
        ack_timeout_seconds=1.5,
        submit_transport=transport,
    )
    async with main:  # no batcher worker yet: nobody can ack in time
        handle = await client.start_workflow(
            PAYMENT_WORKFLOW, payment(1), id="late-1", task_queue=queues.main
        )
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
        assert _failure(failed.value).type == errors.WRITE_CONFIRMATION_TIMEOUT
    config = BatcherConfig(mode="fixed", max_batch_size=10, max_wait_seconds=0.2)
    async with build_batcher_worker(client, db_pool, config, task_queue=queues.batcher):
        await eventually(lambda: _count(db_pool, "ledger_entries", 1))
        if transport == "signal":
            # The caller is gone: its ack signal fails, is counted and dropped.
            await eventually(lambda: _batcher_stat(client, queues, "acks_failed", 1))
        else:
            # The update's answer went to the worker that sent it; no caller is signalled.
            await eventually(lambda: _batcher_stat(client, queues, "rows_written", 1))
            handle = client.get_workflow_handle(queues.batcher_id(0))
            stats = await handle.query(STATS_QUERY, result_type=BatcherStats)
            assert (stats.acks_sent, stats.acks_failed) == (0, 0)
    assert await _count(db_pool, "ledger_entries", 1)


async def test_poison_row_is_rejected_alone_and_dead_lettered(
    temporal_env: WorkflowEnvironment, db_pool: asyncpg.Pool, queues: Queues
) -> None:
    config = BatcherConfig(mode="fixed", max_batch_size=5, max_wait_seconds=5)
    async with running_workers(temporal_env.client, db_pool, queues, config) as h:
        good = [await h.start_payment(f"good-{i}", payment(i)) for i in range(4)]
        # Lower-case currency passes the caller's shape check but breaks the table's CHECK.
        bad = await h.start_payment("bad-1", payment(9, currency="eur"))
        results = await asyncio.gather(*(g.result() for g in good))
        assert {r.outcome for r in results} == {WriteOutcome.WRITTEN}
        with pytest.raises(WorkflowFailureError) as failed:
            await bad.result()
        err = _failure(failed.value)
        assert err.type == errors.WRITE_REJECTED
        assert "CheckViolationError" in err.message
        assert len({r.batch_id for r in results}) == 1, "good rows share one batch"
    assert await _count(db_pool, "ledger_entries", 4)
    check = await verify_request_ids(db_pool, [*(f"good-{i}#1" for i in range(4))])
    record(
        "batch with a poison row among good ones",
        5,
        check,
        "4 written and acked, 1 rejected (CheckViolationError) and dead-lettered",
    )
    dead = await db_pool.fetch(f"SELECT * FROM {DEAD_LETTER_TABLE}")
    assert [(d["caller_workflow_id"], d["error_type"]) for d in dead] == [
        ("bad-1", "CheckViolationError")
    ]


async def test_dead_letter_is_resubmitted_after_the_cause_is_fixed(
    temporal_env: WorkflowEnvironment, db_pool: asyncpg.Pool, queues: Queues
) -> None:
    config = BatcherConfig(mode="fixed", max_batch_size=5, max_wait_seconds=0.2)
    async with running_workers(temporal_env.client, db_pool, queues, config) as h:
        bad = await h.start_payment("fixme-1", payment(3, currency="eur"))
        with pytest.raises(WorkflowFailureError):
            await bad.result()
        async with db_pool.acquire() as conn:
            listed = await list_dead_letters(conn, 10)
            assert [d["request_id"] for d in listed] == ["fixme-1#1"]
            # The cause is fixed: the constraint is relaxed to accept lower case.
            await conn.execute(
                "ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_currency_iso"
            )
            count = await resubmit(
                conn,
                temporal_env.client,
                ["fixme-1#1"],
                1,
                task_queue=queues.batcher,
                id_prefix=queues.prefix,
            )
        assert count == 1
        await eventually(lambda: _count(db_pool, "ledger_entries", 1))
        assert await db_pool.fetchval(f"SELECT resubmitted_at IS NOT NULL FROM {DEAD_LETTER_TABLE}")


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"memo": "x" * 201}, "memo"),
        ({"account_id": ""}, "partition key"),
        ({"currency": "EURO"}, "currency"),
    ],
)
async def test_invalid_row_fails_at_once_without_reaching_the_batcher(
    temporal_env: WorkflowEnvironment,
    db_pool: asyncpg.Pool,
    queues: Queues,
    overrides: dict[str, str],
    needle: str,
) -> None:
    async with running_workers(
        temporal_env.client, db_pool, queues, BatcherConfig(mode="fixed")
    ) as h:
        handle = await h.start_payment("invalid-1", payment(1, **overrides))
        with pytest.raises(WorkflowFailureError) as failed:
            await asyncio.wait_for(handle.result(), timeout=20)
        err = _failure(failed.value)
        assert err.type == errors.INVALID_WRITE
        assert err.non_retryable
        assert needle in err.message
        # Nothing was signalled, so no batcher was ever started.
        batcher = temporal_env.client.get_workflow_handle(queues.batcher_id(0))
        with pytest.raises(Exception, match="not found"):
            await batcher.describe()


async def test_batcher_is_started_on_demand_and_shutdown_drains(
    temporal_env: WorkflowEnvironment, db_pool: asyncpg.Pool, queues: Queues
) -> None:
    config = BatcherConfig(mode="fixed", max_batch_size=1000, max_wait_seconds=3600)
    async with running_workers(temporal_env.client, db_pool, queues, config) as h:
        batcher = temporal_env.client.get_workflow_handle(
            queues.batcher_id(0), result_type=BatcherStats
        )
        with pytest.raises(Exception, match="not found"):
            await batcher.describe()
        # Requests signalled directly: with an hour's max wait only the shutdown flushes them.
        for i in range(5):
            await h.signal_batcher(
                WriteRequest(
                    f"direct-{i}#1",
                    f"direct-{i}",
                    "acct-1",
                    {"account_id": "acct-1", "amount_cents": 10 + i, "currency": "EUR"},
                )
            )
        assert (await batcher.describe()).status == WorkflowExecutionStatus.RUNNING
        assert (await h.stats()).pending == 5
        await batcher.signal(SHUTDOWN_SIGNAL)
        final = await asyncio.wait_for(batcher.result(), timeout=30)
        assert final.rows_written == 5 and final.pending == 0
    assert await _count(db_pool, "ledger_entries", 5)


async def _count(pool: asyncpg.Pool, table: str, n: int) -> bool:
    return int(await pool.fetchval(f"SELECT count(*) FROM {table}")) == n


async def _batcher_stat(client, queues: Queues, name: str, n: int) -> bool:  # type: ignore[no-untyped-def]
    stats = await client.get_workflow_handle(queues.batcher_id(0)).query(
        STATS_QUERY, result_type=BatcherStats
    )
    return int(getattr(stats, name)) >= n


async def test_overloaded_batcher_pushes_callers_back_and_they_retry(
    temporal_env: WorkflowEnvironment, db_pool: asyncpg.Pool, queues: Queues
) -> None:
    # Room for 4 pending requests; the rest are told to back off and come back.
    config = BatcherConfig(mode="fixed", max_batch_size=100, max_wait_seconds=1.5, max_pending=4)
    async with running_workers(
        temporal_env.client, db_pool, queues, config, ack_timeout_seconds=60
    ) as h:
        handles = [await h.start_payment(f"bp-{i}", payment(i)) for i in range(10)]
        results = await asyncio.wait_for(asyncio.gather(*(x.result() for x in handles)), timeout=90)
        assert {r.outcome for r in results} == {WriteOutcome.WRITTEN}
        stats = await h.stats()
        assert stats.overloaded_rejections >= 6, stats
        assert stats.largest_batch <= 4
    assert await _count(db_pool, "ledger_entries", 10)
