"""The batcher worker: the batcher workflow and the only activities that write to PostgreSQL."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta

import asyncpg
from temporalio.client import Client
from temporalio.common import VersioningBehavior
from temporalio.worker import Plugin, Worker

from batcher_service.backfill.sources import BackfillSources
from batcher_service.intake.config import IntakeConfig
from batcher_service.plugin import DEFAULT_RETENTION_HOURS, WriteBatcherPlugin
from batcher_service.shard.state import BatcherConfig
from write_batcher import StrictInputsPlugin, TableSpec
from write_batcher.contract import BATCHER_TASK_QUEUE
from write_batcher_kit.settings import WorkerTuning
from write_batcher_kit.versioning import WorkerVersioning

# Both workflows on the batcher's queue auto-upgrade. A shard never ends: pinned, it would hold
# its old workers forever. It moves to a new current version at its next workflow task, whose
# worker replays the run so far: a change to its commands must be patched (workflow.patched)
# and pass the replay tests. A backfill, hours long, moves the same way (a copy cut short
# resumes where it was), so the old version's workers can go once the new one is current.
VERSIONING_BEHAVIOR = VersioningBehavior.AUTO_UPGRADE

STICKY_SCHEDULE_TO_START = timedelta(seconds=3)


def build_worker(
    client: Client,
    pool: asyncpg.Pool,
    config: BatcherConfig,
    tables: Mapping[str, TableSpec],
    *,
    intake: IntakeConfig | None = None,
    retention_hours: float = DEFAULT_RETENTION_HOURS,
    backfill_sources: BackfillSources | None = None,
    max_concurrent_activities: int = 50,
    tuning: WorkerTuning | None = None,
    versioning: WorkerVersioning | None = None,
    task_queue: str = BATCHER_TASK_QUEUE,
    plugins: Sequence[Plugin] = (),
) -> Worker:
    """A worker for the batcher task queue; the caller owns the client and the pool.

    ``tuning``: autoscaled pollers, and the resource-based tuner instead of the fixed
    ``max_concurrent_activities``. ``versioning``: the Worker Deployment Version it polls as
    (the batcher workflow auto-upgrades: docs/operations.md). ``plugins``: applied after the
    batcher's own.
    """
    return Worker(
        client,
        task_queue=task_queue,
        # Strict inputs: a value is never coerced, an undecodable input fails its workflow.
        plugins=[
            StrictInputsPlugin(),
            WriteBatcherPlugin(
                pool,
                tables,
                config,
                intake=intake,
                retention_hours=retention_hours,
                backfill_sources=backfill_sources,
            ),
            *plugins,
        ],
        **(tuning or WorkerTuning()).worker_options(
            max_concurrent_activities=max_concurrent_activities
        ),
        **(versioning or WorkerVersioning()).worker_options(VERSIONING_BEHAVIOR),
        # A flush in progress finishes its statement before the process exits.
        graceful_shutdown_timeout=timedelta(seconds=20),
        # A shard's next task waits on this worker's sticky queue this long before any worker
        # may take it (the SDK's default: 10 s): after a crash, that long with no writes. Past
        # it a busy worker only loses its cached copy (it replays the run), so keep it short.
        sticky_queue_schedule_to_start_timeout=STICKY_SCHEDULE_TO_START,
    )
