"""The batcher worker's wiring in one object: its workflows, activities and pruning."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

import asyncpg
from temporalio.plugin import SimplePlugin
from temporalio.worker import WorkerConfig

from batcher_service.backfill.activities import BackfillActivities
from batcher_service.backfill.sources import BackfillSources
from batcher_service.backfill.workflows import BackfillWorkflow
from batcher_service.background import running_beside
from batcher_service.intake.activities import IntakeActivities
from batcher_service.intake.config import IntakeConfig
from batcher_service.postgres.retention import prune_forever
from batcher_service.postgres.writer import BatchWriter
from batcher_service.shard.activities import BatcherActivities
from batcher_service.shard.state import BatcherConfig
from batcher_service.shard.workflow import WriteBatcherWorkflow
from write_batcher import TableSpec

# How long the batcher's request table keeps ids by default: callers' resends come within
# minutes; a week leaves room for a dead letter fixed and resubmitted days later.
DEFAULT_RETENTION_HOURS = 168.0


class WriteBatcherPlugin(SimplePlugin):
    """Add to a Worker on the batcher task queue: ``plugins=[WriteBatcherPlugin(...)]``."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        tables: Mapping[str, TableSpec],
        config: BatcherConfig,
        *,
        intake: IntakeConfig | None = None,
        retention_hours: float = DEFAULT_RETENTION_HOURS,
        backfill_sources: BackfillSources | None = None,
    ) -> None:
        self._pool = pool
        self._tables = dict(tables)
        self._config = config
        self._intake = intake or IntakeConfig()
        self._retention_hours = retention_hours
        self._backfill = BackfillActivities(pool, backfill_sources)
        super().__init__(
            "write-batching.batcher",
            workflows=[WriteBatcherWorkflow, BackfillWorkflow],
            run_context=self._running,
        )
        self._intakes: list[IntakeActivities] = []

    def configure_worker(self, config: WorkerConfig) -> WorkerConfig:
        config = super().configure_worker(config)
        batcher = BatcherActivities(BatchWriter(self._pool, self._tables), self._config, self._pool)
        activities: list[Any] = list(config.get("activities") or [])
        activities += [batcher.load_config, batcher.flush, batcher.record_withdrawals]
        # One per worker: its intake's signals to a shard carry the writes of all its callers.
        intake = IntakeActivities(self._tables, self._intake)
        self._intakes.append(intake)
        activities += [intake.write, intake.withdraw]
        activities += [self._backfill.validate, self._backfill.plan, self._backfill.copy_partition]
        config["activities"] = activities
        return config

    @contextlib.asynccontextmanager
    async def _running(self) -> AsyncIterator[None]:
        async with running_beside(prune_forever(self._pool, self._retention_hours)):
            try:
                yield
            finally:
                # Writes taken in but not yet signalled leave before the worker is gone; else
                # their callers would wait out an attempt timeout to send them again.
                await asyncio.gather(*(intake.drain() for intake in self._intakes))
