"""A user's table with no column of ours, written once through kill -9 and continue-as-new."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from batcher_service.names import REQUEST_TABLE, STATS_QUERY
from batcher_service.shard.state import BatcherStats
from devstack.stack import Stack
from loadtest.verify import Verification
from tests.support import faults
from tests.support.faults import record
from write_batcher.contract import batcher_workflow_id
from write_batcher_kit.client import connect

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_DIR = REPO / "examples" / "orders"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


async def test_kill_9_batcher_and_continue_as_new_write_each_row_once(
    tmp_path: Path, database_url: str
) -> None:
    stack = Stack(
        tmp_path / "stack",
        database_url=database_url,
        schemas=[EXAMPLE_DIR / "schema.sql"],
        tables_file=EXAMPLE_DIR / "tables.yaml",
        persist_temporal=False,
    ).start()
    # Short runs: the orders' writes cross several continue-as-new boundaries.
    env = {"BATCHER_MAX_SIGNALS_PER_RUN": "4", "BATCH_MIN_INTERVAL_SECONDS": "0.2"}
    try:
        batcher = stack.start_worker("batcher_service", **env)
        stack.start_app_worker("orders_app.worker", cwd=EXAMPLE_DIR)
        assert stack.temporal_address is not None
        client = await connect({"target_host": stack.temporal_address, "namespace": "default"})
        lock = await asyncpg.connect(database_url)
        tx = lock.transaction()
        await tx.start()
        # order_events is append-only: a second write of a request would be a second row.
        await lock.execute("LOCK TABLE order_events IN ACCESS EXCLUSIVE MODE")

        def order(i: int) -> Coroutine[Any, Any, dict[str, Any]]:
            return client.execute_workflow(
                "OrderWorkflow",
                {
                    "order_id": f"o-{i}",
                    "customer_id": f"c-{i}",
                    "status": "placed",
                    "total_cents": 100 + i,
                },
                id=f"order-o-{i}",
                task_queue="orders",
                result_type=dict,
                execution_timeout=timedelta(seconds=200),
            )

        runs = [asyncio.create_task(order(i)) for i in range(20)]
        deadline = time.monotonic() + 60
        while not await lock.fetchval(
            "SELECT count(*) FROM pg_locks "
            "WHERE NOT granted AND relation = 'order_events'::regclass"
        ):
            assert time.monotonic() < deadline, "no flush reached the database"
            await asyncio.sleep(0.2)
        batcher.kill()  # kill -9 while its flush waits on the lock
        stack.start_worker("batcher_service", **env)
        await tx.rollback()
        await lock.close()
        results = await asyncio.wait_for(asyncio.gather(*runs), timeout=200)
        # Then one at a time: each its own signal, so runs end and continue as new.
        results += [await order(i) for i in range(20, 30)]
        assert all(r["event"]["outcome"] == "written" for r in results), results
        stats: BatcherStats = await client.get_workflow_handle(batcher_workflow_id(0)).query(
            STATS_QUERY, result_type=BatcherStats
        )
        assert stats.runs >= 2, stats
        conn = await asyncpg.connect(database_url)
        try:
            events = await conn.fetchval("SELECT count(*) FROM order_events")
            distinct = await conn.fetchval("SELECT count(DISTINCT order_id) FROM order_events")
            rows = await conn.fetchval("SELECT count(*) FROM orders")
            recorded = await conn.fetchval(f"SELECT count(*) FROM {REQUEST_TABLE}")
        finally:
            await conn.close()
        assert (events, distinct, rows, recorded) == (30, 30, 30, 60)
        record(
            faults.KILL_BATCHER_PLAIN_TABLE,
            60,
            Verification(
                expected=60,
                rows=int(events) + int(rows),
                lost=(30 - int(distinct)) + (30 - int(rows)),
                duplicates=int(events) - int(distinct),
                batches=0,
                avg_batch_size=0,
            ),
            f"30 orders acked (upsert + append each), {stats.runs} batcher runs",
        )
        for worker in stack.workers:
            if worker is batcher:
                continue  # the one killed on purpose
            assert worker.running(), f"{worker.name} died:\n{worker.tail()}"
    finally:
        stack.stop()
