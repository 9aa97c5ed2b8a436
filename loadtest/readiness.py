"""Wait until workers are ready and poll, so start-up time is not measured as latency."""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
from collections.abc import Iterable

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

READY_TIMEOUT_S = 60.0


async def has_pollers(client: Client, task_queue: str, kind: TaskQueueType.ValueType) -> bool:
    # The server answers for the queue's root partition only: enough to see that some worker
    # polls, not how many do (a long poll on another partition shows up a minute later).
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace, task_queue=TaskQueue(name=task_queue), task_queue_type=kind
        )
    )
    return bool(response.pollers)


async def wait_for_pollers(client: Client, task_queues: list[str]) -> None:
    """Return once every queue has workflow and activity pollers; TimeoutError after a minute."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    kinds = (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)
    for queue in task_queues:
        for kind in kinds:
            while not await has_pollers(client, queue, kind):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no worker polls {queue} after {READY_TIMEOUT_S:g}s")
                await asyncio.sleep(0.2)


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as reply:
            return bool(reply.status == 200)
    except (urllib.error.URLError, OSError):
        return False


async def wait_for_ready(metrics_ports: Iterable[int]) -> None:
    """Return once each worker's /readyz answers 200 (its worker runs and Temporal answers):
    every one of several worker processes, which the task queue cannot tell us."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    for port in metrics_ports:
        while not await asyncio.to_thread(_ready, port):
            if time.monotonic() > deadline:
                raise TimeoutError(f"worker on port {port} not ready after {READY_TIMEOUT_S:g}s")
            await asyncio.sleep(0.2)
