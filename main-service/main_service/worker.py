"""The main worker: the payment workflow and its activity, wired to the batcher by the plugin."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.worker import Interceptor, Worker

from main_service.activities import PaymentActivities
from main_service.files import TABLES_FILE
from main_service.names import MAIN_TASK_QUEUE
from main_service.workflows import PaymentWorkflow
from write_batcher import TableSpec, WriteBatchingPlugin
from write_batcher_kit.settings import WorkerTuning


def build_worker(
    client: Client,
    *,
    tables: str | Path | Mapping[str, TableSpec] = TABLES_FILE,
    max_concurrent_activities: int = 200,
    max_concurrent_workflow_tasks: int = 200,
    tuning: WorkerTuning | None = None,
    task_queue: str = MAIN_TASK_QUEUE,
    interceptors: Sequence[Interceptor] = (),
    **write_settings: Any,
) -> Worker:
    """A worker for the main task queue; the caller owns the client.

    ``tables``: the table spec (a file, or the specs loaded from WRITE_TABLES_FILE); the
    batcher worker reads the same. ``tuning``: autoscaled pollers, and the resource-based
    tuner instead of the ``max_concurrent_*`` slots. ``write_settings``: WriteBatchingPlugin's
    knobs.
    """
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[PaymentWorkflow],
        activities=[PaymentActivities().authorize],
        plugins=[WriteBatchingPlugin(tables, **write_settings)],
        **(tuning or WorkerTuning()).worker_options(
            max_concurrent_activities=max_concurrent_activities,
            max_concurrent_local_activities=max_concurrent_activities,
            max_concurrent_workflow_tasks=max_concurrent_workflow_tasks,
        ),
        # Only for clients built without them: the client's interceptors already apply.
        interceptors=list(interceptors),
        graceful_shutdown_timeout=timedelta(seconds=10),
    )
