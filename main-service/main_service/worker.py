"""The main worker: business workflows and their activities on the main task queue."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Interceptor, Worker

from main_service.activities import PaymentActivities, WriteSubmitter
from main_service.coalescer import WriteCoalescer
from main_service.workflows import PaymentWorkflow
from shared.names import BATCHER_ID_PREFIX, BATCHER_TASK_QUEUE, MAIN_TASK_QUEUE


def build_worker(
    client: Client,
    *,
    shards: int = 1,
    max_row_bytes: int = 16 * 1024,
    ack_timeout_seconds: float = 120.0,
    submit_linger_seconds: float = 0.2,
    submit_transport: str = "update",
    max_concurrent_activities: int = 200,
    max_concurrent_workflow_tasks: int = 200,
    task_queue: str = MAIN_TASK_QUEUE,
    batcher_task_queue: str = BATCHER_TASK_QUEUE,
    batcher_id_prefix: str = BATCHER_ID_PREFIX,
    interceptors: Sequence[Interceptor] = (),
) -> Worker:
    """A worker for the main task queue; the caller owns the client."""
    payments = PaymentActivities()
    coalescer = WriteCoalescer(
        client,
        task_queue=batcher_task_queue,
        linger_seconds=submit_linger_seconds,
        transport=submit_transport,
    )
    submitter = WriteSubmitter(
        coalescer,
        shards=shards,
        max_row_bytes=max_row_bytes,
        ack_timeout_seconds=ack_timeout_seconds,
        batcher_id_prefix=batcher_id_prefix,
    )
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[PaymentWorkflow],
        activities=[payments.authorize, submitter.submit],
        max_concurrent_activities=max_concurrent_activities,
        max_concurrent_local_activities=max_concurrent_activities,
        max_concurrent_workflow_tasks=max_concurrent_workflow_tasks,
        # Only for clients built without them: the client's interceptors already apply.
        interceptors=list(interceptors),
        graceful_shutdown_timeout=timedelta(seconds=10),
    )
