"""Withdrawals against the real batcher while its write is in a flush, in doubt, or rolling over.

Every answer is given at once (the update never waits for a flush): withdrawn, the write's
outcome, or ``WriteInFlight`` until a flush or the request table can say. Each case checks the
target table and the request table agree with the answer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from batcher_service.names import REQUEST_TABLE
from batcher_service.postgres.pool import create_pool
from batcher_service.shard.state import BatcherConfig
from tests.support import faults
from tests.support.batcher_support import shard
from tests.support.harness import eventually
from tests.support.pg_proxy import Mode, pg_proxy
from tests.support.withdraw_support import ask, lock_table, recorded, settle, wait_blocked
from tests.support.writer_tables import create_tables
from write_batcher import errors
from write_batcher.contract import WriteOutcome, WriteRequest


def account(rid: str) -> WriteRequest:
    """A write nobody waits on (signalled straight to the shard), keyed by its request id."""
    return WriteRequest(rid, "accounts", "test", f"acct-{rid}", {"account_id": rid, "balance": 1})


@pytest.fixture
async def url(database_url: str) -> str:
    await create_tables(database_url)
    return database_url


@pytest.fixture
async def check(url: str) -> AsyncIterator[asyncpg.Pool]:
    """The test's own connections: locks and checks, apart from the batcher's pool."""
    pool = await create_pool(url, 3)
    yield pool
    await pool.close()


async def rows(pool: asyncpg.Pool, rid: str) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM accounts WHERE account_id = $1", rid))


@pytest.mark.parametrize("flush_ends", ["committed", "timed_out"])
async def test_a_withdrawal_racing_a_flush_is_told_to_ask_again_then_gets_its_outcome(
    temporal_env: WorkflowEnvironment,
    db_pool: asyncpg.Pool,
    check: asyncpg.Pool,
    url: str,
    flush_ends: str,
) -> None:
    client = temporal_env.client
    config = BatcherConfig(min_interval_seconds=0.2, flush_timeout_seconds=6.0)
    async with shard(client, db_pool, config) as s, check.acquire() as lock:
        tx = await lock_table(lock, "accounts")
        await s.signal(account("race-1"))
        await wait_blocked(check, "accounts")
        # Answered at once, not after the flush: the first ask marks it, the next is refused
        # by the validator (no history event).
        assert await ask(client, s.batcher_id, "race-1") == errors.WRITE_IN_FLIGHT
        assert await ask(client, s.batcher_id, "race-1") == errors.WRITE_IN_FLIGHT
        if flush_ends == "committed":
            await tx.rollback()
        ack, refusals = await settle(client, s.batcher_id, "race-1")
        if flush_ends == "timed_out":
            await tx.rollback()
        assert set(refusals) <= {errors.WRITE_IN_FLIGHT}
        if flush_ends == "committed":
            assert ack.outcome is WriteOutcome.WRITTEN and ack.batch_id, ack
        else:
            # The flush ended without writing: handed back to the buffer, withdrawn there.
            assert ack.outcome is WriteOutcome.WITHDRAWN, ack
            assert (await s.stats()).flushes_failed >= 1

            async def in_table() -> bool:
                return await recorded(check, "race-1") == "withdrawn"

            await eventually(in_table, within=30)
            # A late copy is refused, not written: the write beside it in the same signal is.
            await s.signal(account("race-1"), account("race-2"))

            async def beside_written() -> bool:
                return await rows(check, "race-2") == 1

            await eventually(beside_written, within=30)
    expected = 1 if flush_ends == "committed" else 0
    assert await rows(check, "race-1") == expected
    outcome = "written" if flush_ends == "committed" else "withdrawn"
    assert await recorded(check, "race-1") == outcome
    late = "; the late copy refused" if flush_ends == "timed_out" else ""
    faults.record(
        faults.WITHDRAW_RACING_COMMIT
        if flush_ends == "committed"
        else faults.WITHDRAW_RACING_TIMEOUT,
        1,
        faults.one_write(expected, await rows(check, "race-1")),
        f"`{errors.WRITE_IN_FLIGHT}` at once, then `{ack.outcome}` when the flush ended, "
        f"recorded `{outcome}`{late}",
    )


@pytest.mark.parametrize(
    ("mode", "settled"),
    [("cut_before", WriteOutcome.WITHDRAWN), ("cut_after", WriteOutcome.WRITTEN)],
)
async def test_a_commit_in_doubt_is_settled_by_the_request_table(
    temporal_env: WorkflowEnvironment,
    check: asyncpg.Pool,
    url: str,
    mode: Mode,
    settled: WriteOutcome,
) -> None:
    """The connection is cut at COMMIT, before the server gets it or after it committed, on
    every flush: the shard cannot know; the withdrawal records "withdrawn" unless written
    first, atomically, and answers what won."""
    client = temporal_env.client
    config = BatcherConfig(min_interval_seconds=0.2, flush_timeout_seconds=10.0)
    async with pg_proxy(url) as proxy:
        pool = await create_pool(proxy.url(url), 4)
        try:
            proxy.mode = mode
            async with shard(client, pool, config) as s:
                await s.signal(account("doubt-1"))

                async def cut() -> bool:
                    return proxy.cuts >= 1 and (await s.stats()).flushes_failed >= 1

                await eventually(cut, within=60)
                ack, refusals = await settle(client, s.batcher_id, "doubt-1")
                # Never answered from memory: only the request table could say.
                assert refusals and set(refusals) <= {errors.WRITE_IN_FLIGHT}, refusals
                assert ack.outcome is settled, ack
                proxy.mode = "pass"
                after = await s.write("accounts", {"account_id": "after", "balance": 1})
                assert not isinstance(after, str), after
        finally:
            await pool.close()
    expected = 1 if settled is WriteOutcome.WRITTEN else 0
    assert await rows(check, "doubt-1") == expected
    assert await recorded(check, "doubt-1") == settled.value
    faults.record(
        faults.WITHDRAW_DOUBT_BEFORE if mode == "cut_before" else faults.WITHDRAW_DOUBT_AFTER,
        1,
        faults.one_write(expected, await rows(check, "doubt-1")),
        f"`{errors.WRITE_IN_FLIGHT}` ({len(refusals)}x), then settled by the request table: "
        f"`{settled}`",
    )


async def test_a_request_table_that_cannot_be_asked_leaves_the_withdrawal_in_flight(
    temporal_env: WorkflowEnvironment, db_pool: asyncpg.Pool, check: asyncpg.Pool, url: str
) -> None:
    """A withdrawal of a write the shard never saw needs the request table; while it cannot
    be written the answer stays "ask again" (the caller ends as WriteOutcomeUnknown at its
    withdrawal timeout), never "withdrawn" without the record."""
    client = temporal_env.client
    async with shard(client, db_pool, BatcherConfig()) as s, check.acquire() as lock:
        await s.signal(account("warm-up"))
        tx = await lock_table(lock, REQUEST_TABLE)
        handle = client.get_workflow_handle(s.batcher_id)

        async def record_failed() -> bool:
            answer = await ask(client, s.batcher_id, "unseen-1")
            assert answer == errors.WRITE_IN_FLIGHT, answer
            failed = (EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,)
            failed += (EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED,)
            return any([e async for e in handle.fetch_history_events() if e.event_type in failed])

        await eventually(record_failed, within=60, interval=1.0)
        assert await ask(client, s.batcher_id, "unseen-1") == errors.WRITE_IN_FLIGHT
        await tx.rollback()
        ack, _ = await settle(client, s.batcher_id, "unseen-1")
    assert ack.outcome is WriteOutcome.WITHDRAWN, ack
    assert await recorded(check, "unseen-1") == "withdrawn"
    assert await rows(check, "unseen-1") == 0
    faults.record(
        faults.WITHDRAW_TABLE_LOCKED,
        1,
        faults.one_write(0, await rows(check, "unseen-1")),
        f"`{errors.WRITE_IN_FLIGHT}` (never withdrawn unrecorded) until it was free, then "
        f"`{ack.outcome}`",
    )


async def test_a_withdrawal_of_a_write_in_a_bad_batch_gets_the_rejection(
    temporal_env: WorkflowEnvironment, db_pool: asyncpg.Pool, check: asyncpg.Pool, url: str
) -> None:
    """A request-table row this version cannot read (a newer version's outcome) fails the
    whole flush as BadBatch: each of its writes is rejected, none written."""
    await check.execute(
        f"INSERT INTO {REQUEST_TABLE} (request_id, table_name, batch_id, outcome) "
        "VALUES ('bad-0', 'accounts', 'elsewhere', 'from_a_newer_version')"
    )
    client = temporal_env.client
    async with shard(client, db_pool, BatcherConfig()) as s, check.acquire() as lock:
        tx = await lock_table(lock, "accounts")
        await s.signal(account("bad-0"), account("bad-1"))
        await wait_blocked(check, "accounts")
        assert await ask(client, s.batcher_id, "bad-1") == errors.WRITE_IN_FLIGHT
        await tx.rollback()
        ack, _ = await settle(client, s.batcher_id, "bad-1")
    assert (ack.outcome, ack.error_type) == (WriteOutcome.REJECTED, errors.BAD_BATCH), ack
    assert await rows(check, "bad-1") == 0
    assert await recorded(check, "bad-1") is None
    faults.record(
        faults.WITHDRAW_BAD_BATCH,
        2,
        faults.one_write(0, await rows(check, "bad-1")),
        f"`{errors.WRITE_IN_FLIGHT}`, then the rejection (`{ack.error_type}`); nothing written",
    )


async def test_a_withdrawal_during_roll_over_is_refused_then_answered_by_the_next_run(
    temporal_env: WorkflowEnvironment, db_pool: asyncpg.Pool, check: asyncpg.Pool, url: str
) -> None:
    client = temporal_env.client
    # Each write flushes at once; the second signal makes the run close (continue-as-new),
    # and it waits for the first flush, held by the lock.
    config = BatcherConfig(mode="fixed", max_batch_size=1, max_signals_per_run=2)
    async with shard(client, db_pool, config) as s, check.acquire() as lock:
        tx = await lock_table(lock, "accounts")
        await s.signal(account("roll-1"))
        await wait_blocked(check, "accounts")
        await s.signal(account("roll-2"))

        async def rolling_over() -> bool:
            return await ask(client, s.batcher_id, "roll-2") == errors.BATCHER_ROLLING_OVER

        await eventually(rolling_over, within=30)
        await tx.rollback()
        ack, _ = await settle(client, s.batcher_id, "roll-2")
        assert (await s.stats()).runs >= 2
    assert ack.outcome in (WriteOutcome.WRITTEN, WriteOutcome.WITHDRAWN), ack

    async def agrees() -> bool:
        written = ack.outcome is WriteOutcome.WRITTEN
        return (
            await rows(check, "roll-2") == int(written)
            and await recorded(check, "roll-2") == ack.outcome.value
        )

    await eventually(agrees, within=30)
    assert await rows(check, "roll-1") == 1
    faults.record(
        faults.WITHDRAW_ROLL_OVER,
        2,
        faults.one_write(int(ack.outcome is WriteOutcome.WRITTEN), await rows(check, "roll-2")),
        f"`{errors.BATCHER_ROLLING_OVER}`, then `{ack.outcome}` from the next run, as the "
        "tables say",
    )
