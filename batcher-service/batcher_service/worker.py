"""The batcher worker: the batcher workflow and the only activities that write to PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import asyncpg
from temporalio.client import Client
from temporalio.worker import Interceptor, Worker

from batcher_service.acks import AckSender
from batcher_service.activities import BatchWriter
from batcher_service.backfill.activities import BackfillActivities
from batcher_service.backfill.sources import BackfillSources
from batcher_service.backfill.workflows import BackfillWorkflow
from batcher_service.workflows import WriteBatcherWorkflow
from batcher_service.writer import LedgerWriter
from shared.names import BATCHER_TASK_QUEUE
from shared.payloads import BatcherConfig


def build_worker(
    client: Client,
    pool: asyncpg.Pool,
    config: BatcherConfig,
    *,
    max_concurrent_activities: int = 50,
    task_queue: str = BATCHER_TASK_QUEUE,
    interceptors: Sequence[Interceptor] = (),
    backfill_sources: BackfillSources | None = None,
) -> Worker:
    """A worker for the batcher task queue; the caller owns the client and the pool."""
    writer = BatchWriter(LedgerWriter(pool), AckSender(client), config)
    backfill = BackfillActivities(pool, backfill_sources)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[WriteBatcherWorkflow, BackfillWorkflow],
        activities=[
            writer.load_config,
            writer.flush,
            backfill.validate,
            backfill.plan,
            backfill.copy_partition,
        ],
        max_concurrent_activities=max_concurrent_activities,
        # Only for clients built without them: the client's interceptors already apply.
        interceptors=list(interceptors),
        # A flush in progress finishes its statement and acks before the process exits.
        graceful_shutdown_timeout=timedelta(seconds=20),
    )
