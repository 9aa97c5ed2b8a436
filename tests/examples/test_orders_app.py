"""The orders example end to end: its own worker process and the batcher process, unchanged."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from batcher_service.names import STATS_QUERY
from batcher_service.shard.state import BatcherStats
from devstack.stack import Stack
from tests.support.harness import eventually
from write_batcher import errors
from write_batcher.contract import batcher_workflow_id
from write_batcher_kit.client import connect

REPO = Path(__file__).resolve().parents[2]
# What the README's "Use it in your own app" shows (tests/examples/test_readme_example.py
# checks it).
EXAMPLE_DIR = REPO / "examples" / "orders"
EXAMPLE_FILES = (
    EXAMPLE_DIR / "orders_app" / "workflows.py",
    EXAMPLE_DIR / "orders_app" / "worker.py",
    EXAMPLE_DIR / "tables.yaml",
    EXAMPLE_DIR / "schema.sql",
    EXAMPLE_DIR / "test_order_workflow.py",
)
TABLES_FILE = EXAMPLE_DIR / "tables.yaml"
SCHEMA = EXAMPLE_DIR / "schema.sql"
WORKER_MODULE = "orders_app.worker"
TASK_QUEUE = "orders"
SUCCESS = {"written", "superseded"}

pytestmark = pytest.mark.timeout(240)


class OrdersStack:
    """The dev server, PostgreSQL, and both worker processes as a user of the example runs them."""

    def __init__(self, stack: Stack, client: Client, pool: asyncpg.Pool) -> None:
        self.stack = stack
        self.client = client
        self.pool = pool

    async def order(self, workflow_id: str, **update: Any) -> dict[str, Any]:
        """Run one OrderWorkflow to its end; its result as the JSON it is on the wire."""
        result: dict[str, Any] = await self.client.execute_workflow(
            "OrderWorkflow",
            update,
            id=workflow_id,
            task_queue=TASK_QUEUE,
            result_type=dict,
            # A workflow whose tasks keep failing ends the test with its cause, not a hang.
            execution_timeout=timedelta(seconds=60),
        )
        return result

    async def orders(self) -> dict[str, asyncpg.Record]:
        records = await self.pool.fetch("SELECT * FROM orders")
        return {r["order_id"]: r for r in records}

    async def events(self, order_id: str) -> list[str]:
        records = await self.pool.fetch(
            "SELECT status FROM order_events WHERE order_id = $1 ORDER BY recorded_at, event_id",
            order_id,
        )
        return [r["status"] for r in records]


@pytest.fixture
async def orders_stack(tmp_path: Path, database_url: str) -> AsyncIterator[OrdersStack]:
    stack = Stack(
        tmp_path / "stack",
        database_url=database_url,
        schemas=[SCHEMA],
        tables_file=TABLES_FILE,
        persist_temporal=False,
    ).start()
    try:
        stack.start_worker("batcher_service")
        stack.start_app_worker(WORKER_MODULE, cwd=EXAMPLE_DIR)
        assert stack.temporal_address is not None
        client = await connect({"target_host": stack.temporal_address, "namespace": "default"})
        pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
        try:
            yield OrdersStack(stack, client, pool)
        finally:
            await pool.close()
        for worker in stack.workers:
            # A worker a test killed on purpose ended with SIGKILL.
            killed = worker.returncode() == -9
            assert killed or worker.running(), f"{worker.name} died:\n{worker.tail()}"
    finally:
        stack.stop()


def _update(order_id: str, status: str, total_cents: int) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "customer_id": f"cust-{order_id}",
        "status": status,
        "total_cents": total_cents,
    }


async def test_orders_land_once_and_the_last_upsert_wins(orders_stack: OrdersStack) -> None:
    placed = [_update(f"o-{i}", "placed", 1000 + i) for i in range(24)]
    results = await asyncio.gather(
        *(orders_stack.order(f"order-{u['order_id']}-placed", **u) for u in placed)
    )
    for result in results:
        assert result["order"]["table"] == "orders"
        assert result["event"]["table"] == "order_events"
        assert result["order"]["outcome"] == result["event"]["outcome"] == "written", result
        assert result["order"]["batch_id"] and result["event"]["batch_id"]
        assert result["order"]["request_id"] != result["event"]["request_id"]
    # Concurrent callers share batches: fewer batches than writes.
    batches = {r[k]["batch_id"] for r in results for k in ("order", "event")}
    assert len(batches) < 2 * len(placed)

    # Later updates to the first six orders, one after another: the last one is the row.
    for status, total in (("paid", 2000), ("shipped", 2000)):
        await asyncio.gather(
            *(
                orders_stack.order(f"order-o-{i}-{status}", **_update(f"o-{i}", status, total))
                for i in range(6)
            )
        )

    rows = await orders_stack.orders()
    assert sorted(rows) == sorted(u["order_id"] for u in placed)
    for i in range(24):
        row = rows[f"o-{i}"]
        expected = ("shipped", 2000) if i < 6 else ("placed", 1000 + i)
        assert (row["status"], row["total_cents"]) == expected
        assert row["customer_id"] == f"cust-o-{i}"
        # The order's history: every write appended once, none lost, none twice.
        history = ["placed", "paid", "shipped"] if i < 6 else ["placed"]
        assert await orders_stack.events(f"o-{i}") == history


async def test_concurrent_upserts_to_one_order_settle_on_one_of_them(
    orders_stack: OrdersStack,
) -> None:
    statuses = [f"s{n}" for n in range(8)]
    results = await asyncio.gather(
        *(
            orders_stack.order(f"order-hot-{s}", **_update("hot", s, 100 + n))
            for n, s in enumerate(statuses)
        )
    )
    outcomes = [r["order"]["outcome"] for r in results]
    assert set(outcomes) <= SUCCESS, outcomes
    # One key, one batch: exactly one write of each batch wins, the others are superseded.
    by_batch: dict[str, list[str]] = {}
    for r in results:
        by_batch.setdefault(r["order"]["batch_id"], []).append(r["order"]["outcome"])
    for batch, seen in by_batch.items():
        assert seen.count("written") == 1, (batch, seen)
    row = (await orders_stack.orders())["hot"]
    # The row is one of the writes that won in its batch, never a superseded one.
    winners = {
        s for s, r in zip(statuses, results, strict=True) if r["order"]["outcome"] == "written"
    }
    assert row["status"] in winners
    assert row["total_cents"] == 100 + statuses.index(row["status"])
    # Appends are never superseded: eight events, each once.
    assert sorted(await orders_stack.events("hot")) == statuses
    assert {r["event"]["outcome"] for r in results} == {"written"}


async def test_a_row_that_breaks_the_spec_fails_the_order_with_invalid_write(
    orders_stack: OrdersStack,
) -> None:
    with pytest.raises(WorkflowFailureError) as caught:
        await orders_stack.order("order-bad", **_update("bad", "x" * 33, 5))
    assert _failure_type(caught.value) == errors.INVALID_WRITE
    assert "bad" not in await orders_stack.orders()
    assert await orders_stack.events("bad") == []


def _failure_type(err: BaseException) -> str | None:
    cause: BaseException | None = err
    while cause is not None:
        if isinstance(cause, ApplicationError) and cause.type:
            return cause.type
        cause = cause.__cause__
    return None


async def test_orders_land_once_through_a_kill_of_the_batcher_worker(
    orders_stack: OrdersStack,
) -> None:
    stack = orders_stack.stack
    # Batches that wait 3 s: the kill finds the writes handed over and not yet flushed.
    slow = {"BATCH_MODE": "fixed", "BATCH_MAX_WAIT_SECONDS": "3"}
    for worker in stack.workers:
        if worker.name.startswith("batcher_service"):
            worker.kill()
    batcher = stack.start_worker("batcher_service", **slow)
    updates = [_update(f"k-{i}", "placed", 10 + i) for i in range(30)]
    runs = asyncio.ensure_future(
        asyncio.gather(*(orders_stack.order(f"order-{u['order_id']}", **u) for u in updates))
    )
    client = orders_stack.client

    async def pending() -> int:
        try:
            stats = await client.get_workflow_handle(batcher_workflow_id(0)).query(
                STATS_QUERY, result_type=BatcherStats
            )
        except RPCError:  # the shard is not started yet
            return 0
        return stats.pending

    # The kill finds requests handed to the shard and not yet flushed.
    assert await eventually(pending, within=60) > 0
    assert not runs.done()
    batcher.kill()  # SIGKILL, as a crash: the next worker takes the batcher's run over
    stack.start_worker("batcher_service", **slow)
    results = await runs
    outcomes = {r[k]["outcome"] for r in results for k in ("order", "event")}
    assert outcomes <= {"written", "already_written"}, outcomes
    rows = await orders_stack.orders()
    for u in updates:
        assert rows[u["order_id"]]["total_cents"] == u["total_cents"]
        assert await orders_stack.events(u["order_id"]) == ["placed"]
