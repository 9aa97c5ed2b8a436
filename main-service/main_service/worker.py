"""The main worker: the payment workflow and its activity, wired to the batcher by the plugin."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.common import VersioningBehavior
from temporalio.worker import Worker

from main_service.activities import PaymentActivities
from main_service.names import MAIN_TASK_QUEUE
from main_service.workflows import PaymentWorkflow
from write_batcher import WriteBatchingPlugin
from write_batcher_kit.settings import WorkerTuning
from write_batcher_kit.versioning import WorkerVersioning

# Payments are pinned: one lasts seconds and ends on the code it began with, so a change to it
# needs no patching; the old version's workers stay until its last payment is done (drained).
VERSIONING_BEHAVIOR = VersioningBehavior.PINNED


def build_worker(
    client: Client,
    *,
    max_concurrent_activities: int = 200,
    max_concurrent_workflow_tasks: int = 200,
    tuning: WorkerTuning | None = None,
    versioning: WorkerVersioning | None = None,
    task_queue: str = MAIN_TASK_QUEUE,
    **write_settings: Any,
) -> Worker:
    """A worker for the main task queue; the caller owns the client.

    ``tuning``: autoscaled pollers, and the resource-based tuner instead of the
    ``max_concurrent_*`` slots. ``versioning``: the Worker Deployment Version it polls as
    (payments are pinned: docs/operations.md). ``write_settings``: WriteBatchingPlugin's
    knobs. A write waiting for its outcome holds no slot here: it is an activity on the
    batcher's queue.
    """
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[PaymentWorkflow],
        activities=[PaymentActivities().authorize],
        plugins=[WriteBatchingPlugin(**write_settings)],
        **(tuning or WorkerTuning()).worker_options(
            max_concurrent_activities=max_concurrent_activities,
            max_concurrent_workflow_tasks=max_concurrent_workflow_tasks,
        ),
        **(versioning or WorkerVersioning()).worker_options(VERSIONING_BEHAVIOR),
        graceful_shutdown_timeout=timedelta(seconds=10),
    )
