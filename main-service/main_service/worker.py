"""The main worker: the payment workflow and its activity, wired to the batcher by the plugin."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path

from temporalio.client import Client
from temporalio.worker import Interceptor, Worker

from main_service.activities import PaymentActivities
from main_service.files import TABLES_FILE
from main_service.names import MAIN_TASK_QUEUE
from main_service.workflows import PaymentWorkflow
from write_batcher import TableSpec, WriteBatchingPlugin
from write_batcher.contract import BATCHER_ID_PREFIX, BATCHER_TASK_QUEUE


def build_worker(
    client: Client,
    *,
    tables: str | Path | Mapping[str, TableSpec] = TABLES_FILE,
    shards: int = 1,
    max_row_bytes: int = 16 * 1024,
    ack_timeout_seconds: float = 120.0,
    submit_linger_seconds: float = 0.2,
    ack_poll_seconds: float = 0.2,
    max_concurrent_activities: int = 200,
    max_concurrent_workflow_tasks: int = 200,
    task_queue: str = MAIN_TASK_QUEUE,
    batcher_task_queue: str = BATCHER_TASK_QUEUE,
    batcher_id_prefix: str = BATCHER_ID_PREFIX,
    interceptors: Sequence[Interceptor] = (),
) -> Worker:
    """A worker for the main task queue; the caller owns the client.

    ``tables``: the table spec (a file, or the specs loaded from WRITE_TABLES_FILE); the
    batcher worker reads the same.
    """
    batching = WriteBatchingPlugin(
        tables,
        shards=shards,
        ack_timeout_seconds=ack_timeout_seconds,
        linger_seconds=submit_linger_seconds,
        ack_poll_seconds=ack_poll_seconds,
        max_row_bytes=max_row_bytes,
        batcher_task_queue=batcher_task_queue,
        batcher_id_prefix=batcher_id_prefix,
    )
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[PaymentWorkflow],
        activities=[PaymentActivities().authorize],
        plugins=[batching],
        max_concurrent_activities=max_concurrent_activities,
        max_concurrent_local_activities=max_concurrent_activities,
        max_concurrent_workflow_tasks=max_concurrent_workflow_tasks,
        # Only for clients built without them: the client's interceptors already apply.
        interceptors=list(interceptors),
        graceful_shutdown_timeout=timedelta(seconds=10),
    )
