"""The caller library against the real batcher and PostgreSQL: rows verbatim, deadlines settled."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from batcher_service.intake.config import IntakeConfig
from batcher_service.names import REQUEST_TABLE
from batcher_service.shard.state import BatcherConfig
from batcher_service.worker import build_worker as build_batcher_worker
from tests.support.write_support import CALLER_WORKFLOWS, SPECS, failure
from tests.support.write_workflows import WriteCall
from write_batcher import WriteBatchingPlugin, errors
from write_batcher.contract import WriteOutcome

TABLES = {name: SPECS[name] for name in ("orders", "order_events", "strict")}
DDL = """
CREATE TABLE orders (order_id text PRIMARY KEY, status text NOT NULL, total_cents int8 NOT NULL);
CREATE TABLE order_events (order_id text NOT NULL, kind text NOT NULL);
CREATE TABLE strict (id text PRIMARY KEY, i8 int8, f8 float8, t text, b bool);
"""


@asynccontextmanager
async def workers(
    client: Client,
    pool: asyncpg.Pool,
    config: BatcherConfig,
    *,
    intake: IntakeConfig | None = None,
    **plugin_kwargs: Any,
) -> AsyncIterator[str]:
    """A real batcher worker (its shards ``wb-{tag}-{n}``) and a caller worker; the callers'
    queue ``callers-{tag}``."""
    tag = uuid.uuid4().hex[:8]
    callers, batcher = f"callers-{tag}", f"batcher-{tag}"
    plugin = WriteBatchingPlugin(batcher_task_queue=batcher, **plugin_kwargs)
    intake = dataclasses.replace(intake or IntakeConfig(), id_prefix=f"wb-{tag}")
    async with (
        build_batcher_worker(client, pool, config, TABLES, task_queue=batcher, intake=intake),
        Worker(client, task_queue=callers, workflows=CALLER_WORKFLOWS, plugins=[plugin]),
    ):
        yield callers


@pytest.fixture
async def pool(db_pool: asyncpg.Pool) -> asyncpg.Pool:
    await db_pool.execute(DDL)
    return db_pool


async def test_two_tables_per_workflow_are_written_once_each(
    temporal_env: WorkflowEnvironment, pool: asyncpg.Pool
) -> None:
    client = temporal_env.client
    config = BatcherConfig(min_interval_seconds=0.2)
    async with workers(client, pool, config) as queue:
        results = await asyncio.gather(
            *(
                client.execute_workflow("WriteOrder", f"o-{i}", id=f"wo-{i}", task_queue=queue)
                for i in range(20)
            )
        )
    assert {r["outcome"] for pair in results for r in pair} == {WriteOutcome.WRITTEN}
    orders = await pool.fetch("SELECT order_id, status, total_cents FROM orders")
    events = await pool.fetch("SELECT order_id, kind FROM order_events")
    assert sorted(r["order_id"] for r in orders) == sorted(f"o-{i}" for i in range(20))
    assert {(r["status"], r["total_cents"]) for r in orders} == {("placed", 1250)}
    assert sorted(r["order_id"] for r in events) == sorted(f"o-{i}" for i in range(20))
    ids = {r["request_id"] for pair in results for r in pair}
    recorded = await pool.fetch(f"SELECT request_id FROM {REQUEST_TABLE}")
    assert ids <= {r["request_id"] for r in recorded}


async def test_values_arrive_verbatim(
    temporal_env: WorkflowEnvironment, pool: asyncpg.Pool
) -> None:
    client = temporal_env.client
    row = {"id": "v", "i8": 2**63 - 1, "f8": 0.1, "t": "\u00e9\U0001f600 \t", "b": False}
    async with workers(client, pool, BatcherConfig(min_interval_seconds=0.2)) as queue:
        result = await client.execute_workflow(
            "WriteOne", WriteCall("strict", row), id=f"v-{uuid.uuid4().hex[:6]}", task_queue=queue
        )
    assert result["outcome"] == WriteOutcome.WRITTEN
    stored = await pool.fetchrow("SELECT id, i8, f8, t, b FROM strict")
    assert stored is not None and dict(stored) == row


async def test_a_write_still_unflushed_at_its_deadline_is_withdrawn_and_never_written(
    temporal_env: WorkflowEnvironment, pool: asyncpg.Pool
) -> None:
    client = temporal_env.client
    # Flushes only at 100 rows or after 3 s: the caller's 1 s deadline passes first.
    config = BatcherConfig(mode="fixed", max_batch_size=100, max_wait_seconds=3)
    async with workers(client, pool, config, ack_timeout_seconds=1.0) as queue:
        with pytest.raises(WorkflowFailureError) as failed:
            await client.execute_workflow(
                "WriteOne", WriteCall("strict", {"id": "late"}), id="late-1", task_queue=queue
            )
        assert failure(failed.value).type == errors.WRITE_CONFIRMATION_TIMEOUT
        # Past the moment its batch would have flushed: still not written.
        await asyncio.sleep(4)
    assert await pool.fetch("SELECT id FROM strict") == []


async def test_invalid_writes_are_refused_by_the_batchers_intake_at_once(
    temporal_env: WorkflowEnvironment, pool: asyncpg.Pool, caplog: pytest.LogCaptureFixture
) -> None:
    """The caller library does not validate: the batcher worker's intake does, and the write's
    activity fails for good within seconds, typed, with nothing handed to a shard. Each
    refusal is one log line on the batcher worker, no traceback."""
    caplog.set_level(logging.DEBUG, logger="temporalio.activity")
    client = temporal_env.client
    calls = [
        WriteCall("strict", {"id": "a", "i8": 1.5}),
        WriteCall("strict", {"id": "b", "t": "x" * 65}),
        WriteCall("no_such_table", {"id": "c"}),
        WriteCall("orders", {"order_id": "d", "status": "x" * 200, "total_cents": 1}),
        WriteCall("strict", {"id": "e"}, partition_key=""),
    ]
    intake = IntakeConfig(max_row_bytes=150)
    async with workers(client, pool, BatcherConfig(), intake=intake) as queue:
        for n, call in enumerate(calls):
            with pytest.raises(WorkflowFailureError) as failed:
                await asyncio.wait_for(
                    client.execute_workflow(
                        "WriteOne", call, id=f"inv-{queue}-{n}", task_queue=queue
                    ),
                    timeout=5,
                )
            err = failure(failed.value)
            assert (err.type, err.non_retryable) == (errors.INVALID_WRITE, True), err.message
    assert await pool.fetch("SELECT id FROM strict") == []
    assert await pool.fetch("SELECT order_id FROM orders") == []
    intake_logs = [r for r in caplog.records if r.name == "temporalio.activity"]
    refused = [r for r in intake_logs if r.getMessage().startswith("refused: invalid write")]
    assert len(refused) == len(calls)
    assert all(r.levelno == logging.INFO for r in refused)
    assert [r for r in intake_logs if r.exc_info and r.levelno >= logging.INFO] == []
