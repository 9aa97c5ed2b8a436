"""Test helpers: run both workers in-process on per-test queues, drive payments, read state."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from temporalio.client import Client, WorkflowHandle

from batcher_service.worker import build_worker as build_batcher_worker
from main_service.worker import build_worker as build_main_worker
from shared.names import (
    BATCHER_WORKFLOW,
    PAYMENT_WORKFLOW,
    STATS_QUERY,
    SUBMIT_SIGNAL,
    TARGET_TABLE,
)
from shared.payloads import (
    BatcherConfig,
    BatcherStats,
    PaymentRequest,
    PaymentResult,
    WriteRequest,
)


@dataclass(frozen=True)
class Queues:
    main: str
    batcher: str
    prefix: str

    @classmethod
    def unique(cls) -> Queues:
        tag = uuid.uuid4().hex[:8]
        return cls(f"main-{tag}", f"batcher-{tag}", f"write-batcher-{tag}")

    def batcher_id(self, shard: int = 0) -> str:
        return f"{self.prefix}-{shard}"


@dataclass
class Harness:
    client: Client
    pool: asyncpg.Pool
    queues: Queues
    main_kwargs: dict[str, Any] = field(default_factory=dict)

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

    async def signal_batcher(self, request: WriteRequest, shard: int = 0) -> None:
        """Signal-with-start a batcher directly, as a caller's submit activity does."""
        await self.client.start_workflow(
            BATCHER_WORKFLOW,
            id=self.queues.batcher_id(shard),
            task_queue=self.queues.batcher,
            start_signal=SUBMIT_SIGNAL,
            start_signal_args=[request],
        )

    async def stats(self, shard: int = 0) -> BatcherStats:
        handle = self.client.get_workflow_handle(self.queues.batcher_id(shard))
        stats: BatcherStats = await handle.query(STATS_QUERY, result_type=BatcherStats)
        return stats

    async def rows(self) -> list[asyncpg.Record]:
        return await self.pool.fetch(f"SELECT * FROM {TARGET_TABLE} ORDER BY created_at")

    async def batch_sizes(self) -> list[int]:
        records = await self.pool.fetch(
            f"SELECT batch_id, count(*) AS n FROM {TARGET_TABLE} GROUP BY batch_id"
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


@asynccontextmanager
async def running_workers(
    client: Client,
    pool: asyncpg.Pool,
    queues: Queues,
    config: BatcherConfig,
    **main_kwargs: Any,
) -> AsyncIterator[Harness]:
    """Both workers in this process; shut down inside the loop when the block ends."""
    batcher = build_batcher_worker(client, pool, config, task_queue=queues.batcher)
    main = build_main_worker(
        client,
        task_queue=queues.main,
        batcher_task_queue=queues.batcher,
        batcher_id_prefix=queues.prefix,
        **main_kwargs,
    )
    async with batcher, main:
        yield Harness(client, pool, queues, main_kwargs)


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
