"""A real batcher worker and a caller worker with the plugin, on per-test queues."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import asyncpg
from temporalio.client import Client, WorkflowFailureError
from temporalio.worker import Worker

from batcher_service.intake.config import IntakeConfig
from batcher_service.names import STATS_QUERY
from batcher_service.shard.state import BatcherConfig, BatcherStats
from batcher_service.worker import build_worker as build_batcher_worker
from tests.support.write_workflows import WriteCall, WriteOne
from tests.support.writer_tables import SPECS
from write_batcher import WriteBatchingPlugin, WriteResult
from write_batcher.contract import WriteRequest, signal_shard


@dataclass
class Shard:
    """Where a test's writes go, and how to look at its batcher."""

    client: Client
    callers: str
    batcher_queue: str
    prefix: str

    @property
    def batcher_id(self) -> str:
        return f"{self.prefix}-0"

    async def write(
        self, table: str, row: dict[str, Any], *, workflow_id: str | None = None, **kw: Any
    ) -> WriteResult | str:
        """The outcome, or the ApplicationError type the caller failed with."""
        try:
            result: WriteResult = await self.client.execute_workflow(
                WriteOne,
                WriteCall(table, row, **kw),
                id=workflow_id or f"w-{uuid.uuid4().hex[:12]}",
                task_queue=self.callers,
            )
        except WorkflowFailureError as err:
            return str(getattr(err.cause, "type", None) or type(err.cause).__name__)
        return result

    async def signal(self, *requests: WriteRequest) -> None:
        """Hand requests to the batcher directly, as a caller without validation would."""
        await signal_shard(self.client, self.batcher_id, requests, task_queue=self.batcher_queue)

    async def stats(self) -> BatcherStats:
        handle = self.client.get_workflow_handle(self.batcher_id)
        stats: BatcherStats = await handle.query(STATS_QUERY, result_type=BatcherStats)
        return stats


@asynccontextmanager
async def shard(
    client: Client,
    pool: asyncpg.Pool,
    config: BatcherConfig,
    *,
    intake: IntakeConfig | None = None,
    **plugin_kwargs: Any,
) -> AsyncIterator[Shard]:
    """``plugin_kwargs``: the caller plugin's (ack_timeout_seconds); ``intake``: the batcher
    worker's (its shard id prefix is this shard's)."""
    tag = uuid.uuid4().hex[:8]
    s = Shard(client, f"callers-{tag}", f"batcher-{tag}", f"wb-{tag}")
    plugin = WriteBatchingPlugin(batcher_task_queue=s.batcher_queue, **plugin_kwargs)
    intake = replace(intake or IntakeConfig(), id_prefix=s.prefix)
    async with (
        build_batcher_worker(
            client, pool, config, SPECS, task_queue=s.batcher_queue, intake=intake
        ),
        Worker(client, task_queue=s.callers, workflows=[WriteOne], plugins=[plugin]),
    ):
        yield s
