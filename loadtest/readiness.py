"""Wait until workers poll their task queues, so start-up time is not measured as latency."""

from __future__ import annotations

import asyncio
import time

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

READY_TIMEOUT_S = 60.0


async def has_pollers(client: Client, task_queue: str, kind: TaskQueueType.ValueType) -> bool:
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
