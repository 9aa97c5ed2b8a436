"""Backfill end to end: exact copies, partitions, the rate limit and cancellation."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import CancelledError

from batcher_service.backfill.payloads import BackfillInput, BackfillResult
from tests.support.backfill_helpers import (
    Backfill,
    count_inserts,
    inserts,
    make_source,
    make_target,
    progress,
    source_digest,
    table_digest,
)
from tests.support.harness import eventually

EXISTING = "already there"


async def test_100k_rows_land_exactly(backfill: Backfill) -> None:
    await backfill.tables(100_000)
    async with backfill.worker() as queue:
        job = backfill.job(batch_size=10_000)
        handle = await backfill.start(queue, job)
        result: BackfillResult = await handle.result()
    assert result.rows_read == 100_000 and result.rows_inserted == 100_000
    # Same column types, an empty target: every page went in as binary COPY, none merged.
    assert [p.merged_batches for p in result.partitions] == [0]
    assert await table_digest(backfill.pool, "items_copy") == await source_digest(
        backfill.source.url
    )
    events = [e async for e in handle.fetch_history_events()]
    assert len(events) < 100


async def test_partitioned_run_equals_single_partition(backfill: Backfill) -> None:
    await make_source(backfill.source.url, 20_000)
    await make_target(backfill.pool, "single")
    await make_target(backfill.pool, "parted")
    async with backfill.worker() as queue:
        one = BackfillInput(
            backfill.source.name, "id", "single", source_table="items", batch_size=3_000
        )
        four = BackfillInput(
            backfill.source.name,
            "id",
            "parted",
            # An int4 key into the int8 column: text pages, not binary ones.
            source_query="SELECT id::int4 AS id, name, amount, note, created FROM items",
            batch_size=3_000,
            partitions=4,
        )
        h1, h4 = await backfill.start(queue, one), await backfill.start(queue, four)
        r1, r4 = await h1.result(), await h4.result()
    assert len(r4.partitions) == 4 and all(p.rows_read > 4_000 for p in r4.partitions)
    assert r1.rows_inserted == r4.rows_inserted == 20_000
    assert await table_digest(backfill.pool, "single") == await table_digest(
        backfill.pool, "parted"
    )
    assert await table_digest(backfill.pool, "parted") == await source_digest(backfill.source.url)


async def test_rate_limit_is_never_exceeded(backfill: Backfill) -> None:
    rows, batch, rate = 4_000, 200, 1_000.0
    await make_source(backfill.source.url, rows)
    # The target stamps each row at insert, on the clock read here before the job starts.
    await make_target(
        backfill.pool, extra=",\n    copied_at timestamptz NOT NULL DEFAULT clock_timestamp()"
    )
    async with backfill.worker() as queue:
        job = backfill.job(batch_size=batch, rate_limit=rate, partitions=2)
        before = await backfill.pool.fetchval("SELECT clock_timestamp()")
        await (await backfill.start(queue, job)).result()
    span = await backfill.pool.fetchval(
        "SELECT extract(epoch FROM max(copied_at) - $1::timestamptz) FROM items_copy", before
    )
    # Each partition, at rate / 2, starts its last batch no sooner than (its rows - one free
    # batch) / (rate / 2) after it began: whatever the load, the whole copy cannot beat the
    # limit. How close to it a run gets is a figure for the bench, not an assert.
    measured = (rows - 2 * batch) / float(span)
    assert measured <= rate, f"{measured:.0f} rows/s against a limit of {rate:.0f}"


async def test_cancel_stops_between_batches(backfill: Backfill) -> None:
    await backfill.tables(20_000)
    async with backfill.worker() as queue:
        job = backfill.job(batch_size=100, rate_limit=1_000, heartbeat_timeout_seconds=3)
        handle = await backfill.start(queue, job)

        async def some_done() -> bool:
            return any(p.rows_done >= 500 for p in await progress(backfill.client, handle))

        await eventually(some_done, within=30)
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
        assert isinstance(failure.value.cause, CancelledError)
        copied = await backfill.pool.fetchval("SELECT count(*) FROM items_copy")
        await asyncio.sleep(1.0)
        assert await backfill.pool.fetchval("SELECT count(*) FROM items_copy") == copied, (
            "still going"
        )
    assert 500 <= copied < 20_000
    assert copied % 100 == 0, f"{copied} rows: a partial batch landed"
    # Exactly the first rows, in key order: batches are whole and contiguous.
    assert await backfill.pool.fetchval("SELECT max(id) FROM items_copy") == copied


async def test_rows_already_in_the_target_are_merged_and_kept(backfill: Backfill) -> None:
    await backfill.tables(5_000)
    await count_inserts(backfill.pool)
    await backfill.pool.execute(
        "INSERT INTO items_copy SELECT g, $1, 0, NULL, now() FROM generate_series(1101, 1200) g",
        EXISTING,
    )
    async with backfill.worker() as queue:
        job = backfill.job(batch_size=1_000)
        result: BackfillResult = await (await backfill.start(queue, job)).result()
    # Only the page over 1001..2000 finds rows of its range: it alone is staged and merged.
    assert [p.merged_batches for p in result.partitions] == [1]
    assert result.rows_read == 5_000 and result.rows_inserted == 4_900
    assert await inserts(backfill.pool) == 100 + 4_900
    kept = await backfill.pool.fetchval("SELECT count(*) FROM items_copy WHERE name = $1", EXISTING)
    assert kept == 100 and await backfill.pool.fetchval("SELECT count(*) FROM items_copy") == 5_000


async def test_a_row_committed_during_a_direct_copy_falls_back_to_the_merge(
    backfill: Backfill,
) -> None:
    await backfill.tables(3_000)
    other = await backfill.pool.acquire()
    try:
        # Not committed yet: the page's clash probe sees nothing, its COPY waits on the key.
        writer = other.transaction()
        await writer.start()
        await other.execute("INSERT INTO items_copy VALUES (1500, $1, 0, NULL, now())", EXISTING)
        async with backfill.worker() as queue:
            job = backfill.job(batch_size=1_000)
            handle = await backfill.start(queue, job)

            async def copy_waits() -> bool:
                return bool(
                    await backfill.pool.fetchval(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND query LIKE 'COPY%' AND datname = current_database()"
                    )
                )

            await eventually(copy_waits, within=30)
            await writer.commit()
            result: BackfillResult = await handle.result()
    finally:
        await backfill.pool.release(other)
    assert [p.merged_batches for p in result.partitions] == [1]
    assert result.rows_inserted == 2_999
    assert await backfill.pool.fetchval("SELECT name FROM items_copy WHERE id = 1500") == EXISTING
    assert await backfill.pool.fetchval("SELECT count(*) FROM items_copy") == 3_000
