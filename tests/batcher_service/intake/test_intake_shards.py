"""Several shards in the shipped batcher worker: each write goes to the shard of its partition
key (BATCHER_SHARDS) and is written once; changing the count between two runs loses nothing."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import asyncpg
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.service import RPCError

from batcher_service.names import REQUEST_TABLE, STATS_QUERY
from batcher_service.shard.state import BatcherStats
from tests.support.worker_process import (
    batcher_process,
    callers,
    client_for,
    create_items,
    dev_server,
    tables_file,
    worker_env,
    write_one,
)
from write_batcher import WriteResult, load_table_specs
from write_batcher._ids import default_partition_key
from write_batcher._routing import shard_for
from write_batcher.contract import (
    SUBMIT_SIGNAL,
    WriteOutcome,
    WriteRequestBatch,
    batcher_workflow_id,
)


def _shard_of(tmp: Path, row_id: str, shards: int) -> int:
    spec = load_table_specs(tables_file(tmp))["items"]
    return shard_for(default_partition_key(spec, {"id": row_id}, "unused"), shards)


def _shard_of_batch(batch_id: str | None) -> int:
    """Batch ids are ``<shard workflow id>/<run>/<n>``: the shard that wrote it."""
    assert batch_id
    return int(batch_id.split("/")[0].rsplit("-", 1)[1])


async def _signalled(client: Client, shard: int) -> list[str]:
    """The request ids a shard's current run took in by submit signals."""
    handle = client.get_workflow_handle(batcher_workflow_id(shard))
    try:
        events = [e async for e in handle.fetch_history_events()]
    except RPCError:
        return []  # no write reached this shard yet
    ids: list[str] = []
    for event in events:
        attrs = event.workflow_execution_signaled_event_attributes
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED and (
            attrs.signal_name == SUBMIT_SIGNAL
        ):
            [batch] = await client.data_converter.decode(attrs.input.payloads, [WriteRequestBatch])
            ids += [r.request_id for r in batch.requests]
    return ids


async def _table(database_url: str) -> tuple[list[str], list[str]]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT id FROM items ORDER BY id")
        recorded = await conn.fetch(f"SELECT request_id FROM {REQUEST_TABLE}")
    finally:
        await conn.close()
    return [r["id"] for r in rows], [r["request_id"] for r in recorded]


async def test_writes_go_to_the_shard_of_their_partition_key_and_are_written_once(
    tmp_path: Path, database_url: str
) -> None:
    shards, count = 4, 40
    await create_items(database_url)
    ids = [f"r-{i:02d}" for i in range(count)]
    assert {_shard_of(tmp_path, i, shards) for i in ids} == set(range(shards))
    async with dev_server(tmp_path) as server:
        client = await client_for(server)
        env = worker_env(tmp_path, server.address, database_url, BATCHER_SHARDS=str(shards))
        async with batcher_process(tmp_path, env), callers(client) as queue:
            results = await asyncio.gather(
                *(write_one(client, queue, {"id": i, "n": 1}) for i in ids)
            )
    assert all(isinstance(r, WriteResult) for r in results), results
    written = [r for r in results if isinstance(r, WriteResult)]
    assert {r.outcome for r in written} == {WriteOutcome.WRITTEN}
    # Each row was written by the batcher of its key's shard, and all four took some.
    assert [_shard_of_batch(r.batch_id) for r in written] == [
        _shard_of(tmp_path, i, shards) for i in ids
    ]
    rows, recorded = await _table(database_url)
    assert rows == ids
    assert sorted(recorded) == sorted(r.request_id for r in written)


async def test_changing_the_shard_count_between_runs_loses_nothing(
    tmp_path: Path, database_url: str
) -> None:
    """3 shards, table locked: writes pending or in flight in every shard when the worker is
    killed; the next worker runs with 2. Shard 2's writes (no key routes there any more)
    are written and acked all the same, each once."""
    before, after, count = 3, 2, 30
    await create_items(database_url)
    ids = [f"k-{i:02d}" for i in range(count)]
    moved = [i for i in ids if _shard_of(tmp_path, i, before) != _shard_of(tmp_path, i, after)]
    orphaned = [i for i in ids if _shard_of(tmp_path, i, before) == before - 1]
    assert moved and orphaned
    lock = await asyncpg.connect(database_url)
    writes: list[asyncio.Task[WriteResult | str]] = []
    try:
        tx = lock.transaction()
        await tx.start()
        await lock.execute("LOCK TABLE items IN ACCESS EXCLUSIVE MODE")
        async with dev_server(tmp_path) as server:
            client = await client_for(server)
            env = worker_env(
                tmp_path,
                server.address,
                database_url,
                BATCH_FLUSH_TIMEOUT_SECONDS="10",
                # One flush at a time: what came after a shard's first flush stays pending.
                BATCHER_MAX_INFLIGHT_FLUSHES="1",
            )
            # A lost write would fail its caller within a minute, not hang the test.
            async with callers(client, ack_timeout_seconds=60) as queue:
                rid = uuid.uuid4().hex[:6]
                writes += [
                    asyncio.create_task(
                        write_one(client, queue, {"id": i, "n": 1}, workflow_id=f"{rid}-{i}")
                    )
                    for i in ids
                ]
                async with batcher_process(
                    tmp_path, {**env, "BATCHER_SHARDS": str(before)}
                ) as first:
                    deadline = time.monotonic() + 60
                    while True:
                        taken = [r for s in range(before) for r in await _signalled(client, s)]
                        if len(taken) >= count:
                            break
                        assert time.monotonic() < deadline, f"{len(taken)} of {count} handed over"
                        await asyncio.sleep(0.3)
                    blocked = await lock.fetchval(
                        "SELECT count(*) FROM pg_locks WHERE NOT granted "
                        "AND relation = 'items'::regclass"
                    )
                    stats = [
                        await client.get_workflow_handle(batcher_workflow_id(s)).query(
                            STATS_QUERY, result_type=BatcherStats
                        )
                        for s in range(before)
                    ]
                    # In flight (statements waiting on the lock) and pending, in every shard.
                    assert blocked >= 1 and sum(s.pending for s in stats) >= 1, (blocked, stats)
                    assert all(s.pending + s.inflight_flushes > 0 for s in stats), stats
                    first.kill()
                await tx.rollback()
                async with batcher_process(tmp_path, {**env, "BATCHER_SHARDS": str(after)}):
                    results = await asyncio.wait_for(asyncio.gather(*writes), 120)
    finally:
        for task in writes:
            task.cancel()
        await lock.close()
    assert all(isinstance(r, WriteResult) for r in results), results
    acked = {r.request_id: r for r in results if isinstance(r, WriteResult)}
    assert {r.outcome for r in acked.values()} <= {
        WriteOutcome.WRITTEN,
        WriteOutcome.ALREADY_WRITTEN,
    }
    rows, recorded = await _table(database_url)
    assert rows == ids
    assert sorted(recorded) == sorted(acked)
    # The shard no key routes to any more wrote its own writes after the restart.
    by_id = dict(zip(ids, results, strict=True))
    orphan_batches = {
        _shard_of_batch(r.batch_id) for i in orphaned if isinstance(r := by_id[i], WriteResult)
    }
    assert orphan_batches == {before - 1}
