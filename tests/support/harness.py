"""Test helpers: run both workers in-process on per-test queues, drive payments, read state."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import asyncpg
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from batcher_service.intake.config import IntakeConfig
from batcher_service.names import STATS_QUERY
from batcher_service.shard.state import BatcherConfig, BatcherStats
from batcher_service.worker import build_worker as build_batcher_worker
from devstack.schema import MAIN_SCHEMA, MAIN_TABLES_FILE
from main_service.names import LEDGER_TABLE, PAYMENT_WORKFLOW
from main_service.payments import PaymentRequest, PaymentResult
from main_service.worker import build_worker as build_main_worker
from tests.support.queues import Queues
from write_batcher import TableSpec, load_table_specs
from write_batcher.contract import WriteRequest, signal_shard

__all__ = ["Harness", "Queues", "eventually", "payment", "running_workers"]

DEMO_TABLES: dict[str, TableSpec] = load_table_specs(MAIN_TABLES_FILE)


@dataclass
class Harness:
    client: Client
    pool: asyncpg.Pool
    queues: Queues
    main_kwargs: dict[str, Any] = field(default_factory=dict)
    main_worker: Worker | None = None
    batcher_worker: Worker | None = None

    async def start_payment(
        self, workflow_id: str, payment: PaymentRequest
    ) -> WorkflowHandle[Any, Any]:
        return await self.client.start_workflow(
            PAYMENT_WORKFLOW,
            payment,
            id=workflow_id,
            task_queue=self.queues.main,
            result_type=PaymentResult,
        )

    async def signal_batcher(self, *requests: WriteRequest, shard: int = 0) -> None:
        """Signal-with-start a batcher directly, as a caller worker's coalescer does."""
        await signal_shard(
            self.client, self.queues.batcher_id(shard), requests, task_queue=self.queues.batcher
        )

    async def stats(self, shard: int = 0) -> BatcherStats:
        handle = self.client.get_workflow_handle(self.queues.batcher_id(shard))
        stats: BatcherStats = await handle.query(STATS_QUERY, result_type=BatcherStats)
        return stats

    async def rows(self) -> list[asyncpg.Record]:
        return await self.pool.fetch(f"SELECT * FROM {LEDGER_TABLE} ORDER BY created_at")

    async def batch_sizes(self) -> list[int]:
        records = await self.pool.fetch(
            f"SELECT batch_id, count(*) AS n FROM {LEDGER_TABLE} GROUP BY batch_id"
        )
        return sorted(int(r["n"]) for r in records)


def payment(index: int, *, accounts: int = 10, **overrides: Any) -> PaymentRequest:
    fields: dict[str, Any] = {
        "payment_id": f"p-{index}",
        "account_id": f"acct-{index % accounts}",
        "amount_cents": 100 + index,
        "currency": "EUR",
        "memo": None,
    }
    fields.update(overrides)
    return PaymentRequest(**fields)


def ledger_request(payment_id: str, account: str, amount_cents: int) -> WriteRequest:
    """A ledger row's write sent straight to the shard, keyed by its account; no caller
    activity waits for its ack."""
    return WriteRequest(
        request_id=f"{LEDGER_TABLE}:{payment_id}",
        table=LEDGER_TABLE,
        caller_workflow_id=payment_id,
        partition_key=account,
        row={
            "payment_id": payment_id,
            "account_id": account,
            "amount_cents": amount_cents,
            "currency": "EUR",
        },
    )


@asynccontextmanager
async def running_workers(
    client: Client,
    pool: asyncpg.Pool,
    queues: Queues,
    config: BatcherConfig,
    *,
    tables: dict[str, TableSpec] | None = None,
    create_schema: bool = True,
    intake: IntakeConfig | None = None,
    batcher_kwargs: dict[str, Any] | None = None,
    **main_kwargs: Any,
) -> AsyncIterator[Harness]:
    """Both workers in this process; shut down inside the loop when the block ends.

    The payment demo's table is created in the pool's database first. ``batcher_kwargs`` and
    ``main_kwargs`` go to each service's ``build_worker``; ``intake`` (its shard id prefix is
    the queues') to the batcher's.
    """
    intake = IntakeConfig(**{**asdict(intake or IntakeConfig()), "id_prefix": queues.prefix})
    if create_schema:
        await pool.execute(MAIN_SCHEMA.read_text())
    batcher = build_batcher_worker(
        client,
        pool,
        config,
        tables or DEMO_TABLES,
        task_queue=queues.batcher,
        intake=intake,
        **(batcher_kwargs or {}),
    )
    main = build_main_worker(
        client,
        task_queue=queues.main,
        batcher_task_queue=queues.batcher,
        **main_kwargs,
    )
    async with batcher, main:
        yield Harness(client, pool, queues, main_kwargs, main, batcher)


async def eventually(check: Any, within: float = 30.0, interval: float = 0.2) -> Any:
    """Poll an async predicate until it returns a truthy value."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {within}s (last: {value!r})")
        await asyncio.sleep(interval)
